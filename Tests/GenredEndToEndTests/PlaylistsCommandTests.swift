import Foundation
import GenredKit
import GenredTestSupport
import XCTest

/// `genred playlists`: .m3u8 files of genres, moods and similar tracks, kept in a folder.
final class PlaylistsCommandTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try TestAudio.makeTemporaryDirectory("genred-e2e-playlists")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    private var music: String { dir.appendingPathComponent("music").path }
    private var folder: String { music + "/Playlists" }

    private func genred(_ arguments: [String]) throws -> AnalyzeCommandTests.Run {
        try AnalyzeCommandTests.genred(arguments)
    }

    private func config(minSize: Int, maxSize: Int = 200, moreLike: [String] = []) throws -> String {
        let path = dir.appendingPathComponent("genred.toml").path
        let list = moreLike.map { "\"\($0)\"" }.joined(separator: ", ")
        try """
            [playlists]
            folder = "\(folder)"
            min_size = \(minSize)
            max_size = \(maxSize)
            more_like = [\(list)]

            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A track of sub-group `group` (0 or 1: far apart), `number`-th along it, with `genre` high.
    private func track(_ path: String, group: Int, number: Int, genre: String, labels: [String]) -> SyntheticTrack {
        var e = [Float](repeating: 0, count: 200)
        e[group] = 10
        e[5] = Float(number) * 0.3
        var s = [Float](repeating: 0.01, count: labels.count)
        s[labels.firstIndex(of: genre)!] = 0.9
        return SyntheticTrack(path: path, title: FilePath.lastComponent(path), artist: "Artist \(number % 3)",
                              album: "Album \(group)", embedding: e, scores: s)
    }

    /// The playlist's tracks: its path lines, resolved against the folder.
    private func entries(_ file: String) throws -> [String] {
        let bytes = try XCTUnwrap(read(file))
        return bytes.split(separator: UInt8(ascii: "\n")).filter { $0.first != UInt8(ascii: "#") }
            .map { FilePath.normalize(PathIO.join(folder, FilePath.string($0))) }
    }

    private func read(_ path: String) -> [UInt8]? {
        let fd = PathIO.open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { return out }
            out += chunk[..<n]
        }
    }

    private func playlists() -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for entry in PathIO.entries(folder) ?? [] {
            let path = PathIO.join(folder, entry.name)
            if let bytes = read(path) { out[FilePath.string(entry.name)] = bytes }
        }
        return out
    }

    func testPlaylistsAreMadeRewrittenOnlyOnChangeAndForeignOnesLeftAlone() throws {
        let manifest = try ModelBundle.load("msd-musicnn").manifest
        let db = dir.appendingPathComponent("library.sqlite").path
        let store = try LibraryStore(path: db)
        let cafe = music + "/Folk/" + FilePath.string(Array("caf".utf8) + [0xE9] + Array(".flac".utf8))
        var tracks: [SyntheticTrack] = []
        for i in 0..<4 { tracks.append(track(music + "/Rock/a\(i).flac", group: 0, number: i, genre: "rock", labels: manifest.labels)) }
        for i in 0..<4 { tracks.append(track(music + "/Rock/b\(i).flac", group: 1, number: i, genre: "rock", labels: manifest.labels)) }
        for i in 0..<2 { tracks.append(track(music + "/Folk/f\(i).flac", group: 1, number: i, genre: "folk", labels: manifest.labels)) }
        tracks.append(track(cafe, group: 1, number: 5, genre: "folk", labels: manifest.labels))
        try store.insertSynthetic(tracks, manifest: manifest)
        let rock = Set(tracks.prefix(8).map { ExactPath($0.path) })
        let seed = music + "/Rock/a0.flac"
        let cfg = try config(minSize: 3, moreLike: [seed, music + "/nothing.flac"])

        // Someone's own playlist in the folder.
        PathIO.makeDirectories(folder)
        let mine = Array("#EXTM3U\n../Rock/a1.flac\n".utf8)
        FileManager.default.createFile(atPath: folder + "/mine.m3u8", contents: Data(mine))

        let first = try genred(["playlists", "--config", cfg, "--db", db])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("nothing.flac"), "a listed track that is not in the library is named: \(first.stderr)")
        var made = playlists()
        XCTAssertEqual(made["mine.m3u8"], mine, "someone else's playlist is never touched")
        let rockName = try XCTUnwrap(made.keys.first { $0.hasPrefix("Genre - ") && $0.lowercased().contains("rock") }, "\(made.keys)")
        let folkName = try XCTUnwrap(made.keys.first { $0.hasPrefix("Genre - ") && $0.lowercased().contains("folk") }, "\(made.keys)")
        let moreName = try XCTUnwrap(made.keys.first { $0.hasPrefix("More like ") }, "\(made.keys)")
        for (name, bytes) in made where name != "mine.m3u8" {
            XCTAssertTrue(bytes.starts(with: Array("#EXTM3U\n# genred:".utf8)), "\(name) carries the marker")
        }

        let rockList = try entries(PathIO.join(folder, rockName))
        XCTAssertEqual(Set(rockList.map(ExactPath.init)), rock, "every rock track, by exact path")
        XCTAssertEqual(rockList.count, 8)
        // A smooth order: the two sub-groups far apart are each played through, one after the other.
        let groups = rockList.map { FilePath.lastComponent($0).hasPrefix("a") }
        XCTAssertEqual(zip(groups, groups.dropFirst()).filter { $0 != $1 }.count, 1, "\(rockList)")
        XCTAssertTrue(try entries(PathIO.join(folder, folkName)).map(ExactPath.init).contains(ExactPath(cafe)),
                      "a name that is not UTF-8 is written with its exact bytes")
        XCTAssertTrue(made[folkName]!.contains(0xE9) && !String(decoding: made[folkName]!, as: UTF8.self).contains("\\x"))
        XCTAssertEqual(try entries(PathIO.join(folder, moreName)).first, seed, "More like X starts with X")

        // Nothing changed: nothing is rewritten (same inode, same modification time).
        let before = made.keys.compactMap { name in PathIO.stat(PathIO.join(folder, name)).map { (name, $0) } }
        let second = try genred(["playlists", "--config", cfg, "--db", db])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stdout.contains("0 wrote"), second.stdout)
        for (name, info) in before {
            let now = try XCTUnwrap(PathIO.stat(PathIO.join(folder, name)))
            XCTAssertEqual(now.st_ino, info.st_ino, name)
            XCTAssertEqual(now.st_mtim.tv_sec, info.st_mtim.tv_sec, name)
            XCTAssertEqual(now.st_mtim.tv_nsec, info.st_mtim.tv_nsec, name)
        }

        // The user takes the folk playlist over (drops the marker); the library changes.
        let takenOver = Array("#EXTM3U\n../Folk/f0.flac\n".utf8)
        FileManager.default.createFile(atPath: PathIO.join(folder, folkName), contents: Data(takenOver))
        try store.insertSynthetic([track(music + "/Rock/b9.flac", group: 1, number: 9, genre: "rock", labels: manifest.labels),
                                   track(music + "/Folk/f9.flac", group: 1, number: 9, genre: "folk", labels: manifest.labels)],
                                  manifest: manifest)
        let rockBefore = try XCTUnwrap(PathIO.stat(PathIO.join(folder, rockName)))
        let third = try genred(["playlists", "--config", cfg, "--db", db])
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertTrue(third.stderr.contains(folkName) && third.stderr.contains("left alone"), third.stderr)
        made = playlists()
        XCTAssertEqual(made[folkName], takenOver, "a playlist without the marker is never rewritten")
        XCTAssertEqual(made["mine.m3u8"], mine)
        XCTAssertEqual(try entries(PathIO.join(folder, rockName)).count, 9, "the new rock track is in")
        XCTAssertNotEqual(PathIO.stat(PathIO.join(folder, rockName))?.st_ino, rockBefore.st_ino, "replaced through a rename")

        // A playlist of genred's that is no longer called for is removed; others' are not.
        let fewer = try config(minSize: 6)
        let fourth = try genred(["playlists", "--config", fewer, "--db", db])
        XCTAssertEqual(fourth.status, 0, fourth.stderr)
        made = playlists()
        XCTAssertNil(made[moreName], "\(made.keys)")
        XCTAssertNotNil(made[rockName])
        XCTAssertEqual(made[folkName], takenOver)
        XCTAssertEqual(made["mine.m3u8"], mine)
    }

    func testMaxSizeKeepsTheTracksTheGenreFitsBest() throws {
        let manifest = try ModelBundle.load("msd-musicnn").manifest
        let db = dir.appendingPathComponent("library.sqlite").path
        var tracks: [SyntheticTrack] = []
        let rock = manifest.labels.firstIndex(of: "rock")!
        for i in 0..<6 {
            var t = track(music + "/Rock/r\(i).flac", group: i % 2, number: i, genre: "rock", labels: manifest.labels)
            t.scores[rock] = 0.3 + 0.1 * Float((i * 5) % 6)  // a score order unlike the paths' order
            tracks.append(t)
        }
        try LibraryStore(path: db).insertSynthetic(tracks, manifest: manifest)
        let run = try genred(["playlists", "--config", try config(minSize: 2, maxSize: 3), "--db", db])
        XCTAssertEqual(run.status, 0, run.stderr)
        let name = try XCTUnwrap(playlists().keys.first { $0.hasPrefix("Genre - ") && $0.lowercased().contains("rock") })
        let best = Set(tracks.sorted { $0.scores[rock] > $1.scores[rock] }.prefix(3).map { ExactPath($0.path) })
        XCTAssertEqual(Set(try entries(PathIO.join(folder, name)).map(ExactPath.init)), best)
    }

    func testSIGKILLDuringARewriteLeavesEachPlaylistWhole() throws {
        let manifest = try ModelBundle.load("msd-musicnn").manifest
        // Two libraries with the same files and different analyses: every playlist differs.
        let dbA = dir.appendingPathComponent("a.sqlite").path, dbB = dir.appendingPathComponent("b.sqlite").path
        try LibraryStore(path: dbA).fillSynthetic(count: 3000, manifest: manifest, seed: 1)
        try LibraryStore(path: dbB).fillSynthetic(count: 3000, manifest: manifest, seed: 2)
        let cfg = try config(minSize: 10, maxSize: 3000)

        func complete(_ db: String) throws -> Double {
            let start = Date()
            let run = try genred(["playlists", "--config", cfg, "--db", db])
            XCTAssertEqual(run.status, 0, run.stderr)
            return Date().timeIntervalSince(start)
        }
        _ = try complete(dbA)
        let a = playlists()
        let seconds = try complete(dbB)
        let b = playlists()
        XCTAssertGreaterThan(a.count, 10)
        XCTAssertGreaterThan(b.values.map(\.count).reduce(0, +), 1_000_000, "large enough to be cut short")

        var cut = 0
        for attempt in 0..<6 {
            _ = try complete(dbA)
            let process = Process()
            process.executableURL = AnalyzeCommandTests.binary
            process.arguments = ["playlists", "--config", cfg, "--db", dbB]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: seconds * (0.5 + 0.09 * Double(attempt)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let now = playlists()
            var fromA = 0, fromB = 0
            for (name, bytes) in now where name.hasSuffix(".m3u8") {
                XCTAssertTrue(bytes == a[name] || bytes == b[name], "\(name) is neither the old nor the new playlist (\(bytes.count) bytes)")
                if bytes == b[name] && bytes != a[name] { fromB += 1 } else { fromA += 1 }
            }
            for name in a.keys where b[name] != nil { XCTAssertNotNil(now[name], "\(name) is never missing") }
            if fromA > 0 && fromB > 0 { cut += 1 }
        }
        // Whether a kill lands mid-way depends on timing; say how often it did.
        print("genred playlists killed during the rewrite \(cut) of 6 times")

        _ = try complete(dbB)
        XCTAssertEqual(playlists(), b, "a complete run afterwards writes the new playlists and leaves no temporary file")
    }
}
