import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

/// Compares genred against golden data produced by the original musicnn TensorFlow code
/// (tools/make_golden.py).
final class GoldenTests: XCTestCase {
    static let windowedClips = ["groove", "ballad", "rock", "groove_44k_stereo"]

    func testLogMelMatchesReferenceOnWAVInput() throws {
        for clip in Self.windowedClips + ["short"] {
            let golden = try Fixtures.tensor(Fixtures.golden(clip), "logmel")
            let ours = try Fixtures.logMel(Fixtures.audio(clip))
            XCTAssertEqual(ours.count, golden.values.count, "\(clip): frame count")
            let err = zip(ours, golden.values).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(err, 1e-4, "\(clip): max abs log-mel error \(err)")
            print("\(clip): max abs log-mel error \(err)")
        }
    }

    func testNetworkMatchesReferenceOnReferenceSpectrogram() throws {
        for model in ["msd", "mtt"] {
            let bundle = try Fixtures.bundle("\(model)-musicnn")
            let net = bundle.network
            let ws = MusicnnWorkspace(network: net)
            for clip in Self.windowedClips {
                let golden = try Fixtures.golden(clip)
                let mel = try Fixtures.tensor(golden, "logmel").values
                let probs = try Fixtures.tensor(golden, "\(model).probs")
                let pen = try Fixtures.tensor(golden, "\(model).penultimate")
                var p = [Float](repeating: 0, count: net.labelCount), e = [Float](repeating: 0, count: net.embeddingSize)
                for w in 0..<probs.shape[0] {
                    mel.withUnsafeBufferPointer { m in
                        net.forward(window: m.baseAddress! + w * 187 * 96, workspace: ws, probabilities: &p, penultimate: &e)
                    }
                    let perr = zip(p, probs.values[(w * 50)..<((w + 1) * 50)]).map { abs($0 - $1) }.max()!
                    XCTAssertLessThanOrEqual(perr, 1e-5, "\(model) \(clip) window \(w): probability error \(perr)")
                    let ref = Array(pen.values[(w * 200)..<((w + 1) * 200)])
                    let scale = ref.map(abs).max()!
                    let eerr = zip(e, ref).map { abs($0 - $1) }.max()! / scale
                    XCTAssertLessThanOrEqual(eerr, 1e-5, "\(model) \(clip) window \(w): penultimate relative error \(eerr)")
                }
            }
        }
    }

    func testAnalysisOfAudioFilesMatchesReference() throws {
        for model in ["msd", "mtt"] {
            let bundle = try Fixtures.bundle("\(model)-musicnn")
            let analyzer = Analyzer(bundle: bundle)
            for clip in Self.windowedClips {
                let golden = try Fixtures.golden(clip)
                let probs = try Fixtures.tensor(golden, "\(model).probs")
                let pen = try Fixtures.tensor(golden, "\(model).penultimate")
                let result = try analyzer.analyze(Fixtures.audio(clip))
                let windows = probs.shape[0]
                XCTAssertEqual(result.windowCount, windows, "\(model) \(clip): windows")
                XCTAssertFalse(result.padded)

                let perr = zip(result.taggram, probs.values).map { abs($0 - $1) }.max()!
                XCTAssertLessThanOrEqual(perr, 1e-3, "\(model) \(clip): max abs probability error \(perr)")

                // Embedding: the penultimate layer averaged over windows.
                var refEmbedding = [Float](repeating: 0, count: 200)
                for w in 0..<windows { for u in 0..<200 { refEmbedding[u] += pen.values[w * 200 + u] / Float(windows) } }
                let scale = refEmbedding.map(abs).max()!
                let eerr = zip(result.embedding, refEmbedding).map { abs($0 - $1) }.max()! / scale
                XCTAssertLessThanOrEqual(eerr, 1e-3, "\(model) \(clip): embedding relative error \(eerr)")

                // Same top-5 labels by the mean aggregate.
                var refMean = [Float](repeating: 0, count: 50)
                for w in 0..<windows { for l in 0..<50 { refMean[l] += probs.values[w * 50 + l] / Float(windows) } }
                XCTAssertEqual(Array(TrackAnalysis.ranking(result.mean).prefix(5)),
                               Array(TrackAnalysis.ranking(refMean).prefix(5)), "\(model) \(clip): top-5 labels")
                XCTAssertTrue(result.taggram.allSatisfy(\.isFinite), "\(model) \(clip): non-finite output")
            }
        }
    }

    func testTrackShorterThanOneWindowIsPaddedByRepetition() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let result = try Analyzer(bundle: bundle).analyze(Fixtures.audio("short"))
        XCTAssertTrue(result.padded)
        XCTAssertEqual(result.windowCount, 1)
        XCTAssertEqual(result.audio.duration, 2.0, accuracy: 0.01)

        // The padded window is the reference spectrogram repeated: run it through the network directly.
        let mel = try Fixtures.tensor(Fixtures.golden("short"), "logmel")
        let frames = mel.shape[0]
        XCTAssertLessThan(frames, 187)
        var window = [Float](repeating: 0, count: 187 * 96)
        for i in 0..<187 { for b in 0..<96 { window[i * 96 + b] = mel.values[(i % frames) * 96 + b] } }
        var p = [Float](repeating: 0, count: 50), e = [Float](repeating: 0, count: 200)
        bundle.network.forward(window: window, workspace: MusicnnWorkspace(network: bundle.network), probabilities: &p, penultimate: &e)
        let err = zip(p, result.taggram).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(err, 1e-3)
    }

    func testOverlappingHopGivesMoreWindowsStartingAtTheSameFrame() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let analyzer = Analyzer(bundle: bundle)
        let path = Fixtures.audio("groove")
        let plain = try analyzer.analyze(path)
        let hop = analyzer.hopFrames(seconds: 1.0)
        XCTAssertEqual(hop, 63)
        let dense = try analyzer.analyze(path, hopFrames: hop)
        let frames = 1 + plain.audio.outputSamples / 256
        XCTAssertEqual(dense.windowCount, (frames - 187) / hop + 1)
        XCTAssertEqual(Array(dense.window(0)), Array(plain.window(0)))
        // Window 3 of the dense run starts where window 1 of the plain run does (3 * 63 = 189 != 187),
        // so compare the first window only, plus the aggregates' shape.
        XCTAssertEqual(dense.mean.count, 50)
        XCTAssertEqual(dense.vote.reduce(0, +), 1, accuracy: 1e-5)
    }

    func testVoteAggregateCountsEachWindowsTopLabel() throws {
        let result = try Analyzer(bundle: Fixtures.bundle("msd-musicnn")).analyze(Fixtures.audio("groove"))
        var counts = [Float](repeating: 0, count: 50)
        for w in 0..<result.windowCount { counts[TrackAnalysis.ranking(Array(result.window(w)))[0]] += 1 }
        XCTAssertEqual(result.vote, counts.map { $0 / Float(result.windowCount) })
    }

    func testBatchingAndThreadCountDoNotChangeResults() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let one = try Analyzer(bundle: bundle, threads: 1).analyze(Fixtures.audio("groove"), hopFrames: 20)
        let two = try Analyzer(bundle: bundle, threads: 2).analyze(Fixtures.audio("groove"), hopFrames: 20)
        XCTAssertGreaterThan(one.windowCount, 8, "enough windows for more than one batch")
        XCTAssertEqual(one.taggram, two.taggram)
        XCTAssertEqual(one.embedding, two.embedding)
    }
}
