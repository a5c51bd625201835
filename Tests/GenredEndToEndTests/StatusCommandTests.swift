import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `genred status` as a user or a monitoring script runs it.
final class StatusCommandTests: XCTestCase {
    private var dir: URL!
    private var database: String { dir.appendingPathComponent("state/library.sqlite").path }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-e2e-status-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("music"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func genred(_ arguments: [String]) throws -> AnalyzeCommandTests.Run {
        try AnalyzeCommandTests.genred(arguments + ["--db", database])
    }

    private func statusObject() throws -> [String: Any] {
        let run = try genred(["status", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines.count, 1, run.stdout)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
    }

    /// Runs SQL with the sqlite3 shell; skips the test where there is none.
    private func sql(_ statements: String) throws {
        guard let shell = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("no sqlite3 shell to put rows in the database")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [database, statements]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, statements)
    }

    func testMissingDatabaseGivesZerosAndIsNotCreated() throws {
        let text = try genred(["status"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("daemon:    not running"), text.stdout)
        XCTAssertTrue(text.stdout.contains("nothing has been analysed"), text.stdout)
        XCTAssertTrue(text.stdout.contains("tracks:    0 (0 analysed, 0 tagged, 0 failed)"), text.stdout)

        let o = try statusObject()
        for key in ["tracks", "analysed", "tagged", "failed", "queue"] {
            XCTAssertEqual(o[key] as? Int, 0, key)
        }
        XCTAssertEqual(o["running"] as? Bool, false)
        XCTAssertTrue(o["pid"] is NSNull)
        XCTAssertEqual(o["state"] as? String, "stopped")
        XCTAssertTrue(o["current"] is NSNull)
        XCTAssertEqual(o["database"] as? String, database)
        XCTAssertEqual((o["last_errors"] as? [Any])?.count, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: database))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("state").path))
    }

    func testCountsQueueAndLastErrorsAfterARetag() throws {
        let music = dir.appendingPathComponent("music")
        try FileManager.default.copyItem(at: AnalyzeCommandTests.audio.appendingPathComponent("groove.wav"),
                                         to: music.appendingPathComponent("01 Groove.wav"))
        try Data("not music".utf8).write(to: music.appendingPathComponent("broken.flac"))
        let retag = try genred(["retag", music.path])
        XCTAssertEqual(retag.status, 1, "the broken file fails: \(retag.stderr)")
        try sql("INSERT INTO queue (path, reason, enqueued_at, attempts) VALUES ('\(music.path)/02 New.wav', 'new', '2025-01-01 00:00:00.000', 0)")

        let o = try statusObject()
        XCTAssertEqual(o["tracks"] as? Int, 2)
        XCTAssertEqual(o["analysed"] as? Int, 1)
        XCTAssertEqual(o["tagged"] as? Int, 1)
        XCTAssertEqual(o["failed"] as? Int, 1)
        XCTAssertEqual(o["queue"] as? Int, 1)
        XCTAssertEqual(o["running"] as? Bool, false)
        let errors = try XCTUnwrap(o["last_errors"] as? [[String: Any]])
        XCTAssertEqual(errors.count, 1)
        XCTAssertEqual(errors.first?["path"] as? String, music.appendingPathComponent("broken.flac").path)
        XCTAssertFalse((errors.first?["error"] as? String ?? "").isEmpty)
        XCTAssertNotNil(errors.first?["at"] as? String)

        let text = try genred(["status"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("queue:     1 file waiting"), text.stdout)
        XCTAssertTrue(text.stdout.contains("tracks:    2 (1 analysed, 1 tagged, 1 failed)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("last errors:\n  "), text.stdout)
        XCTAssertTrue(text.stdout.contains("broken.flac: "), text.stdout)
    }

    func testAnotherUserCanReadStatusWithoutWriteAccess() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else {
            throw XCTSkip("needs root to switch to another user")
        }
        let clip = AnalyzeCommandTests.audio.appendingPathComponent("short.wav")
        let music = dir.appendingPathComponent("music")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: clip, to: music.appendingPathComponent("a.wav"))
        _ = try genred(["retag", music.path])
        // Readable by everyone, writable by nobody else; no WAL files around (no daemon running).
        let state = dir.appendingPathComponent("state")
        for name in try FileManager.default.contentsOfDirectory(atPath: state.path) where name.hasPrefix("library.sqlite-") {
            try FileManager.default.removeItem(at: state.appendingPathComponent(name))
        }
        for url in [dir!, state] { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: database)
        let before = try FileManager.default.contentsOfDirectory(atPath: state.path).sorted()

        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("genred")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        process.arguments = ["-u", "nobody", "--", binary.path, "status", "--json", "--db", database]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 || !message.contains("Permission denied") else {
            throw XCTSkip("nobody cannot reach the test binary here: \(message)")
        }
        XCTAssertEqual(process.terminationStatus, 0, message)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], message)
        XCTAssertEqual(object["tracks"] as? Int, 1)
        XCTAssertEqual(object["running"] as? Bool, false)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: state.path).sorted(), before, "nothing created")
    }

    func testRunningWhileTheDaemonLockIsHeld() throws {
        // An empty folder: the database and its schema, nothing to analyse.
        let retag = try genred(["retag", dir.appendingPathComponent("music").path])
        XCTAssertEqual(retag.status, 0, retag.stderr)
        try sql("""
            INSERT INTO daemon_state (key, value, updated_at) VALUES
              ('pid', '\(getpid())', '2025-01-01 00:00:00.000'),
              ('state', 'working', '2025-01-01 00:00:00.000'),
              ('current', '/srv/music/a.flac', '2025-01-01 00:00:00.000'),
              ('started_at', '2025-01-01T00:00:00Z', '2025-01-01 00:00:00.000'),
              ('roots', '["/srv/music"]', '2025-01-01 00:00:00.000');
            """)

        // Stand in for the daemon: hold the lock and write the pid, as it does.
        let fd = open(database + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        let pid = Array("\(getpid())\n".utf8)
        XCTAssertEqual(pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, pid.count)

        let o = try statusObject()
        XCTAssertEqual(o["running"] as? Bool, true)
        XCTAssertEqual(o["pid"] as? Int, Int(getpid()))
        XCTAssertEqual(o["state"] as? String, "working")
        XCTAssertEqual(o["current"] as? String, "/srv/music/a.flac")
        XCTAssertEqual(o["roots"] as? [String], ["/srv/music"])
        XCTAssertEqual(o["started_at"] as? String, "2025-01-01T00:00:00Z")

        let text = try genred(["status"])
        XCTAssertTrue(text.stdout.contains("daemon:    running, pid \(getpid()), working, since 2025-01-01T00:00:00Z (up "), text.stdout)
        XCTAssertTrue(text.stdout.contains("current:   /srv/music/a.flac"), text.stdout)
        XCTAssertTrue(text.stdout.contains("roots:     /srv/music"), text.stdout)

        // Once the lock is gone, what the daemon left behind is no longer shown as live.
        close(fd)
        let after = try statusObject()
        XCTAssertEqual(after["running"] as? Bool, false)
        XCTAssertTrue(after["pid"] is NSNull)
        XCTAssertEqual(after["state"] as? String, "stopped")
        XCTAssertTrue(after["current"] is NSNull)
    }
}
