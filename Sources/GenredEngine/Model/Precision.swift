import CGenredDNNL
import COpenBLAS
import Foundation
import Synchronization

/// The number format of the network's products.
///
/// - `fp32`: the default, bit for bit the reference.
/// - `bf16`: split bfloat16. Each activation and weight is the sum of two bfloat16 numbers
///   (about 16 significant bits); the three products that matter are summed in fp32 by
///   oneDNN's bf16 kernels (AMX or AVX512-BF16). It meets the agreement targets on real music
///   (docs/speed.md), at three times the work of plain bf16, so it pays only where bf16 runs
///   far faster than fp32 (AMX).
/// - `bf16-plain`: activations and weights rounded to one bfloat16 each.
/// - `int8`: each row of a product's inputs quantized on its own step, measured as it runs;
///   weights per output column; integer sums (VNNI, AMX).
/// - `int8-static`: inputs quantized with one step per product, calibrated once per bundle
///   (`Int8Scales`); otherwise as `int8`.
///
/// `bf16-plain`, `int8` and `int8-static` miss the agreement targets, so they are not offered
/// for analysis; `genred bench` measures them.
///
/// A precision runs only where oneDNN has a native kernel for it and where, timed on the
/// bundle's own network, it beats fp32; elsewhere fp32 runs, and one log line says why.
public enum Precision: String, CaseIterable, Sendable, CustomStringConvertible {
    case fp32, bf16
    case bf16Plain = "bf16-plain"
    case int8
    case int8Static = "int8-static"

    public var description: String { rawValue }

    /// Whether analysis may run in it (`[analysis] precision`, `--precision` on analyze, retag,
    /// watch and worker): it met the agreement targets of `PrecisionAgreement` on real music.
    public var offered: Bool { self == .fp32 || self == .bf16 }

    /// The names analysis accepts, for help and errors.
    public static var offeredNames: String { allCases.filter(\.offered).map(\.rawValue).joined(separator: ", ") }

    /// Whether its products sum integers (int8 and int8-static).
    var isInteger: Bool { self == .int8 || self == .int8Static }

    /// The C library's name for the products' format.
    var code: Int32 {
        switch self {
        case .fp32: return 0
        case .bf16: return Int32(GD_PRECISION_BF16_SPLIT)
        case .bf16Plain: return Int32(GD_PRECISION_BF16)
        case .int8: return Int32(GD_PRECISION_INT8)
        case .int8Static: return Int32(GD_PRECISION_INT8_STATIC)
        }
    }

    /// What `asked` runs as on this CPU.
    public struct Choice: Sendable, Equatable {
        public let asked: Precision
        public let used: Precision
        /// The kernel and the timing, or why the asked precision fell back to fp32.
        public let detail: String
    }

    /// Whether oneDNN has a native kernel for `precision` (never an emulation, which is slower
    /// than fp32), and which; decided once per process.
    public static func kernel(_ precision: Precision) -> (native: Bool, detail: String) {
        switch precision {
        case .fp32: return (true, "OpenBLAS sgemm")
        case .bf16: return splitKernel
        case .bf16Plain: return plainKernel
        case .int8, .int8Static: return int8Kernel
        }
    }

    private static let splitKernel = nativeKernel(.bf16)
    private static let plainKernel = nativeKernel(.bf16Plain)
    private static let int8Kernel = nativeKernel(.int8)

    private static func nativeKernel(_ p: Precision) -> (native: Bool, detail: String) {
        var text = [CChar](repeating: 0, count: 512)
        let native = gd_native(p.code, &text, text.count) == 1
        return (native, cText(text))
    }

    /// What a run of `bundle` that asks for `asked` gets. `fp32` is itself. A reduced precision
    /// is itself where oneDNN has a native kernel for it and, with `requireFaster`, where one
    /// window of `bundle`'s network on one thread runs at least `ReducedProducts.minimumSpeedup`
    /// times as fast as in fp32 (timed once per process and bundle); elsewhere fp32, with the
    /// reason logged once. `requireFaster: false` is for the benchmarks, which measure a
    /// precision whether or not it pays.
    public static func resolve(_ asked: Precision, for bundle: ModelBundle, requireFaster: Bool = true) -> Choice {
        guard asked != .fp32 else { return Choice(asked: .fp32, used: .fp32, detail: "OpenBLAS sgemm") }
        let kernel = kernel(asked)
        guard kernel.native else {
            let what = asked.isInteger ? "int8" : "bf16"
            ReducedProducts.warnOnce("precision \(asked): no native \(what) kernel on this CPU (\(kernel.detail)); running fp32")
            return Choice(asked: asked, used: .fp32, detail: "no native \(what) kernel (\(kernel.detail))")
        }
        guard let products = ReducedProducts.shared(for: bundle, precision: asked) else {
            return Choice(asked: asked, used: .fp32, detail: "the products could not be prepared (\(kernel.detail)); see the log")
        }
        guard requireFaster else { return Choice(asked: asked, used: asked, detail: kernel.detail) }
        let speedup = products.speedup(bundle.network)
        let timing = String(format: "%.2fx fp32's speed on one window", speedup)
        guard speedup >= ReducedProducts.minimumSpeedup else {
            ReducedProducts.warnOnce("precision \(asked): \(timing) on this CPU (\(kernel.detail)), not faster; running fp32")
            return Choice(asked: asked, used: .fp32, detail: "not faster than fp32 here: \(timing) (\(kernel.detail))")
        }
        ReducedProducts.noteOnce("precision \(asked): runs, \(kernel.detail); \(timing)")
        return Choice(asked: asked, used: asked, detail: "\(kernel.detail); \(timing)")
    }
}

/// The network's weight products in a reduced precision, prepared once per bundle and
/// precision, and shared by every thread that analyses with them.
final class ReducedProducts: @unchecked Sendable {
    /// Per timbral convolution, per Winograd point: the product for each row count a block has.
    let winograd: [[[Int: OpaquePointer]]]
    /// Per temporal convolution.
    let temporal: [OpaquePointer]
    /// Per mid-end convolution, per time tap.
    let midend: [[OpaquePointer]]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `scales`: int8-static's calibrated input steps (required for it, unused otherwise).
    init(network n: MusicnnNetwork, precision: Precision, scales: Int8Scales? = nil) throws(Failure) {
        precondition(precision != .fp32)
        if precision == .int8Static && scales == nil { throw Failure(description: "int8-static needs calibrated scales") }
        var made: [OpaquePointer] = []
        func product(m: Int, n: Int, k: Int, b: UnsafePointer<Float>, ldb: Int, ldc: Int,
                     accumulate: Bool, scale: Float?) throws(Failure) -> OpaquePointer {
            var error = [CChar](repeating: 0, count: 200)
            guard let p = gd_product_create(precision.code, Int32(m), Int32(n), Int32(k), b, Int32(ldb), Int32(ldc),
                                            accumulate ? 1 : 0, scale ?? 1, &error, error.count) else {
                for p in made { gd_product_destroy(p) }
                throw Failure(description: "\(precision) product \(m)x\(n)x\(k): \(cText(error))")
            }
            made.append(p)
            return p
        }

        let m = MusicnnNetwork.winogradOutputs
        let tiles = (n.frames + m - 1) / m
        let block = min(tiles, MusicnnWorkspace.blockTiles)
        let blockSizes = Set([block, tiles % block].filter { $0 > 0 })
        var winograd: [[[Int: OpaquePointer]]] = []
        for (index, (conv, fast)) in zip(n.timbral, n.timbralFast).enumerated() {
            let kw = conv.kernelWidth, N = conv.outputs, positions = n.bands - kw + 1
            var points: [[Int: OpaquePointer]] = []
            for p in 0..<fast.transform.points {
                var byRows: [Int: OpaquePointer] = [:]
                for count in blockSizes {
                    let rows = count * positions
                    byRows[rows] = try fast.kernel.withUnsafeBufferPointer { (w) throws(Failure) in
                        try product(m: rows, n: N, k: kw, b: w.baseAddress! + p * kw * N, ldb: N, ldc: N, accumulate: false,
                                    scale: scales?.winograd[index][p])
                    }
                }
                points.append(byRows)
            }
            winograd.append(points)
        }
        var temporal: [OpaquePointer] = []
        for (index, banded) in n.temporalFast.enumerated() {
            let width = banded.kernel.count / banded.taps
            temporal.append(try banded.kernel.withUnsafeBufferPointer { (w) throws(Failure) in
                try product(m: n.bands, n: width, k: banded.taps, b: w.baseAddress!, ldb: width, ldc: width, accumulate: false,
                            scale: scales?.temporal[index])
            })
        }
        var midend: [[OpaquePointer]] = []
        var width = n.frontChannels
        for (index, conv) in n.midend.enumerated() {
            let N = conv.outputs, K = width
            var taps: [OpaquePointer] = []
            for dt in 0..<conv.kernelTime {
                taps.append(try conv.kernel.withUnsafeBufferPointer { (w) throws(Failure) in
                    try product(m: n.frames, n: N, k: K, b: w.baseAddress! + dt * K * N, ldb: N, ldc: N, accumulate: true,
                                scale: scales?.midend[index][dt])
                })
            }
            midend.append(taps)
            width = N
        }
        self.winograd = winograd
        self.temporal = temporal
        self.midend = midend
    }

    deinit {
        for conv in winograd { for point in conv { for p in point.values { gd_product_destroy(p) } } }
        for p in temporal { gd_product_destroy(p) }
        for conv in midend { for p in conv { gd_product_destroy(p) } }
    }

    /// Runs `product`. false where it failed (oneDNN could not get memory): the caller then
    /// computes that product in fp32, so the window is still right, and the first failure is
    /// logged.
    @inline(__always)
    static func run(_ product: OpaquePointer, a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                    c: UnsafeMutablePointer<Float>) -> Bool {
        if !failForTesting.load(ordering: .relaxed), gd_product_run(product, a, Int32(lda), transposeA ? 1 : 0, c) == 0 {
            return true
        }
        warnOnce("a reduced-precision product failed (oneDNN could not get memory); such products run in fp32")
        return false
    }

    /// Makes every product fail, as if memory had run out (tests only).
    static let failForTesting = Atomic<Bool>(false)

    private static let cache = LockedValue<[String: ReducedProducts]>([:])
    /// The lines `warnOnce` and `noteOnce` have logged.
    static let logged = LockedValue<Set<String>>([])

    /// A reduced precision runs for analysis only when it is at least this much faster than fp32.
    static let minimumSpeedup = 1.1

    /// Logs `line` as a warning the first time it comes up in this process.
    static func warnOnce(_ line: String) {
        if logged.withLock({ $0.insert(line).inserted }) { Log.warning(line) }
    }

    /// Logs `line` as information the first time it comes up in this process.
    static func noteOnce(_ line: String) {
        if logged.withLock({ $0.insert(line).inserted }) { Log.info(line) }
    }

    private let measured = LockedValue<Double?>(nil)

    /// fp32's time for one window of `network` over this precision's, on this thread: the
    /// fastest of three alternating runs each after a warm-up; measured once.
    func speedup(_ network: MusicnnNetwork) -> Double {
        measured.withLock { value in
            if let value { return value }
            let size = network.frames * network.bands
            var rng = SeededGenerator(seed: 11)
            let window = (0..<size).map { _ in Float(5 * rng.unit()) }
            let plain = MusicnnWorkspace(network: network), reduced = MusicnnWorkspace(network: network, reduced: self)
            var probabilities = [Float](repeating: 0, count: network.labelCount)
            var penultimate = [Float](repeating: 0, count: network.embeddingSize)
            openblas_set_num_threads(1)
            func time(_ ws: MusicnnWorkspace) -> Double {
                let start = DispatchTime.now()
                network.forward(window: window, workspace: ws, probabilities: &probabilities, penultimate: &penultimate)
                return seconds(since: start)
            }
            _ = time(plain)
            _ = time(reduced)
            var best = (fp32: Double.infinity, reduced: Double.infinity)
            for _ in 0..<3 {
                best.fp32 = min(best.fp32, time(plain))
                best.reduced = min(best.reduced, time(reduced))
            }
            let ratio = best.fp32 / max(best.reduced, 1e-9)
            value = ratio
            return ratio
        }
    }

    /// The products for `bundle` in `precision`, made on first use; nil for fp32, and where
    /// oneDNN cannot make them (logged once).
    static func shared(for bundle: ModelBundle, precision: Precision) -> ReducedProducts? {
        guard precision != .fp32 else { return nil }
        let key = "\(bundle.directory.path)|\(bundle.manifest.name)|\(bundle.manifest.version)|\(precision)"
        return cache.withLock { cache in
            if let made = cache[key] { return made }
            do {
                let scales = precision == .int8Static ? try Int8Scales.load(for: bundle) : nil
                let made = try ReducedProducts(network: bundle.network, precision: precision, scales: scales)
                cache[key] = made
                return made
            } catch {
                warnOnce("precision \(precision): \(error); running fp32")
                return nil
            }
        }
    }
}
