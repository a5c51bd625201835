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

    func testFP32IsItselfAndBF16RunsOnlyWhereTheCPUHasIt() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        XCTAssertEqual(Precision.resolve(.fp32, for: bundle).used, .fp32)
        for precision in [Precision.bf16, .bf16Plain] {
            let choice = Precision.resolve(precision, for: bundle, requireFaster: false)
            XCTAssertEqual(choice.asked, precision)
            if cpuHasBF16 {
                XCTAssertEqual(choice.used, precision, choice.detail)
                XCTAssertTrue(choice.detail.contains("bf16") || choice.detail.contains("amx"), choice.detail)
            } else {
                XCTAssertEqual(choice.used, .fp32, "no emulation: \(choice.detail)")
                XCTAssertTrue(choice.detail.hasPrefix("no native bf16 kernel"), choice.detail)
            }
        }
    }

    func testForAnalysisAPrecisionRunsOnlyWhereItIsFaster() throws {
        // The decision follows the one timing per process: bf16 where it beat fp32 by the
        // margin, fp32 (saying so, with the ratio) where it did not.
        let bundle = try Fixtures.bundle("msd-musicnn")
        let choice = Precision.resolve(.bf16, for: bundle)
        guard cpuHasBF16, let products = ReducedProducts.shared(for: bundle, precision: .bf16) else {
            XCTAssertEqual(choice.used, .fp32, choice.detail)
            return
        }
        let speedup = products.speedup(bundle.network)
        XCTAssertGreaterThan(speedup, 0)
        XCTAssertEqual(products.speedup(bundle.network), speedup, "timed once")
        if speedup >= ReducedProducts.minimumSpeedup {
            XCTAssertEqual(choice.used, .bf16, choice.detail)
        } else {
            XCTAssertEqual(choice.used, .fp32, choice.detail)
            XCTAssertTrue(choice.detail.hasPrefix("not faster than fp32 here"), choice.detail)
        }
        XCTAssertTrue(choice.detail.contains(String(format: "%.2fx fp32's speed", speedup)), choice.detail)
        let analyzer = Analyzer(bundle: bundle, threads: 1, precision: .bf16)
        XCTAssertEqual(analyzer.precision, choice.used)
    }

    /// A product of random matrices in each precision against a double-precision reference:
    /// plain bf16 is off by about 2^-9 of the sums' scale, split bf16 by about 2^-16.
    func testSplitBF16ProductsAreCloseToFP32() throws {
        guard cpuHasBF16 else { throw XCTSkip("no native bf16 on this CPU") }
        let product = ProductCase(m: 37, n: 53, k: 91, seed: 3), exact = product.exact()
        func worst(_ precision: Precision, transposed: Bool = false) throws -> Double {
            ProductCase.worst(try product.run(precision, transposed: transposed), exact)
        }
        let plain = try worst(.bf16Plain), split = try worst(.bf16), splitT = try worst(.bf16, transposed: true)
        XCTAssertLessThan(split, 1e-4, "split bf16")
        XCTAssertLessThan(splitT, 1e-4, "split bf16, A transposed")
        XCTAssertGreaterThan(plain, 1e-4, "plain bf16 loses more: \(plain)")
        XCTAssertLessThan(split * 20, plain, "split \(split) against plain \(plain)")
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
        XCTAssertEqual(reference.precision, .fp32)
        for precision in [Precision.bf16, .bf16Plain] {
            let reduced = Analyzer(bundle: bundle, threads: 2, precision: precision, requireFaster: false)
            XCTAssertEqual(reduced.precision, cpuHasBF16 ? precision : .fp32)
            var agreement = PrecisionAgreement(manifest: bundle.manifest)
            for name in ["rock", "ballad", "groove_44k_stereo", "short"] {
                let a = try reference.analyze(Fixtures.audio(name))
                let b = try reduced.analyze(Fixtures.audio(name))
                if reduced.precision == .fp32 {
                    XCTAssertEqual(a.mean, b.mean, "\(name): the fallback is fp32 itself")
                    XCTAssertEqual(a.embedding, b.embedding)
                } else {
                    XCTAssertNotEqual(a.embedding, b.embedding, "\(name): \(precision) really ran")
                }
                agreement.add(reference: a, reduced: b)
            }
            let summary = agreement.summary()
            XCTAssertEqual(summary.count, 4)
            XCTAssertTrue(summary.meetsTargets, "\(precision): top5 \(summary.topFiveShare), max dmean \(summary.worstMeanDifference), min cos \(summary.worstCosine), tags \(summary.sameTagsShare)")
            if precision == .bf16 {
                // Split bf16 is within about 1e-5 of fp32 on real music (docs/speed.md).
                XCTAssertLessThan(summary.worstMeanDifference, 1e-3, "split bf16")
                XCTAssertGreaterThan(summary.worstCosine, 0.99999, "split bf16")
            }
        }
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

    func testTheConfigOffersOnlyPrecisionsThatMeetTheTargets() throws {
        XCTAssertEqual(try Configuration.parse("", path: "c.toml").precision, .fp32)
        XCTAssertEqual(try Configuration.parse("[analysis]\nprecision = \"bf16\"\n", path: "c.toml").precision, .bf16)
        XCTAssertEqual(try Configuration.parse("[analysis]\nprecision = \"fp32\"\n", path: "c.toml").precision, .fp32)
        for (name, why) in [("bf16-plain", "misses the agreement targets"), ("int8", "misses the agreement targets"),
                            ("int8-static", "misses the agreement targets"), ("fp16", "must be one of fp32, bf16")] {
            XCTAssertThrowsError(try Configuration.parse("[analysis]\nprecision = \"\(name)\"\n", path: "c.toml"), name) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("precision") && text.contains("c.toml") && text.contains(why), text)
            }
        }
        XCTAssertTrue(Precision.bf16.offered && Precision.fp32.offered && !Precision.bf16Plain.offered && !Precision.int8.offered
                      && !Precision.int8Static.offered)
    }
}
