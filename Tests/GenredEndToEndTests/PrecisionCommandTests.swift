import Foundation
import XCTest

/// bf16 from the command line, where it is measured (`genred bench precision`): where oneDNN
/// has a native kernel it runs; where it has none (capped here with oneDNN's own
/// ONEDNN_MAX_CPU_ISA) it falls back to fp32, said once, and there is nothing to compare.
final class PrecisionCommandTests: XCTestCase {
    private let clip = AnalyzeCommandTests.audio.appendingPathComponent("rock.wav").path

    private func genred(_ arguments: [String], isa: String? = nil) throws -> AnalyzeCommandTests.Run {
        guard let isa else { return try AnalyzeCommandTests.genred(arguments) }
        let (status, out, err) = try AnalyzeCommandTests.run(URL(fileURLWithPath: "/usr/bin/env"),
                                                             ["ONEDNN_MAX_CPU_ISA=\(isa)", AnalyzeCommandTests.binary.path] + arguments)
        return .init(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    func testWithoutANativeKernelBF16FallsBackAndSaysSo() throws {
        for isa in ["AVX2", "AVX512_CORE"] {
            let capped = try genred(["bench", "precision", clip], isa: isa)
            XCTAssertEqual(capped.status, 2, "\(isa): \(capped.stdout) \(capped.stderr)")
            XCTAssertTrue(capped.stdout.contains("bf16: falls back to fp32"), capped.stdout)
            let warnings = capped.stderr.split(separator: "\n").filter { $0.contains("precision bf16: no native bf16 kernel") }
            XCTAssertEqual(warnings.count, 1, capped.stderr)
            XCTAssertTrue(capped.stderr.contains("nothing to compare"), capped.stderr)
        }
    }

    func testBF16IsComparedWithFP32WhereTheCPUHasIt() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard flags.contains(" avx512_bf16") || flags.contains(" amx_bf16") else {
            let run = try genred(["bench", "precision", clip])
            XCTAssertEqual(run.status, 2, run.stderr)
            return
        }
        let run = try genred(["bench", "precision", "--tracks", clip])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("bf16: runs"), run.stdout)
        let line = try XCTUnwrap(run.stdout.split(separator: "\n").first { $0.hasPrefix(clip) })
        XCTAssertTrue(line.contains("top5 same") && line.contains("tags same"), String(line))
        XCTAssertTrue(run.stdout.contains("bf16 meets the targets on 1 tracks"), run.stdout)
    }

    func testAnalysisHasNoPrecisionOption() throws {
        let run = try genred(["analyze", "--precision", "bf16", clip])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--precision"), run.stderr)
    }
}
