import CGenredDNNL
import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit

/// int8: the calibrated scales kept with each bundle, their checks, the quantized products,
/// and the recorder that measures the scales.
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
            // Asked for anyway, int8 falls back to fp32, bit for bit.
            let analyzer = Analyzer(bundle: bundle, threads: 1, precision: .int8, requireFaster: false)
            XCTAssertEqual(analyzer.precision, .fp32, why)
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

    /// A quantized product against double precision: within a few steps of A's and B's scales,
    /// and inputs past A's scale are clamped, not wrapped.
    func testInt8ProductsQuantizeAndClamp() throws {
        guard cpuHasInt8 else { throw XCTSkip("no native int8 on this CPU: \(Precision.kernel(.int8).detail)") }
        let (m, n, k) = (29, 45, 67)
        var rng = SeededGenerator(seed: 5)
        let a = (0..<(m * k)).map { _ in Float(rng.unit() * 2 - 1) }
        let b = (0..<(k * n)).map { _ in Float(rng.unit() * 2 - 1) }
        func product(_ a: [Float], scale: Float, transposed: Bool = false) throws -> [Float] {
            var error = [CChar](repeating: 0, count: 200)
            let p = try XCTUnwrap(gd_product_create(Precision.int8.code, Int32(m), Int32(n), Int32(k), b, Int32(n), Int32(n), 0, scale, &error, error.count))
            defer { gd_product_destroy(p) }
            var c = [Float](repeating: 0, count: m * n)
            let input = transposed ? (0..<(k * m)).map { a[($0 % m) * k + $0 / m] } : a
            XCTAssertEqual(gd_product_run(p, input, Int32(transposed ? m : k), transposed ? 1 : 0, &c), 0)
            return c
        }
        func exact(_ a: [Float]) -> [Double] {
            var c = [Double](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n { for q in 0..<k { c[i * n + j] += Double(a[i * k + q]) * Double(b[q * n + j]) } } }
            return c
        }
        let reference = exact(a), scale = reference.map(abs).max()!
        for transposed in [false, true] {
            let c = try product(a, scale: 1 / 127, transposed: transposed)
            let worst = zip(c, reference).map { abs(Double($0) - $1) }.max()! / scale
            XCTAssertLessThan(worst, 0.03, "transposed \(transposed)")
            XCTAssertGreaterThan(worst, 1e-5, "it really is quantized")
        }
        // A scale of 0.5 / 127 clamps A to [-0.5, 0.5].
        let clamped = a.map { min(max($0, -0.5), 0.5) }
        let c = try product(a, scale: 0.5 / 127)
        let expected = exact(clamped)
        XCTAssertLessThan(zip(c, expected).map { abs(Double($0) - $1) }.max()! / expected.map(abs).max()!, 0.03)
        var error = [CChar](repeating: 0, count: 200)
        XCTAssertNil(gd_product_create(Precision.int8.code, 4, 4, 4, b, 4, 4, 0, 0, &error, error.count), "a scale must be positive")
    }

    /// int8 runs, and lands near fp32 (not garbage), though far from the agreement targets
    /// (docs/speed.md: on 600 real tracks, cosines down to 0.93 and means 0.08 apart).
    func testInt8RunsNearFP32OnTheFixtures() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let reduced = Analyzer(bundle: bundle, threads: 2, precision: .int8, requireFaster: false)
        XCTAssertEqual(reduced.precision, cpuHasInt8 ? .int8 : .fp32)
        guard reduced.precision == .int8 else { return }
        let reference = Analyzer(bundle: bundle, threads: 2)
        for name in ["rock", "ballad"] {
            let a = try reference.analyze(Fixtures.audio(name)), b = try reduced.analyze(Fixtures.audio(name))
            XCTAssertNotEqual(a.embedding, b.embedding, "\(name): int8 really ran")
            XCTAssertLessThan(zip(a.mean, b.mean).map { abs($0 - $1) }.max()!, 0.3, name)
            let dot = zip(a.embedding, b.embedding).map { Double($0) * Double($1) }.reduce(0, +)
            let norms = (a.embedding.map { Double($0 * $0) }.reduce(0, +) * b.embedding.map { Double($0 * $0) }.reduce(0, +)).squareRoot()
            XCTAssertGreaterThan(dot / norms, 0.9, name)
        }
    }
}
