import Foundation
import GenredKit
@testable import GenredLibrary
import XCTest

/// The real daemon on a temporary music folder and database, for tests that watch it work.
class DaemonTestCase: XCTestCase {
    var dir: URL!
    var music: URL!
    var database: String!
    var daemon: Process?
    var logURL: URL!

    /// The `[watch]` settings every test starts from; a test may add sections with `writeConfig`.
    static let baseConfig = """
        [watch]
        settle_seconds = 0.5
        workers = 1
        log_level = "debug"
        """

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-e2e-watch-\(UUID().uuidString)")
        music = dir.appendingPathComponent("music")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        database = dir.appendingPathComponent("state/library.sqlite").path
        logURL = dir.appendingPathComponent("daemon.log")
        try writeConfig(Self.baseConfig)
    }

    override func tearDownWithError() throws {
        if let d = daemon, d.isRunning {
            d.terminate()
            d.waitUntilExit()
        }
        _ = try? Process.run(URL(fileURLWithPath: "/bin/chmod"), arguments: ["-R", "u+w", dir.path]).waitUntilExit()
        try? FileManager.default.removeItem(at: dir)
    }

    var configURL: URL { dir.appendingPathComponent("genred.toml") }

    func writeConfig(_ text: String) throws {
        try text.write(to: configURL, atomically: true, encoding: .utf8)
    }

    var binary: URL { AnalyzeCommandTests.binary }

    @discardableResult
    func startDaemon() throws -> Process {
        let p = Process()
        p.executableURL = binary
        p.arguments = ["watch", "--config", configURL.path, "--db", database, music.path]
        // What a store keeps outside its database (backups, for a PostgreSQL store) stays in the test's folder.
        p.environment = ProcessInfo.processInfo.environment.merging(["XDG_DATA_HOME": dir.appendingPathComponent("data").path]) { $1 }
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let rescansBefore = self.log.components(separatedBy: "rescan done").count
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = log
        try p.run()
        daemon = p
        try waitFor("the daemon to be ready", timeout: 60) { self.log.components(separatedBy: "rescan done").count > rescansBefore }
        return p
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func store() throws -> LibraryStore { try LibraryStore(path: database) }

    func waitFor(_ what: String, timeout: Double = 90, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw TestFailure("timed out waiting for \(what); daemon log:\n\(log)")
    }

    func clip(_ name: String) -> URL { AnalyzeCommandTests.audio.appendingPathComponent("\(name).wav") }

    func track(_ url: URL) throws -> TrackRecord? { try store().track(path: url.standardizedFileURL.path) }

    func isTagged(_ url: URL) throws -> Bool { try track(url)?.taggedAt != nil }

    func stop(_ p: Process) -> Double {
        let start = Date()
        p.terminate()
        p.waitUntilExit()
        return Date().timeIntervalSince(start)
    }
}
