import Foundation
import XCTest

/// `genred retag` and `genred undo` as a user runs them.
final class RetagCommandTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-e2e-retag-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("music/Album"), withIntermediateDirectories: true)
        for (clip, name) in [("groove", "01 Groove.wav"), ("ballad", "02 Ballad.wav")] {
            try FileManager.default.copyItem(at: AnalyzeCommandTests.audio.appendingPathComponent("\(clip).wav"),
                                             to: dir.appendingPathComponent("music/Album/\(name)"))
        }
        try Data("not music".utf8).write(to: dir.appendingPathComponent("music/Album/broken.flac"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func genred(_ arguments: [String]) throws -> AnalyzeCommandTests.Run {
        try AnalyzeCommandTests.genred(arguments + ["--db", dir.appendingPathComponent("state/library.sqlite").path])
    }

    func testDryRunPrintsExistingToProposedAndSummary() throws {
        let run = try genred(["retag", "--dry-run", dir.appendingPathComponent("music").path])
        XCTAssertEqual(run.status, 1, "one file failed")
        XCTAssertTrue(run.stdout.contains("01 Groove.wav\n  GENRE: (empty) -> Electronic"), run.stdout)
        XCTAssertTrue(run.stdout.contains("3 files: 2 analysed, 0 up to date, 2 would be tagged"), run.stdout)
        XCTAssertTrue(run.stdout.contains("broken.flac: not an audio file"), run.stdout)
        XCTAssertTrue(run.stderr.contains("failed  ") && run.stderr.contains("broken.flac"), run.stderr)
    }

    func testRetagThenUndoByRun() throws {
        let music = dir.appendingPathComponent("music").path
        let first = try genred(["retag", music])
        XCTAssertEqual(first.status, 1)
        XCTAssertTrue(first.stdout.contains("2 tagged"), first.stdout)
        XCTAssertTrue(first.stdout.contains("(run 1)"), first.stdout)
        XCTAssertTrue(first.stderr.contains("tagged  ") && first.stderr.contains("GENRE=Electronic"), first.stderr)

        let second = try genred(["retag", music])
        XCTAssertTrue(second.stdout.contains("0 analysed, 2 up to date, 0 tagged"), second.stdout)

        let preview = try genred(["undo", "--run", "1", "--dry-run"])
        XCTAssertEqual(preview.status, 0, preview.stderr)
        XCTAssertTrue(preview.stdout.contains("  GENRE: Electronic") && preview.stdout.contains(" -> (empty)"), preview.stdout)
        XCTAssertTrue(preview.stdout.contains("2 would be restored"), preview.stdout)

        let undo = try genred(["undo", "--run", "1"])
        XCTAssertEqual(undo.status, 0, undo.stderr)
        XCTAssertTrue(undo.stdout.contains("2 restored"), undo.stdout)
        let again = try genred(["undo", "--all"])
        XCTAssertTrue(again.stdout.contains("0 restored"), again.stdout)
    }

    func testBadArgumentsAreExplained() throws {
        let both = try genred(["retag", "--merge", "--overwrite", dir.path])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("--merge and --overwrite"), both.stderr)
        let none = try genred(["undo"])
        XCTAssertTrue(none.stderr.contains("exactly one of --run ID, --file PATH or --all"), none.stderr)
        let missing = try genred(["retag", "/nonexistent/music"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/music"), missing.stderr)
    }

    func testBadConfigNamesKeyAndLine() throws {
        let config = dir.appendingPathComponent("genred.toml")
        try "[tags]\nmax_genres = 2\ngenre_treshold = 0.3\n".write(to: config, atomically: true, encoding: .utf8)
        let run = try genred(["retag", "--config", config.path, dir.appendingPathComponent("music").path])
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("genred.toml:3: tags.genre_treshold: unknown setting"), run.stderr)
    }
}
