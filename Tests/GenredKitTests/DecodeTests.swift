import Foundation
import XCTest
@testable import GenredKit

/// Encoded copies of one synthetic signal, made once per test run.
private struct DecodeFixtures: Sendable {
    let directory: URL
    /// 4 s of 44.1 kHz stereo, and the same signal's frame count.
    let stereoFrames: Int
    /// 4 s of 16 kHz mono.
    let monoFrames: Int

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static let shared = Result { try DecodeFixtures() }

    private init() throws {
        directory = try TestAudio.makeTemporaryDirectory("genred-decode")
        let stereo = TestAudio.signal(seconds: 4, sampleRate: 44100, channels: 2)
        let mono = TestAudio.signal(seconds: 4, sampleRate: 16000, channels: 1)
        stereoFrames = stereo.count / 2
        monoFrames = mono.count
        let wav = directory.appendingPathComponent("stereo.wav").path
        try TestAudio.writeWAV(URL(fileURLWithPath: wav), stereo, channels: 2, sampleRate: 44100)
        try TestAudio.writeWAV(directory.appendingPathComponent("mono16k.wav"), mono, channels: 1, sampleRate: 16000)
        try TestAudio.writeWAV(directory.appendingPathComponent("sine1k.wav"),
                               TestAudio.sine(frequency: 1000, seconds: 2, sampleRate: 44100), channels: 1, sampleRate: 44100)
        func out(_ name: String) -> String { directory.appendingPathComponent(name).path }

        try TestAudio.run("sox", [wav, out("stereo.aiff")])
        try TestAudio.run("flac", ["--silent", "--force", wav, "-o", out("stereo.flac")])
        try TestAudio.run("oggenc", ["--quiet", wav, "-o", out("stereo.ogg")])
        try TestAudio.run("opusenc", ["--quiet", wav, out("stereo.opus")])
        try TestAudio.run("lame", ["--silent", "-b", "128", wav, out("cbr.mp3")])
        try TestAudio.run("lame", ["--silent", "-V", "2", wav, out("vbr.mp3")])
        try TestAudio.run("lame", ["--silent", "-m", "m", "--resample", "32", wav, out("mono32k.mp3")])
        try TestAudio.run("lame", ["--silent", "--resample", "48", wav, out("48k.mp3")])
        try TestAudio.run("lame", ["--silent", "--add-id3v2", "--pad-id3v2-size", "2000", "--tt", "Synthetic", "--ta", "Nobody",
                                   wav, out("tagged.mp3")])
        try Self.appendAPETag(to: URL(fileURLWithPath: out("tagged.mp3")))
    }

    /// Appends a minimal APEv2 tag (one item, footer only), as some taggers leave after MP3 data.
    private static func appendAPETag(to url: URL) throws {
        var item = Data()
        let value = Array("Synthetic".utf8)
        func le32(_ v: Int, into d: inout Data) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
        le32(value.count, into: &item)
        le32(0, into: &item)
        item.append(contentsOf: Array("Title".utf8) + [0] + value)
        var footer = Data(Array("APETAGEX".utf8))
        le32(2000, into: &footer)
        le32(item.count + 32, into: &footer)
        le32(1, into: &footer)
        le32(0, into: &footer)
        footer.append(Data(count: 8))
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: item + footer)
    }
}

final class DecodeTests: XCTestCase {
    private var fixtures: DecodeFixtures!
    private var scratch: URL!

    override class func tearDown() {
        if case .success(let fixtures) = DecodeFixtures.shared {
            try? FileManager.default.removeItem(at: fixtures.directory)
        }
        super.tearDown()
    }

    override func setUpWithError() throws {
        fixtures = try DecodeFixtures.shared.get()
        scratch = try TestAudio.makeTemporaryDirectory("genred-decode-case")
    }

    override func tearDownWithError() throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    private func decode(_ name: String, chunkFrames: Int = 32768) throws -> ([Float], DecodedAudio) {
        try TestAudio.decode(fixtures.url(name), chunkFrames: chunkFrames)
    }

    /// Writes `bytes` into the per-test scratch directory.
    private func scratchFile(_ name: String, _ bytes: Data) throws -> URL {
        let url = scratch.appendingPathComponent(name)
        try bytes.write(to: url)
        return url
    }

    /// The first `fraction` of a fixture's bytes, written under a new name.
    private func cut(_ name: String, keeping fraction: Double, as newName: String) throws -> URL {
        let data = try Data(contentsOf: fixtures.url(name))
        return try scratchFile(newName, data.prefix(Int(Double(data.count) * fraction)))
    }

    private func assertFails(_ url: URL, file: StaticString = #filePath, line: UInt = #line,
                             _ check: (DecodeError.Reason) -> Bool) {
        do {
            let (_, info) = try TestAudio.decode(url)
            XCTFail("\(url.lastPathComponent) decoded (\(info.sourceFrames) frames) instead of failing", file: file, line: line)
        } catch {
            XCTAssertEqual(error.path, url.path, "the error names the file", file: file, line: line)
            XCTAssertTrue(check(error.reason), "unexpected reason: \(error.description)", file: file, line: line)
        }
    }

    // MARK: - Formats

    func testEachFormatIsSniffedByContent() throws {
        let expected: [(String, AudioContainer)] = [
            ("stereo.wav", .wav), ("stereo.aiff", .aiff), ("stereo.flac", .flac), ("stereo.ogg", .oggVorbis),
            ("stereo.opus", .opus), ("cbr.mp3", .mp3), ("vbr.mp3", .mp3), ("mono32k.mp3", .mp3), ("48k.mp3", .mp3),
            ("tagged.mp3", .mp3),
        ]
        for (name, container) in expected {
            XCTAssertEqual(try AudioDecoding.sniff(fixtures.url(name).path), container, name)
            let (samples, info) = try decode(name)
            XCTAssertEqual(info.container, container, name)
            XCTAssertEqual(info.outputSamples, samples.count, name)
            XCTAssertEqual(info.duration, 4, accuracy: 0.1, name)
        }
    }

    func testLosslessFormatsDecodeSampleIdenticalToTheWAV() throws {
        let (reference, wavInfo) = try decode("stereo.wav")
        XCTAssertEqual(wavInfo, DecodedAudio(container: .wav, sourceSampleRate: 44100, channels: 2,
                                             sourceFrames: fixtures.stereoFrames, outputSamples: reference.count))
        for name in ["stereo.aiff", "stereo.flac"] {
            let (samples, info) = try decode(name)
            XCTAssertEqual(info.sourceFrames, fixtures.stereoFrames, name)
            XCTAssertTrue(samples == reference, "\(name) differs from the WAV")
        }
    }

    func testLossyFormatsCorrelateWithTheWAV() throws {
        let (reference, _) = try decode("stereo.wav")
        for name in ["stereo.ogg", "stereo.opus", "cbr.mp3", "vbr.mp3", "tagged.mp3", "mono32k.mp3", "48k.mp3"] {
            let (samples, _) = try decode(name)
            let r = TestAudio.correlation(reference, samples, maxLag: 32)
            XCTAssertGreaterThan(r, 0.99, name)
        }
    }

    func testVorbisKeepsTheExactLengthAndOpusComesOutAt48kHz() throws {
        let (_, vorbis) = try decode("stereo.ogg")
        XCTAssertEqual(vorbis.sourceSampleRate, 44100)
        XCTAssertEqual(vorbis.sourceFrames, fixtures.stereoFrames)
        // libsndfile decodes Opus at 48 kHz whatever the original rate; pre-skip and end trimming keep the duration exact.
        let (_, opus) = try decode("stereo.opus")
        XCTAssertEqual(opus.sourceSampleRate, 48000)
        XCTAssertEqual(opus.sourceFrames, fixtures.stereoFrames * 48000 / 44100)
    }

    func testGaplessMP3HasTheWAVsLength() throws {
        for name in ["cbr.mp3", "vbr.mp3", "tagged.mp3"] {
            let (_, info) = try decode(name)
            XCTAssertEqual(info.sourceSampleRate, 44100, name)
            XCTAssertEqual(info.channels, 2, name)
            XCTAssertEqual(info.sourceFrames, fixtures.stereoFrames, accuracy: 4, name)
        }
        let (mono, monoInfo) = try decode("mono32k.mp3")
        XCTAssertEqual(monoInfo.channels, 1)
        XCTAssertEqual(monoInfo.sourceSampleRate, 32000)
        XCTAssertEqual(monoInfo.sourceFrames, 4 * 32000, accuracy: 4)
        XCTAssertEqual(mono.count, (monoInfo.sourceFrames + 1) / 2)
        let (_, info48) = try decode("48k.mp3")
        XCTAssertEqual(info48.sourceSampleRate, 48000)
        XCTAssertEqual(info48.sourceFrames, 4 * 48000, accuracy: 4)
    }

    func testContentBeatsTheExtension() throws {
        let mp3AsFLAC = scratch.appendingPathComponent("really-mp3.flac")
        let flacAsMP3 = scratch.appendingPathComponent("really-flac.mp3")
        try FileManager.default.copyItem(at: fixtures.url("cbr.mp3"), to: mp3AsFLAC)
        try FileManager.default.copyItem(at: fixtures.url("stereo.flac"), to: flacAsMP3)
        XCTAssertEqual(try AudioDecoding.sniff(mp3AsFLAC.path), .mp3)
        XCTAssertEqual(try AudioDecoding.sniff(flacAsMP3.path), .flac)
        XCTAssertEqual(try TestAudio.decode(mp3AsFLAC).0, try decode("cbr.mp3").0)
        XCTAssertEqual(try TestAudio.decode(flacAsMP3).0, try decode("stereo.wav").0)
    }

    // MARK: - Bad input

    func testZeroLengthFileIsEmpty() throws {
        let url = try scratchFile("empty.flac", Data())
        assertFails(url) { $0 == .empty }
        XCTAssertThrowsError(try AudioDecoding.sniff(url.path)) { XCTAssertEqual(($0 as? DecodeError)?.reason, .empty) }
    }

    func testRandomBytesNamedMP3AreNotAudio() throws {
        var seed: UInt64 = 42
        let bytes = (0..<8192).map { _ -> UInt8 in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: seed >> 56)
        }
        let url = try scratchFile("noise.mp3", Data(bytes))
        XCTAssertNil(try AudioDecoding.sniff(url.path))
        assertFails(url) { $0 == .notAudio }
    }

    func testFrameSyncFollowedByGarbageIsCorrupt() throws {
        var bytes: [UInt8] = [0xFF, 0xFB, 0x90, 0x64]
        var seed: UInt64 = 7
        for _ in 0..<4096 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes.append(UInt8(truncatingIfNeeded: seed >> 56))
        }
        let url = try scratchFile("fake.mp3", Data(bytes))
        XCTAssertEqual(try AudioDecoding.sniff(url.path), .mp3)
        assertFails(url) {
            if case .corrupt = $0 { return true }
            return $0 == .noAudio
        }
    }

    func testTextFileNamedWAVIsNotAudio() throws {
        let url = try scratchFile("notes.wav", Data("These are not the samples you are looking for.\n".utf8))
        assertFails(url) { $0 == .notAudio }
    }

    func testWAVWithoutSamplesHasNoAudio() throws {
        let url = scratch.appendingPathComponent("silence.wav")
        try TestAudio.writeWAV(url, [], channels: 2, sampleRate: 44100)
        assertFails(url) { $0 == .noAudio }
    }

    func testWAVTruncatedMidDataIsTruncated() throws {
        let url = try cut("stereo.wav", keeping: 0.5, as: "half.wav")
        assertFails(url) { if case .truncated = $0 { true } else { false } }
    }

    func testFLACCutInHalfIsTruncated() throws {
        let url = try cut("stereo.flac", keeping: 0.5, as: "half.flac")
        assertFails(url) { if case .truncated = $0 { true } else { false } }
    }

    func testOggVorbisAndOpusCutInHalfAreTruncated() throws {
        for name in ["stereo.ogg", "stereo.opus"] {
            let url = try cut(name, keeping: 0.5, as: "half-" + name)
            assertFails(url) { if case .truncated = $0 { true } else { false } }
        }
    }

    func testMP3CutInHalfIsTruncatedThanksToItsLAMETag() throws {
        for name in ["cbr.mp3", "vbr.mp3"] {
            let url = try cut(name, keeping: 0.5, as: "half-" + name)
            assertFails(url) { if case .truncated = $0 { true } else { false } }
        }
    }

    func testMP3WithoutLAMETagCutInHalfDecodesWhatIsThere() throws {
        // Without an Info frame nothing states the length, so a cut file cannot be told from a short one.
        let whole = scratch.appendingPathComponent("untagged.mp3")
        try TestAudio.run("lame", ["--silent", "-t", fixtures.url("stereo.wav").path, whole.path])
        let data = try Data(contentsOf: whole)
        let half = try scratchFile("half-untagged.mp3", data.prefix(data.count / 2))
        let (_, info) = try TestAudio.decode(half)
        XCTAssertEqual(info.duration, 2, accuracy: 0.1)
    }

    func testMissingFileIsUnreadable() throws {
        let url = scratch.appendingPathComponent("missing.mp3")
        assertFails(url) { $0 == .unreadable(String(cString: strerror(ENOENT))) }
    }

    func testDirectoryIsUnreadable() throws {
        assertFails(scratch) { $0 == .unreadable(String(cString: strerror(EISDIR))) }
    }

    func testFileWithoutReadPermissionIsUnreadable() throws {
        let url = scratch.appendingPathComponent("locked.wav")
        try FileManager.default.copyItem(at: fixtures.url("stereo.wav"), to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: url.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path) }
        if geteuid() == 0 {
            throw XCTSkip("running as root: file permissions do not block reads")
        }
        assertFails(url) { $0 == .unreadable(String(cString: strerror(EACCES))) }
    }

    // MARK: - Resampling

    func testResampledLengthIsExactlyLibrosas() throws {
        let (samples, info) = try decode("stereo.wav")
        let expected = (fixtures.stereoFrames * 16000 + 44099) / 44100
        XCTAssertEqual(samples.count, expected)
        XCTAssertEqual(info.outputSamples, expected)
        for frames in [1, 2, 3, 441, 44101, 100_003] {
            let url = scratch.appendingPathComponent("n\(frames).wav")
            try TestAudio.writeWAV(url, Array(TestAudio.signal(seconds: 3, sampleRate: 44100, channels: 1).prefix(frames)),
                                   channels: 1, sampleRate: 44100)
            XCTAssertEqual(try TestAudio.decode(url).0.count, (frames * 16000 + 44099) / 44100, "\(frames) frames")
        }
    }

    func testSineKeepsItsFrequencyAfterResampling() throws {
        let (samples, info) = try decode("sine1k.wav")
        XCTAssertEqual(info.sourceSampleRate, 44100)
        XCTAssertEqual(samples.count, 32000)
        // Away from the edges the output is a 1 kHz sine of the same amplitude at 16 kHz.
        let body = samples[1000..<31000]
        var dotSin = 0.0, dotCos = 0.0, energy = 0.0
        for (k, x) in zip(body.indices, body) {
            let phase = 2 * Double.pi * 1000 * Double(k) / 16000
            dotSin += Double(x) * sin(phase)
            dotCos += Double(x) * cos(phase)
            energy += Double(x) * Double(x)
        }
        let n = Double(body.count)
        let amplitude = 2 * (dotSin * dotSin + dotCos * dotCos).squareRoot() / n
        XCTAssertEqual(amplitude, 0.5, accuracy: 0.005)
        XCTAssertEqual(energy / n, 0.125, accuracy: 0.002, "all energy is in the 1 kHz component")
        var crossings = 0
        for k in body.indices.dropFirst() where (body[k - 1] < 0) != (body[k] < 0) { crossings += 1 }
        XCTAssertEqual(Double(crossings), 2 * 1000 * n / 16000, accuracy: 2)
    }

    func testInputAtTheTargetRatePassesThroughBitExact() throws {
        let (samples, info) = try decode("mono16k.wav")
        XCTAssertEqual(info.sourceSampleRate, 16000)
        let expected = TestAudio.signal(seconds: 4, sampleRate: 16000, channels: 1).map { Float($0) / 32768 }
        XCTAssertTrue(samples == expected)
    }

    func testStereoIsAveragedInFloat32() throws {
        let left: [Int16] = [32767, -32768, 1, 12345, -3]
        let right: [Int16] = [32767, 32767, 2, -2345, -4]
        let url = scratch.appendingPathComponent("pairs.wav")
        try TestAudio.writeWAV(url, Array(zip(left, right).map { [$0, $1] }.joined()), channels: 2, sampleRate: 16000)
        let (samples, _) = try TestAudio.decode(url)
        let expected = zip(left, right).map { (Float($0) / 32768 + Float($1) / 32768) / 2 }
        XCTAssertEqual(samples, expected)
    }

    // MARK: - Streaming

    func testChunkSizeDoesNotChangeTheOutput() throws {
        for name in ["stereo.wav", "stereo.flac", "stereo.opus", "vbr.mp3", "mono16k.wav"] {
            let (small, smallInfo) = try decode(name, chunkFrames: 1000)
            let (large, largeInfo) = try decode(name, chunkFrames: 65536)
            XCTAssertEqual(smallInfo, largeInfo, name)
            XCTAssertTrue(small == large, "\(name) depends on the chunk size")
        }
    }

    func testChunksAreBoundedByTheChunkSize() throws {
        var largest = 0
        _ = try AudioDecoding.stream(fixtures.url("stereo.wav").path, chunkFrames: 4096) { largest = max(largest, $0.count) }
        XCTAssertGreaterThan(largest, 0)
        XCTAssertLessThanOrEqual(largest, 4096)
    }
}
