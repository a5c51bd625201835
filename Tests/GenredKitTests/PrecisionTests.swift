import CGenredDNNL
import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary

/// The reduced-precision path: what it resolves to on this CPU, its rounding, and its
/// agreement with fp32 on the fixture clips. On a CPU without native bf16 the same tests
/// check the fallback: fp32 runs, bit for bit.
final class PrecisionTests: XCTestCase {
    private var cpuHasBF16: Bool {
        let cpu = CPUInfo.current
        return cpu.has("AVX512_BF16") || cpu.has("AMX-BF16")
    }

    func testFP32IsItselfAndBF16RunsOnlyWhereTheCPUHasIt() {
        XCTAssertEqual(Precision.resolve(.fp32).used, .fp32)
        let bf16 = Precision.resolve(.bf16)
        XCTAssertEqual(bf16.asked, .bf16)
        if cpuHasBF16 {
            XCTAssertEqual(bf16.used, .bf16, bf16.detail)
            XCTAssertTrue(bf16.detail.contains("bf16") || bf16.detail.contains("amx"), bf16.detail)
        } else {
            XCTAssertEqual(bf16.used, .fp32, "no emulation: \(bf16.detail)")
            XCTAssertTrue(bf16.detail.hasPrefix("no native bf16 kernel"), bf16.detail)
        }
    }

    func testRoundingToBF16IsToNearestEven() {
        // 1 + 2^-8 lies halfway between bf16's 1 and 1 + 2^-7: ties go to the even one, 1.
        XCTAssertEqual(gd_round_bf16(1 + 0x1p-8), 1)
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to 1 + 2^-6 (even).
        XCTAssertEqual(gd_round_bf16(1 + 3 * 0x1p-8), 1 + 0x1p-6)
        XCTAssertEqual(gd_round_bf16(1 + 0x1p-8 + 0x1p-20), 1 + 0x1p-7, "above halfway rounds up")
        XCTAssertEqual(gd_round_bf16(-2.5), -2.5, "exactly representable")
        XCTAssertTrue(gd_round_bf16(.nan).isNaN)
        XCTAssertEqual(gd_round_bf16(.infinity), .infinity)
        XCTAssertEqual(gd_round_bf16(Float.greatestFiniteMagnitude), .infinity, "beyond bf16's range")
    }

    func testBF16AgreesWithFP32OnTheFixtures() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let reference = Analyzer(bundle: bundle, threads: 2, precision: .fp32)
        let reduced = Analyzer(bundle: bundle, threads: 2, precision: .bf16)
        XCTAssertEqual(reference.precision, .fp32)
        XCTAssertEqual(reduced.precision, cpuHasBF16 ? .bf16 : .fp32)
        var agreement = PrecisionAgreement(manifest: bundle.manifest)
        for name in ["rock", "ballad", "groove_44k_stereo", "short"] {
            let a = try reference.analyze(Fixtures.audio(name))
            let b = try reduced.analyze(Fixtures.audio(name))
            if reduced.precision == .fp32 {
                XCTAssertEqual(a.mean, b.mean, "\(name): the fallback is fp32 itself")
                XCTAssertEqual(a.embedding, b.embedding)
            } else {
                XCTAssertNotEqual(a.embedding, b.embedding, "\(name): bf16 really ran")
            }
            agreement.add(reference: a, reduced: b)
        }
        let summary = agreement.summary()
        XCTAssertEqual(summary.count, 4)
        XCTAssertTrue(summary.meetsTargets, "top5 \(summary.topFiveShare), max dmean \(summary.worstMeanDifference), min cos \(summary.worstCosine), tags \(summary.sameTagsShare)")
        XCTAssertLessThanOrEqual(summary.worstMeanDifference, 0.01)
        XCTAssertGreaterThanOrEqual(summary.worstCosine, 0.999)
    }

    func testAgreementCountsWhatAUserWouldSee() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let a = try Analyzer(bundle: bundle, threads: 1).analyze(Fixtures.audio("rock"))
        var agreement = PrecisionAgreement(manifest: bundle.manifest)
        agreement.add(reference: a, reduced: a)
        let same = try XCTUnwrap(agreement.tracks.first)
        XCTAssertTrue(same.sameTopFive && same.sameTags)
        XCTAssertEqual(same.maxMeanDifference, 0)
        XCTAssertEqual(same.embeddingCosine, 1, accuracy: 1e-6)
        XCTAssertEqual(same.container, "wav")
    }

    func testAnalysisIsNotOfferedInBF16() throws {
        // bf16 misses the agreement targets on real music, so no setting turns it on.
        XCTAssertThrowsError(try Configuration.parse("[analysis]\nprecision = \"bf16\"\n", path: "c.toml")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("precision") && text.contains("c.toml"), text)
        }
    }
}
