import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

/// The fast forward pass (Winograd timbral convolutions) against the direct one.
final class InferencePathTests: XCTestCase {
    /// Runs `window` through both paths; returns the largest probability and relative
    /// penultimate differences.
    private func compare(_ net: MusicnnNetwork, _ window: [Float], _ ws: MusicnnWorkspace) -> (Float, Float) {
        var p1 = [Float](repeating: 0, count: net.labelCount), e1 = [Float](repeating: 0, count: net.embeddingSize)
        var p2 = p1, e2 = e1
        net.forward(window: window, workspace: ws, probabilities: &p1, penultimate: &e1, path: .direct)
        net.forward(window: window, workspace: ws, probabilities: &p2, penultimate: &e2, path: .fast)
        let perr = zip(p1, p2).map { abs($0 - $1) }.max()!
        let scale = max(e1.map(abs).max()!, 1e-6)
        let eerr = zip(e1, e2).map { abs($0 - $1) }.max()! / scale
        return (perr, eerr)
    }

    func testFastPathMatchesDirectPathOnRandomInputs() throws {
        var rng = SystemRandomNumberGenerator()
        for model in ["msd", "mtt"] {
            let net = try Fixtures.bundle("\(model)-musicnn").network
            let ws = MusicnnWorkspace(network: net)
            // Log-mel values lie in about [0, 5]; also try a wider and a shifted range.
            for (low, high) in [(Float(0), Float(5)), (-3, 8), (2, 2.5)] {
                for _ in 0..<3 {
                    let window = (0..<(net.frames * net.bands)).map { _ in Float.random(in: low...high, using: &rng) }
                    let (perr, eerr) = compare(net, window, ws)
                    XCTAssertLessThanOrEqual(perr, 1e-5, "\(model) [\(low), \(high)]: probability difference \(perr)")
                    XCTAssertLessThanOrEqual(eerr, 1e-5, "\(model) [\(low), \(high)]: penultimate difference \(eerr)")
                }
            }
        }
    }

    func testFastPathMatchesDirectPathOnZeroAndConstantInputs() throws {
        let net = try Fixtures.bundle("msd-musicnn").network
        let ws = MusicnnWorkspace(network: net)
        for value in [Float(0), 1, 4] {
            let (perr, eerr) = compare(net, [Float](repeating: value, count: net.frames * net.bands), ws)
            XCTAssertLessThanOrEqual(perr, 1e-5, "constant \(value): probability difference \(perr)")
            XCTAssertLessThanOrEqual(eerr, 1e-5, "constant \(value): penultimate difference \(eerr)")
        }
    }

    func testWinogradTransformComputesCorrelation() {
        let w = MusicnnNetwork.winogradTransform(outputs: MusicnnNetwork.winogradOutputs, taps: 7)
        let g = (0..<7).map { _ in Float.random(in: -1...1) }
        let d = (0..<w.points).map { _ in Float.random(in: -1...1) }
        let u = w.transformKernel(g, rest: 1)
        var v = [Float](repeating: 0, count: w.points)
        for p in 0..<w.points { for q in 0..<w.points { v[p] += w.inputTransform[p * w.points + q] * d[q] } }
        for j in 0..<w.outputs {
            var y: Float = 0, ref: Float = 0
            for p in 0..<w.points { y += w.outputTransform[j * w.points + p] * u[p] * v[p] }
            for k in 0..<7 { ref += g[k] * d[j + k] }
            XCTAssertEqual(y, ref, accuracy: 1e-4, "output \(j)")
        }
    }

    func testBothPathsMatchReferenceSpectrogramWindows() throws {
        for model in ["msd", "mtt"] {
            let net = try Fixtures.bundle("\(model)-musicnn").network
            let ws = MusicnnWorkspace(network: net)
            for path in [MusicnnNetwork.InferencePath.direct, .fast] {
                var worst: Float = 0
                for clip in GoldenTests.windowedClips {
                    let golden = try Fixtures.golden(clip)
                    let mel = try Fixtures.tensor(golden, "logmel").values
                    let probs = try Fixtures.tensor(golden, "\(model).probs")
                    var p = [Float](repeating: 0, count: net.labelCount), e = [Float](repeating: 0, count: net.embeddingSize)
                    for w in 0..<probs.shape[0] {
                        mel.withUnsafeBufferPointer { m in
                            net.forward(window: m.baseAddress! + w * net.frames * net.bands, workspace: ws,
                                        probabilities: &p, penultimate: &e, path: path)
                        }
                        worst = max(worst, zip(p, probs.values[(w * 50)..<((w + 1) * 50)]).map { abs($0 - $1) }.max()!)
                    }
                }
                print("\(model) \(path): max probability error vs reference \(worst)")
                XCTAssertLessThanOrEqual(worst, 1e-5, "\(model) \(path)")
            }
        }
    }
}
