import Foundation
import XCTest

/// A command's error is printed once, as `genred: ` and what failed and why, and ends the
/// process with the error's exit status.
final class ErrorCommandTests: XCTestCase {
    private func temporary() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    private func assertOneLine(_ run: AnalyzeCommandTests.Run, status: Int32, containing parts: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.status, status, run.stderr, file: file, line: line)
        let lines = run.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("genred: ") ?? false, run.stderr, file: file, line: line)
        for part in parts { XCTAssertTrue(run.stderr.contains(part), "\(part) in \(run.stderr)", file: file, line: line) }
    }

    func testAnUnknownSettingNamesTheFileAndTheKey() throws {
        let dir = try temporary()
        let config = dir.appendingPathComponent("genred.toml").path
        try "[tags]\nmax_genre = 2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let run = try AnalyzeCommandTests.genred(["status", "--config", config, "--db", dir.appendingPathComponent("l.sqlite").path])
        assertOneLine(run, status: 2, containing: [config, "tags.max_genre", "unknown setting"])
    }

    func testAModelThatIsNotThereIsNamed() throws {
        let run = try AnalyzeCommandTests.genred(["analyze", "--model", "no-such-model", AnalyzeCommandTests.audio.appendingPathComponent("groove.wav").path])
        assertOneLine(run, status: 2, containing: ["no-such-model"])
    }

    func testADatabaseFromANewerGenredIsNamedAndLeftAlone() throws {
        let dir = try temporary()
        let db = dir.appendingPathComponent("library.sqlite").path
        XCTAssertEqual(try AnalyzeCommandTests.genred(["migrate", "--db", db]).status, 0)
        _ = try AnalyzeCommandTests.genred(["retag", "--dry-run", "--db", db, AnalyzeCommandTests.audio.appendingPathComponent("groove.wav").path])
        let sqlite = URL(fileURLWithPath: "/usr/bin/sqlite3")
        guard FileManager.default.isExecutableFile(atPath: sqlite.path) else { throw TestFailure("sqlite3 is not installed (make test installs it)") }
        let insert = try AnalyzeCommandTests.run(sqlite, [db, "INSERT INTO grdb_migrations (identifier) VALUES ('v999-from-the-future')"])
        XCTAssertEqual(insert.status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        for command in [["status"], ["similar", "--like", "Rock"], ["migrate"], ["retag", "--dry-run"]] {
            var arguments = command + ["--db", db]
            if command == ["retag", "--dry-run"] { arguments.append(dir.path) }
            assertOneLine(try AnalyzeCommandTests.genred(arguments), status: 2, containing: [db, "newer version of genred"])
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before, "no byte changed")
    }
}
