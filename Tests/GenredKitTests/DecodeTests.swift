import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices
import GenredTestSupport

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
            XCTAssertNil(info.damage, name)
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

    /// Decodes at the source rate, so that samples can be compared with the whole file's one for one.
    private func decodeAtSourceRate(_ url: URL) throws -> ([Float], DecodedAudio) {
        var samples: [Float] = []
        let info = try AudioDecoding.stream(url.path, targetRate: nil, allowDamage: true) { samples.append(contentsOf: $0) }
        return (samples, info)
    }

    private func assertDamaged(_ info: DecodedAudio, _ phrase: String, _ name: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        let damage = info.damage ?? "(not marked damaged)"
        XCTAssertTrue(damage.contains(phrase), "\(name): \(damage)", file: file, line: line)
    }

    func testWAVCutMidDataKeepsEverySampleBeforeTheCutAndIsMarkedTruncated() throws {
        let url = try cut("stereo.wav", keeping: 0.5, as: "half.wav")
        let (samples, info) = try decodeAtSourceRate(url)
        let (whole, _) = try decodeAtSourceRate(fixtures.url("stereo.wav"))
        assertDamaged(info, "truncated: the data chunk claims", "half.wav")
        XCTAssertEqual(info.duration, 2, accuracy: 0.01)
        XCTAssertTrue(samples[...] == whole.prefix(samples.count), "the samples before the cut are the whole file's")
    }

    func testDamagedFilesThrowUnlessTheCallerAllowsDamage() throws {
        let cutWAV = try cut("stereo.wav", keeping: 0.5, as: "half.wav")
        let size = try Data(contentsOf: fixtures.url("stereo.wav")).count
        let claimedBeyond = (size - 44) - (size / 2 - 44)
        XCTAssertThrowsError(try TestAudio.decode(cutWAV, allowDamage: false)) {
            XCTAssertEqual(($0 as? DecodeError)?.reason,
                           .truncated("the data chunk claims \(claimedBeyond) bytes more than the file holds"))
        }
        let cutFLAC = try cut("stereo.flac", keeping: 0.5, as: "half.flac")
        XCTAssertThrowsError(try TestAudio.decode(cutFLAC, allowDamage: false)) {
            guard case .corrupt(let why) = ($0 as? DecodeError)?.reason else { return XCTFail("\($0)") }
            XCTAssertTrue(why.hasPrefix("decoding stopped after"), why)
        }
        // A whole file is not refused.
        XCTAssertNoThrow(try TestAudio.decode(fixtures.url("stereo.opus"), allowDamage: false))
    }

    func testFLACCutInHalfKeepsWhatDecodedBeforeTheCut() throws {
        let url = try cut("stereo.flac", keeping: 0.5, as: "half.flac")
        let (samples, info) = try decodeAtSourceRate(url)
        let (whole, _) = try decodeAtSourceRate(fixtures.url("stereo.flac"))
        assertDamaged(info, "decoding stopped after \(info.sourceFrames) of \(fixtures.stereoFrames) frames", "half.flac")
        XCTAssertGreaterThan(info.duration, 1.5)
        XCTAssertTrue(samples[...] == whole.prefix(samples.count))
    }

    func testFLACWithGarbageInTheMiddleStopsThereAndKeepsWhatCameBefore() throws {
        // libsndfile aborts its FLAC decoder at the first frame that fails: the rest is lost (see docs/damaged-files.md).
        let data = try Data(contentsOf: fixtures.url("stereo.flac"))
        let url = try scratchFile("junk.flac", data.prefix(data.count / 2) + garbage(4096) + data.dropFirst(data.count / 2))
        let (samples, info) = try decodeAtSourceRate(url)
        let (whole, _) = try decodeAtSourceRate(fixtures.url("stereo.flac"))
        assertDamaged(info, "decoding stopped after", "junk.flac")
        XCTAssertGreaterThan(info.duration, 1.5)
        XCTAssertTrue(samples[...] == whole.prefix(samples.count))
    }

    func testOggVorbisAndOpusCutInHalfAreMarkedTruncated() throws {
        for name in ["stereo.ogg", "stereo.opus"] {
            let url = try cut(name, keeping: 0.5, as: "half-" + name)
            let (_, info) = try TestAudio.decode(url)
            assertDamaged(info, "truncated: the file ends inside an Ogg page", name)
            XCTAssertTrue(info.damage?.contains("before the end-of-stream page") == true, name)
            XCTAssertGreaterThan(info.duration, 0.5, name)
        }
    }

    func testMP3CutInHalfIsMarkedTruncatedThanksToItsLAMETag() throws {
        for name in ["cbr.mp3", "vbr.mp3"] {
            let url = try cut(name, keeping: 0.5, as: "half-" + name)
            let (_, info) = try TestAudio.decode(url)
            assertDamaged(info, "truncated", name)
            XCTAssertTrue(info.damage?.contains("frames") == true, "\(name): \(info.damage ?? "")")
        }
    }

    func testGarbageInTheMiddleOfOggIsSkippedAndEverythingAfterItDecodes() throws {
        for name in ["stereo.ogg", "stereo.opus"] {
            let data = try Data(contentsOf: fixtures.url(name))
            let mid = data.count / 2
            let url = try scratchFile("junk-" + name, data.prefix(mid) + garbage(4096) + data.dropFirst(mid))
            let (samples, info) = try decodeAtSourceRate(url)
            let (whole, wholeInfo) = try decodeAtSourceRate(fixtures.url(name))
            assertDamaged(info, "corrupt data skipped at byte", name)
            // libogg drops the page the garbage landed in (about a second of Opus, less of Vorbis) and no more.
            XCTAssertGreaterThanOrEqual(info.sourceFrames, wholeInfo.sourceFrames - wholeInfo.sourceSampleRate, name)
            XCTAssertTrue(samples[..<(samples.count / 4)] == whole[..<(samples.count / 4)], "\(name): the start is untouched")
            let tail = wholeInfo.sourceSampleRate / 2
            XCTAssertGreaterThan(TestAudio.correlation(Array(samples.suffix(tail)), Array(whole.suffix(tail)), maxLag: 8), 0.99,
                                 "\(name): the audio after the damage is decoded")
        }
    }

    func testJunkInTheMiddleOfAnMP3IsSkippedAndDecodingGoesOn() throws {
        for name in ["cbr.mp3", "vbr.mp3"] {
            let data = try Data(contentsOf: fixtures.url(name))
            let mid = data.count / 2
            let url = try scratchFile("junk-" + name, data.prefix(mid) + garbage(4096) + data.dropFirst(mid))
            let (samples, info) = try decodeAtSourceRate(url)
            let (whole, _) = try decodeAtSourceRate(fixtures.url(name))
            assertDamaged(info, "corrupt data skipped at byte", name)
            XCTAssertEqual(info.duration, 4, accuracy: 0.1, name)
            // Past the junk the audio is the whole file's, shifted by the frames libmpg123 decoded from
            // the junk or lost to it (1,152 samples each).
            let from = samples.count * 3 / 4
            let after = Array(samples[from..<(from + 2048)]), original = Array(whole[from..<(from + 2048)])
            XCTAssertGreaterThan(TestAudio.correlation(after, original, maxLag: 2400), 0.999, "\(name): the audio after the junk is decoded")
        }
    }

    func testAnMP3WithJunkBeforeItsFirstFrameIsFoundDecodedWholeAndMarked() throws {
        for name in ["cbr.mp3", "vbr.mp3", "tagged.mp3"] {
            let data = try Data(contentsOf: fixtures.url(name))
            // Junk after any ID3v2 tag, where the first frame should be.
            let tag = data.starts(with: Data("ID3".utf8)) ? 10 + (Int(data[6]) << 21 | Int(data[7]) << 14 | Int(data[8]) << 7 | Int(data[9])) : 0
            let url = try scratchFile("front-" + name, data.prefix(tag) + garbage(5000) + data.dropFirst(tag))
            XCTAssertEqual(try AudioDecoding.sniff(url.path), .mp3, name)
            let (samples, info) = try decodeAtSourceRate(url)
            let (whole, _) = try decodeAtSourceRate(fixtures.url(name))
            let damage = try XCTUnwrap(info.damage, name)
            XCTAssertTrue(damage.hasPrefix("5000 bytes of junk before the first MPEG frame, which starts at byte"), "\(name): \(damage)")
            XCTAssertTrue(damage.hasSuffix("starts at byte \(tag + 5000)"), "\(name): \(damage)")
            XCTAssertEqual(samples.count, whole.count, "\(name): every frame decodes")
            XCTAssertGreaterThan(TestAudio.correlation(samples, whole, maxLag: 0), 0.999, name)
            // The tag writer and any caller that does not allow damage are refused.
            XCTAssertThrowsError(try TestAudio.decode(url, allowDamage: false), name) { error in
                guard let e = error as? DecodeError, case .corrupt(let why) = e.reason else { return XCTFail("\(error)") }
                XCTAssertTrue(why.contains("junk before the first MPEG frame"), why)
            }
        }
        // Junk past the search limit is not looked through: not audio.
        let data = try Data(contentsOf: fixtures.url("cbr.mp3"))
        let far = try scratchFile("far.mp3", garbage(ContainerSniffer.junkSearchLimit + 1000) + data)
        assertFails(far) { $0 == .notAudio }
    }

    func testFLACOggAndOpusWithJunkInFrontAreReadFromTheirFirstPageOrSignature() throws {
        for (name, note) in [("stereo.flac", "FLAC stream"), ("stereo.ogg", "Ogg page"), ("stereo.opus", "Ogg page")] {
            let data = try Data(contentsOf: fixtures.url(name))
            let url = try scratchFile("front-" + name, garbage(3000) + data)
            let (samples, info) = try decodeAtSourceRate(url)
            let (whole, _) = try decodeAtSourceRate(fixtures.url(name))
            XCTAssertEqual(samples, whole, "\(name): the same samples")
            XCTAssertEqual(info.damage, "3000 bytes of junk before the first \(note), which starts at byte 3000", name)
        }
    }

    func testUntaggedMP3CutInsideAFrameIsMarkedTruncated() throws {
        let whole = scratch.appendingPathComponent("untagged.mp3")
        try TestAudio.run("lame", ["--silent", "-t", fixtures.url("stereo.wav").path, whole.path])
        let data = try Data(contentsOf: whole)
        let url = try scratchFile("cut-untagged.mp3", data.prefix(data.count / 2 + 100))
        let (_, info) = try TestAudio.decode(url)
        assertDamaged(info, "truncated: the file ends inside an MPEG frame", "cut-untagged.mp3")
    }

    // MARK: - Length tolerance

    /// A copy of an Ogg fixture whose last page's granule position is moved by `delta` (checksum redone).
    private func movingFinalGranule(of name: String, by delta: Int64) throws -> URL {
        var data = try Data(contentsOf: fixtures.url(name))
        var offset = 0, last = 0
        while offset + 27 <= data.count {
            last = offset
            let segments = Int(data[offset + 26])
            offset += 27 + segments + (0..<segments).reduce(0) { $0 + Int(data[offset + 27 + $1]) }
        }
        var granule = (0..<8).reduce(Int64(0)) { $0 | Int64(data[last + 6 + $1]) << (8 * Int64($1)) }
        granule += delta
        withUnsafeBytes(of: granule.littleEndian) { data.replaceSubrange((last + 6)..<(last + 14), with: $0) }
        data.replaceSubrange((last + 22)..<(last + 26), with: [0, 0, 0, 0])
        let crc = OggPageScan.crc(Array(data[last..<offset])[...])
        withUnsafeBytes(of: crc.littleEndian) { data.replaceSubrange((last + 22)..<(last + 26), with: $0) }
        return try scratchFile("granule\(delta)-" + name, data)
    }

    /// The granule shift that makes the final granule point `beyond` frames past the last packet's
    /// end, and what decoding every packet gives. Moving the granule up first undoes the encoder's end
    /// trimming, so a large shift shows how many frames the packets hold.
    private func shiftPastThePackets(_ name: String, by beyond: Int) throws -> (delta: Int64, everyPacket: [Float]) {
        let (everyPacket, untrimmed) = try TestAudio.decode(try movingFinalGranule(of: name, by: 1_000_000))
        let (_, original) = try decode(name)
        return (Int64(untrimmed.sourceFrames - original.sourceFrames + beyond), everyPacket)
    }

    func testOggStreamsShortOfTheirFinalGranuleByUpToOnePacketAreWhole() throws {
        // As in warzone2100's track12.opus, where the end-of-stream granule points 10 samples past the audio.
        for (name, beyond) in [("stereo.opus", 10), ("stereo.opus", 5760), ("stereo.ogg", 10), ("stereo.ogg", 4096)] {
            let (delta, everyPacket) = try shiftPastThePackets(name, by: beyond)
            let (samples, info) = try TestAudio.decode(try movingFinalGranule(of: name, by: delta))
            XCTAssertNil(info.damage, "\(name), \(beyond) frames short")
            XCTAssertTrue(samples == everyPacket, "\(name), \(beyond) frames short: every packet decodes")
        }
    }

    func testOggStreamsShortOfTheirFinalGranuleByMoreThanOnePacketAreMarked() throws {
        for (name, beyond) in [("stereo.opus", 5761), ("stereo.ogg", 4097)] {
            let (delta, _) = try shiftPastThePackets(name, by: beyond)
            let (_, info) = try TestAudio.decode(try movingFinalGranule(of: name, by: delta))
            assertDamaged(info, "truncated: decoding ended after", "\(name), \(beyond) frames short")
        }
    }

    // MARK: - Unusable samples

    func testNaNAndInfiniteFloatSamplesBecomeSilenceAndAreNoted() throws {
        var samples = (0..<16000).map { Float(0.25 * sin(Double($0) / 10)) }
        samples[100] = .nan
        samples[200] = .infinity
        samples[300] = -.infinity
        var data = Data("RIFF".utf8)
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { data.append(contentsOf: $0) } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { data.append(contentsOf: $0) } }
        u32(36 + samples.count * 4); data += Data("WAVEfmt ".utf8)
        u32(16); u16(3); u16(1); u32(16000); u32(64000); u16(4); u16(32)
        data += Data("data".utf8); u32(samples.count * 4)
        for s in samples { withUnsafeBytes(of: s.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        let (decoded, info) = try TestAudio.decode(try scratchFile("poisoned.wav", data))
        XCTAssertEqual(info.damage, "3 non-finite samples (NaN or infinity) replaced with silence")
        XCTAssertTrue(decoded.allSatisfy(\.isFinite))
        XCTAssertEqual(decoded[100], 0)
        XCTAssertEqual(decoded[99], samples[99])
    }

    // MARK: - Structure walks

    func testIntactFilesShowNoStructuralDamage() throws {
        for name in ["stereo.ogg", "stereo.opus"] {
            let file = try InputFile(fixtures.url(name).path)
            XCTAssertEqual(OggPageScan.scan(file), StructureFindings(), name)
        }
        for name in ["cbr.mp3", "vbr.mp3", "tagged.mp3", "mono32k.mp3", "48k.mp3"] {
            let file = try InputFile(fixtures.url(name).path)
            XCTAssertEqual(MPEGFrameScan.scan(file), StructureFindings(), name)
        }
    }

    func testFIFOIsRefusedWithoutWaitingForAWriter() throws {
        let path = scratch.appendingPathComponent("pipe.mp3").path
        XCTAssertEqual(mkfifo(path, 0o644), 0)
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: DecodeError.Reason?
        Thread {
            do { _ = try TestAudio.decode(URL(fileURLWithPath: path)) } catch let error as DecodeError { outcome = error.reason } catch {}
            finished.signal()
        }.start()
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success, "decoding a FIFO hangs")
        XCTAssertEqual(outcome, .unreadable("not a regular file"))
    }

    private func garbage(_ count: Int) -> Data {
        var generator = SeededGenerator(seed: 99)
        return Data((0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next() >> 56) })
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
