import Foundation
import GenredKit
import GenredTestSupport
import XCTest

/// `genred radio` and `genred similar --mpd-paths` against a real MPD on a private socket.
///
/// The music folder holds short FLAC files with tags; the library holds an analysis of each
/// (but one) with an embedding chosen so that the neighbours are known: three groups of tracks
/// far apart (X, Y and Z), spread along a line within each group.
final class RadioCommandTests: XCTestCase {
    nonisolated(unsafe) static var dir: URL!
    nonisolated(unsafe) static var server: MPDServer!
    nonisolated(unsafe) static var setUpError: (any Error)?

    /// file (relative to the music folder) -> artist, in the library and in the file's tags.
    static let artists: [String: String] = [
        "X/x1.flac": "Ann", "X/x2.flac": "Ann", "X/x3.flac": "Bob", "X/x4.flac": "Bob", "X/x5.flac": "Cat", "X/x6.flac": "Cat",
        "Y/y1.flac": "Dan", "Y/y2.flac": "Eve", "Y/y3.flac": "Fay", "Y/y4.flac": "Dan", "Y/y5.flac": "Eve", "Y/y6.flac": "Fay",
        "Z/z1.flac": "Zed", cafe: "Ulla",
    ]
    /// The jazz tracks; every other X and Y track is rock, Z is folk.
    static let jazz: Set<String> = ["Y/y1.flac", "Y/y2.flac", "Y/y3.flac"]
    /// A name that is not UTF-8 (Latin-1 "café"), carried as `FilePath` does.
    static let cafe = "Z/" + FilePath.string(Array("caf".utf8) + [0xE9] + Array(".flac".utf8))
    static let unknown = "U/unknown.flac"

    static var db: String { dir.appendingPathComponent("library.sqlite").path }
    static var music: String { server.music.path }

    override class func setUp() {
        super.setUp()
        do {
            dir = try TestAudio.makeTemporaryDirectory("genred-e2e-radio")
            server = try MPDServer(dir: dir)
            let wav = dir.appendingPathComponent("tone.wav")
            try TestAudio.writeWAV(wav, TestAudio.sine(frequency: 440, seconds: 20, sampleRate: 8000), channels: 1, sampleRate: 8000)
            let manifest = try ModelBundle.load("msd-musicnn").manifest
            var tracks: [SyntheticTrack] = []
            for file in artists.keys.sorted() + [unknown] {
                let group = FilePath.parent(file)
                try FileManager.default.createDirectory(at: server.music.appendingPathComponent(group), withIntermediateDirectories: true)
                let artist = artists[file] ?? "Nobody"
                let encoded = PathIO.join(music, group + "/encoding.flac")
                try TestAudio.run("flac", ["-s", "-f", "--tag=ARTIST=\(artist)", "--tag=ALBUM=\(artist) album", "--tag=TITLE=\(file)",
                                           "-o", encoded, wav.path])
                let target = PathIO.join(music, file)
                let renamed = FilePath.withCString(encoded) { from in FilePath.withCString(target) { rename(from, $0) } }
                guard renamed == 0 else { throw TestAudio.Failure(description: "cannot rename to \(FilePath.display(target))") }
                guard file != unknown else { continue }
                tracks.append(SyntheticTrack(path: target, title: file, artist: artist, album: "\(artist) album", duration: 20,
                                             embedding: embedding(file), scores: scores(file, labels: manifest.labels)))
            }
            try LibraryStore(path: db).insertSynthetic(tracks, manifest: manifest)
            try server.start()
            try server.update()
        } catch {
            setUpError = error
        }
    }

    override class func tearDown() {
        server?.stop()
        if let dir { try? FileManager.default.removeItem(at: dir) }
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let error = Self.setUpError { XCTFail("set-up failed: \(error)") ; throw error }
    }

    /// Group X, Y or Z: a large component on its own axis; the track's number moves it along a
    /// shared axis, so that within a group x1's nearest is x2, then x3, and so on.
    static func embedding(_ file: String) -> [Float] {
        var v = [Float](repeating: 0, count: 200)
        let group = ["X": 0, "Y": 1, "Z": 2][String(file.prefix(1)), default: 3]
        v[group] = 10
        let number = file == cafe ? 2 : Int(file.dropFirst(3).prefix(1)) ?? 0
        v[10] = Float(number) * 0.5
        v[20 + group] = Float(number % 2) * 0.05
        return v
    }

    static func scores(_ file: String, labels: [String]) -> [Float] {
        var s = [Float](repeating: 0.01, count: labels.count)
        let genre = jazz.contains(file) ? "jazz" : file.hasPrefix("Z/") ? "folk" : "rock"
        s[labels.firstIndex(of: genre)!] = 0.9
        return s
    }

    private func radio(_ arguments: [String]) throws -> AnalyzeCommandTests.Run {
        try AnalyzeCommandTests.genred(["radio", "--mpd", Self.server.socket, "--db", Self.db] + arguments)
    }

    private func lines(_ text: String, containing part: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.contains(part) }
    }

    // MARK: Filling

    func testFillsALowQueueWithNeighboursKeepingArtistsApart() throws {
        try Self.server.setQueue(["X/x1.flac"])
        try Self.server.mpc(["-q", "play"])
        try Self.server.mpc(["-q", "pause"])
        let run = try radio(["--once", "--keep", "4", "--seed", "1", "--artist-gap", "2", "--album-gap", "0"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let queue = try Self.server.queuePaths()
        XCTAssertEqual(queue.count, 5, "the current track and 4 after it: \(queue)")
        XCTAssertEqual(queue.first, "X/x1.flac")
        XCTAssertTrue(queue.allSatisfy { $0.hasPrefix("X/") }, "the neighbours are x1's own group: \(queue)")
        XCTAssertEqual(Set(queue).count, queue.count, "no track twice: \(queue)")
        XCTAssertNotEqual(queue[1], "X/x2.flac", "x1's nearest is by the same artist and is held back: \(queue)")
        let artists = queue.map { Self.artists[$0]! }
        for i in 1..<artists.count {
            XCTAssertFalse(artists[max(0, i - 2)..<i].contains(artists[i]), "artist \(artists[i]) within 2 tracks: \(artists)")
        }

        let again = try radio(["--once", "--keep", "4"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try Self.server.queuePaths(), queue, "a queue that is long enough is left alone")
        try Self.server.mpc(["-q", "stop"])
    }

    func testGenreFilter() throws {
        try Self.server.setQueue(["X/x1.flac"])
        let run = try radio(["--once", "--keep", "4", "--genre", "Jazz"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let added = Array(try Self.server.queuePaths().dropFirst())
        XCTAssertEqual(Set(added), Self.jazz, "only (and all) the jazz tracks, though x1 is rock: \(added)")

        let none = try radio(["--once", "--genre", "polka"])
        XCTAssertEqual(none.status, 2)
        XCTAssertTrue(none.stderr.contains("genre polka"), none.stderr)
    }

    func testPathGoesFromAToB() throws {
        try Self.server.setQueue([])
        let run = try radio(["--path", "X/x1.flac", PathIO.join(Self.music, "Y/y6.flac"), "--length", "5"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let queue = try Self.server.queuePaths()
        XCTAssertEqual(queue.count, 5, "\(queue)")
        XCTAssertEqual(queue.first, "X/x1.flac")
        XCTAssertEqual(queue.last, "Y/y6.flac")
        XCTAssertEqual(Set(queue).count, 5, "\(queue)")

        let bad = try radio(["--path", "X/x1.flac", "X/nothing.flac"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("X/nothing.flac"), bad.stderr)
    }

    func testATrackGenredDoesNotKnowIsSkippedWithOneLine() throws {
        try Self.server.setQueue(["X/x3.flac", Self.unknown])
        let run = try radio(["--once", "--keep", "4", "--seed", "2"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(lines(run.stderr, containing: "unknown.flac").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("not analysed"), run.stderr)
        let queue = try Self.server.queuePaths()
        XCTAssertEqual(queue.count, 4, "\(queue)")
        XCTAssertEqual(Array(queue.prefix(2)), ["X/x3.flac", Self.unknown], "nothing but appending")
        XCTAssertTrue(queue.dropFirst(2).allSatisfy { $0.hasPrefix("X/") }, "neighbours of x3, the known track: \(queue)")
    }

    // MARK: MPD going away

    func testSurvivesMPDBeingKilledAndRestarted() throws {
        try Self.server.setQueue(["X/x1.flac"])
        let log = Self.dir.appendingPathComponent("radio-restart.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = AnalyzeCommandTests.binary
        process.arguments = ["radio", "--mpd", Self.server.socket, "--db", Self.db, "--keep", "3", "--seed", "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        defer { if process.isRunning { process.interrupt(); process.waitUntilExit() } }

        XCTAssertTrue(waitFor(10) { (try? Self.server.queuePaths().count) == 3 }, "filled to 3: \((try? Self.server.queuePaths()) ?? [])")

        // Someone else's change to the queue: the radio waits a moment before appending.
        try Self.server.setQueue(["Z/z1.flac"])
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(try Self.server.queuePaths(), ["Z/z1.flac"], "nothing appended right after the user's change")
        XCTAssertTrue(waitFor(10) { (try? Self.server.queuePaths().count) == 3 }, "filled once the change settled")

        Self.server.kill()
        Thread.sleep(forTimeInterval: 1)
        try Self.server.start()
        try Self.server.setQueue(["Y/y1.flac", Self.unknown])
        XCTAssertTrue(waitFor(20) {
            let q = (try? Self.server.queuePaths()) ?? []
            return q.count == 3 && q.first == "Y/y1.flac"
        }, "refilled after the restart: \((try? Self.server.queuePaths()) ?? [])\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        let queue = try Self.server.queuePaths()
        XCTAssertEqual(queue[1], Self.unknown, "nothing but appending")
        XCTAssertTrue(queue[2].hasPrefix("Y/"), "a neighbour of y1: \(queue)")

        process.terminate()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "SIGTERM stops it cleanly")
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(lines(text, containing: "lost MPD").count, 1, text)
        XCTAssertEqual(lines(text, containing: "connected to MPD").count, 2, text)
        XCTAssertEqual(lines(text, containing: "unknown.flac").count, 1, "one line, never a loop: \(text)")
    }

    // MARK: Exact bytes

    func testANameThatIsNotUTF8RoundTripsThroughMPD() throws {
        // MPD lists the file with its raw bytes.
        let listed = try Self.server.mpc(["listall", "Z"]).stdout
        XCTAssertTrue(Array(listed).split(separator: UInt8(ascii: "\n")).map(Array.init).contains(FilePath.bytes(Self.cafe)),
                      "MPD lists \(String(decoding: listed, as: UTF8.self))")

        // genred similar --mpd-paths | mpc add
        try Self.server.setQueue([])
        let similar = try AnalyzeCommandTests.run(AnalyzeCommandTests.binary, [
            "similar", PathIO.join(Self.music, "Z/z1.flac"), "-n", "1", "--mpd-paths", "--db", Self.db, "--mpd", Self.server.socket,
        ])
        XCTAssertEqual(similar.status, 0, String(decoding: similar.stderr, as: UTF8.self))
        XCTAssertEqual(Array(similar.stdout), FilePath.bytes(Self.cafe) + [UInt8(ascii: "\n")])
        let pipe = try AnalyzeCommandTests.run(URL(fileURLWithPath: "/bin/sh"), [
            "-c", "\"$0\" similar \"$1\" -n 1 --mpd-paths --db \"$2\" --mpd \"$3\" | mpc -h \"$3\" add",
            AnalyzeCommandTests.binary.path, PathIO.join(Self.music, "Z/z1.flac"), Self.db, Self.server.socket,
        ])
        XCTAssertEqual(pipe.status, 0, String(decoding: pipe.stderr, as: UTF8.self))
        XCTAssertEqual(try Self.server.queue(), [FilePath.bytes(Self.cafe)])

        // The radio reads that name from MPD's queue and finds the track.
        let run = try radio(["--once", "--keep", "2", "--seed", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertFalse(run.stderr.contains("not analysed"), run.stderr)
        XCTAssertEqual(try Self.server.queuePaths().dropFirst().first, "Z/z1.flac", "café's nearest")
    }

    // MARK: Password

    func testPassword() throws {
        let locked = try MPDServer(dir: Self.dir.appendingPathComponent("locked"), password: "sesame")
        defer { locked.stop() }
        try FileManager.default.createDirectory(at: locked.music.appendingPathComponent("X"), withIntermediateDirectories: true)
        for file in ["X/x1.flac", "X/x3.flac"] {
            try FileManager.default.copyItem(atPath: PathIO.join(Self.music, file), toPath: locked.music.appendingPathComponent(file).path)
        }
        try locked.start()
        try locked.mpc(["--password", "sesame", "update", "--wait"])
        try locked.mpc(["--password", "sesame", "-q", "add", "X/x1.flac"])
        // Its music folder is another one than the library's: say where MPD's paths point.
        let base = ["radio", "--mpd", locked.socket, "--db", Self.db, "--once", "--keep", "2", "--music-directory", Self.music]

        let wrong = try AnalyzeCommandTests.genred(base + ["--password", "open"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains(locked.socket) && wrong.stderr.contains("password"), wrong.stderr)

        let right = try AnalyzeCommandTests.genred(base + ["--password", "sesame"])
        XCTAssertEqual(right.status, 0, right.stderr)
        XCTAssertEqual(try locked.queuePaths(), ["X/x1.flac", "X/x3.flac"], "x3 is x1's nearest that MPD has and is by another artist")
    }

    // MARK: The unit

    /// genred-radio.service is a user unit that may reach MPD over TCP too, and `make install`
    /// puts it beside genred.service.
    func testTheRadioUnit() throws {
        let repository = AnalyzeCommandTests.repository
        let text = try String(contentsOf: repository.appendingPathComponent("systemd/genred-radio.service"), encoding: .utf8)
        let lines = Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
        XCTAssertTrue(lines.contains("ExecStart=/usr/local/bin/genred radio"))
        XCTAssertTrue(lines.contains("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"))
        XCTAssertTrue(lines.contains("WantedBy=default.target"))
        let makefile = try String(contentsOf: repository.appendingPathComponent("Makefile"), encoding: .utf8)
        XCTAssertTrue(makefile.contains("systemd/genred-radio.service > $(DESTDIR)$(SYSTEMD_USER_DIR)/genred-radio.service"))
    }

    // MARK: Playlists

    func testMPDLoadsAPlaylistGenredWrote() throws {
        let config = Self.dir.appendingPathComponent("playlists.toml").path
        try "[playlists]\nmin_size = 2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let folder = PathIO.join(Self.music, "Playlists")
        let run = try AnalyzeCommandTests.genred(["playlists", "--config", config, "--db", Self.db, "--folder", folder])
        XCTAssertEqual(run.status, 0, run.stderr)
        let name = try XCTUnwrap(PathIO.entries(folder)?.map { FilePath.string($0.name) }.first { $0.lowercased().contains("folk") }, run.stdout)
        try Self.server.update()
        try Self.server.setQueue([])
        let load = try Self.server.mpc(["load", "Playlists/" + name])
        XCTAssertEqual(load.status, 0, String(decoding: load.stderr, as: UTF8.self))
        XCTAssertEqual(Set(try Self.server.queue()), Set([FilePath.bytes("Z/z1.flac"), FilePath.bytes(Self.cafe)]),
                       "MPD resolves the playlist's relative paths, exact bytes included")
    }

    private func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition()
    }
}
