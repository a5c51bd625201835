import ArgumentParser
import Foundation
import GenredKit
import Synchronization

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure genred's speed (build with -c release): analysis, similarity, learn, the shared queue.",
        discussion: """
            `genred bench FILE...` is `genred bench speed FILE...`. The older flags (--cpu, \
            --similarity N, --learn N, --learn-set FOLDER, --make-library N, --queue N) still work, \
            as the subcommands machine, similarity, learn, learn-set, make-library and queue.
            """,
        subcommands: [Speed.self, Machine.self, Agreement.self, Calibrate.self, Similarity.self, Learn.self, LearnSet.self, MakeLibrary.self, Queue.self],
        defaultSubcommand: Speed.self
    )
}

extension Bench {
    struct Speed: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure analysis speed on a set of files (the default subcommand).",
            discussion: """
                Prints the CPU, its vector extensions, the BLAS kernels in use and the FP32 peak as \
                measured on this machine; then the end-to-end time and realtime factor, one file at a \
                time and several at once; per-stage seconds (decode, resample, mel, inference); a first \
                import of copies of the files, as retag runs it, with the seconds and share of every \
                stage (decode, resample, mel, inference, store, tag write) and how busy the cores were; the \
                network's speed alone in windows per second, and, in the same run, the sgemm rate of \
                the model's largest convolution shape, so inference speed can be read as a fraction \
                of the FP32 peak and of what GEMM allows.

                genred replaces OpenBLAS kernels that do not fit the CPU at start-up; \
                GENRED_BLAS_CORE=openblas keeps OpenBLAS's choice (or OPENBLAS_CORETYPE), and \
                GENRED_BLAS_CORE=NAME (SkylakeX, Haswell, Zen, ...) forces a core.
                """
        )

        @Option(name: .long, help: "Model bundle name or directory.")
        var model: String = ModelBundle.defaultName

        @Option(name: .long, help: "Worker threads (default: all cores).")
        var threads: Int?

        @Option(name: .long, help: "Times to analyse the whole set; the best run is reported.")
        var repeats: Int = 2

        @Option(name: .long, help: ArgumentHelp("Instead: time similarity queries over a synthetic library of this many tracks.", valueName: "tracks", visibility: .hidden))
        var similarity: Int?

        @Option(name: .long, help: ArgumentHelp("Instead: time genred learn (cross-validation and the final fit) on a synthetic labelled set of this many tracks.", valueName: "tracks", visibility: .hidden))
        var learn: Int?

        @Option(name: .long, help: ArgumentHelp("Instead: learn's accuracy on small sets drawn from a real labelled FOLDER (one sub-folder per label, as genred learn reads it): 2 to 5 labels, 5 to 10 tracks and 1 to 3 albums per label, against a plain logistic regression and the kNN baseline. Analyses are read from and stored in --db (default: a temporary database).", valueName: "folder", visibility: .hidden))
        var learnSet: String?

        @Option(name: .long, help: ArgumentHelp("With --learn-set: random draws per setting.", visibility: .hidden))
        var trials: Int = 10

        @Option(name: .long, help: ArgumentHelp("Instead: fill the database given by --db with this many made-up analysed tracks (for scripts/bench-serve.sh).", valueName: "tracks", visibility: .hidden))
        var makeLibrary: Int?

        @Option(name: .long, help: ArgumentHelp("Instead: time the shared queue alone on --store (no analysis): this many made-up jobs, each stored with the analysis of the one audio file given, by --jobs threads with a connection each (default: 1, 2 and 4 in turn).", valueName: "jobs", visibility: .hidden))
        var queue: Int?

        @Option(name: .long, help: ArgumentHelp("The database --make-library fills (it must not exist yet).", valueName: "path"))
        var db: String?

        @Option(name: .long, help: ArgumentHelp("As --db, or an empty PostgreSQL database: postgresql://...", valueName: "path|url"))
        var store: String?

        @Option(name: .long, help: "Files analysed at once (default: both 1 and one per thread, compared).")
        var jobs: Int?

        @Option(name: .long, help: ArgumentHelp("Also measure the network in this precision, beside fp32 in the same run, and print the ratios: bf16 (split bfloat16, offered for analysis), bf16-plain (one bfloat16 per value), int8 (each row of inputs on its own step, measured as it runs) or int8-static (one calibrated step per product, kept with the bundle); the last three miss the agreement targets, so they are measured only. It runs wherever oneDNN has a native kernel, faster than fp32 or not, and the line 'for analysis' says whether analysis would use it here (docs/speed.md).", valueName: "bf16|bf16-plain|int8|int8-static"))
        var precision: Precision?

        @Flag(name: .customLong("import", withSingleDash: false), inversion: .prefixedNo,
              help: "Also time a first import of copies of the files (retag: analyse, store, write tags), with each stage's share.")
        var importStages = true

        @Flag(name: .long, help: ArgumentHelp("Same as `genred bench machine`.", visibility: .hidden))
        var cpu = false

        @Argument(help: "Audio files to analyse.")
        var files: [String] = []

        func validate() throws {
            if similarity == nil && learn == nil && learnSet == nil && !cpu && files.isEmpty && makeLibrary == nil {
                throw ValidationError("give audio files (or see `genred bench --help` for the other measurements)")
            }
            if trials < 1 { throw ValidationError("--trials must be at least 1") }
            if let learn, learn < 200 { throw ValidationError("--learn needs at least 200 tracks") }
            if makeLibrary != nil && db == nil && store == nil { throw ValidationError("--make-library needs --db PATH or --store URL") }
            if db != nil && store != nil { throw ValidationError("give --store or --db, not both") }
            if queue != nil && (files.count != 1 || (store ?? db) == nil) {
                throw ValidationError("--queue N needs --store URL (or --db PATH) and one audio file")
            }
        }

        func run() throws {
            if let similarity { return benchSimilarity(similarity) }
            if let learn { return try benchLearn(learn) }
            if let learnSet { return try benchLearnSet(learnSet) }
            if let makeLibrary, let target = store ?? db { return try fillLibrary(makeLibrary, at: target) }
            if let queue, let target = store ?? db { return try benchQueue(queue, at: target) }
            let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
            let (peak, reducedPeaks) = printMachine(threads: threads)
            if cpu { return }
            let bundle: ModelBundle
            bundle = try ModelBundle.load(model)
            let rate = bundle.manifest.audio.sampleRate

            // End to end, one file at a time (all threads on its windows) and several files at
            // once (each with a share of the threads, as retag runs), unless --jobs picks one.
            let parallelJobs = max(1, min(threads, files.count))
            let modes = jobs.map { [max(1, $0)] } ?? (parallelJobs > 1 ? [1, parallelJobs] : [1])
            var passes: [(jobs: Int, pass: Pass)] = []
            for mode in modes {
                var best: Pass?
                for _ in 0..<max(1, repeats) {
                    let pass = analyseSet(bundle: bundle, jobs: mode, threads: threads)
                    if best == nil || pass.wall < best!.wall { best = pass }
                }
                passes.append((mode, best!))
            }
            guard let chosen = passes.min(by: { $0.pass.wall < $1.pass.wall }), chosen.pass.windows > 0 else {
                throw CommandFailure("bench", "no file could be analysed")
            }
            let best = chosen.pass

            let network = bundle.network
            let shapes = Benchmark.gemmShapes(of: network)
            let largest = shapes.max { $0.flops < $1.flops }!
            let gemm = Benchmark.sgemmRate(largest, threads: threads)
            let flops = Benchmark.flopsPerWindow(network)
            let alone = Benchmark.inferenceRate(network, threads: threads)
            let gemmBound = gemm / flops
            let windowSeconds = Double(bundle.manifest.window.defaultHopFrames * bundle.manifest.audio.hopLength) / Double(rate)
            let t = best.timings

            print("files            \(files.count), \(String(format: "%.1f", best.audio)) s of audio, \(best.windows) windows, \(threads) threads")
            for (mode, pass) in passes {
                let how = mode == 1 ? "one file at a time, \(threads) inference threads"
                    : "\(mode) files at a time, \(max(1, threads / mode)) inference thread(s) each"
                print(String(format: "end to end       %7.3f s  %.0fx realtime (%@)%@", pass.wall, pass.audio / pass.wall, how,
                             passes.count > 1 && mode == chosen.jobs ? "  <- faster" : ""))
            }
            print("stages           analysis alone: seconds summed over files (decoding runs beside the network)")
            for stage in t.stages.prefix(4) {
                print(stage.name.padding(toLength: 17, withPad: " ", startingAt: 0) + String(format: "%7.3f s", stage.seconds))
            }
            if importStages {
                let imported = try importSet(bundle: bundle)
                let i = imported.timings, sum = max(i.total, 1e-9)
                print(String(format: "import           %7.3f s  %.0fx realtime: retag of copies in a temporary folder (analyse, store, write tags), %d file(s) at a time",
                             imported.wall, best.audio / imported.wall, imported.jobs))
                print("stages           import: seconds on each stage's thread, summed over files, and each stage's share of their sum")
                for stage in i.stages {
                    print("  " + stage.name.padding(toLength: 15, withPad: " ", startingAt: 0)
                          + String(format: "%7.3f s  %5.1f%%", stage.seconds, 100 * stage.seconds / sum))
                }
                print(String(format: "cores busy       %.0f%% of %d cores over the import (the process's CPU time / wall time; the stages' threads share the cores, so their seconds add up to more)",
                             100 * imported.cpu / (imported.wall * Double(imported.cores)), imported.cores))
            }
            print(String(format: "inference alone  %.1f windows/s on %d threads, %.2f GFLOP/window (direct convolution), %.1f effective GFLOP/s; %.0fx realtime",
                         alone, threads, flops / 1e9, alone * flops / 1e9, alone * windowSeconds))
            print(String(format: "sgemm %@: %.1f GFLOP/s on %d threads -> GEMM-limited %.1f windows/s",
                         largest.description, gemm / 1e9, threads, gemmBound))
            print(String(format: "inference at %.0f%% of the GEMM-limited rate (over 100%%: fewer FLOPs than direct convolution, not faster GEMMs)",
                         100 * alone / gemmBound))
            print(String(format: "inference at %.0f%% of the measured FP32 peak on %d threads (%.1f effective GFLOP/s of %.1f); sgemm at %.0f%% of it",
                         100 * alone * flops / peak.allCores, peak.threads, alone * flops / 1e9,
                         peak.allCores / 1e9, 100 * gemm / peak.allCores))
            if let precision, precision != .fp32 {
                let choice = Precision.resolve(precision, for: bundle, requireFaster: false)
                print("precision        \(precision): \(choice.used == precision ? "runs, " : "falls back to fp32: ")\(choice.detail)")
                guard choice.used == precision else { return }
                if precision.offered {
                    let analysis = Precision.resolve(precision, for: bundle)
                    print("for analysis     \(analysis.used == precision ? "\(precision) runs" : "fp32 runs"): \(analysis.detail)")
                } else {
                    print("for analysis     not offered (it misses the agreement targets: docs/speed.md)")
                }
                var reduced: Pass?
                for _ in 0..<max(1, repeats) {
                    let pass = analyseSet(bundle: bundle, jobs: chosen.jobs, threads: threads, precision: precision)
                    if reduced == nil || pass.wall < reduced!.wall { reduced = pass }
                }
                let fast = Benchmark.inferenceRate(bundle, precision: precision, threads: threads)
                print(String(format: "end to end %@  %7.3f s  %.0fx realtime (%d file(s) at a time): %.2fx fp32's %.3f s",
                             precision.rawValue, reduced!.wall, reduced!.audio / reduced!.wall, chosen.jobs,
                             chosen.pass.wall / reduced!.wall, chosen.pass.wall))
                print(String(format: "inference alone %@  %.1f windows/s on %d threads, %.0fx realtime: %.2fx fp32's %.1f windows/s",
                             precision.rawValue, fast, threads, fast * windowSeconds, fast / alone, alone))
                print(String(format: "inference %@ stage  %.3f thread-seconds (fp32 %.3f)", precision.rawValue,
                             reduced!.timings.inference, t.inference))
                if let peak = reducedPeaks[precision] {
                    print(String(format: "inference %@ at %.0f%% of the measured %@ peak on %d threads (%.1f effective GOP/s of %.1f, %@ loop)",
                                 precision.rawValue, 100 * fast * flops / peak.rate, precision.rawValue, threads,
                                 fast * flops / 1e9, peak.rate / 1e9, peak.instructions))
                } else {
                    print("inference \(precision) peak: no dot-product loop for it on this CPU")
                }
            }
        }

        /// `genred retag` of copies of `files` in a temporary folder with a fresh database, as a
        /// first import runs: stage seconds summed over files, and the wall time.
        private func importSet(bundle: ModelBundle) throws -> (timings: StageTimings, wall: Double, cpu: Double, jobs: Int, cores: Int) {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("genred-bench-import-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: root) }
            let music = root.appendingPathComponent("music")
            try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
            for (i, path) in files.enumerated() {
                let name = "\(i)-" + URL(fileURLWithPath: path).lastPathComponent
                try FileManager.default.copyItem(at: URL(fileURLWithPath: path), to: music.appendingPathComponent(name))
            }
            let store = try LibraryStore(path: root.appendingPathComponent("library.sqlite").path)
            var options = RetagOptions(backupDirectory: root.appendingPathComponent("backup"))
            options.jobs = jobs ?? 0
            let retagger = try Retagger(store: store, bundle: bundle, options: options)
            var total = StageTimings()
            let start = Date(), cpuStart = Self.processCPUSeconds()
            let summary = try retagger.run(roots: [music.path]) { event in
                if case .finished(let report) = event { total = total + report.timings }
            }
            let wall = Date().timeIntervalSince(start), cpu = Self.processCPUSeconds() - cpuStart
            for (path, reason) in summary.failures { printError("genred: \(path): \(reason)") }
            let cores = ProcessInfo.processInfo.activeProcessorCount
            return (total, wall, cpu, AnalysisPool.split(requested: options.jobs, jobs: files.count, cores: cores).threads, cores)
        }

        /// User and system CPU seconds of this process so far.
        private static func processCPUSeconds() -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
            return seconds(usage.ru_utime) + seconds(usage.ru_stime)
        }

        /// One analysis of every file: summed stage timings, wall time, windows, audio seconds.
        struct Pass: Sendable {
            var timings = StageTimings()
            var wall = 0.0
            var windows = 0
            var audio = 0.0
        }

        /// Analyses `files` on `jobs` threads that each take the next file, with an analyzer of
        /// `threads / jobs` inference threads (at least one).
        private func analyseSet(bundle: ModelBundle, jobs: Int, threads: Int, precision: Precision = .fp32) -> Pass {
            let paths = files
            let results = PassAccumulator()
            let start = Date()
            let pool = AnalysisPool(count: jobs, innerThreads: max(1, threads / jobs), precision: precision, requireFaster: false) { _, slot in
                let analyzer = slot.analyzer(for: bundle)
                while let path = results.nextPath(paths) {
                    do {
                        let result = try analyzer.analyze(path)
                        results.add(analyzer.lastTimings, windows: result.windowCount, audio: result.audio.duration)
                    } catch {
                        printError("genred: \(error)")
                    }
                }
            }
            pool.wait()
            var pass = results.total
            pass.wall = Date().timeIntervalSince(start)
            return pass
        }

        /// Prints what the figures depend on: the CPU, its vector extensions, the BLAS kernels in
        /// use and the peaks measured on `threads` threads: fp32's, and those of the bf16 and int8
        /// dot products where the CPU has them, which it returns for each precision that uses them.
        private func printMachine(threads: Int) -> (Benchmark.FP32Peak, [Precision: (instructions: String, rate: Double)]) {
            let info = CPUInfo.current
            print("cpu              \(info.summary), \(ProcessInfo.processInfo.activeProcessorCount) cores online")
            print("vectors          \(info.extensions.joined(separator: " ")) -> \(info.vectorLevel)")
            print("blas             \(BLASDispatch.describe(cpu: info))")
            let peak = Benchmark.fp32Peak(cpu: info, threads: threads)
            print(String(format: "fp32 peak        %.1f GFLOP/s on one core, %.1f GFLOP/s on %d threads (%@ loop, measured)",
                         peak.perCore / 1e9, peak.allCores / 1e9, peak.threads, peak.instructions))
            var reducedPeaks: [Precision: (instructions: String, rate: Double)] = [:]
            for (precision, alike) in [(Precision.bf16, [Precision.bf16, .bf16Plain]), (.int8, [.int8, .int8Static])] {
                let name = "\(precision) peak".padding(toLength: 17, withPad: " ", startingAt: 0)
                // The peak is the CPU's; what oneDNN runs may be less (ONEDNN_MAX_CPU_ISA caps it).
                let kernel = Precision.kernel(precision)
                let onednn = "; oneDNN \(kernel.native ? "runs it" : "has no native kernel for it"): \(kernel.detail)"
                guard let reduced = Benchmark.reducedPeak(precision, cpu: info, threads: threads) else {
                    print(name + "no dot-product loop for it on this CPU" + onednn)
                    continue
                }
                print(name + String(format: "%.1f GOP/s on %d threads, %.2fx fp32's (%@ loop, measured)",
                                    reduced.rate / 1e9, peak.threads, reduced.rate / peak.allCores, reduced.instructions) + onednn)
                for p in alike { reducedPeaks[p] = reduced }
            }
            return (peak, reducedPeaks)
        }

        /// Learning on synthetic features with the real layout: what 10,000 labelled tracks cost
        /// once their analyses are stored.
        private func benchLearn(_ n: Int) throws {
            var options = LearnOptions()
            options.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
            let input = LearnBenchmark.input(tracks: n)
            let outcome: TaxonomyTrainer.Outcome
            do { outcome = try TaxonomyTrainer.learn(input, options: options) } catch {
                throw CommandFailure(error, status: 1)
            }
            let r = outcome.report
            print("CPU: \(CPUInfo.current.summary), \(options.threads) thread(s); load average \(loadAverage())")
            print("learn: \(n) tracks x \(input.features.columns) features, \(input.classes.count) classes, \(r.folds.count) grouped folds, "
                + "\(r.candidates.count) candidate heads + kNN + the album-effect check + the final fit")
            print(String(format: "  %.2f s (chosen: %@; held-out accuracy %.3f)", r.trainingSeconds, r.chosen, r.method("head")?.accuracy ?? .nan))
        }

        /// Small sets drawn from a real labelled folder: the head against the references.
        private func benchLearnSet(_ folder: String) throws {
            let bundle = try loadBundle(model)
            var temporary: String?
            let path: String
            if let db {
                path = db
            } else {
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-learn-set-\(UUID().uuidString)").path
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                temporary = dir
                path = dir + "/library.sqlite"
            }
            defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
            let collected: LearnRunner.Collected
            do {
                let store = try LibraryStore(path: path)
                let runner = LearnRunner(bundle: bundle, store: store, map: EvalLabelMap(manifest: bundle.manifest),
                                         threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
                collected = try runner.collect(name: "small-sets", sources: LearnSources(folders: [FilePath.normalize(folder)], labels: .folders))
            } catch {
                throw CommandFailure(error, status: 1)
            }
            let input = collected.input
            var options = LearnOptions()
            options.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
            var settings: [SmallSetBenchmark.Setting] = []
            for classes in 2...min(5, input.classes.count) {
                for tracks in [5, 7, 10] { for albums in 1...3 { settings.append(.init(classes: classes, tracks: tracks, albums: albums)) } }
            }
            print("CPU: \(CPUInfo.current.brand), \(options.threads) thread(s); load average \(loadAverage())")
            let perClass = input.classes.indices.map { c in
                let mine = input.labels.indices.filter { input.labels[$0] == [c] }
                return "\(input.classes[c]) \(mine.count) (\(Set(mine.map { input.groups[$0] }).count) albums)"
            }
            print("set: \(input.features.rows) tracks: " + perClass.joined(separator: ", "))
            print("\(trials) draws per setting; accuracy on the labels' other tracks (top class); "
                + "given: share of test tracks the taxonomy labels; right: share labelled right")
            print("labels  tracks  albums (drawn)  test tracks  head    given   right   logistic  kNN     album-split thresholds")
            let start = Date()
            for setting in settings {
                guard let r = SmallSetBenchmark.run(input, settings: [setting], trials: trials, seed: 1, options: options).first else { continue }
                print(String(format: "%6d  %6d  %6d (%4.1f)  %11d  %5.1f%%  %5.1f%%  %5.1f%%  %7.1f%%  %5.1f%%  %d of %d",
                             setting.classes, setting.tracks, setting.albums, r.albumsDrawn, r.testTracks, 100 * r.head, 100 * r.given,
                             100 * r.givenRight, 100 * r.logistic, 100 * r.knn, r.albumSplitTrials, r.trials))
            }
            print(String(format: "%.1f s", Date().timeIntervalSince(start)))
        }

        private func loadAverage() -> String {
            var loads = [Double](repeating: 0, count: 3)
            return getloadavg(&loads, 3) == 3 ? String(format: "%.2f %.2f %.2f", loads[0], loads[1], loads[2]) : "unknown"
        }

        /// The queue's store time per job with 1, 2 and 4 clients (or --jobs), without analysis.
        private func benchQueue(_ n: Int, at location: String) throws {
            let bundle = try loadBundle(model)
            let analysis: TrackAnalysis
            do { analysis = try Analyzer(bundle: bundle).analyze(files[0]) } catch {
                throw CommandFailure(error, status: 1)
            }
            print("CPU: \(CPUInfo.current.brand), \(ProcessInfo.processInfo.activeProcessorCount) cores; load average \(loadAverage())")
            print("store: \(StoreLocation(location).description); each job stored with the analysis of \(files[0]) (\(analysis.windowCount) windows)")
            for workers in jobs.map({ [$0] }) ?? [1, 2, 4] {
                do {
                    let r = try QueueBenchmark.run(store: location, jobs: n, workers: workers, analysis: analysis, manifest: bundle.manifest)
                    print(String(format: "%d client(s): %d jobs in %.2f s, %.0f jobs/s; store time per job: median %.2f ms, p99 %.2f ms, mean %.2f ms; queueing %.2f ms",
                                 r.workers, r.jobs, r.seconds, Double(r.jobs) / r.seconds, r.storeMedianMs, r.storeP99Ms, r.storeMeanMs, r.enqueueMs))
                } catch {
                    throw CommandFailure(error, status: 1)
                }
            }
        }

        /// A made-up library of `n` analysed tracks in a new database, for the server benchmark.
        private func fillLibrary(_ n: Int, at path: String) throws {
            if PathIO.exists(path) {
                throw CommandFailure(path, "\(path) exists: --make-library writes a new database", status: 2)
            }
            let bundle = try loadBundle(model)
            let start = Date()
            do { try LibraryStore(path: path).fillSynthetic(count: n, manifest: bundle.manifest) } catch {
                throw CommandFailure(error, status: 1)
            }
            print(String(format: "%d made-up tracks in %@ (%.1f s)", n, StoreLocation(path).description, Date().timeIntervalSince(start)))
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
                v.recordingIDs.append(nil); v.isrcs.append(nil)
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
}

/// The files still to analyse and the sums of what was analysed, shared by the bench's
/// job threads. Sendable without `@unchecked`: its only stored property is a `Mutex`.
private final class PassAccumulator: Sendable {
    private struct State {
        var next = 0
        var total = Bench.Speed.Pass()
    }
    private let state = Mutex(State())

    func nextPath(_ paths: [String]) -> String? {
        state.withLock { s in
            guard s.next < paths.count else { return nil }
            defer { s.next += 1 }
            return paths[s.next]
        }
    }

    func add(_ t: StageTimings, windows: Int, audio: Double) {
        state.withLock { s in
            s.total.timings = s.total.timings + t
            s.total.windows += windows
            s.total.audio += audio
        }
    }

    var total: Bench.Speed.Pass { state.withLock { $0.total } }
}

/// The other measurements, each a subcommand that runs `bench speed` with the older flag it
/// replaces, so the two spellings cannot drift apart.
extension Bench {
    struct Machine: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print only the CPU, its vector extensions, the BLAS kernels in use and the measured FP32, bf16 and int8 peaks.")
        @Option(name: .long, help: "Worker threads (default: all cores).") var threads: Int?
        func run() throws { try Speed.forward(["--cpu"] + (threads.map { ["--threads", String($0)] } ?? [])) }
    }

    struct Similarity: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time similarity queries over a made-up library of TRACKS tracks.")
        @Argument(help: "Tracks in the made-up library.") var tracks: Int
        func run() throws { try Speed.forward(["--similarity", String(tracks)]) }
    }

    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time genred learn (cross-validation and the final fit) on a made-up labelled set of TRACKS tracks (200 or more).")
        @Option(name: .long, help: "Worker threads (default: all cores).") var threads: Int?
        @Argument(help: "Tracks in the made-up set.") var tracks: Int
        func run() throws { try Speed.forward(["--learn", String(tracks)] + (threads.map { ["--threads", String($0)] } ?? [])) }
    }

    struct LearnSet: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn's accuracy on small sets drawn from a real labelled FOLDER, against a plain logistic regression and the kNN baseline.",
            discussion: "FOLDER has one sub-folder per label, as genred learn reads it. Each setting draws 2 to 5 labels, 5 to 10 tracks and 1 to 3 albums per label. Analyses are read from and stored in --db (default: a temporary database)."
        )
        @Option(name: .long, help: "Random draws per setting.") var trials: Int = 10
        @Option(name: .long, help: "Worker threads for analysing the set (default: all cores).") var threads: Int?
        @Option(name: .long, help: ArgumentHelp("Library database to keep the analyses in.", valueName: "path")) var db: String?
        @Option(name: .long, help: "Model bundle name or directory.") var model: String = ModelBundle.defaultName
        @Argument(help: "The labelled folder.") var folder: String
        func run() throws {
            try Speed.forward(["--learn-set", folder, "--trials", String(trials), "--model", model] + (db.map { ["--db", $0] } ?? [])
                              + (threads.map { ["--threads", String($0)] } ?? []))
        }
    }

    struct MakeLibrary: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fill a new database with TRACKS made-up analysed tracks (for scripts/bench-serve.sh).")
        @Option(name: .long, help: ArgumentHelp("The SQLite database to make (it must not exist yet).", valueName: "path")) var db: String?
        @Option(name: .long, help: ArgumentHelp("Or an empty PostgreSQL database: postgresql://...", valueName: "url")) var store: String?
        @Option(name: .long, help: "Model bundle name or directory.") var model: String = ModelBundle.defaultName
        @Argument(help: "Tracks to make.") var tracks: Int
        func run() throws {
            try Speed.forward(["--make-library", String(tracks), "--model", model] + (db.map { ["--db", $0] } ?? []) + (store.map { ["--store", $0] } ?? []))
        }
    }

    struct Queue: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time the shared queue alone (no analysis): JOBS made-up jobs, each stored with the analysis of FILE, by --jobs threads with a connection each (default: 1, 2 and 4 in turn).")
        @Option(name: .long, help: ArgumentHelp("PostgreSQL URL or SQLite path of the queue.", valueName: "path|url")) var store: String
        @Option(name: .long, help: "Threads at once.") var jobs: Int?
        @Option(name: .long, help: "Model bundle name or directory.") var model: String = ModelBundle.defaultName
        @Argument(help: "Jobs to run.") var count: Int
        @Argument(help: "The audio file whose analysis each job stores.") var file: String
        func run() throws {
            try Speed.forward(["--queue", String(count), "--store", store, "--model", model, file] + (jobs.map { ["--jobs", String($0)] } ?? []))
        }
    }
}

extension Bench.Speed {
    /// Parses the older flags and runs, as `genred bench --FLAG` would.
    static func forward(_ arguments: [String]) throws {
        let command = try parse(arguments)
        try command.run()
    }
}

extension Bench {
    struct Agreement: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "precision",
            abstract: "How far a reduced precision's analyses are from fp32's, on real files, against the targets it must meet to be offered.",
            discussion: """
                Each file is analysed in fp32 and in PRECISION. Per track: whether the five most probable labels \
                are the same and in the same order, the largest difference of a label's mean probability, the \
                cosine of the two embeddings, and whether the genre and mood tags genred would write (default \
                settings) are the same. The targets: the same top five in 99% of tracks, every difference at \
                most 0.01, every cosine at least 0.999, the same tags in 99% of tracks. Printed per format and in \
                all; the exit status is 1 when a target is missed. Use 100 tracks or more, in every format. \
                A precision that misses a target is not offered for analysis (docs/speed.md).
                """
        )
        @Option(name: .long, help: ArgumentHelp("The precision to compare with fp32 (bf16, bf16-plain, int8 or int8-static). It runs wherever oneDNN has a native kernel for it, faster than fp32 or not.", valueName: "bf16|bf16-plain|int8|int8-static")) var precision: Precision = .bf16
        @Option(name: .long, help: "Model bundle name or directory.") var model: String = ModelBundle.defaultName
        @Option(name: .long, help: "Worker threads (default: all cores).") var threads: Int?
        @Flag(name: .long, help: "Also print one line per track.") var tracks = false
        @Argument(help: "Audio files.") var files: [String]

        func run() throws {
            let bundle = try ModelBundle.load(model)
            let choice = Precision.resolve(precision, for: bundle, requireFaster: false)
            print("cpu              \(CPUInfo.current.summary)")
            print("precision        \(precision): \(choice.used == precision ? "runs, " : "falls back to fp32: ")\(choice.detail)")
            guard choice.used == precision, precision != .fp32 else {
                throw CommandFailure("bench precision", "\(precision) does not run natively on this CPU: nothing to compare", status: 2)
            }
            let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
            let reference = Analyzer(bundle: bundle, threads: threads, precision: .fp32)
            let reduced = Analyzer(bundle: bundle, threads: threads, precision: precision, requireFaster: false)
            var agreement = PrecisionAgreement(manifest: bundle.manifest)
            var failed = 0
            for (i, path) in files.enumerated() {
                do {
                    let a = try reference.analyze(path)
                    let b = try reduced.analyze(path)
                    agreement.add(reference: a, reduced: b)
                    if tracks, let t = agreement.tracks.last {
                        print(String(format: "%@  top5 %@  max|dmean| %.5f  cos %.6f  tags %@", FilePath.display(path),
                                     t.sameTopFive ? "same" : "DIFF", t.maxMeanDifference, t.embeddingCosine, t.sameTags ? "same" : "DIFF"))
                    }
                } catch {
                    failed += 1
                    printError("genred: \(error)")
                }
                if !tracks && (i + 1) % 25 == 0 { printError("\(i + 1) of \(files.count) files") }
            }
            func line(_ name: String, _ s: PrecisionAgreement.Summary) {
                print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %6d  %8.1f%%  %8.1f%%  %10.5f  %8.6f  %8.1f%%", s.count, 100 * s.topFiveShare, 100 * s.topFiveSetShare,
                             s.worstMeanDifference, s.worstCosine, 100 * s.sameTagsShare))
            }
            print("format       tracks  same top5  (as a set)  max|dmean|   min cos  same tags")
            for (container, list) in agreement.byContainer { line(container, agreement.summary(list)) }
            let all = agreement.summary()
            line("all", all)
            print(String(format: "targets             %8.1f%%             %10.5f  %8.6f  %8.1f%%", 100 * PrecisionAgreement.Target.topFiveShare,
                         PrecisionAgreement.Target.maxMeanDifference, PrecisionAgreement.Target.embeddingCosine,
                         100 * PrecisionAgreement.Target.sameTagsShare))
            print("\(precision) \(all.meetsTargets ? "meets" : "MISSES") the targets on \(all.count) tracks" + (failed > 0 ? " (\(failed) file(s) failed)" : ""))
            if !all.meetsTargets { throw ExitCode(1) }
        }
    }
}

extension Bench {
    struct Calibrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "calibrate",
            abstract: "Measure a model bundle's int8-static input scales on real music and write them beside its weights.",
            discussion: """
                Each file is analysed in fp32 on one thread. For every product of the network (each Winograd \
                point of the timbral convolutions, each temporal convolution, each time tap of the mid end), \
                the largest |input| of each window is kept; the scale is the --quantile of those maxima over \
                127, and inputs beyond it are clamped. The scales go to int8-scales.json in the bundle's \
                folder (or --out), tied to the weights by their SHA-256. Use real music that is not the \
                music the agreement is measured on (genred bench precision).
                """
        )
        @Option(name: .long, help: "Model bundle name or directory.") var model: String = ModelBundle.defaultName
        @Option(name: .long, help: "Which quantile of the per-window maxima sets each scale (1 = the largest seen).") var quantile: Double = 0.999
        @Option(name: .long, help: ArgumentHelp("Write here instead of the bundle's int8-scales.json.", valueName: "file")) var out: String?
        @Argument(help: "Audio files (real music).") var files: [String]

        func validate() throws {
            if !(quantile > 0 && quantile <= 1) { throw ValidationError("--quantile must be in (0, 1]") }
            if files.isEmpty { throw ValidationError("name at least one audio file") }
        }

        func run() throws {
            let bundle = try ModelBundle.load(model)
            var failed = 0
            let scales = Int8Scales.calibrate(bundle: bundle, files: files, quantile: quantile) { path, result in
                switch result {
                case .success(let windows): printError("\(FilePath.display(path)): \(windows) windows")
                case .failure(let error): failed += 1; printError("genred: \(error)")
                }
            }
            guard scales.calibration.windows > 0 else { throw CommandFailure("bench calibrate", "no file could be analysed") }
            let target = out.map { URL(fileURLWithPath: $0) } ?? bundle.directory.appendingPathComponent(Int8Scales.fileName)
            do {
                try scales.encoded().write(to: target, options: .atomic)
            } catch {
                throw CommandFailure(target.path, "cannot write the scales: \(error.localizedDescription)")
            }
            print("\(target.path): \(scales.calibration.windows) windows of \(scales.calibration.files.count) file(s)" + (failed > 0 ? " (\(failed) failed)" : ""))
        }
    }
}
