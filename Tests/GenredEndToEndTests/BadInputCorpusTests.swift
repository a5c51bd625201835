import Foundation
import GenredKit
import XCTest

#if canImport(Glibc)
import Glibc
import GenredTestSupport
#endif

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
        let paths = cases.map { dir.path + "/" + $0.name }

        // The paths go through a NUL-separated list and bash, which pass names that are not
        // UTF-8 as their bytes (Foundation's Process would re-encode them).
        let list = dir.appendingPathComponent(".paths").path
        XCTAssertNil(PathIO.writeText(paths.joined(separator: "\u{0}") + "\u{0}", to: list))
        let run = try Self.genred(["-c", "mapfile -d '' -t files < \"$1\"; exec \"$0\" analyze --json --threads 2 \"${files[@]}\"",
                                   Self.binary.path, list], through: URL(fileURLWithPath: "/bin/bash"), timeout: Self.timeout)
        XCTAssertFalse(run.timedOut, "genred analyze did not finish within \(Self.timeout) s")
        XCTAssertEqual(run.reason, .exit, "genred was killed by signal \(run.status)")
        XCTAssertEqual(run.status, 1, "exit status 1: some inputs are refused\n\(run.stderr)")

        var outcomes: [String: Outcome] = [:]
        for line in run.stdout.split(separator: "\n") {
            // A carried byte is written as the lone surrogate \udcNN (Python's surrogateescape);
            // as the pair \udbff\udfNN it decodes to the scalar U+10FFNN that carries it here.
            let paired = line.replacingOccurrences(of: "\\udc", with: "\\udbff\\udf")
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(paired.utf8)) as? [String: Any], String(line))
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
            table.append("| `\(FilePath.display(c.name))` | \(c.note) | \(result) | \(FilePath.display(reason).replacingOccurrences(of: "|", with: "\\|")) |")
        }
        let rendered = table.joined(separator: "\n")
        print(rendered)
        if let out = ProcessInfo.processInfo.environment["GENRED_CORPUS_TABLE"] {
            try (rendered + "\n").write(toFile: out, atomically: true, encoding: .utf8)
        }
    }

    func testRetagChangesNoByteOfABadOrDamagedFile() throws {
        let dir = try TestAudio.makeTemporaryDirectory("genred-corpus-retag")
        defer { try? FileManager.default.removeItem(at: dir) }
        let music = dir.appendingPathComponent("music")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        let cases = try BadInputCorpus.build(in: music)
        /// A regular file's bytes (SHA-256), by its exact name; other kinds by their mode.
        func digest(_ c: BadInputCorpus.Case) -> String? {
            let path = music.path + "/" + c.name
            guard let info = PathIO.lstat(path) else { return nil }
            guard info.st_mode & S_IFMT == S_IFREG else { return "mode \(info.st_mode)" }
            let fd = PathIO.open(path, O_RDONLY)
            guard fd >= 0 else { return "unreadable" }
            defer { close(fd) }
            var hasher = SHA256()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            return hasher.finalizeHex()
        }
        let before = cases.map(digest)
        let run = try Self.genred(["retag", "--jobs", "2", "--db", dir.appendingPathComponent("state/library.sqlite").path, music.path],
                                  timeout: Self.timeout)
        XCTAssertFalse(run.timedOut)
        XCTAssertEqual(run.reason, .exit, "genred was killed by signal \(run.status)")
        XCTAssertEqual(run.status, 1, "some inputs fail: \(run.stderr)")
        for (c, old) in zip(cases, before) {
            switch c.expected {
            case .refused, .damaged:
                XCTAssertEqual(digest(c), old, "\(FilePath.display(c.name)) changed")
            case .whole, .analysed:
                break  // tagged, and the write verified: other tests check those
            }
        }
        XCTAssertTrue(run.stdout.contains("damaged, tags left alone"), run.stdout)
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

    static var binary: URL { AnalyzeCommandTests.binary }

    /// Runs the built binary (or `through`, another program), killing it after `timeout` seconds.
    static func genred(_ arguments: [String], through program: URL? = nil, timeout: TimeInterval) throws -> Run {
        let process = Process()
        process.executableURL = program ?? binary
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
