import CGenredDNNL
import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit

/// int8 (each row of inputs on its own step) and int8-static (calibrated steps): the scales
/// kept with each bundle, their checks, the quantized products, and the recorder that measures
/// the scales.
final class Int8Tests: XCTestCase {
    private var cpuHasInt8: Bool { Precision.kernel(.int8).native }

    func testEachBundleCarriesScalesForItsOwnWeights() throws {
        for name in ["msd-musicnn", "mtt-musicnn"] {
            let bundle = try Fixtures.bundle(name)
            let scales = try Int8Scales.load(for: bundle)
            XCTAssertEqual(scales.weightsSHA256, bundle.manifest.weights.sha256)
            XCTAssertGreaterThan(scales.calibration.windows, 100, "\(name): calibrated on real music")
            XCTAssertEqual(scales.winograd.count, bundle.network.timbral.count)
            XCTAssertEqual(scales.midend.map(\.count), bundle.network.midend.map(\.kernelTime))
        }
    }

    /// A copy of the msd bundle whose scales file is `edit`'s (nil: none).
    private func bundleCopy(_ edit: ((inout Int8Scales) -> Void)?, raw: String? = nil) throws -> ModelBundle {
        let source = try Fixtures.bundle("msd-musicnn")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("genred-int8-\(UUID().uuidString)/msd-musicnn")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        for file in ["manifest.json", "weights.safetensors", "LICENSE"] {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(file),
                                                       withDestinationURL: source.directory.appendingPathComponent(file))
        }
        let target = folder.appendingPathComponent(Int8Scales.fileName)
        if let raw { try Data(raw.utf8).write(to: target) }
        if let edit {
            var scales = try Int8Scales.load(for: source)
            edit(&scales)
            try scales.encoded().write(to: target)
        }
        return try ModelBundle.load(directory: folder)
    }

    func testScalesThatDoNotFitAreRefusedWithTheReason() throws {
        let cases: [(String, ModelBundle)] = [
            ("no int8 scales", try bundleCopy(nil)),
            ("not a valid int8 scales file", try bundleCopy(nil, raw: "{\"format\": 1}")),
            ("made for other weights", try bundleCopy { $0.weightsSHA256 = String(repeating: "0", count: 64) }),
            ("does not fit the network", try bundleCopy { $0.midend.removeLast() }),
            ("does not fit the network", try bundleCopy { $0.temporal[0] = 0 }),
        ]
        for (why, bundle) in cases {
            XCTAssertThrowsError(try Int8Scales.load(for: bundle), why) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(why) && text.contains(Int8Scales.fileName), text)
            }
            // Asked for anyway, int8-static falls back to fp32, bit for bit; int8 needs no scales.
            let analyzer = Analyzer(bundle: bundle, threads: 1, precision: .int8Static, requireFaster: false)
            XCTAssertEqual(analyzer.precision, .fp32, why)
            if cpuHasInt8 {
                XCTAssertEqual(Analyzer(bundle: bundle, threads: 1, precision: .int8, requireFaster: false).precision, .int8, why)
            }
        }
    }

    func testTheRecorderSeesEveryProductOfEveryWindow() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let files = [Fixtures.audio("rock"), Fixtures.audio("ballad")]
        var windows = 0
        let largest = Int8Scales.calibrate(bundle: bundle, files: files + ["/nonexistent.wav"], quantile: 1) { _, result in
            if case .success(let n) = result { windows += n }
        }
        let median = Int8Scales.calibrate(bundle: bundle, files: files, quantile: 0.5)
        XCTAssertEqual(largest.calibration.windows, windows)
        XCTAssertEqual(largest.calibration.files, ["rock.wav", "ballad.wav"], "the missing file is left out")
        let pairs = zip(Array(largest.winograd.joined()) + largest.temporal + Array(largest.midend.joined()),
                        Array(median.winograd.joined()) + median.temporal + Array(median.midend.joined()))
        for (high, middle) in pairs {
            XCTAssertGreaterThan(middle, 0)
            XCTAssertGreaterThanOrEqual(high, middle)
        }
        // The same files give the same scales.
        XCTAssertEqual(Int8Scales.calibrate(bundle: bundle, files: files, quantile: 1), largest)
    }

    /// int8-static's product against double precision: within a few steps of A's and B's
    /// scales, and inputs past A's scale are clamped, not wrapped.
    func testStaticInt8ProductsQuantizeAndClamp() throws {
        guard cpuHasInt8 else { throw XCTSkip("no native int8 on this CPU: \(Precision.kernel(.int8).detail)") }
        let product = ProductCase(m: 29, n: 45, k: 67, seed: 5), reference = product.exact()
        for transposed in [false, true] {
            let worst = ProductCase.worst(try product.run(.int8Static, scale: 1 / 127, transposed: transposed), reference)
            XCTAssertLessThan(worst, 0.03, "transposed \(transposed)")
            XCTAssertGreaterThan(worst, 1e-5, "it really is quantized")
        }
        // A scale of 0.5 / 127 clamps A to [-0.5, 0.5].
        let clamped = product.a.map { min(max($0, -0.5), 0.5) }
        XCTAssertLessThan(ProductCase.worst(try product.run(.int8Static, scale: 0.5 / 127), product.exact(clamped)), 0.03)
        var error = [CChar](repeating: 0, count: 200)
        XCTAssertNil(gd_product_create(Precision.int8Static.code, 4, 4, 4, product.b, 4, 4, 0, 0, &error, error.count), "a scale must be positive")
    }

    /// int8 measures each row's step as it runs: rows of very different sizes (here 1000:1
    /// apart) each keep their own relative accuracy, where one step for all of A loses the
    /// small rows; nothing is clamped; and a product that adds to C adds.
    func testInt8GivesEachRowItsOwnStep() throws {
        guard cpuHasInt8 else { throw XCTSkip("no native int8 on this CPU: \(Precision.kernel(.int8).detail)") }
        let product = ProductCase(m: 29, n: 45, k: 67, seed: 9)
        let uneven = product.a.enumerated().map { $0.element * ($0.offset / product.k % 2 == 0 ? 1000 : 1) }
        let reference = product.exact(uneven)
        // The small (odd) rows, each against its own size.
        func worstSmallRow(_ c: [Float]) -> Double {
            stride(from: 1, to: product.m, by: 2).map { r in
                let row = r * product.n..<(r + 1) * product.n
                return ProductCase.worst(Array(c[row]), Array(reference[row]))
            }.max()!
        }
        for transposed in [false, true] {
            let rows = try product.run(.int8, input: uneven, transposed: transposed)
            XCTAssertLessThan(ProductCase.worst(rows, reference), 0.03, "transposed \(transposed)")
            XCTAssertLessThan(worstSmallRow(rows), 0.03, "transposed \(transposed): small rows keep their accuracy")
            XCTAssertGreaterThan(ProductCase.worst(rows, reference), 1e-5, "it really is quantized")
            let fixed = try product.run(.int8Static, input: uneven, scale: 1000 / 127, transposed: transposed)
            XCTAssertGreaterThan(worstSmallRow(fixed), 0.1, "one step for all of A loses the small rows")
        }
        // C += A * B: run twice into the same C.
        var error = [CChar](repeating: 0, count: 200)
        let p = try XCTUnwrap(gd_product_create(Precision.int8.code, Int32(product.m), Int32(product.n), Int32(product.k), product.b,
                                                Int32(product.n), Int32(product.n), 1, 0, &error, error.count))
        defer { gd_product_destroy(p) }
        var c = [Float](repeating: 0, count: product.m * product.n)
        for _ in 0..<2 { XCTAssertEqual(gd_product_run(p, uneven, Int32(product.k), 0, &c), 0) }
        XCTAssertLessThan(ProductCase.worst(c, reference.map { 2 * $0 }), 0.03)
    }

    /// A product that fails (oneDNN out of memory, simulated here for every product) is
    /// computed in fp32 instead: the analysis goes on and equals fp32's bit for bit, and the
    /// log says so once.
    func testAFailedProductRunsInFP32() throws {
        guard cpuHasInt8 else { throw XCTSkip("no native int8 on this CPU: \(Precision.kernel(.int8).detail)") }
        let bundle = try Fixtures.bundle("msd-musicnn")
        let reduced = Analyzer(bundle: bundle, threads: 1, precision: .int8, requireFaster: false)
        XCTAssertEqual(reduced.precision, .int8)
        let reference = try Analyzer(bundle: bundle, threads: 1).analyze(Fixtures.audio("rock"))
        XCTAssertNotEqual(try reduced.analyze(Fixtures.audio("rock")).embedding, reference.embedding, "int8 really runs")
        ReducedProducts.failForTesting.store(true, ordering: .relaxed)
        defer { ReducedProducts.failForTesting.store(false, ordering: .relaxed) }
        let fallen = try reduced.analyze(Fixtures.audio("rock"))
        XCTAssertEqual(fallen.mean, reference.mean)
        XCTAssertEqual(fallen.embedding, reference.embedding)
        XCTAssertEqual(ReducedProducts.logged.withLock { $0.filter { $0.contains("product failed") }.count }, 1)
    }

    /// Both int8 forms run, and land near fp32 (not garbage), though short of the agreement
    /// targets (docs/speed.md: on real tracks, cosines down to 0.93 for int8-static and 0.996
    /// for int8).
    func testInt8RunsNearFP32OnTheFixtures() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let reference = Analyzer(bundle: bundle, threads: 2)
        for (precision, name) in [(Precision.int8, "rock"), (.int8, "ballad"), (.int8Static, "rock"), (.int8Static, "ballad")] {
            let reduced = Analyzer(bundle: bundle, threads: 2, precision: precision, requireFaster: false)
            XCTAssertEqual(reduced.precision, cpuHasInt8 ? precision : .fp32)
            guard reduced.precision == precision else { return }
            let a = try reference.analyze(Fixtures.audio(name)), b = try reduced.analyze(Fixtures.audio(name))
            XCTAssertNotEqual(a.embedding, b.embedding, "\(name): int8 really ran")
            XCTAssertLessThan(zip(a.mean, b.mean).map { abs($0 - $1) }.max()!, precision == .int8 ? 0.05 : 0.3, "\(precision) \(name)")
            let dot = zip(a.embedding, b.embedding).map { Double($0) * Double($1) }.reduce(0, +)
            let norms = (a.embedding.map { Double($0 * $0) }.reduce(0, +) * b.embedding.map { Double($0 * $0) }.reduce(0, +)).squareRoot()
            XCTAssertGreaterThan(dot / norms, precision == .int8 ? 0.99 : 0.9, "\(precision) \(name)")
        }
    }
}
