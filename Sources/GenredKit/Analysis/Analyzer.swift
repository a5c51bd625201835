import COpenBLAS
import Dispatch
import Foundation

/// Seconds spent in each stage of an analysis.
public struct StageTimings: Sendable {
    /// Decoding and resampling (everything before the spectrogram).
    public var decode: Double = 0
    public var features: Double = 0
    public var inference: Double = 0
    public var total: Double { decode + features + inference }

    public init() {}
}

/// Runs the pipeline for one file at a time: decode -> log-mel -> windows -> network.
///
/// Audio streams through; only the windows of one batch and the per-window results are
/// held, so memory does not grow with track length. The windows of a batch run in
/// parallel on `threads` workers (BLAS itself is kept single-threaded).
public final class Analyzer {
    public let bundle: ModelBundle
    public let threads: Int
    public private(set) var lastTimings = StageTimings()

    private let workspaces: [MusicnnWorkspace]
    private let batchSize: Int

    public init(bundle: ModelBundle, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.bundle = bundle
        self.threads = max(1, threads)
        batchSize = 4 * self.threads
        workspaces = (0..<self.threads).map { _ in MusicnnWorkspace(network: bundle.network) }
        openblas_set_num_threads(1)
    }

    /// Hop in frames for a hop given in seconds (at least one frame).
    public func hopFrames(seconds: Double) -> Int {
        let p = bundle.manifest.audio
        return max(1, Int((seconds * Double(p.sampleRate) / Double(p.hopLength)).rounded()))
    }

    public func analyze(_ path: String, hopFrames: Int? = nil) throws(DecodeError) -> TrackAnalysis {
        let manifest = bundle.manifest, network = bundle.network
        let params = manifest.featureParameters
        let W = manifest.window.frames, B = params.bands
        let hop = hopFrames ?? manifest.window.defaultHopFrames
        let labels = network.labelCount, units = network.embeddingSize
        let mel = LogMelSpectrogram(parameters: params)

        var timings = StageTimings()
        // Frames from `framesBase` on; window k starts at frame k * hop.
        var frames: [Float] = []
        var framesBase = 0, nextWindow = 0
        var batch = [Float](repeating: 0, count: batchSize * W * B)
        var batchCount = 0
        var taggram: [Float] = [], penultimate: [Float] = []

        func flush() {
            guard batchCount > 0 else { return }
            let start = DispatchTime.now()
            let first = taggram.count / labels
            taggram.append(contentsOf: repeatElement(0, count: batchCount * labels))
            penultimate.append(contentsOf: repeatElement(0, count: batchCount * units))
            run(batch: &batch, count: batchCount, taggram: &taggram, penultimate: &penultimate, first: first)
            batchCount = 0
            timings.inference += seconds(since: start)
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
                if batchCount == batchSize { flush() }
            }
            // Drop frames no future window needs.
            let keepFrom = nextWindow * hop - framesBase
            if keepFrom > 4096 {
                let drop = min(keepFrom, frames.count / B)
                frames.removeFirst(drop * B)
                framesBase += drop
            }
        }

        let begin = DispatchTime.now()
        var featureTime = 0.0
        var fingerprint = AudioFingerprint()
        let audio = try AudioDecoding.stream(path, targetRate: params.sampleRate) { chunk in
            fingerprint.add(chunk)
            let t0 = DispatchTime.now()
            let inferenceBefore = timings.inference
            mel.push(chunk, emit: addFrame)
            featureTime += seconds(since: t0) - (timings.inference - inferenceBefore)
        }
        let t0 = DispatchTime.now()
        let inferenceBefore = timings.inference
        mel.finish(emit: addFrame)
        featureTime += seconds(since: t0) - (timings.inference - inferenceBefore)
        guard audio.outputSamples > 0 else { throw DecodeError(path: path, reason: .noAudio) }

        // A track shorter than one window: repeat its frames to fill one (as musicnn's training did).
        var padded = false
        if nextWindow == 0 && batchCount == 0 {
            let available = frames.count / B
            for i in 0..<W {
                let src = (i % available) * B
                for b in 0..<B { batch[i * B + b] = frames[src + b] }
            }
            batchCount = 1
            nextWindow = 1
            padded = true
        }
        flush()
        timings.features = featureTime
        timings.decode = seconds(since: begin) - timings.features - timings.inference
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
            windowCount: windows, padded: padded, fingerprint: fingerprint.finalize(), taggram: taggram, penultimate: penultimate, embeddingSize: units,
            mean: mean, vote: vote, embedding: embedding)
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
                    parallelFor(workers) { worker in
                        var w = worker
                        while w < count {
                            network.forward(window: inputBase + w * windowSize, workspace: workspaces[worker],
                                            probabilities: probsBase + (first + w) * labels,
                                            penultimate: penBase + (first + w) * units)
                            w += workers
                        }
                    }
                }
            }
        }
    }
}

func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
