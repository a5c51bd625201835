import CGenredLinux
import COpenBLAS
import Dispatch

/// Measurements that put inference speed in context.
public enum Benchmark {
    /// A matrix product shape, `m x k` times `k x n`.
    public struct GemmShape: Sendable, CustomStringConvertible {
        public let m: Int, n: Int, k: Int
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        public var description: String { "M=\(m) K=\(k) N=\(n)" }
    }

    /// The GEMM shapes of one window's forward pass, in order.
    public static func gemmShapes(of n: MusicnnNetwork) -> [GemmShape] {
        var shapes: [GemmShape] = []
        for t in n.timbral {
            shapes.append(GemmShape(m: n.frames * (n.bands - t.kernelWidth + 1), n: t.outputs, k: t.kernelTime * t.kernelWidth))
        }
        for t in n.temporal { shapes.append(GemmShape(m: n.frames * n.bands, n: t.outputs, k: t.kernelTime)) }
        var width = n.frontChannels
        for m in n.midend {
            shapes.append(GemmShape(m: n.frames, n: m.outputs, k: m.kernelTime * width))
            width = m.outputs
        }
        shapes.append(GemmShape(m: 1, n: n.embeddingSize, k: 2 * n.featureChannels))
        shapes.append(GemmShape(m: 1, n: n.labelCount, k: n.embeddingSize))
        return shapes
    }

    /// Floating-point operations of one window's forward pass (multiply-adds count two).
    public static func flopsPerWindow(_ n: MusicnnNetwork) -> Double {
        gemmShapes(of: n).reduce(0) { $0 + $1.flops }
    }

    /// The sgemm rate in FLOP/s for `shape` on `threads` cores: the better of one sgemm with
    /// OpenBLAS using all `threads` threads and `threads` workers each running single-threaded
    /// sgemm at once (the way the analyzer uses BLAS). Leaves OpenBLAS single-threaded.
    public static func sgemmRate(_ shape: GemmShape, threads: Int, minimumSeconds: Double = 1.0) -> Double {
        let r = sgemmRates(shape, threads: threads, minimumSeconds: minimumSeconds)
        return max(r.multithreaded, r.workers)
    }

    /// Both ways of measuring `sgemmRate`, each after a warm-up run.
    static func sgemmRates(_ shape: GemmShape, threads: Int, minimumSeconds: Double = 1.0)
        -> (multithreaded: Double, workers: Double) {
        let threads = max(1, threads)
        let a = [Float](repeating: 0.5, count: shape.m * shape.k)
        let b = [Float](repeating: 0.25, count: shape.k * shape.n)
        defer { openblas_set_num_threads(1) }

        // One sgemm at a time, OpenBLAS threading across all cores.
        openblas_set_num_threads(Int32(threads))
        var c = [Float](repeating: 0, count: shape.m * shape.n)
        let whole = timedRate(shape, a: a, b: b, c: &c, seconds: minimumSeconds)

        // Independent single-threaded sgemms, one per worker.
        openblas_set_num_threads(1)
        var rates = [Double](repeating: 0, count: threads)
        rates.withUnsafeMutableBufferPointer { rateBuffer in
            let rateBase = rateBuffer.baseAddress!
            parallelFor(threads) { worker in
                var c = [Float](repeating: 0, count: shape.m * shape.n)
                rateBase[worker] = timedRate(shape, a: a, b: b, c: &c, seconds: minimumSeconds)
            }
        }
        return (whole, rates.reduce(0, +))
    }

    /// Runs sgemm for a warm-up quarter of `seconds`, then times it for `seconds`.
    private static func timedRate(_ shape: GemmShape, a: [Float], b: [Float], c: inout [Float], seconds limit: Double) -> Double {
        func once() {
            c.withUnsafeMutableBufferPointer { cb in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(shape.m), Int32(shape.n), Int32(shape.k),
                            1, a, Int32(shape.k), b, Int32(shape.n), 0, cb.baseAddress, Int32(shape.n))
            }
        }
        let warm = DispatchTime.now()
        repeat { once() } while seconds(since: warm) < limit / 4
        var runs = 0
        let start = DispatchTime.now()
        var elapsed = 0.0
        repeat {
            once()
            runs += 1
            elapsed = seconds(since: start)
        } while elapsed < limit
        return Double(runs) * shape.flops / elapsed
    }

    /// Windows per second of the network alone (no decoding) on `threads` workers, each
    /// with its own workspace and single-threaded BLAS as in the analyzer, timed for
    /// `seconds` after a warm-up. The speed does not depend on the values; the windows
    /// are pseudo-random in the range log-mel values take.
    public static func inferenceRate(_ network: MusicnnNetwork, threads: Int, seconds limit: Double = 1.0) -> Double {
        inferenceRate(network, reduced: nil, threads: threads, seconds: limit)
    }

    /// `inferenceRate` in `precision` where oneDNN has a native kernel for it, faster than fp32
    /// or not (else fp32: see `Precision.resolve`).
    public static func inferenceRate(_ bundle: ModelBundle, precision: Precision, threads: Int, seconds limit: Double = 1.0) -> Double {
        let used = Precision.resolve(precision, for: bundle, requireFaster: false).used
        let reduced = ReducedProducts.shared(for: bundle, precision: used)
        return inferenceRate(bundle.network, reduced: reduced, threads: threads, seconds: limit)
    }

    static func inferenceRate(_ network: MusicnnNetwork, reduced: ReducedProducts?, threads: Int, seconds limit: Double) -> Double {
        let threads = max(1, threads)
        let size = network.frames * network.bands
        var rng = SeededGenerator(seed: 7)
        let windows = (0..<4).map { _ in (0..<size).map { _ in Float(5 * rng.unit()) } }
        openblas_set_num_threads(1)
        var rates = [Double](repeating: 0, count: threads)
        rates.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            parallelFor(threads) { worker in
                let ws = MusicnnWorkspace(network: network, reduced: reduced)
                var probabilities = [Float](repeating: 0, count: network.labelCount)
                var penultimate = [Float](repeating: 0, count: network.embeddingSize)
                func once(_ i: Int) {
                    network.forward(window: windows[i % windows.count], workspace: ws,
                                    probabilities: &probabilities, penultimate: &penultimate)
                }
                let warm = DispatchTime.now()
                var n = 0
                repeat { once(n); n += 1 } while seconds(since: warm) < limit / 4
                n = 0
                let start = DispatchTime.now()
                var elapsed = 0.0
                repeat {
                    once(n)
                    n += 1
                    elapsed = seconds(since: start)
                } while elapsed < limit
                base[worker] = Double(n) / elapsed
            }
        }
        return rates.reduce(0, +)
    }

    /// The machine's single-precision peak as measured: FLOP/s of independent FMA chains
    /// (no memory traffic) with the widest vectors the CPU runs.
    public struct FP32Peak: Sendable {
        /// The loop that was fastest: "AVX-512 FMA", "AVX2 FMA" or "SSE mul+add".
        public let instructions: String
        /// One thread alone.
        public let perCore: Double
        /// `threads` threads at once.
        public let allCores: Double
        public let threads: Int
    }

    private typealias FlopLoop = @convention(c) (Int) -> Double

    /// Measures `FP32Peak` on `threads` threads, each loop timed for `seconds`. Every loop
    /// the CPU supports is tried (on some AVX-512 CPUs the 256-bit one is as fast).
    public static func fp32Peak(cpu: CPUInfo = .current, threads: Int, seconds: Double = 0.3) -> FP32Peak {
        var loops: [(String, FlopLoop)] = [("SSE mul+add", genred_flops_sse)]
        if cpu.has("FMA") && cpu.has("AVX") { loops.append(("AVX2 FMA", genred_flops_fma256)) }
        if cpu.has("AVX512F") { loops.append(("AVX-512 FMA", genred_flops_avx512)) }
        let rated = loops.map { ($0.0, $0.1, flopRate($0.1, seconds: seconds / 2)) }
        let best = rated.max { $0.2 < $1.2 }!
        let single = max(best.2, flopRate(best.1, seconds: seconds))
        let n = max(1, threads)
        var rates = [Double](repeating: 0, count: n)
        rates.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            parallelFor(n) { worker in base[worker] = flopRate(best.1, seconds: seconds) }
        }
        return FP32Peak(instructions: best.0, perCore: single, allCores: rates.reduce(0, +), threads: n)
    }

    /// The measured peak of `precision`'s dot-product instructions on `threads` threads
    /// (operations per second, a product and a sum counting two, as for fp32), from the
    /// widest loop the CPU has: AMX tiles, else AVX512-BF16 for bf16 (and bf16-plain), AVX512-VNNI
    /// or AVX-VNNI for int8 (and int8-static). nil where it has none. The AMX loop runs in child
    /// processes (`genred_amx_rate`); where it fails, the vector loop is measured and the
    /// instructions say why.
    public static func reducedPeak(_ precision: Precision, cpu: CPUInfo = .current, threads: Int,
                                   seconds: Double = 0.3) -> (instructions: String, rate: Double)? {
        let n = max(1, threads)
        let amx: (flag: String, kind: Int32, name: String)? = switch precision {
        case .fp32: nil
        case .bf16, .bf16Plain: ("AMX-BF16", Int32(GENRED_AMX_BF16), "AMX TDPBF16PS")
        case .int8, .int8Static: ("AMX-INT8", Int32(GENRED_AMX_INT8), "AMX TDPBUSD")
        }
        var amxFailure = ""
        if let amx, cpu.has("AMX-TILE") && cpu.has(amx.flag) {
            var why = [CChar](repeating: 0, count: 200)
            let rate = genred_amx_rate(amx.kind, Int32(n), seconds, &why, why.count)
            if rate > 0 { return (amx.name, rate) }
            amxFailure = " (AMX not measured: \(cText(why)))"
        }
        let loop: (String, FlopLoop)
        switch precision {
        case .fp32: return nil
        case .bf16, .bf16Plain:
            guard cpu.has("AVX512_BF16") else { return nil }
            loop = ("AVX512-BF16 VDPBF16PS" + amxFailure, genred_ops_bf16_avx512)
        case .int8, .int8Static:
            if cpu.has("AVX512_VNNI") { loop = ("AVX512-VNNI VPDPBUSD" + amxFailure, genred_ops_int8_avx512) }
            else if cpu.has("AVX_VNNI") { loop = ("AVX-VNNI VPDPBUSD" + amxFailure, genred_ops_int8_avx256) }
            else { return nil }
        }
        var rates = [Double](repeating: 0, count: n)
        rates.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            parallelFor(n) { worker in base[worker] = flopRate(loop.1, seconds: seconds) }
        }
        return (loop.0, rates.reduce(0, +))
    }

    /// FLOP/s of `loop` on the calling thread, after a short warm-up.
    private static func flopRate(_ loop: FlopLoop, seconds limit: Double) -> Double {
        let rounds = 200_000
        let warm = DispatchTime.now()
        repeat { _ = loop(rounds) } while seconds(since: warm) < min(0.05, limit / 4)
        var flops = 0.0
        let start = DispatchTime.now()
        var elapsed = 0.0
        repeat {
            flops += loop(rounds)
            elapsed = seconds(since: start)
        } while elapsed < limit
        return flops / elapsed
    }
}
