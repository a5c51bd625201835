import CGenredLinux
import XCTest
@testable import GenredEngine

/// The reduced-precision peak loops: each runs only where the CPU has its instructions, and the
/// AMX loop, which runs in child processes, reports a child that faults instead of taking the
/// process down with it.
final class PeakLoopTests: XCTestCase {
    private let amx = ["AMX-TILE", "AMX-BF16", "AMX-INT8"]

    func testTheAMXLoopRunsOnlyWhereTheCPUAndTheOSOfferIt() {
        let cpu = CPUInfo.current
        for (kind, flag) in [(GENRED_AMX_BF16, "AMX-BF16"), (GENRED_AMX_INT8, "AMX-INT8")] {
            var why = [CChar](repeating: 0, count: 200)
            let rate = genred_amx_rate(Int32(kind), 2, 0.05, &why, why.count)
            let reason = cText(why)
            if cpu.has("AMX-TILE") && cpu.has(flag) {
                // Where it runs, two processes do at least one instruction's work each.
                XCTAssertTrue(rate > 0 || reason.contains("refused"), "\(flag): \(rate), \(reason)")
            } else {
                XCTAssertEqual(rate, 0, flag)
                XCTAssertTrue(reason.contains("no AMX"), reason)
            }
        }
    }

    func testAFaultInTheAMXLoopIsReportedAndThisProcessGoesOn() {
        var why = [CChar](repeating: 0, count: 200)
        let rate = genred_amx_rate(Int32(GENRED_AMX_CRASH_FOR_TESTING), 3, 0.05, &why, why.count)
        let reason = cText(why)
        XCTAssertEqual(rate, 0)
        XCTAssertTrue(reason.hasPrefix("the AMX loop was stopped by signal "), reason)
    }

    func testThePeakNamesTheWidestLoopThisCPUHas() {
        let cpu = CPUInfo.current
        for precision in [Precision.bf16, .int8] {
            let peak = Benchmark.reducedPeak(precision, cpu: cpu, threads: 1, seconds: 0.05)
            let amxFlag = precision == .bf16 ? "AMX-BF16" : "AMX-INT8"
            let vector = precision == .bf16 ? cpu.has("AVX512_BF16") : cpu.has("AVX512_VNNI") || cpu.has("AVX_VNNI")
            if cpu.has("AMX-TILE") && cpu.has(amxFlag) {
                XCTAssertNotNil(peak, "\(precision)")
            } else {
                XCTAssertEqual(peak != nil, vector, "\(precision): \(String(describing: peak))")
                XCTAssertFalse(peak?.instructions.hasPrefix("AMX") ?? false)
            }
            if let peak { XCTAssertGreaterThan(peak.rate, 0) }
        }
        XCTAssertNil(Benchmark.reducedPeak(.fp32, cpu: cpu, threads: 1, seconds: 0.05))
        // A CPU that claims AMX which this one lacks: the AMX loop declines, and the vector loop
        // (or none) is measured, with the reason beside it.
        guard !amx.allSatisfy(cpu.has) else { return }
        var claimed = cpu
        claimed.extensions += amx
        let peak = Benchmark.reducedPeak(.bf16, cpu: claimed, threads: 1, seconds: 0.05)
        if cpu.has("AVX512_BF16") {
            XCTAssertTrue(peak?.instructions.contains("AMX not measured: the CPU has no AMX") == true, "\(String(describing: peak))")
        } else {
            XCTAssertNil(peak)
        }
    }
}
