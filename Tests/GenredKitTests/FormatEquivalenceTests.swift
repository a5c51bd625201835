import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices
import GenredTestSupport

/// The same music encoded as WAV, FLAC, MP3, Ogg Vorbis and Opus gives the same spectrogram,
/// within what each encoder changes, and the same tags.
final class FormatEquivalenceTests: XCTestCase {
    func testEncodedCopiesGiveTheWAVsSpectrogramAndTags() throws {
        let dir = try TestAudio.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = Fixtures.audio("groove_44k_stereo")
        let copies: [(name: String, tool: String, args: [String], meanTolerance: Float)] = [
            ("copy.flac", "flac", ["-s", "-f", wav, "-o"], 0),
            ("copy.mp3", "lame", ["--quiet", "-V2", wav], 0.03),
            ("copy.ogg", "oggenc", ["-Q", "-q", "5", wav, "-o"], 0.05),
            ("copy.opus", "opusenc", ["--quiet", "--bitrate", "128", wav], 0.05),
        ]
        let reference = try Fixtures.logMel(wav)
        let analyzer = Analyzer(bundle: try Fixtures.bundle("msd-musicnn"))
        let referenceTop = TrackAnalysis.ranking(try analyzer.analyze(wav).mean).prefix(3)
        for copy in copies {
            let out = dir.appendingPathComponent(copy.name).path
            try TestAudio.run(copy.tool, copy.args + [out])
            let ours = try Fixtures.logMel(out)
            XCTAssertEqual(ours.count, reference.count, "\(copy.name): frame count")
            let n = min(ours.count, reference.count)
            let errors = (0..<n).map { abs(ours[$0] - reference[$0]) }
            let mean = errors.reduce(0, +) / Float(n)
            if copy.meanTolerance == 0 {
                XCTAssertEqual(errors.max() ?? 1, 0, "\(copy.name): lossless copy must decode to the same spectrogram")
            } else {
                XCTAssertLessThanOrEqual(mean, copy.meanTolerance, "\(copy.name): mean abs log-mel difference \(mean)")
            }
            let top = TrackAnalysis.ranking(try analyzer.analyze(out).mean).prefix(3)
            XCTAssertEqual(Set(top), Set(referenceTop), "\(copy.name): top-3 tags")
            print("\(copy.name): mean abs log-mel difference \(mean), max \(errors.max() ?? 0)")
        }
    }
}
