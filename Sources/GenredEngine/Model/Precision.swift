import CGenredDNNL
import Foundation

/// The number format of the network's products: `fp32` (the default, bit for bit the
/// reference) or `bf16` (bfloat16 inputs, fp32 sums, through oneDNN where the CPU has native
/// bf16 instructions: AVX512-BF16 or AMX).
///
/// Analyses run in fp32: bf16 is measured by `genred bench` and `genred bench precision`, and
/// is offered for analysis only once it meets `PrecisionAgreement.Target` on real music,
/// which it does not yet (docs/speed.md).
public enum Precision: String, CaseIterable, Sendable, CustomStringConvertible {
    case fp32, bf16

    public var description: String { rawValue }

    /// What `asked` runs as on this CPU, decided once per process.
    public struct Choice: Sendable, Equatable {
        public let asked: Precision
        public let used: Precision
        /// The kernel, or why the asked precision fell back to fp32.
        public let detail: String
    }

    /// `fp32` resolves to itself. `bf16` resolves to itself only where oneDNN has a native
    /// kernel for it (never an emulation, which is slower than fp32); elsewhere to `fp32`,
    /// with the reason, logged once.
    public static func resolve(_ asked: Precision) -> Choice {
        switch asked {
        case .fp32: return Choice(asked: .fp32, used: .fp32, detail: "OpenBLAS sgemm")
        case .bf16: return bf16Choice
        }
    }

    private static let bf16Choice: Choice = {
        var text = [CChar](repeating: 0, count: 256)
        let native = gd_native(Int32(GD_PRECISION_BF16), &text, text.count) == 1
        let what = message(text)
        if native { return Choice(asked: .bf16, used: .bf16, detail: what) }
        Log.warning("precision bf16: no native bf16 kernel on this CPU (\(what)); running fp32")
        return Choice(asked: .bf16, used: .fp32, detail: "no native bf16 kernel (\(what))")
    }()
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

    init(network n: MusicnnNetwork, precision: Precision) throws(Failure) {
        precondition(precision == .bf16)
        var made: [OpaquePointer] = []
        func product(m: Int, n: Int, k: Int, b: UnsafePointer<Float>, ldb: Int, ldc: Int,
                     accumulate: Bool) throws(Failure) -> OpaquePointer {
            var error = [CChar](repeating: 0, count: 200)
            guard let p = gd_product_create(Int32(GD_PRECISION_BF16), Int32(m), Int32(n), Int32(k), b, Int32(ldb), Int32(ldc),
                                            accumulate ? 1 : 0, &error, error.count) else {
                for p in made { gd_product_destroy(p) }
                throw Failure(description: "bf16 product \(m)x\(n)x\(k): \(message(error))")
            }
            made.append(p)
            return p
        }

        let m = MusicnnNetwork.winogradOutputs
        let tiles = (n.frames + m - 1) / m
        let block = min(tiles, MusicnnWorkspace.blockTiles)
        let blockSizes = Set([block, tiles % block].filter { $0 > 0 })
        var winograd: [[[Int: OpaquePointer]]] = []
        for (conv, fast) in zip(n.timbral, n.timbralFast) {
            let kw = conv.kernelWidth, N = conv.outputs, positions = n.bands - kw + 1
            var points: [[Int: OpaquePointer]] = []
            for p in 0..<fast.transform.points {
                var byRows: [Int: OpaquePointer] = [:]
                for count in blockSizes {
                    let rows = count * positions
                    byRows[rows] = try fast.kernel.withUnsafeBufferPointer { (w) throws(Failure) in
                        try product(m: rows, n: N, k: kw, b: w.baseAddress! + p * kw * N, ldb: N, ldc: N, accumulate: false)
                    }
                }
                points.append(byRows)
            }
            winograd.append(points)
        }
        var temporal: [OpaquePointer] = []
        for banded in n.temporalFast {
            let width = banded.kernel.count / banded.taps
            temporal.append(try banded.kernel.withUnsafeBufferPointer { (w) throws(Failure) in
                try product(m: n.bands, n: width, k: banded.taps, b: w.baseAddress!, ldb: width, ldc: width, accumulate: false)
            })
        }
        var midend: [[OpaquePointer]] = []
        var width = n.frontChannels
        for conv in n.midend {
            let N = conv.outputs, K = width
            var taps: [OpaquePointer] = []
            for dt in 0..<conv.kernelTime {
                taps.append(try conv.kernel.withUnsafeBufferPointer { (w) throws(Failure) in
                    try product(m: n.frames, n: N, k: K, b: w.baseAddress! + dt * K * N, ldb: N, ldc: N, accumulate: true)
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

    /// Runs `product`; a failure here (oneDNN out of memory) is not recoverable mid-window.
    @inline(__always)
    static func run(_ product: OpaquePointer, a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                    c: UnsafeMutablePointer<Float>) {
        let status = gd_product_run(product, a, Int32(lda), transposeA ? 1 : 0, c)
        precondition(status == 0, "oneDNN failed to run a bf16 product")
    }

    private static let cache = LockedValue<[String: ReducedProducts]>([:])

    /// The products for `bundle` in `precision`, made on first use; nil for fp32.
    static func shared(for bundle: ModelBundle, precision: Precision) -> ReducedProducts? {
        guard precision != .fp32 else { return nil }
        let key = "\(bundle.directory.path)|\(bundle.manifest.name)|\(bundle.manifest.version)|\(precision)"
        return cache.withLock { cache in
            if let made = cache[key] { return made }
            do {
                let made = try ReducedProducts(network: bundle.network, precision: precision)
                cache[key] = made
                return made
            } catch {
                Log.warning("precision \(precision): \(error); running fp32")
                return nil
            }
        }
    }
}

/// The text a C function wrote into `buffer`, up to its terminating zero.
private func message(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
