import COpenBLAS
import Dispatch
import Foundation

/// Seconds spent in each stage of an import. The analyzer fills the first four; the library
/// adds storing the analysis and writing the tags.
public struct StageTimings: Sendable {
    /// Reading and decoding the file, and mixing it to mono.
    public var decode: Double = 0
    /// Resampling to the model's rate.
    public var resample: Double = 0
    /// The log-mel spectrogram.
    public var features: Double = 0
    /// The network.
    public var inference: Double = 0
    /// Storing the analysis.
    public var store: Double = 0
    /// Reading the tags, writing them (backup, journal, save, verify) and recording the write.
    public var tagWrite: Double = 0
    public var total: Double { decode + resample + features + inference + store + tagWrite }

    /// Each stage's name, as `genred bench` prints it, and its seconds, in pipeline order.
    public var stages: [(name: String, seconds: Double)] {
        [("decode", decode), ("resample", resample), ("mel", features), ("inference", inference),
         ("store", store), ("tag write", tagWrite)]
    }

    public init() {}

    public static func + (a: StageTimings, b: StageTimings) -> StageTimings {
        var s = a
        s.decode += b.decode
        s.resample += b.resample
        s.features += b.features
        s.inference += b.inference
        s.store += b.store
        s.tagWrite += b.tagWrite
        return s
    }
}

/// Runs the pipeline for one file at a time: decode -> log-mel -> windows -> network.
///
/// Audio streams through; only the windows of one batch and the per-window results are
/// held, so memory does not grow with track length. The windows of a batch run in
/// parallel on `threads` workers (BLAS itself is kept single-threaded).
public final class Analyzer {
    public let bundle: ModelBundle
    public let threads: Int
    /// The precision the network runs in.
    public let precision: Precision
    public private(set) var lastTimings = StageTimings()

    let workspaces: [MusicnnWorkspace]
    private let batchSize: Int

    /// `precision` is what is asked; `precision` below is what runs (see `Precision.resolve`;
    /// `requireFaster: false` runs a precision that has a native kernel even where it is not
    /// faster than fp32, for the benchmarks).
    public init(bundle: ModelBundle, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                precision asked: Precision = .fp32, requireFaster: Bool = true) {
        self.bundle = bundle
        self.threads = max(1, threads)
        batchSize = 4 * self.threads
        let choice = Precision.resolve(asked, for: bundle, requireFaster: requireFaster)
        let reduced = ReducedProducts.shared(for: bundle, precision: choice.used)
        precision = reduced == nil ? .fp32 : choice.used
        workspaces = (0..<self.threads).map { _ in MusicnnWorkspace(network: bundle.network, reduced: reduced) }
        openblas_set_num_threads(1)
    }

    /// Hop in frames for a hop given in seconds (at least one frame).
    public func hopFrames(seconds: Double) -> Int {
        let p = bundle.manifest.audio
        return max(1, Int((seconds * Double(p.sampleRate) / Double(p.hopLength)).rounded()))
    }

    /// Windows ready for the network, and what the decoding side found once it is done.
    private struct Batch: Sendable {
        var windows: [Float]
        var count: Int
    }

    private struct ProducerOutcome: Sendable {
        var audio: DecodedAudio?
        var error: DecodeError?
        var fingerprint = ""
        var windows = 0
        var padded = false
        var decodeSeconds = 0.0
        var featureSeconds = 0.0
    }

    public func analyze(_ path: String, hopFrames: Int? = nil) throws(DecodeError) -> TrackAnalysis {
        let manifest = bundle.manifest, network = bundle.network
        let params = manifest.featureParameters
        let W = manifest.window.frames, B = params.bands
        let hop = hopFrames ?? manifest.window.defaultHopFrames
        let labels = network.labelCount, units = network.embeddingSize
        let batchSize = self.batchSize

        // Decoding and features run on their own thread, a batch or two ahead of the network,
        // so the core that decoding needs is not idle while the network runs (and vice versa).
        let batches = BlockingQueue<Batch>(capacity: 2)
        let outcome = LockedValue(ProducerOutcome())
        let producer = Thread {
            let begin = DispatchTime.now()
            var waited = 0.0, featureTime = 0.0
            let mel = LogMelSpectrogram(parameters: params)
            var frames: [Float] = []
            var framesBase = 0, nextWindow = 0
            var batch = [Float](repeating: 0, count: batchSize * W * B)
            var batchCount = 0

            func ship() {
                guard batchCount > 0 else { return }
                let t = DispatchTime.now()
                batches.push(Batch(windows: batch, count: batchCount))
                waited += seconds(since: t)
                batchCount = 0
            }

            func addFrame(_ frame: UnsafeBufferPointer<Float>) {
                frames.append(contentsOf: frame)
                // Copy every window that is now complete into the batch.
                while (framesBase + frames.count / B) >= nextWindow * hop + W {
                    let offset = (nextWindow * hop - framesBase) * B
                    frames.withUnsafeBufferPointer { f in
                        batch.withUnsafeMutableBufferPointer { b in
                            (b.baseAddress! + batchCount * W * B).update(from: f.baseAddress! + offset, count: W * B)
                        }
                    }
                    batchCount += 1
                    nextWindow += 1
                    if batchCount == batchSize { ship() }
                }
                // Drop frames no future window needs.
                let keepFrom = nextWindow * hop - framesBase
                if keepFrom > 4096 {
                    let drop = min(keepFrom, frames.count / B)
                    frames.removeFirst(drop * B)
                    framesBase += drop
                }
            }

            var fingerprint = AudioFingerprint()
            var result = ProducerOutcome()
            do throws(DecodeError) {
                let audio = try AudioDecoding.stream(path, targetRate: params.sampleRate, allowDamage: true,
                                                     sourceDigest: true) { chunk in
                    fingerprint.add(chunk)
                    let t0 = DispatchTime.now(), waitedBefore = waited
                    mel.push(chunk, emit: addFrame)
                    featureTime += seconds(since: t0) - (waited - waitedBefore)
                }
                let t0 = DispatchTime.now(), waitedBefore = waited
                mel.finish(emit: addFrame)
                featureTime += seconds(since: t0) - (waited - waitedBefore)
                if audio.outputSamples == 0 { throw DecodeError(path: path, reason: .noAudio) }
                // A track shorter than one window: repeat its frames to fill one (as musicnn's training did).
                if nextWindow == 0 && batchCount == 0 {
                    let available = frames.count / B
                    for i in 0..<W {
                        let src = (i % available) * B
                        for b in 0..<B { batch[i * B + b] = frames[src + b] }
                    }
                    batchCount = 1
                    nextWindow = 1
                    result.padded = true
                }
                ship()
                result.audio = audio
            } catch {
                result.error = error
            }
            result.fingerprint = fingerprint.finalize()
            result.windows = nextWindow
            result.featureSeconds = featureTime
            result.decodeSeconds = seconds(since: begin) - featureTime - waited
            outcome.withLock { $0 = result }
            batches.close()
        }
        producer.stackSize = 8 << 20
        producer.start()

        var timings = StageTimings()
        var taggram: [Float] = [], penultimate: [Float] = []
        while var next = batches.pop() {
            let start = DispatchTime.now()
            let first = taggram.count / labels
            taggram.append(contentsOf: repeatElement(0, count: next.count * labels))
            penultimate.append(contentsOf: repeatElement(0, count: next.count * units))
            run(batch: &next.windows, count: next.count, taggram: &taggram, penultimate: &penultimate, first: first)
            timings.inference += seconds(since: start)
        }
        let produced = outcome.withLock { $0 }
        if let error = produced.error { throw error }
        guard let audio = produced.audio else { throw DecodeError(path: path, reason: .noAudio) }
        let fingerprint = produced.fingerprint, padded = produced.padded, nextWindow = produced.windows
        timings.features = produced.featureSeconds
        timings.resample = audio.resampleSeconds
        timings.decode = max(0, produced.decodeSeconds - audio.resampleSeconds)
        lastTimings = timings

        let windows = nextWindow
        var mean = [Float](repeating: 0, count: labels), vote = mean
        var embedding = [Float](repeating: 0, count: units)
        for w in 0..<windows {
            var best = 0
            for l in 0..<labels {
                let p = taggram[w * labels + l]
                mean[l] += p
                if p > taggram[w * labels + best] { best = l }
            }
            vote[best] += 1
            for u in 0..<units { embedding[u] += penultimate[w * units + u] }
        }
        let n = Float(windows)
        for l in 0..<labels { mean[l] /= n; vote[l] /= n }
        for u in 0..<units { embedding[u] /= n }

        return TrackAnalysis(
            path: path, model: manifest.name, modelVersion: manifest.version, audio: audio, labels: manifest.labels,
            windowFrames: W, hopFrames: hop, frameSeconds: Double(params.hopLength) / Double(params.sampleRate),
            windowCount: windows, padded: padded, fingerprint: fingerprint, taggram: taggram, penultimate: penultimate, embeddingSize: units,
            mean: mean, vote: vote, embedding: embedding, precision: precision)
    }

    /// Runs `count` windows from `batch` through the network on the worker threads.
    private func run(batch: inout [Float], count: Int, taggram: inout [Float], penultimate: inout [Float], first: Int) {
        let network = bundle.network
        let windowSize = network.frames * network.bands
        let labels = network.labelCount, units = network.embeddingSize
        let workers = min(threads, count)
        batch.withUnsafeBufferPointer { input in
            taggram.withUnsafeMutableBufferPointer { probs in
                penultimate.withUnsafeMutableBufferPointer { pen in
                    let (inputBase, probsBase, penBase) = (input.baseAddress!, probs.baseAddress!, pen.baseAddress!)
                    // Windows are handed out one at a time, so a worker the scheduler delays
                    // (the decoding thread shares the cores) does not hold up the batch.
                    let nextWindow = LockedValue(0)
                    parallelFor(workers) { worker in
                        while true {
                            let w = nextWindow.withLock { n in defer { n += 1 }; return n }
                            guard w < count else { break }
                            network.forward(window: inputBase + w * windowSize, workspace: workspaces[worker],
                                            probabilities: probsBase + (first + w) * labels,
                                            penultimate: penBase + (first + w) * units)
                        }
                    }
                }
            }
        }
    }
}

/// Seconds from `start` to now.
package func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
