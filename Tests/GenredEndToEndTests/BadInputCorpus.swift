import Foundation
import GenredKit

#if canImport(Glibc)
import Glibc
import GenredTestSupport
#endif

/// Odd, broken and damaged inputs, made by code from one synthetic signal and the Debian encoders
/// (sox, flac, oggenc, opusenc, lame), each with the outcome `genred analyze` should give it.
/// `TestAudio` is the unit tests' (Support/TestAudio.swift here is a link to it).
enum BadInputCorpus {
    enum Expected: Equatable {
        /// A JSON error whose text contains one of the phrases.
        case refused([String])
        /// Analysed, with no "damaged" key.
        case whole
        /// Analysed, with a "damaged" reason that contains one of the phrases.
        case damaged([String])
        /// Analysed; whether it is marked damaged is not asserted (see the case's note).
        case analysed
    }

    struct Case {
        let name: String
        let expected: Expected
        /// What the input is, for the results table.
        let note: String
    }

    /// Seconds of audio in the good files the damaged ones are made from.
    static let seconds = 8.0

    static func build(in dir: URL) throws -> [Case] {
        var cases: [Case] = []
        func add(_ name: String, _ expected: Expected, _ note: String, _ bytes: Data? = nil) throws {
            if let bytes { try bytes.write(to: dir.appendingPathComponent(name)) }
            cases.append(Case(name: name, expected: expected, note: note))
        }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let work = dir.appendingPathComponent(".sources")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        func source(_ name: String) -> String { work.appendingPathComponent(name).path }
        func read(_ name: String) throws -> Data { try Data(contentsOf: work.appendingPathComponent(name)) }

        // The good files every damaged one starts from.
        let rate = 44100
        let stereo = TestAudio.signal(seconds: seconds, sampleRate: rate, channels: 2)
        let wav = TestAudio.wavData(stereo, channels: 2, sampleRate: rate)
        try wav.write(to: work.appendingPathComponent("good.wav"))
        try TestAudio.run("sox", [source("good.wav"), source("good.aiff")])
        try TestAudio.run("flac", ["--silent", "--force", source("good.wav"), "-o", source("good.flac")])
        try TestAudio.run("oggenc", ["--quiet", source("good.wav"), "-o", source("good.ogg")])
        try TestAudio.run("opusenc", ["--quiet", source("good.wav"), source("good.opus")])
        try TestAudio.run("lame", ["--silent", "-b", "128", source("good.wav"), source("good.mp3")])
        try TestAudio.run("lame", ["--silent", "-t", "-b", "128", source("good.wav"), source("notag.mp3")])
        let aiff = try read("good.aiff"), flac = try read("good.flac"), ogg = try read("good.ogg")
        let opus = try read("good.opus"), mp3 = try read("good.mp3"), notag = try read("notag.mp3")

        // Nothing to decode.
        try add("empty.mp3", .refused(["empty"]), "0 bytes", Data())
        try add("empty.flac", .refused(["empty"]), "0 bytes", Data())
        try add("random.mp3", .refused(["not an audio file"]), "64 KiB of random bytes", garbage(65536, seed: 1))
        try add("random.ogg", .refused(["not an audio file"]), "4 KiB of random bytes", garbage(4096, seed: 2))
        try add("notes.mp3", .refused(["not an audio file"]), "plain text", Data("Shopping list: eggs, milk, a new turntable belt.\n".utf8))
        try add("page.flac", .refused(["not an audio file"]), "an HTML page",
                Data("<!DOCTYPE html>\n<html><head><title>Not music</title></head><body><p>Hello</p></body></html>\n".utf8))
        try add("cover.ogg", .refused(["not an audio file"]), "a PNG image (signature, IHDR, IEND)", png())
        try add("sync-then-noise.mp3", .refused(["corrupt", "no audio"]), "an MPEG frame header followed by 4 KiB of noise",
                Data([0xFF, 0xFB, 0x90, 0x64]) + garbage(4096, seed: 3))
        try add("id3-only.mp3", .refused(["not an audio file"]), "an ID3v2 tag and nothing else", id3Tag(bodySize: 200))
        try add("speex.ogg", .refused(["unsupported"]), "an Ogg stream of a codec genred does not read (Speex header)", oggPage(
            packet: Data("Speex   1.2.1".utf8) + Data(count: 67)))
        try add("wma-in-wav.wav", .refused(["unsupported", "corrupt"]), "a WAV header with format tag 0x0161 (WMA)",
                wavWithFormatTag(0x0161, payload: garbage(8192, seed: 4)))

        // Headers with no audio after them.
        try add("header-only.wav", .refused(["no audio"]), "a WAV header with an empty data chunk",
                TestAudio.wavData([], channels: 2, sampleRate: rate))
        try add("header-claims-data.wav", .refused(["no audio", "truncated"]), "a WAV header claiming 1 MB of data, no data",
                settingWAVDataSize(TestAudio.wavData([], channels: 2, sampleRate: rate), to: 1_000_000))
        try add("header-only.flac", .refused(["no audio", "truncated", "corrupt"]), "FLAC metadata blocks without frames",
                flac.prefix(flacAudioOffset(flac)))
        try add("header-only.ogg", .refused(["no audio", "truncated", "corrupt"]), "the Vorbis header pages only",
                ogg.prefix(oggFirstAudioPage(ogg)))
        try add("header-only.opus", .refused(["no audio", "truncated", "corrupt"]), "the Opus header pages only",
                opus.prefix(oggFirstAudioPage(opus)))
        try add("info-frame-only.mp3", .refused(["no audio", "corrupt"]), "the LAME Info frame and no audio frames",
                mp3.prefix(mpegFrameLength(mp3, at: 0)))

        // Things that are not regular files.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("folder.mp3"), withIntermediateDirectories: false)
        try add("folder.mp3", .refused(["directory"]), "a directory")
        guard mkfifo(path("pipe.mp3"), 0o644) == 0 else { throw TestAudio.Failure(description: "mkfifo failed") }
        try add("pipe.mp3", .refused(["not a regular file"]), "a FIFO with no writer")
        try FileManager.default.createSymbolicLink(atPath: path("dangling.flac"), withDestinationPath: path("nowhere.flac"))
        try add("dangling.flac", .refused(["no such file"]), "a symlink to a missing file")
        try FileManager.default.createSymbolicLink(atPath: path("loop-a.ogg"), withDestinationPath: path("loop-b.ogg"))
        try FileManager.default.createSymbolicLink(atPath: path("loop-b.ogg"), withDestinationPath: path("loop-a.ogg"))
        try add("loop-a.ogg", .refused(["symbolic links"]), "a symlink loop (a -> b -> a)")
        // MARK: Non-UTF-8 file names
        // Written through PathIO: Foundation would store the carried bytes' UTF-8 instead.
        func addRaw(_ name: [UInt8], _ expected: Expected, _ note: String, _ bytes: Data) throws {
            let fd = PathIO.open(PathIO.join(dir.path, name), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            cases.append(Case(name: FilePath.string(name), expected: expected, note: note))
        }

        // Whole files (controls) and unusual but valid audio.
        try add("good.wav", .whole, "16-bit stereo 44.1 kHz WAV", wav)
        try add("good.aiff", .whole, "the same through sox", aiff)
        try add("good.flac", .whole, "the same through flac", flac)
        try add("good.ogg", .whole, "the same through oggenc", ogg)
        try add("good.opus", .whole, "the same through opusenc", opus)
        try add("good.mp3", .whole, "the same through lame, with a LAME tag", mp3)
        try addRaw(Array("Bj".utf8) + [0xF6] + Array("rk.wav".utf8), .whole, "a WAV named in Latin-1 (not UTF-8)", wav)
        try addRaw([0xFF, 0xFE] + Array(" noise.mp3".utf8), .refused(["not an audio file"]),
                   "random bytes under a name that is no encoding at all", garbage(4096, seed: 3))
        try add("eight-channels.wav", .whole, "8 channels", TestAudio.wavData(
            TestAudio.signal(seconds: 4, sampleRate: 48000, channels: 8), channels: 8, sampleRate: 48000))
        try add("192k.wav", .whole, "mono at 192 kHz", TestAudio.wavData(
            TestAudio.signal(seconds: 4, sampleRate: 192_000, channels: 1), channels: 1, sampleRate: 192_000))
        try add("one-sample.wav", .whole, "a single sample", TestAudio.wavData([12345], channels: 1, sampleRate: rate))
        let sine = (0..<(rate * 4)).map { Float(0.3 * sin(2 * Double.pi * 440 * Double($0) / Double(rate))) }
        try add("float-huge.wav", .whole, "float WAV with samples near 1e30", floatWAV(sine.map { $0 * 1e30 }, sampleRate: rate))
        var poisoned = sine
        for i in stride(from: 0, to: poisoned.count, by: 1000) { poisoned[i] = .nan }
        for i in stride(from: 500, to: poisoned.count, by: 1000) { poisoned[i] = i % 2000 == 500 ? .infinity : -.infinity }
        try add("float-nan-inf.wav", .damaged(["non-finite"]), "float WAV with NaN and ±Inf samples", floatWAV(poisoned, sampleRate: rate))
        try add("float-all-nan.wav", .damaged(["non-finite"]), "float WAV of NaN only", floatWAV(Array(repeating: .nan, count: rate), sampleRate: rate))

        // Lying sizes.
        let wavData = wav.count - 44
        try add("claims-more.wav", .damaged(["truncated"]), "WAV data chunk claiming twice the bytes there are",
                settingWAVDataSize(wav, to: 2 * wavData))
        try add("claims-less.wav", .whole, "WAV data chunk claiming half the bytes there are (the rest is ignored)",
                settingWAVDataSize(wav, to: wavData / 2))
        let ssnd = try chunkOffset(aiff, "SSND")
        let ssndSize = Int(readBE32(aiff, ssnd + 4))
        try add("claims-more.aiff", .damaged(["truncated"]), "AIFF SSND chunk claiming twice the bytes there are",
                settingBE32(aiff, at: ssnd + 4, to: 2 * ssndSize))
        try add("claims-less.aiff", .analysed, "AIFF SSND chunk claiming half the bytes there are (COMM still counts all frames)",
                settingBE32(aiff, at: ssnd + 4, to: ssndSize / 2))

        // Cut short.
        try add("cut.wav", .damaged(["truncated"]), "WAV cut in half", wav.prefix(wav.count / 2))
        try add("cut.aiff", .damaged(["truncated"]), "AIFF cut in half", aiff.prefix(aiff.count / 2))
        try add("cut.flac", .damaged(["decoding stopped", "truncated"]), "FLAC cut in half", flac.prefix(flac.count / 2))
        try add("cut.ogg", .damaged(["truncated"]), "Ogg Vorbis cut in half", ogg.prefix(ogg.count / 2))
        try add("cut.opus", .damaged(["truncated"]), "Opus cut in half", opus.prefix(opus.count / 2))
        try add("cut.mp3", .damaged(["truncated"]), "MP3 with a LAME tag cut in half", mp3.prefix(mp3.count / 2 + 100))
        try add("cut-untagged.mp3", .damaged(["truncated"]), "MP3 without a LAME tag cut inside a frame", notag.prefix(notag.count / 2 + 100))

        // Corrupt middles.
        let junk = garbage(4096, seed: 5)
        try add("junk-inside.flac", .damaged(["decoding stopped"]), "FLAC with 4 KiB of garbage inserted in the middle",
                inserting(junk, into: flac))
        try add("junk-inside.ogg", .damaged(["corrupt data skipped"]), "Ogg Vorbis with 4 KiB of garbage inserted in the middle",
                inserting(junk, into: ogg))
        try add("zeros-over.ogg", .damaged(["corrupt data skipped"]), "Ogg Vorbis with 4 KiB in the middle overwritten by zeros",
                overwriting(Data(count: 4096), into: ogg))
        try add("junk-inside.opus", .damaged(["corrupt data skipped"]), "Opus with 4 KiB of garbage inserted in the middle",
                inserting(junk, into: opus))
        try add("junk-over.opus", .damaged(["corrupt data skipped"]), "Opus with 4 KiB in the middle overwritten by garbage",
                overwriting(junk, into: opus))
        try add("junk-inside.mp3", .damaged(["corrupt data skipped"]), "MP3 with 4 KiB of garbage inserted in the middle",
                inserting(junk, into: mp3))
        try add("zeros-over-untagged.mp3", .damaged(["corrupt data skipped"]), "MP3 without a LAME tag, 4 KiB in the middle zeroed",
                overwriting(Data(count: 4096), into: notag))
        // Junk before the first frame or page: what players skip.
        let front = garbage(3000, seed: 9)
        try add("junk-front.mp3", .damaged(["3000 bytes of junk before the first MPEG frame, which starts at byte 3000"]),
                "MP3 (LAME tag) with 3,000 random bytes before its first frame", front + mp3)
        try add("id3-junk-front.mp3", .damaged(["bytes of junk before the first MPEG frame"]),
                "MP3 with an ID3v2 tag, then 3,000 random bytes, then its frames", id3Tag(bodySize: 200) + front + notag)
        try add("junk-front.flac", .damaged(["3000 bytes of junk before the first FLAC stream, which starts at byte 3000"]),
                "FLAC with 3,000 random bytes before its signature", front + flac)
        try add("junk-front.ogg", .damaged(["3000 bytes of junk before the first Ogg page, which starts at byte 3000"]),
                "Ogg Vorbis with 3,000 random bytes before its first page", front + ogg)
        try add("junk-front.opus", .damaged(["3000 bytes of junk before the first Ogg page, which starts at byte 3000"]),
                "Opus with 3,000 random bytes before its first page", front + opus)
        try add("junk-over.wav", .analysed, "WAV with 4 KiB of sample data overwritten by garbage (PCM has no structure to check)",
                overwriting(junk, into: wav))
        try add("junk-over.aiff", .analysed, "AIFF with 4 KiB of sample data overwritten by garbage (as above)",
                overwriting(junk, into: aiff))

        try? FileManager.default.removeItem(at: work)
        return cases
    }

    // MARK: - Byte surgery

    static func garbage(_ count: Int, seed: UInt64) -> Data {
        var generator = SeededGenerator(seed: seed)
        return Data((0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next() >> 56) })
    }

    static func inserting(_ junk: Data, into data: Data) -> Data {
        let mid = data.startIndex + data.count / 2
        return data[..<mid] + junk + data[mid...]
    }

    static func overwriting(_ junk: Data, into data: Data) -> Data {
        var out = Data(data)
        let mid = out.count / 2
        out.replaceSubrange(mid..<(mid + junk.count), with: junk)
        return out
    }

    static func readBE32(_ d: Data, _ at: Int) -> UInt32 {
        d[d.startIndex + at..<d.startIndex + at + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func settingBE32(_ d: Data, at: Int, to value: Int) -> Data {
        var out = Data(d)
        withUnsafeBytes(of: UInt32(value).bigEndian) { out.replaceSubrange(at..<(at + 4), with: $0) }
        return out
    }

    /// A canonical 44-byte-header WAV with its data chunk size (bytes 40-43) replaced.
    static func settingWAVDataSize(_ d: Data, to size: Int) -> Data {
        var out = Data(d)
        withUnsafeBytes(of: UInt32(size).littleEndian) { out.replaceSubrange(40..<44, with: $0) }
        return out
    }

    /// Where an IFF chunk (AIFF) starts.
    static func chunkOffset(_ d: Data, _ id: String) throws -> Int {
        var offset = 12
        while offset + 8 <= d.count {
            let size = Int(readBE32(d, offset + 4))
            if d[offset..<(offset + 4)] == Data(id.utf8) { return offset }
            offset += 8 + size + (size & 1)
        }
        throw TestAudio.Failure(description: "no \(id) chunk")
    }

    /// Where the first FLAC frame starts: after the metadata block marked last.
    static func flacAudioOffset(_ d: Data) -> Int {
        var offset = 4
        while offset + 4 <= d.count {
            let last = d[offset] & 0x80 != 0
            let length = Int(d[offset + 1]) << 16 | Int(d[offset + 2]) << 8 | Int(d[offset + 3])
            offset += 4 + length
            if last { break }
        }
        return offset
    }

    /// Where the first Ogg page with a non-zero granule position (the first audio page) starts.
    static func oggFirstAudioPage(_ d: Data) -> Int {
        var offset = 0
        while offset + 27 <= d.count {
            let granule = (0..<8).reduce(UInt64(0)) { $0 | UInt64(d[offset + 6 + $1]) << (8 * UInt64($1)) }
            if granule != 0 { return offset }
            let segments = Int(d[offset + 26])
            let body = (0..<segments).reduce(0) { $0 + Int(d[offset + 27 + $1]) }
            offset += 27 + segments + body
        }
        return offset
    }

    /// The length of the MPEG-1 layer III frame at `at` (what lame writes at 44.1 kHz).
    static func mpegFrameLength(_ d: Data, at: Int) -> Int {
        let bitrates = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
        let b2 = d[at + 2]
        let rate = [44100, 48000, 32000][Int(b2 >> 2) & 3]
        return 144 * bitrates[Int(b2 >> 4)] * 1000 / rate + (Int(b2 >> 1) & 1)
    }

    /// An ID3v2.4 tag of `bodySize` zero bytes (padding).
    static func id3Tag(bodySize: Int) -> Data {
        var d = Data("ID3".utf8) + Data([4, 0, 0])
        d += Data([UInt8(bodySize >> 21 & 0x7F), UInt8(bodySize >> 14 & 0x7F), UInt8(bodySize >> 7 & 0x7F), UInt8(bodySize & 0x7F)])
        return d + Data(count: bodySize)
    }

    /// IEEE float 32-bit mono WAV.
    static func floatWAV(_ samples: [Float], sampleRate: Int) -> Data {
        var d = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
        d += Data("RIFF".utf8); u32(36 + samples.count * 4); d += Data("WAVEfmt ".utf8)
        u32(16); u16(3); u16(1); u32(sampleRate); u32(sampleRate * 4); u16(4); u16(32)
        d += Data("data".utf8); u32(samples.count * 4)
        for s in samples { withUnsafeBytes(of: s.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    /// A WAV with a format tag genred cannot decode, followed by `payload` as its data.
    static func wavWithFormatTag(_ tag: Int, payload: Data) -> Data {
        var d = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
        d += Data("RIFF".utf8); u32(36 + payload.count); d += Data("WAVEfmt ".utf8)
        u32(16); u16(tag); u16(2); u32(44100); u32(16000); u16(2230); u16(16)
        d += Data("data".utf8); u32(payload.count)
        return d + payload
    }

    /// One Ogg page (beginning of stream) holding `packet`; its checksum is left zero, as the sniffer reads only the packet.
    static func oggPage(packet: Data) -> Data {
        var d = Data("OggS".utf8) + Data([0, 0x02]) + Data(count: 8)  // version, BOS flag, granule 0
        d += Data([0x01, 0x02, 0x03, 0x04]) + Data(count: 4) + Data(count: 4)  // serial, sequence 0, checksum
        d += Data([1, UInt8(packet.count)])
        return d + packet
    }

    /// A PNG signature with an IHDR (1x1 RGBA) and an IEND chunk, checksums included.
    static func png() -> Data {
        func chunk(_ type: String, _ body: Data) -> Data {
            var d = Data()
            withUnsafeBytes(of: UInt32(body.count).bigEndian) { d.append(contentsOf: $0) }
            let typed = Data(type.utf8) + body
            d += typed
            withUnsafeBytes(of: crc32(typed).bigEndian) { d.append(contentsOf: $0) }
            return d
        }
        let ihdr = Data([0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0])
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + chunk("IHDR", ihdr) + chunk("IEND", Data())
    }

    static func crc32(_ d: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in d {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }
}
