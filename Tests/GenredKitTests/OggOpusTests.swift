import Foundation
import XCTest
@testable import GenredEngine
import GenredTestSupport

/// `OggOpusSource` against libsndfile on the same files: the same samples, bit for bit, and the same
/// findings; and the files it leaves to libsndfile.
final class OggOpusTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        for tool in ["opusenc"] where TestAudio.which(tool) == nil {
            throw XCTSkip("\(tool) is not installed (scripts/install-deps.sh test)")
        }
        scratch = try TestAudio.makeTemporaryDirectory("genred-opus")
    }

    override func tearDownWithError() throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    /// A WAV of the test signal at `rate` with `channels`, encoded by opusenc with `options`.
    private func encode(_ name: String, rate: Int, channels: Int, seconds: Double = 3, _ options: [String] = []) throws -> URL {
        let wav = scratch.appendingPathComponent(name + ".wav")
        try TestAudio.writeWAV(wav, TestAudio.signal(seconds: seconds, sampleRate: rate, channels: channels),
                               channels: channels, sampleRate: rate)
        let out = scratch.appendingPathComponent(name + ".opus")
        try TestAudio.run("opusenc", ["--quiet"] + options + [wav.path, out.path])
        return out
    }

    /// Every frame a source gives, read `chunk` frames at a time, and its findings.
    private func readAll(_ source: any AudioSource, chunk: Int = 1000) throws -> ([Float], [DamageNote]) {
        var all: [Float] = []
        var buffer = [Float](repeating: 0, count: chunk * source.channels)
        var frames = 0
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0.baseAddress!, frames: chunk) }
            if n == 0 { break }
            frames += n
            all.append(contentsOf: buffer[0..<(n * source.channels)])
        }
        let notes = source.finish(framesRead: frames)
        source.close()
        return (all, notes)
    }

    /// Decodes `url` both ways and checks the fast path was taken and gave libsndfile's output exactly.
    /// `sameReasons: false` lets the reason in parentheses differ (libsndfile's "Unspecified internal
    /// error" against libopus's own message), the rest of each note still the same.
    private func assertSameAsLibsndfile(_ url: URL, _ label: String, sameReasons: Bool = true,
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        let referenceFile = try InputFile(url.path)
        defer { referenceFile.close() }
        let libsndfile = try SndFileSource(referenceFile, container: .opus)
        let (expected, expectedNotes) = try readAll(libsndfile, chunk: 4096)

        let fastFile = try InputFile(url.path)
        defer { fastFile.close() }
        guard let fast = OggOpusSource.open(fastFile, reference: try SndFileSource(fastFile, container: .opus)) else {
            return XCTFail("\(label): the fast path declined a plain file", file: file, line: line)
        }
        XCTAssertEqual(fast.sampleRate, libsndfile.sampleRate, label, file: file, line: line)
        XCTAssertEqual(fast.channels, libsndfile.channels, label, file: file, line: line)
        let (samples, notes) = try readAll(fast)
        XCTAssertEqual(samples.count, expected.count, "\(label): sample count", file: file, line: line)
        let same = samples.count == expected.count && samples.withUnsafeBytes { a in
            expected.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
        if !same {
            let differ = zip(samples, expected).enumerated().first { $0.element.0.bitPattern != $0.element.1.bitPattern }?.offset
            XCTFail("\(label): not the same bits (the first difference at sample \(differ ?? min(samples.count, expected.count)))",
                    file: file, line: line)
        }
        if sameReasons {
            XCTAssertEqual(notes, expectedNotes, label, file: file, line: line)
        } else {
            func plain(_ notes: [DamageNote]) -> [String] { notes.map { String($0.text.prefix { $0 != "(" }) } }
            XCTAssertEqual(plain(notes), plain(expectedNotes), label, file: file, line: line)
        }
        XCTAssertGreaterThan(samples.count, 0, label, file: file, line: line)
    }

    /// A copy of `url` with each page passed through `edit` (page index, page bytes), checksums redone.
    private func rewritingPages(of url: URL, as name: String, _ edit: (Int, inout [UInt8]) -> Void) throws -> URL {
        let data = [UInt8](try Data(contentsOf: url))
        var out: [UInt8] = []
        var offset = 0, index = 0
        while offset + 27 <= data.count {
            let segments = Int(data[offset + 26])
            let length = 27 + segments + (0..<segments).reduce(0) { $0 + Int(data[offset + 27 + $1]) }
            var page = Array(data[offset..<(offset + length)])
            edit(index, &page)
            page.replaceSubrange(22..<26, with: [0, 0, 0, 0])
            let crc = OggPageScan.crc(page[...])
            withUnsafeBytes(of: crc.littleEndian) { page.replaceSubrange(22..<26, with: $0) }
            out += page
            offset += length
            index += 1
        }
        let copy = scratch.appendingPathComponent(name)
        try Data(out).write(to: copy)
        return copy
    }

    func testTheSamplesAreLibsndfilesAtEveryDecodingRateAndFrameSize() throws {
        // Input rates pick the decoding rate: 48 kHz above 24 kHz, then 24, 16, 12 and 8 kHz.
        let cases: [(String, Int, Int, [String])] = [
            ("stereo44k", 44100, 2, []),
            ("mono32k", 32000, 1, []),
            ("stereo22k", 22050, 2, []),
            ("mono16k-silk", 16000, 1, ["--bitrate", "12"]),
            ("mono12k", 12000, 1, []),
            ("mono8k", 8000, 1, ["--bitrate", "8"]),
            ("stereo44k-60ms", 44100, 2, ["--framesize", "60"]),
            ("stereo44k-2.5ms", 44100, 2, ["--framesize", "2.5"]),
            ("stereo48k-lowrate", 48000, 2, ["--bitrate", "24"]),
        ]
        for (name, rate, channels, options) in cases {
            try assertSameAsLibsndfile(try encode(name, rate: rate, channels: channels, options), name)
        }
    }

    func testHeaderGainAndAGranuleOffsetAreAppliedAsLibsndfileDoes() throws {
        let plain = try encode("plain", rate: 44100, channels: 2)
        // The output gain, Q7.8 dB, bytes 16-17 of the identification header (page 0).
        for gain: Int16 in [-1536, 768] {
            let url = try rewritingPages(of: plain, as: "gain\(gain).opus") { index, page in
                guard index == 0 else { return }
                let header = 27 + Int(page[26])
                withUnsafeBytes(of: gain.littleEndian) { page.replaceSubrange((header + 16)..<(header + 18), with: $0) }
            }
            try assertSameAsLibsndfile(url, "gain \(gain)")
        }
        // A stream cut from a longer one keeps its granule positions (RFC 7845 §4.5): every audio page's
        // position moved by the same amount. Below and above the pre-skip, which libsndfile compares
        // with the absolute position.
        // Positions near 2^63 and past 2^64 (wrapping) are nonsense, but must decode as libsndfile
        // decodes them, without a trap.
        for offset: Int64 in [100, 96_000, Int64.max - 1_000_000, -200_000] {
            let url = try rewritingPages(of: plain, as: "offset\(offset).opus") { index, page in
                guard index >= 2 else { return }
                var granule = (0..<8).reduce(Int64(0)) { $0 | Int64(page[6 + $1]) << (8 * Int64($1)) }
                guard granule != -1 else { return }
                granule &+= offset
                withUnsafeBytes(of: granule.littleEndian) { page.replaceSubrange(6..<14, with: $0) }
            }
            try assertSameAsLibsndfile(url, "granule offset \(offset)")
        }
    }

    func testGarbageInsidePagesWithGoodChecksumsDecodesAsLibsndfileDecodesIt() throws {
        // Packets overwritten after the checksums were computed (an encoder's bug, not a disk's): the
        // page walk finds nothing, libopus decodes noise or refuses a packet, and decoding stops
        // where libsndfile's does, with the samples it gives.
        let plain = try encode("garbled", rate: 48000, channels: 2, seconds: 6)
        for seed: UInt64 in [1, 2, 3] {
            var random = SeededGenerator(seed: seed)
            let url = try rewritingPages(of: plain, as: "garbled\(seed).opus") { index, page in
                guard index >= 3 else { return }  // the headers and the first audio page stay whole
                let body = 27 + Int(page[26])
                for i in stride(from: body + Int(seed), to: page.count, by: 5) { page[i] = UInt8.random(in: 0...255, using: &random) }
            }
            try assertSameAsLibsndfile(url, "garbled, seed \(seed)", sameReasons: false)
            XCTAssertNoThrow(try TestAudio.decode(url), "seed \(seed)")
        }
    }

    func testDamagedAndSurroundFilesStayWithLibsndfile() throws {
        let plain = try encode("whole", rate: 44100, channels: 2)
        let data = try Data(contentsOf: plain)
        let cut = scratch.appendingPathComponent("cut.opus")
        try data.prefix(data.count / 2).write(to: cut)
        // Three channels take channel mapping family 1 and the multistream decoder.
        let surround = try encode("surround", rate: 48000, channels: 3)
        for url in [cut, surround] {
            let file = try InputFile(url.path)
            defer { file.close() }
            let reference = try SndFileSource(file, container: .opus)
            XCTAssertNil(OggOpusSource.open(file, reference: reference), url.lastPathComponent)
            // Declining leaves libsndfile's decoder open and working.
            var buffer = [Float](repeating: 0, count: 4096 * reference.channels)
            let n = try buffer.withUnsafeMutableBufferPointer { try reference.read(into: $0.baseAddress!, frames: 4096) }
            XCTAssertEqual(n, 4096, url.lastPathComponent)
            reference.close()
        }
        // Through AudioDecoding, both decode and the cut one is reported as before.
        let (_, info) = try TestAudio.decode(cut)
        XCTAssertTrue(info.damage?.hasPrefix("truncated") ?? false, info.damage ?? "no damage noted")
        let (samples, surroundInfo) = try TestAudio.decode(surround)
        XCTAssertNil(surroundInfo.damage)
        XCTAssertEqual(surroundInfo.channels, 3)
        XCTAssertEqual(samples.count, 3 * 16000)
    }

    /// Every `.opus` file under the folders in `GENRED_OPUS_CORPUS` (colon-separated), both ways: for
    /// checking real collections by hand, e.g. `GENRED_OPUS_CORPUS=.build/import-audio/n1000`.
    func testEveryOpusFileOfACorpusDecodesAsLibsndfileDoes() throws {
        guard let folders = ProcessInfo.processInfo.environment["GENRED_OPUS_CORPUS"] else {
            throw XCTSkip("set GENRED_OPUS_CORPUS to folders of Opus files")
        }
        var checked = 0, declined = 0
        for folder in folders.split(separator: ":") {
            let walker = FileManager.default.enumerator(atPath: String(folder))
            while let name = walker?.nextObject() as? String {
                guard name.hasSuffix(".opus") else { continue }
                let url = URL(fileURLWithPath: String(folder)).appendingPathComponent(name)
                let file = try InputFile(url.path)
                let taken = OggOpusSource.open(file, reference: try SndFileSource(file, container: .opus)) != nil
                file.close()
                if taken {
                    try assertSameAsLibsndfile(url, name)
                } else {
                    declined += 1
                }
                checked += 1
            }
        }
        print("Opus corpus: \(checked) files, \(declined) left to libsndfile")
        XCTAssertGreaterThan(checked, 0)
    }
}
