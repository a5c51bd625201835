import Foundation
import XCTest

/// `genred bench` times a first import of copies of the files, stage by stage, and leaves the
/// files it was given alone.
final class BenchCommandTests: XCTestCase {
    func testTheImportIsTimedStageByStageOnCopies() throws {
        let clip = AnalyzeCommandTests.audio.appendingPathComponent("rock.wav")
        let before = try Data(contentsOf: clip)
        let run = try AnalyzeCommandTests.genred(["bench", "--repeats", "1", "--jobs", "1", "--threads", "1", clip.path])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("retag of copies in a temporary folder"), run.stdout)

        // Six stages, each with its seconds and a share; the shares add up to the whole.
        let names = ["decode", "resample", "mel", "inference", "store", "tag write"]
        var shares: [String: Double] = [:]
        for line in run.stdout.split(separator: "\n") where line.hasPrefix("  ") && line.hasSuffix("%") {
            let words = line.split(separator: " ")
            let name = words.prefix { !$0.first!.isNumber }.joined(separator: " ")
            shares[name] = Double(words.last!.dropLast())
        }
        XCTAssertEqual(Set(shares.keys), Set(names), run.stdout)
        XCTAssertEqual(shares.values.reduce(0, +), 100, accuracy: 0.5, run.stdout)
        XCTAssertGreaterThan(shares["inference"] ?? 0, 0, run.stdout)
        XCTAssertGreaterThan(shares["tag write"] ?? 0, 0, "the copy was tagged: \(run.stdout)")
        XCTAssertTrue(run.stdout.contains("cores busy"), run.stdout)

        XCTAssertEqual(try Data(contentsOf: clip), before, "the file given is not touched")
        XCTAssertEqual(try AnalyzeCommandTests.genred(["bench", "--no-import", "--repeats", "1", "--jobs", "1", clip.path])
            .stdout.contains("retag of copies"), false)
    }
}
