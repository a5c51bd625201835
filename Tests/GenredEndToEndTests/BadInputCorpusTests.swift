import Foundation
import XCTest

/// The whole bad-input corpus through one real `genred analyze --json` run: no crash, no hang, a
/// clear error for each input with no audio, finite scores (and a damage reason where due) for
/// each input that decodes.
final class BadInputCorpusTests: XCTestCase {
    /// Generous for ~40 short files in a debug build on two shared cores; a hang blows through it.
    static let timeout: TimeInterval = 300

    struct Outcome {
        var error: String?
        var damaged: String?
        var mean: [Any]?
    }

    func testEveryInputIsReportedWithoutCrashOrHang() throws {
        let dir = try TestAudio.makeTemporaryDirectory("genred-corpus")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases = try BadInputCorpus.build(in: dir)
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        let paths = cases.map { dir.appendingPathComponent($0.name).path }

        let run = try Self.genred(["analyze", "--json", "--threads", "2"] + paths, timeout: Self.timeout)
        XCTAssertFalse(run.timedOut, "genred analyze did not finish within \(Self.timeout) s")
        XCTAssertEqual(run.reason, .exit, "genred was killed by signal \(run.status)")
        XCTAssertEqual(run.status, 1, "exit status 1: some inputs are refused\n\(run.stderr)")

        var outcomes: [String: Outcome] = [:]
        for line in run.stdout.split(separator: "\n") {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            let path = try XCTUnwrap(object["path"] as? String, String(line))
            XCTAssertNil(outcomes[path], "\(path) reported twice")
            outcomes[path] = Outcome(error: object["error"] as? String, damaged: object["damaged"] as? String,
                                     mean: object["mean"] as? [Any])
        }
        XCTAssertEqual(outcomes.count, cases.count, "one line per input")

        var table = ["| input | what it is | outcome | reason |", "| --- | --- | --- | --- |"]
        for (c, path) in zip(cases, paths) {
            guard let outcome = outcomes[path] else {
                XCTFail("\(c.name): no output line")
                continue
            }
            check(c, outcome)
            let (result, reason): (String, String) =
                if let error = outcome.error { ("refused", error) }
                else if let damaged = outcome.damaged { ("analysed, damaged", damaged) }
                else { ("analysed", "") }
            table.append("| `\(c.name)` | \(c.note) | \(result) | \(reason.replacingOccurrences(of: "|", with: "\\|")) |")
        }
        let rendered = table.joined(separator: "\n")
        print(rendered)
        if let out = ProcessInfo.processInfo.environment["GENRED_CORPUS_TABLE"] {
            try (rendered + "\n").write(toFile: out, atomically: true, encoding: .utf8)
        }
    }

    func testDamagedFileIsAnalysedWithItsReasonAndExitStatusZero() throws {
        let dir = try TestAudio.makeTemporaryDirectory("genred-damaged")
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = try Data(contentsOf: AnalyzeCommandTests.audio.appendingPathComponent("groove.wav"))
        let cut = dir.appendingPathComponent("groove-cut.wav")
        try whole.prefix(whole.count / 2).write(to: cut)

        let text = try Self.genred(["analyze", cut.path], timeout: Self.timeout)
        XCTAssertEqual(text.status, 0, "damage is a warning, not a failure: \(text.stderr)")
        XCTAssertTrue(text.stdout.contains("\n  damaged: truncated: the data chunk claims"), text.stdout)
        XCTAssertTrue(text.stderr.contains("warning: \(cut.path): damaged (truncated"), text.stderr)

        let json = try Self.genred(["analyze", "--json", cut.path], timeout: Self.timeout)
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], json.stdout)
        XCTAssertTrue((object["damaged"] as? String)?.hasPrefix("truncated: ") == true, "\(object)")
        XCTAssertEqual(try XCTUnwrap(object["duration_s"] as? Double), 6, accuracy: 0.1)
        XCTAssertTrue(json.stderr.isEmpty, "JSON mode writes the reason only into the object: \(json.stderr)")

        let help = try Self.genred(["analyze", "--help"], timeout: Self.timeout)
        XCTAssertTrue(help.stdout.contains("damaged"), help.stdout)
    }

    private func check(_ c: BadInputCorpus.Case, _ o: Outcome, file: StaticString = #filePath, line: UInt = #line) {
        func contains(_ text: String?, _ phrases: [String]) -> Bool {
            guard let text = text?.lowercased() else { return false }
            return phrases.contains { text.contains($0.lowercased()) }
        }
        switch c.expected {
        case .refused(let phrases):
            XCTAssertTrue(contains(o.error, phrases), "\(c.name): expected an error mentioning \(phrases), got \(o)", file: file, line: line)
            XCTAssertNil(o.mean, "\(c.name): an error line carries no scores", file: file, line: line)
            return
        case .whole:
            XCTAssertNil(o.damaged, "\(c.name): a whole file is not marked damaged", file: file, line: line)
        case .damaged(let phrases):
            XCTAssertTrue(contains(o.damaged, phrases), "\(c.name): expected damage mentioning \(phrases), got \(o)", file: file, line: line)
        case .analysed:
            break
        }
        XCTAssertNil(o.error, "\(c.name): refused: \(o.error ?? "")", file: file, line: line)
        guard let mean = o.mean else { return XCTFail("\(c.name): no scores", file: file, line: line) }
        XCTAssertFalse(mean.isEmpty, file: file, line: line)
        for value in mean {
            guard let v = value as? Double else {
                XCTFail("\(c.name): a score is not a number: \(value)", file: file, line: line)
                return
            }
            XCTAssertTrue(v.isFinite && v >= 0 && v <= 1, "\(c.name): score \(v) is outside [0, 1]", file: file, line: line)
        }
    }

    struct Run {
        var status: Int32
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Runs the built binary (found as `AnalyzeCommandTests.genred` finds it), killing it after `timeout` seconds.
    static func genred(_ arguments: [String], timeout: TimeInterval) throws -> Run {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("genred")
        let process = Process()
        process.executableURL = FileManager.default.fileExists(atPath: beside.path)
            ? beside : Bundle.main.bundleURL.appendingPathComponent("genred")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        // Drain both pipes while the process runs so that a full pipe cannot stall it.
        let group = DispatchGroup()
        nonisolated(unsafe) var stdout = Data(), stderr = Data()
        DispatchQueue.global().async(group: group) { stdout = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { stderr = err.fileHandleForReading.readDataToEndOfFile() }
        var timedOut = false
        if done.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            done.wait()
        }
        group.wait()
        return Run(status: process.terminationStatus, reason: process.terminationReason,
                   stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self),
                   timedOut: timedOut)
    }
}
