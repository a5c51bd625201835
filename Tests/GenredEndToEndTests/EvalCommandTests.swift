import Foundation
import GenredKit
import XCTest

/// `genred eval` as a user or a script runs it.
final class EvalCommandTests: XCTestCase {
    private func genred(_ arguments: [String]) throws -> AnalyzeCommandTests.Run { try AnalyzeCommandTests.genred(arguments) }

    private func clip(_ name: String) -> String { AnalyzeCommandTests.audio.appendingPathComponent("\(name).wav").path }

    private func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    private func sox(_ input: String, _ output: URL, _ effect: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sox")
        p.arguments = ["-q", input, output.path] + effect
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    private func object(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func testFoldersJSONAndCSV() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sox") else { throw XCTSkip("sox is not installed") }
        let dir = try temporaryDirectory()
        let set = dir.appendingPathComponent("set")
        for f in ["electronic", "jazz", "reggae"] {
            try FileManager.default.createDirectory(at: set.appendingPathComponent(f), withIntermediateDirectories: true)
        }
        try sox(clip("groove"), set.appendingPathComponent("electronic/groove.wav"), [])
        try sox(clip("groove"), set.appendingPathComponent("electronic/groove-up.wav"), ["pitch", "200"])
        try sox(clip("ballad"), set.appendingPathComponent("electronic/planted.wav"), ["pitch", "200"])
        try sox(clip("ballad"), set.appendingPathComponent("jazz/ballad.wav"), [])
        try sox(clip("ballad"), set.appendingPathComponent("jazz/ballad-fast.wav"), ["speed", "1.05"])
        try sox(clip("short"), set.appendingPathComponent("reggae/short.wav"), [])
        let csv = dir.appendingPathComponent("tracks.csv").path

        let run = try genred(["eval", "--no-db", "--json", "--csv", csv, set.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let o = try object(run.stdout)
        XCTAssertEqual(o["model"] as? String, "msd-musicnn")
        XCTAssertEqual((o["classes"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["electronic", "jazz"])
        let uncovered = try XCTUnwrap(o["uncovered"] as? [[String: Any]])
        XCTAssertEqual(uncovered.first?["label"] as? String, "reggae")
        XCTAssertEqual(uncovered.first?["files"] as? Int, 1)
        let aggs = try XCTUnwrap(o["aggregations"] as? [[String: Any]])
        let mean = try XCTUnwrap(aggs.first { $0["aggregate"] as? String == "mean" })
        XCTAssertEqual(mean["counts"] as? [[Int]], [[2, 1], [0, 2]])
        XCTAssertEqual(try XCTUnwrap(mean["accuracy"] as? Double), 0.8, accuracy: 1e-9)
        XCTAssertNotNil(aggs.first { $0["aggregate"] as? String == "vote" })
        let sweep = try XCTUnwrap(o["sweep"] as? [String: Any])
        XCTAssertEqual((sweep["rows"] as? [Any])?.count, 30)
        XCTAssertEqual((o["tracks"] as? [Any])?.count, 5)

        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 6)
        XCTAssertTrue(rows.contains { $0.hasPrefix(set.path + "/electronic/planted.wav,electronic,electronic,analysed,") && $0.contains(",jazz,false,") })

        // The human report names the confusion and the uncovered label.
        let text = try genred(["eval", "--no-db", set.path])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("electronic -> jazz"), text.stdout)
        XCTAssertTrue(text.stdout.contains("reggae"))
        XCTAssertTrue(text.stdout.contains("electronic/planted.wav  label electronic"))
        XCTAssertTrue(text.stdout.contains("suggested for coverage >= 90.0%"))
    }

    func testTagLabelsAreReadAndFilesAreNotChanged() throws {
        let dir = try temporaryDirectory()
        let writer = TagWriter(backupDirectory: dir.appendingPathComponent("backup"))
        let files: [(String, String, [String])] = [
            ("groove", "a.wav", ["Electronic"]), ("ballad", "b.wav", ["Jazz", "Piano"]),
            ("ballad", "c.wav", ["Electronic"]), ("groove", "d.wav", []), ("groove", "e.wav", ["Reggae"]),
        ]
        for (source, name, genres) in files {
            let path = dir.appendingPathComponent(name).path
            try FileManager.default.copyItem(atPath: clip(source), toPath: path)
            if !genres.isEmpty { _ = try writer.write(path, container: .wav, values: [.genre: genres]) }
        }
        let before = try files.map { try Data(contentsOf: dir.appendingPathComponent($0.1)) }

        let run = try genred(["eval", "--no-db", "--labels", "tags", "--json", dir.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let o = try object(run.stdout)
        let counts = try XCTUnwrap(o["counts"] as? [String: Any])
        XCTAssertEqual(counts["unlabelled"] as? Int, 1)
        XCTAssertEqual(counts["uncovered"] as? Int, 1)
        XCTAssertEqual(counts["evaluated"] as? Int, 3)
        let mean = try XCTUnwrap((o["aggregations"] as? [[String: Any]])?.first)
        // rows: Electronic (a, planted c), Jazz (b)
        XCTAssertEqual(mean["counts"] as? [[Int]], [[1, 1], [0, 1]])
        let after = try files.map { try Data(contentsOf: dir.appendingPathComponent($0.1)) }
        XCTAssertEqual(before, after, "eval must not write tags")
    }

    func testSetupErrorsExitWithTwoAndNameTheFile() throws {
        let dir = try temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("jazz"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: clip("short"), toPath: dir.appendingPathComponent("jazz/a.wav").path)
        let map = dir.appendingPathComponent("map.txt").path
        try "jazz = jazz\ndisco = disco\n".write(toFile: map, atomically: true, encoding: .utf8)

        let bad = try genred(["eval", "--no-db", "--map", map, dir.path])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("\(map): line 2: model msd-musicnn has no label 'disco'"), bad.stderr)

        let missing = try genred(["eval", "--no-db", dir.appendingPathComponent("nope").path])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("nope: no such file or folder"), missing.stderr)

        let reggae = try temporaryDirectory()
        try FileManager.default.createDirectory(at: reggae.appendingPathComponent("reggae"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: clip("short"), toPath: reggae.appendingPathComponent("reggae/a.wav").path)
        let none = try genred(["eval", "--no-db", reggae.path])
        XCTAssertEqual(none.status, 2)
        XCTAssertTrue(none.stderr.contains("nothing to evaluate: no label is covered by msd-musicnn (reggae)"), none.stderr)
    }

    func testAFileThatFailsIsReportedWithStatusOne() throws {
        let dir = try temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("jazz"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: clip("ballad"), toPath: dir.appendingPathComponent("jazz/a.wav").path)
        try Data("not audio at all".utf8).write(to: dir.appendingPathComponent("jazz/broken.mp3"))
        let run = try genred(["eval", "--no-db", dir.path])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("broken.mp3"), run.stderr)
        XCTAssertTrue(run.stdout.contains("Failed files (1)"), run.stdout)
    }
}
