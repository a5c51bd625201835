import ArgumentParser
import Foundation
import GenredKit

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure analysis speed on a set of files (build with -c release).",
        discussion: """
            Prints per-stage seconds (decode, resample+mel, inference), windows per second and the \
            realtime factor, and, in the same run, the sgemm rate of the model's largest convolution \
            shape, so inference speed can be read as a fraction of what GEMM allows on this machine.
            """
    )

    @Option(name: .long, help: "Model bundle name or directory.")
    var model: String = ModelBundle.defaultName

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Times to analyse the whole set; the best run is reported.")
    var repeats: Int = 2

    @Option(name: .long, help: ArgumentHelp("Instead: time similarity queries over a synthetic library of this many tracks.", valueName: "tracks"))
    var similarity: Int?

    @Flag(name: .long, help: "Instead: print only the CPU, its vector extensions, the BLAS kernels in use and the measured FP32 peak.")
    var cpu = false

    @Argument(help: "Audio files to analyse.")
    var files: [String] = []

    func validate() throws {
        if similarity == nil && !cpu && files.isEmpty { throw ValidationError("give audio files, --cpu or --similarity N") }
    }

    func run() throws {
        if let similarity { return benchSimilarity(similarity) }
        let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
        let peak = printMachine(threads: threads)
        if cpu { return }
        let bundle: ModelBundle
        do { bundle = try ModelBundle.load(model) } catch {
            printError("genred: \(error)")
            throw ExitCode(2)
        }
        let analyzer = Analyzer(bundle: bundle, threads: threads)
        let rate = bundle.manifest.audio.sampleRate

        // Decoding alone (no resampling): the decoders' share of the decode stage.
        var decodeOnly = Double.infinity
        for _ in 0..<max(1, repeats) {
            let start = Date()
            for path in files {
                _ = try? AudioDecoding.stream(path, targetRate: nil) { _ in }
            }
            decodeOnly = min(decodeOnly, Date().timeIntervalSince(start))
        }

        var best: (timings: StageTimings, wall: Double, windows: Int, audio: Double)?
        for _ in 0..<max(1, repeats) {
            var sum = StageTimings(), windows = 0, audio = 0.0
            let start = Date()
            for path in files {
                do {
                    let result = try analyzer.analyze(path)
                    let t = analyzer.lastTimings
                    sum.decode += t.decode
                    sum.features += t.features
                    sum.inference += t.inference
                    windows += result.windowCount
                    audio += result.audio.duration
                } catch {
                    printError("genred: \(error)")
                }
            }
            let wall = Date().timeIntervalSince(start)
            if best == nil || wall < best!.wall { best = (sum, wall, windows, audio) }
        }
        guard let best, best.windows > 0 else {
            printError("genred: no file could be analysed")
            throw ExitCode(1)
        }

        let shapes = Benchmark.gemmShapes(of: bundle.network)
        let largest = shapes.max { $0.flops < $1.flops }!
        let gemm = Benchmark.sgemmRate(largest, threads: threads)
        let flops = Benchmark.flopsPerWindow(bundle.network)
        let windowsPerSecond = Double(best.windows) / best.timings.inference
        let gemmBound = gemm / flops
        let t = best.timings

        print("files            \(files.count), \(String(format: "%.1f", best.audio)) s of audio, \(best.windows) windows, \(threads) threads")
        print(String(format: "decode           %7.3f s  (decoders alone %.3f s, so resampling about %.3f s)",
                     t.decode, decodeOnly, max(0, t.decode - decodeOnly)))
        print(String(format: "resample+mel     %7.3f s  (mel alone %.3f s)", max(0, t.decode - decodeOnly) + t.features, t.features))
        print(String(format: "inference        %7.3f s  %.1f windows/s, %.2f GFLOP/window (direct convolution), %.1f effective GFLOP/s",
                     t.inference, windowsPerSecond, flops / 1e9, windowsPerSecond * flops / 1e9))
        print(String(format: "total            %7.3f s  %.0fx realtime end to end", best.wall, best.audio / best.wall))
        print(String(format: "sgemm %@: %.1f GFLOP/s on %d threads -> GEMM-limited %.1f windows/s",
                     largest.description, gemm / 1e9, threads, gemmBound))
        print(String(format: "inference at %.0f%% of the GEMM-limited rate (over 100%%: fewer FLOPs than direct convolution, not faster GEMMs); inference-only realtime factor %.0fx",
                     100 * windowsPerSecond / gemmBound,
                     windowsPerSecond * Double(bundle.manifest.window.defaultHopFrames * bundle.manifest.audio.hopLength) / Double(rate)))
        print(String(format: "inference at %.0f%% of the measured FP32 peak on %d threads (%.1f effective GFLOP/s of %.1f); sgemm at %.0f%% of it",
                     100 * windowsPerSecond * flops / peak.allCores, peak.threads, windowsPerSecond * flops / 1e9,
                     peak.allCores / 1e9, 100 * gemm / peak.allCores))
    }

    /// Prints what the figures depend on: the CPU, its vector extensions, the BLAS kernels in
    /// use and the FP32 peak measured on `threads` threads, which it returns.
    private func printMachine(threads: Int) -> Benchmark.FP32Peak {
        let info = CPUInfo.current
        print("cpu              \(info.summary), \(ProcessInfo.processInfo.activeProcessorCount) cores online")
        print("vectors          \(info.extensions.joined(separator: " ")) -> \(info.vectorLevel)")
        print("blas             \(BLASDispatch.describe(cpu: info))")
        let peak = Benchmark.fp32Peak(cpu: info, threads: threads)
        print(String(format: "fp32 peak        %.1f GFLOP/s on one core, %.1f GFLOP/s on %d threads (%@ loop, measured)",
                     peak.perCore / 1e9, peak.allCores / 1e9, peak.threads, peak.instructions))
        return peak
    }

    /// Query latency over a synthetic library: random 200-d embeddings and 50 probabilities per track.
    private func benchSimilarity(_ n: Int) {
        var rng = SeededGenerator(seed: 42)
        var v = LibraryStore.TrackVectors()
        v.embeddingSize = 200
        v.labelCount = 50
        v.embeddings.reserveCapacity(n * 200)
        v.scores.reserveCapacity(n * 50)
        for i in 0..<n {
            v.ids.append(Int64(i))
            v.paths.append("/music/\(i).flac")
            v.titles.append(nil); v.artists.append(nil); v.albums.append(nil); v.durations.append(nil)
            for _ in 0..<200 { v.embeddings.append(Float(rng.gaussian())) }
            for _ in 0..<50 { v.scores.append(Float(rng.unit())) }
        }
        let labels = (0..<50).map { "label\($0)" }
        let build = Date()
        let index = SimilarityIndex(tracks: v, labels: labels, displayNames: labels)
        let buildSeconds = Date().timeIntervalSince(build)
        var times: [Double] = []
        for q in 0..<50 {
            let row = (q * 7919) % n
            let query = Array(v.embeddings[(row * 200)..<((row + 1) * 200)])
            let scores = Array(v.scores[(row * 50)..<((row + 1) * 50)])
            let start = Date()
            let result = index.nearest(to: query, scores: scores, count: 10) { $0 != row }
            times.append(Date().timeIntervalSince(start))
            precondition(result.count == 10)
        }
        times.sort()
        print("similarity over \(n) tracks (200-d embeddings, one sgemv per query, 10 results with reasons)")
        print(String(format: "index build %.3f s; query median %.1f ms, p90 %.1f ms, max %.1f ms (50 queries)",
                     buildSeconds, 1000 * times[times.count / 2], 1000 * times[times.count * 9 / 10], 1000 * times.last!))
    }
}
