import Foundation
import XCTest

/// Runs the built `genred` executable the way a user or a script would.
final class AnalyzeCommandTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let audio = repository.appendingPathComponent("Tests/GenredKitTests/Fixtures/audio")

    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    private func genred(_ arguments: [String]) throws -> Run { try Self.genred(arguments) }

    /// The genred executable the tests run.
    static var binary: URL {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("genred")
        return FileManager.default.fileExists(atPath: binary.path) ? binary : Bundle.main.bundleURL.appendingPathComponent("genred")
    }

    static func genred(_ arguments: [String]) throws -> Run {
        let (status, stdout, stderr) = try run(binary, arguments)
        return Run(status: status, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs a program to the end: its exit status and its output, as bytes.
    static func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: Data) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }

    private func clip(_ name: String) -> String { Self.audio.appendingPathComponent("\(name).wav").path }

    private func object(_ line: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
    }

    func testJSONOutputHasTheDocumentedKeys() throws {
        let run = try genred(["analyze", "--json", clip("groove")])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines.count, 1)
        let o = try object(XCTUnwrap(run.lines.first, run.stderr))
        XCTAssertEqual(o["path"] as? String, clip("groove"))
        XCTAssertEqual(o["model"] as? String, "msd-musicnn")
        XCTAssertEqual(try XCTUnwrap(o["duration_s"] as? Double), 12, accuracy: 0.1)
        XCTAssertEqual(o["windows"] as? Int, 4)
        XCTAssertEqual(try XCTUnwrap(o["hop_s"] as? Double), 2.992, accuracy: 0.001)
        XCTAssertEqual((o["labels"] as? [String])?.count, 50)
        XCTAssertEqual((o["mean"] as? [Double])?.count, 50)
        XCTAssertEqual((o["vote"] as? [Double])?.count, 50)
        XCTAssertNil(o["taggram"])
        XCTAssertNil(o["embedding"])
        // The bundled groove reads as electronic music to the MSD model.
        let labels = o["labels"] as! [String], mean = o["mean"] as! [Double]
        XCTAssertEqual(labels[mean.indices.max { mean[$0] < mean[$1] }!], "electronic")
    }

    func testTaggramAndEmbeddingOnRequest() throws {
        let run = try genred(["analyze", "--json", "--taggram", "--embedding", "--model", "mtt-musicnn", clip("rock")])
        XCTAssertEqual(run.status, 0, run.stderr)
        let o = try object(XCTUnwrap(run.lines.first, run.stderr))
        XCTAssertEqual(o["model"] as? String, "mtt-musicnn")
        let taggram = try XCTUnwrap(o["taggram"] as? [[Double]])
        XCTAssertEqual(taggram.count, 3)
        XCTAssertTrue(taggram.allSatisfy { $0.count == 50 })
        XCTAssertEqual((o["embedding"] as? [Double])?.count, 200)
    }

    func testFailedFileIsReportedAndTheRunGoesOn() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let bad = dir.appendingPathComponent("notes.mp3")
        try Data("these are not the notes you are looking for".utf8).write(to: bad)
        let run = try genred(["analyze", "--json", bad.path, clip("ballad")])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.lines.count, 2)
        let failed = try object(XCTUnwrap(run.lines.first, run.stderr))
        XCTAssertEqual(failed["path"] as? String, bad.path)
        XCTAssertTrue((failed["error"] as? String)?.contains("not an audio file") == true, "\(failed)")
        XCTAssertEqual(try object(XCTUnwrap(run.lines.dropFirst().first, run.stderr))["windows"] as? Int, 3)
    }

    func testHumanOutputNamesFileDurationWindowsAndTopTags() throws {
        let run = try genred(["analyze", "--top", "3", clip("groove"), clip("short")])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains(clip("groove")))
        XCTAssertTrue(run.stdout.contains("0:12, wav, 4 windows"), run.stdout)
        XCTAssertTrue(run.stdout.contains("Electronic"), run.stdout)
        XCTAssertTrue(run.stdout.contains("shorter than one window: padded by repetition"), run.stdout)
        // Two headers of two lines each plus three tags per file.
        XCTAssertEqual(run.lines.count, 2 * (2 + 3))
    }

    func testVoteAggregateAndHop() throws {
        let run = try genred(["analyze", "--json", "--hop", "1", "--aggregate", "vote", clip("groove")])
        XCTAssertEqual(run.status, 0, run.stderr)
        let o = try object(XCTUnwrap(run.lines.first, run.stderr))
        XCTAssertEqual(o["windows"] as? Int, 9)  // (751 - 187) / 63 + 1 windows of 187 frames
        let vote = try XCTUnwrap(o["vote"] as? [Double])
        XCTAssertEqual(vote.reduce(0, +), 1, accuracy: 1e-4)
    }

    func testMissingFileAndUnknownModelAreClearErrors() throws {
        let missing = try genred(["analyze", "/nonexistent/song.flac"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/song.flac"), missing.stderr)

        let model = try genred(["analyze", "--model", "jazz-detector", clip("groove")])
        XCTAssertEqual(model.status, 2)
        XCTAssertTrue(model.stderr.contains("jazz-detector"), model.stderr)
    }

    func testBadOptionsAreRejectedWithUsage() throws {
        let run = try genred(["analyze", "--hop", "-2", clip("groove")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--hop"), run.stderr)
    }

    func testHelpExplainsTheCommands() throws {
        let run = try genred(["--help"])
        XCTAssertEqual(run.status, 0)
        XCTAssertTrue(run.stdout.contains("analyze"))
        let analyze = try genred(["analyze", "--help"])
        XCTAssertTrue(analyze.stdout.contains("--aggregate"))
        XCTAssertTrue(analyze.stdout.contains("padded by repetition"))
    }
}
