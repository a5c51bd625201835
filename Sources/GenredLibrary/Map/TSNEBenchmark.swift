import Foundation
import GenredEngine

extension TSNE {
    /// Embeds a feature file for comparison with other implementations; returns an exit status.
    ///
    /// Arguments: `--bench-input FILE --out FILE [--perplexity P] [--iterations N] [--seed S]
    /// [--threads T] [--method auto|exact|bh|fft] [--learning-rate R] [--exaggeration E]
    /// [--exaggeration-iterations K] [--momentum M] [--restarts R] [--box-width W]
    /// [--maximum-step S (0: none)]`. Both files are little-endian:
    /// two Int32 (rows, columns) then rows × columns Float32. One JSON line on standard output reports
    /// `n`, `seconds` (the whole embedding, neighbour search included), `kl`, `perplexity`, `note` and
    /// `phases` (seconds in the neighbour search, affinities, initialisation and optimisation).
    public static func benchmarkMain(arguments: [String]) -> Int32 {
        var input: String?
        var output: String?
        var options = TSNEOptions()
        var k = 0
        func value() -> String? {
            k += 1
            return k < arguments.count ? arguments[k] : nil
        }
        while k < arguments.count {
            switch arguments[k] {
            case "--bench-input": input = value()
            case "--out": output = value()
            case "--perplexity": options.perplexity = value().flatMap(Double.init) ?? options.perplexity
            case "--iterations": options.iterations = value().flatMap(Int.init) ?? options.iterations
            case "--seed": options.seed = value().flatMap(UInt64.init) ?? options.seed
            case "--threads": options.threads = value().flatMap(Int.init) ?? options.threads
            case "--learning-rate": options.learningRate = value().flatMap(Float.init)
            case "--exaggeration": options.earlyExaggeration = value().flatMap(Double.init) ?? options.earlyExaggeration
            case "--momentum": options.momentum = value().flatMap(Double.init) ?? options.momentum
            case "--restarts": options.restarts = value().flatMap(Int.init)
            case "--box-width": options.boxWidth = value().flatMap(Double.init)
            case "--maximum-step": options.maximumStep = value().flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil }
            case "--exaggeration-iterations":
                options.exaggerationIterations = value().flatMap(Int.init) ?? options.exaggerationIterations
            case "--method":
                switch value() {
                case "exact": options.method = .exact
                case "bh": options.method = .barnesHut(theta: 0.5)
                case "fft": options.method = .interpolation
                default: options.method = .auto
                }
            default:
                FileHandle.standardError.write(Data("unknown argument \(arguments[k])\n".utf8))
                return 2
            }
            k += 1
        }
        guard let input, let output, let bytes = FileManager.default.contents(atPath: input), bytes.count >= 8 else {
            FileHandle.standardError.write(Data("usage: --bench-input FILE --out FILE [options]\n".utf8))
            return 2
        }
        let header = bytes.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 0, as: Int32.self).littleEndian,
                                             $0.loadUnaligned(fromByteOffset: 4, as: Int32.self).littleEndian) }
        let n = Int(header.0), d = Int(header.1)
        guard n >= 0, d >= 0, bytes.count >= 8 + 4 * n * d else {
            FileHandle.standardError.write(Data("\(input): truncated\n".utf8))
            return 1
        }
        let data = bytes.withUnsafeBytes { raw in
            (0..<(n * d)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 8 + 4 * $0, as: UInt32.self).littleEndian) }
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = embed(data, count: n, dimensions: d, options: options)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        var out = Data()
        for v in [Int32(n).littleEndian, Int32(2).littleEndian] { withUnsafeBytes(of: v) { out.append(contentsOf: $0) } }
        for v in result.points { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        guard FileManager.default.createFile(atPath: output, contents: out) else {
            FileHandle.standardError.write(Data("cannot write \(output)\n".utf8))
            return 1
        }
        var phases: [String: Double] = [:]
        for phase in result.phases { phases[phase.name] = phase.seconds }
        let summary: [String: Any] = ["n": n, "seconds": seconds, "kl": result.klDivergence,
                                      "perplexity": result.perplexityUsed, "note": result.note ?? NSNull(),
                                      "phases": phases]
        if let json = try? JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]) {
            print(String(decoding: json, as: UTF8.self))
        }
        return 0
    }
}
