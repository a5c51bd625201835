import Foundation
import XCTest

/// `--precision` from the command line: bf16 where oneDNN has a native kernel, and where it
/// has none (capped here with oneDNN's own ONEDNN_MAX_CPU_ISA) fp32, said once, bit for bit.
final class PrecisionCommandTests: XCTestCase {
    private let clip = AnalyzeCommandTests.audio.appendingPathComponent("rock.wav").path

    private func genred(_ arguments: [String], isa: String? = nil) throws -> AnalyzeCommandTests.Run {
        guard let isa else { return try AnalyzeCommandTests.genred(arguments) }
        let (status, out, err) = try AnalyzeCommandTests.run(URL(fileURLWithPath: "/usr/bin/env"),
                                                             ["ONEDNN_MAX_CPU_ISA=\(isa)", AnalyzeCommandTests.binary.path] + arguments)
        return .init(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    func testWithoutANativeKernelBF16IsFP32AndSaysSo() throws {
        let fp32 = try genred(["analyze", "--json", "--embedding", clip])
        XCTAssertEqual(fp32.status, 0, fp32.stderr)
        for isa in ["AVX2", "AVX512_CORE"] {
            let capped = try genred(["analyze", "--json", "--embedding", "--precision", "bf16", clip], isa: isa)
            XCTAssertEqual(capped.status, 0, capped.stderr)
            XCTAssertEqual(capped.stdout, fp32.stdout, "\(isa): the fallback is fp32, bit for bit")
            let warnings = capped.stderr.split(separator: "\n").filter { $0.contains("precision bf16") }
            XCTAssertEqual(warnings.count, 1, capped.stderr)
            XCTAssertTrue(warnings.first?.contains("running fp32") == true, capped.stderr)
        }
    }

    func testBF16RunsWhereTheCPUHasIt() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let native = flags.contains(" avx512_bf16") || flags.contains(" amx_bf16")
        let fp32 = try genred(["analyze", "--json", "--embedding", clip])
        let bf16 = try genred(["analyze", "--json", "--embedding", "--precision", "bf16", clip])
        XCTAssertEqual(bf16.status, 0, bf16.stderr)
        if native {
            XCTAssertFalse(bf16.stderr.contains("running fp32"), bf16.stderr)
            XCTAssertNotEqual(bf16.stdout, fp32.stdout, "bf16 really ran")
            let a = try JSONSerialization.jsonObject(with: Data(fp32.stdout.utf8)) as? [String: Any]
            let b = try JSONSerialization.jsonObject(with: Data(bf16.stdout.utf8)) as? [String: Any]
            let ma = try XCTUnwrap(a?["mean"] as? [Double]), mb = try XCTUnwrap(b?["mean"] as? [Double])
            XCTAssertLessThanOrEqual(zip(ma, mb).map { abs($0 - $1) }.max() ?? 1, 0.01)
        } else {
            XCTAssertEqual(bf16.stdout, fp32.stdout)
            XCTAssertTrue(bf16.stderr.contains("running fp32"), bf16.stderr)
        }
    }

    func testAnUnknownPrecisionIsRefusedByName() throws {
        let run = try genred(["analyze", "--precision", "int4", clip])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("int4") && run.stderr.contains("precision"), run.stderr)
    }
}
