import Foundation
import GenredKit
@testable import GenredLibrary
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `retag` and `undo` interrupted and killed, undo after a move, and names that are not UTF-8,
/// run as a user runs them.
final class SafetyCommandTests: XCTestCase {
    private var dir: URL!
    private var music: URL { dir.appendingPathComponent("music") }
    private var database: String { dir.appendingPathComponent("state/library.sqlite").path }
    private var backups: URL { dir.appendingPathComponent("state/backup") }
    private let reader = TagWriter(backupDirectory: URL(fileURLWithPath: "/nonexistent"))

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-e2e-safety-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private var binary: String { AnalyzeCommandTests.binary.path }

    private func genred(_ arguments: [String]) throws -> AnalyzeCommandTests.Run {
        try AnalyzeCommandTests.genred(arguments + ["--db", database])
    }

    /// `count` copies of the groove clip, as FLAC, MP3, Ogg and WAV in turn.
    @discardableResult
    private func addTracks(_ count: Int) throws -> [URL] {
        let formats = ["flac", "mp3", "ogg", "wav"]
        return try (0..<count).map { i in
            let url = music.appendingPathComponent(String(format: "%02d.%@", i, formats[i % formats.count]))
            let source = AnalyzeCommandTests.audio.appendingPathComponent("groove.wav").path
            let p = Process()
            switch url.pathExtension {
            case "flac": (p.executableURL, p.arguments) = (URL(fileURLWithPath: "/usr/bin/flac"), ["--silent", "-f", "-o", url.path, source])
            case "mp3": (p.executableURL, p.arguments) = (URL(fileURLWithPath: "/usr/bin/lame"), ["--quiet", "-b", "128", source, url.path])
            case "ogg": (p.executableURL, p.arguments) = (URL(fileURLWithPath: "/usr/bin/oggenc"), ["--quiet", "-o", url.path, source])
            default: (p.executableURL, p.arguments) = (URL(fileURLWithPath: "/bin/cp"), [source, url.path])
            }
            try p.run()
            p.waitUntilExit()
            return url
        }
    }

    private func genres(_ url: URL) throws -> [String] {
        let container = try XCTUnwrap(AudioDecoding.sniff(url.path))
        return try reader.read(url.path, container: container).values(.genre)
    }

    private func backupFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: backups.path)) ?? []).filter { $0.hasSuffix(".genred-backup") }
    }

    /// Every file is either untouched or holds exactly what its newest journal entry wrote,
    /// with nothing left unsettled.
    private func assertJournalExplainsEveryFile(_ files: [URL], file: StaticString = #filePath, line: UInt = #line) throws {
        let store = try LibraryStore(path: database)
        XCTAssertTrue(try store.intents(includeStuck: true).isEmpty, "no write left unsettled", file: file, line: line)
        XCTAssertEqual(backupFiles(), [], "no backup left over", file: file, line: line)
        for url in files {
            let now = try genres(url)
            let entry = try store.journalEntries(path: url.path).first
            if let entry {
                XCTAssertEqual(entry.newValues["GENRE"], now, "\(url.lastPathComponent) holds its journaled values", file: file, line: line)
                XCTAssertNotNil(try store.track(path: url.path)?.taggedAt, file: file, line: line)
            } else {
                XCTAssertEqual(now, [], "\(url.lastPathComponent) has genres no journal entry explains", file: file, line: line)
            }
        }
    }

    /// Starts `genred retag` on the music folder; stderr goes to a file the test can read.
    private func startRetag() throws -> (Process, URL) {
        let err = dir.appendingPathComponent("retag-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["retag", "--jobs", "1", "--db", database, music.path]
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return (p, err)
    }

    private func waitUntil(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    func testCtrlCFinishesTheWriteInProgressAndTheNextRunCarriesOn() throws {
        let files = try addTracks(6)
        let (p, err) = try startRetag()
        let text = { (try? String(contentsOf: err, encoding: .utf8)) ?? "" }
        XCTAssertTrue(waitUntil(120) { text().contains("tagged  ") }, text())
        kill(p.processIdentifier, SIGINT)
        kill(p.processIdentifier, SIGINT)  // a second Ctrl-C does not cut a save short either
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130, text())
        XCTAssertTrue(text().contains("interrupted;") && text().contains("Run the same command again"), text())
        try assertJournalExplainsEveryFile(files)

        let again = try genred(["retag", music.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(try files.allSatisfy { try !genres($0).isEmpty })
        try assertJournalExplainsEveryFile(files)
    }

    func testKilledRetagsAreSettledAndUndoGivesEverythingBack() throws {
        let files = try addTracks(4)
        let originals = try files.map { try Data(contentsOf: $0) }
        let audio = try files.map { try reader.audioDigest($0.path, when: "in the test") }
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<6 {
            let (p, err) = try startRetag()
            // Kill somewhere in the tagging phase: after the first write began, at a random moment.
            _ = waitUntil(120) { ((try? String(contentsOf: err, encoding: .utf8)) ?? "").contains("analysed") || !p.isRunning }
            Thread.sleep(forTimeInterval: rng.unit() * 1.5)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let last = try genred(["retag", music.path])
        XCTAssertEqual(last.status, 0, last.stderr)
        try assertJournalExplainsEveryFile(files)
        for (url, digest) in zip(files, audio) {
            XCTAssertEqual(try reader.audioDigest(url.path, when: "in the test"), digest, "audio of \(url.lastPathComponent)")
        }

        let undo = try genred(["undo", "--all"])
        XCTAssertEqual(undo.status, 0, undo.stderr)
        for (url, original) in zip(files, originals) {
            XCTAssertEqual(try genres(url), [], "\(url.lastPathComponent) has its original (empty) genre back")
            // The tags are back; the bytes may differ only where the formats keep padding.
            XCTAssertEqual(try Data(contentsOf: url).count >= original.count - 8192, true)
        }
        let store = try LibraryStore(path: database)
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    func testUndoFollowsAMovedFileAndIsRemembered() throws {
        let file = try addTracks(1)[0]
        XCTAssertEqual(try genred(["retag", music.path]).status, 0)
        XCTAssertFalse(try genres(file).isEmpty)

        // Moved and renamed by hand, then seen by a retag of the new place.
        let moved = music.appendingPathComponent("Elsewhere/renamed.flac")
        try FileManager.default.createDirectory(at: moved.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: file, to: moved)
        XCTAssertEqual(try genred(["retag", music.path]).status, 0)

        let undo = try genred(["undo", "--file", moved.path])
        XCTAssertEqual(undo.status, 0, undo.stderr)
        XCTAssertTrue(undo.stdout.contains("1 restored"), undo.stdout)
        XCTAssertEqual(try genres(moved), [])

        let again = try genred(["retag", music.path])
        XCTAssertTrue(again.stdout.contains("1 kept as undone"), again.stdout)
        XCTAssertEqual(try genres(moved), [], "a person's undo is remembered")

        let rewrite = try genred(["retag", "--rewrite-undone", music.path])
        XCTAssertEqual(rewrite.status, 0, rewrite.stderr)
        XCTAssertFalse(try genres(moved).isEmpty, "written again when asked")
    }

    func testADamagedFileIsAnalysedButItsBytesAreLeftAloneUnlessAsked() throws {
        let whole = try addTracks(3)[2]  // Ogg Vorbis
        let cut = music.appendingPathComponent("cut.ogg")
        let bytes = try Data(contentsOf: whole)
        try bytes.prefix(bytes.count / 2).write(to: cut)
        let original = try Data(contentsOf: cut)

        let run = try genred(["retag", music.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("1 damaged, tags left alone"), run.stdout)
        XCTAssertTrue(run.stderr.contains("damaged \(cut.path): truncated"), run.stderr)
        XCTAssertEqual(try Data(contentsOf: cut), original, "not a byte changed")

        let status = try genred(["status", "--json"])
        XCTAssertTrue(status.stdout.contains("\"damaged\":1"), status.stdout)
        let show = try genred(["show", cut.path])
        XCTAssertTrue(show.stdout.contains("damaged: truncated"), show.stdout)
        XCTAssertTrue(try genred(["retag", music.path]).stdout.contains("0 failed"), "quiet on the next run")

        let config = dir.appendingPathComponent("write-damaged.toml")
        try "[tags]\nwrite_damaged = true\n".write(to: config, atomically: true, encoding: .utf8)
        let allowed = try genred(["retag", "--config", config.path, music.path])
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertFalse(try genres(cut).isEmpty, "written when the config allows it")
        XCTAssertEqual(try genred(["undo", "--file", cut.path]).status, 0)
        XCTAssertEqual(try genres(cut), [])
    }

    /// Runs genred through the shell so an argument can hold bytes that are not UTF-8
    /// (`printf` writes them from octal escapes).
    private func genredRaw(_ script: String) throws -> (status: Int32, stdout: Data, stderr: String) {
        let (status, stdout, stderr) = try AnalyzeCommandTests.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script, binary, database])
        return (status, stdout, String(decoding: stderr, as: UTF8.self))
    }

    func testANameThatIsNotUTF8KeepsItsBytesThroughEveryCommand() throws {
        let name: [UInt8] = Array("caf".utf8) + [0xE9] + Array(".wav".utf8)
        let path = PathIO.join(music.path, name)
        let wav = try Data(contentsOf: AnalyzeCommandTests.audio.appendingPathComponent("groove.wav"))
        let fd = PathIO.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = wav.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        try addTracks(1)
        let raw = "\"$(printf '\(music.path)/caf\\351.wav')\""

        let analyze = try genredRaw("\"$0\" analyze --json \(raw)")
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        let line = String(decoding: analyze.stdout, as: UTF8.self)
        XCTAssertTrue(line.contains("\"path\": \"\(music.path)/caf\\udce9.wav\""), line)

        let retag = try genredRaw("\"$0\" retag --db \"$1\" '\(music.path)'")
        XCTAssertEqual(retag.status, 0, retag.stderr)
        XCTAssertTrue(retag.stderr.contains("caf\\xE9.wav"), "shown escaped: \(retag.stderr)")
        XCTAssertFalse(try reader.read(path, container: .wav).values(.genre).isEmpty, "tagged")

        // The other track's neighbour is the Latin-1 one: the playlist and the map list it.
        let playlist = dir.appendingPathComponent("near.m3u").path
        let similar = try genredRaw("\"$0\" similar --db \"$1\" --m3u '\(playlist)' '\(music.path)/00.flac'")
        XCTAssertEqual(similar.status, 0, similar.stderr)
        XCTAssertTrue(String(decoding: similar.stdout, as: UTF8.self).contains("caf\\xE9.wav"), "shown escaped")
        let csv = dir.appendingPathComponent("map.csv").path
        let map = try genredRaw("\"$0\" map --db \"$1\" --csv '\(csv)'")
        XCTAssertEqual(map.status, 0, map.stderr)
        for file in [playlist, csv] {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
            let needle = Array(music.path.utf8) + [UInt8(ascii: "/")] + name
            XCTAssertTrue(bytes.indices.contains { bytes[$0...].starts(with: needle) }, "\(file) holds the exact name")
        }

        let undo = try genredRaw("\"$0\" undo --db \"$1\" --file \(raw)")
        XCTAssertEqual(undo.status, 0, undo.stderr)
        XCTAssertEqual(try reader.read(path, container: .wav).values(.genre), [])
    }
}
