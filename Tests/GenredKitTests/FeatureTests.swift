import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class FeatureTests: XCTestCase {
    func testFrameCountFollowsCentredFraming() {
        for n in [0, 1, 255, 256, 511, 512, 1000, 16000] {
            let mel = LogMelSpectrogram()
            var frames = 0
            let samples = [Float](repeating: 0.1, count: n)
            samples.withUnsafeBufferPointer { mel.push($0) { _ in frames += 1 } }
            mel.finish { _ in frames += 1 }
            XCTAssertEqual(frames, 1 + n / 256, "\(n) samples")
        }
    }

    func testChunkSizeDoesNotChangeFrames() {
        var rng = SystemRandomNumberGenerator()
        let signal = (0..<40000).map { _ in Float.random(in: -0.5...0.5, using: &rng) }
        func frames(chunk: Int) -> [Float] {
            let mel = LogMelSpectrogram()
            var out: [Float] = []
            signal.withUnsafeBufferPointer { all in
                var i = 0
                while i < all.count {
                    let end = min(i + chunk, all.count)
                    mel.push(UnsafeBufferPointer(rebasing: all[i..<end])) { out.append(contentsOf: $0) }
                    i = end
                }
            }
            mel.finish { out.append(contentsOf: $0) }
            return out
        }
        XCTAssertEqual(frames(chunk: 7), frames(chunk: 40000))
        XCTAssertEqual(frames(chunk: 333), frames(chunk: 4096))
    }

    func testSilenceGivesZeroLogMel() {
        let mel = LogMelSpectrogram()
        var out: [Float] = []
        [Float](repeating: 0, count: 4096).withUnsafeBufferPointer { mel.push($0) { out.append(contentsOf: $0) } }
        XCTAssertTrue(out.allSatisfy { $0 == 0 })
    }

    func testFilterbankHasSlaneyAreaNormalization() {
        let fb = MelFilterbank(sampleRate: 16000, fftSize: 512, bands: 96, fmin: 0, fmax: 8000)
        XCTAssertEqual(fb.bins, 257)
        // Each triangle's area over frequency (Hz) is 1 with Slaney normalization, up to the bin spacing.
        let binHz: Float = 16000 / 512
        for b in [10, 40, 80] {
            let area = fb.weights[(b * 257)..<((b + 1) * 257)].reduce(0, +) * binHz
            XCTAssertEqual(area, 1, accuracy: 0.1, "band \(b)")
        }
        XCTAssertTrue(fb.support.allSatisfy { !$0.isEmpty })
    }
}
