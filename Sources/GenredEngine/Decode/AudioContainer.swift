#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The container formats genred decodes, identified by content.
public enum AudioContainer: String, Sendable, Codable {
    case wav, aiff, flac, oggVorbis = "ogg-vorbis", opus, mp3

    /// How an Ogg stream of this codec's first packet (its identification header) begins:
    /// "OpusHead" (RFC 7845), or packet type 1 and "vorbis" (the Vorbis I specification).
    var oggSignature: [UInt8]? {
        switch self {
        case .opus: Array("OpusHead".utf8)
        case .oggVorbis: [0x01] + Array("vorbis".utf8)
        default: nil
        }
    }
}

/// What the first bytes of a file say it is.
enum SniffResult: Equatable {
    case audio(AudioContainer)
    /// A stream found past bytes that belong to no format (`start`: where it begins); players
    /// skip such junk, and so does genred, marking the file damaged.
    case audioAfterJunk(AudioContainer, start: Int)
    /// An Ogg stream whose first packet is no codec genred reads (the text names what was seen).
    case unsupportedOgg(String)
    case unknown
}

/// Content sniffing over an open file descriptor (reads with `pread`, so the offset is untouched).
enum ContainerSniffer {
    /// Longest stretch of zero padding tolerated between an ID3v2 tag and the audio.
    static let maxPaddingAfterID3 = 64 * 1024

    static func sniff(_ file: InputFile) throws(DecodeError) -> SniffResult {
        let head = try file.bytes(at: 0, count: 64)
        if let container = plainSignature(head) { return .audio(container) }
        if head.starts(with: Array("OggS".utf8)) { return try sniffOgg(file, head) }

        var offset = 0
        var bytes = head
        // ID3v2 tags may precede MP3 (and, occasionally, FLAC) data; several may be stacked.
        while let tagSize = id3v2Size(bytes) {
            offset += tagSize
            offset = try skipZeroPadding(file, from: offset)
            bytes = try file.bytes(at: offset, count: 16)
        }
        if offset > 0, bytes.starts(with: Array("fLaC".utf8)) { return .audio(.flac) }
        if isMPEGAudioFrameHeader(bytes) { return .audio(.mp3) }
        return try streamAfterJunk(file, from: offset)
    }

    /// How far past the start `streamAfterJunk` looks.
    static let junkSearchLimit = 64 * 1024

    /// The first stream that starts within `junkSearchLimit` bytes of `from`: an Ogg page
    /// with a codec genred reads, a FLAC signature followed by its STREAMINFO block, or MPEG
    /// audio, recognised by `MPEGFrameScan.framesToRecognise` frame headers in a row.
    static func streamAfterJunk(_ file: InputFile, from: Int) throws(DecodeError) -> SniffResult {
        var reader = ByteReader(file)
        let limit = min(file.size, from + junkSearchLimit)
        var position = from
        while position < limit {
            let b = try reader.bytes(at: position, count: 64)
            if b.count >= 4 {
                if b.starts(with: Array("OggS".utf8)), b.count >= 27 {
                    if case .audio(let container) = try sniffOgg(file, Array(b), at: position) {
                        return .audioAfterJunk(container, start: position)
                    }
                }
                // "fLaC", then a STREAMINFO block header: type 0 (maybe marked last), length 34.
                if b.starts(with: Array("fLaC".utf8)), b.count >= 8, b[b.startIndex + 4] & 0x7F == 0,
                   b[b.startIndex + 5] == 0, b[b.startIndex + 6] == 0, b[b.startIndex + 7] == 34 {
                    return .audioAfterJunk(.flac, start: position)
                }
                if b[b.startIndex] == 0xFF, try MPEGFrameScan.isRun(&reader, at: position) {
                    return .audioAfterJunk(.mp3, start: position)
                }
            }
            position += 1
        }
        return .unknown
    }

    /// Formats recognised from fixed magic at offset 0.
    static func plainSignature(_ b: [UInt8]) -> AudioContainer? {
        func tag(_ at: Int, _ s: String) -> Bool {
            let magic = Array(s.utf8)
            return b.count >= at + magic.count && Array(b[at..<at + magic.count]) == magic
        }
        if (tag(0, "RIFF") || tag(0, "RIFX") || tag(0, "RF64")) && tag(8, "WAVE") { return .wav }
        let w64Riff: [UInt8] = [0x72, 0x69, 0x66, 0x66, 0x2E, 0x91, 0xCF, 0x11, 0xA5, 0xD6, 0x28, 0xDB, 0x04, 0xC1, 0x00, 0x00]
        let w64Wave: [UInt8] = [0x77, 0x61, 0x76, 0x65, 0xF3, 0xAC, 0xD3, 0x11, 0x8C, 0xD1, 0x00, 0xC0, 0x4F, 0x8E, 0xDB, 0x8A]
        if b.count >= 40, Array(b[0..<16]) == w64Riff, Array(b[24..<40]) == w64Wave { return .wav }
        if tag(0, "FORM") && (tag(8, "AIFF") || tag(8, "AIFC")) { return .aiff }
        if tag(0, "fLaC") { return .flac }
        return nil
    }

    /// Looks at the first packet of the first Ogg page.
    static func sniffOgg(_ file: InputFile, _ head: [UInt8], at start: Int = 0) throws(DecodeError) -> SniffResult {
        guard head.count >= 27 else { return .unknown }
        let segments = Int(head[26])
        let packet = try file.bytes(at: start + 27 + segments, count: 16)
        func starts(_ magic: [UInt8]) -> Bool { packet.starts(with: magic) }
        for codec in [AudioContainer.opus, .oggVorbis] where starts(codec.oggSignature!) { return .audio(codec) }
        if starts([0x7F] + Array("FLAC".utf8)) { return .audio(.flac) }
        let printable = packet.prefix(8).map { (0x20...0x7E).contains($0) ? Character(UnicodeScalar($0)) : "." }
        return .unsupportedOgg("Ogg stream with an unknown codec (first packet starts \"\(String(printable))\")")
    }

    /// Total size of an ID3v2 tag starting at `b[0]` (header, body and optional footer), or nil.
    static func id3v2Size(_ b: [UInt8]) -> Int? {
        guard b.count >= 10, b[0] == 0x49, b[1] == 0x44, b[2] == 0x33,  // "ID3"
              b[3] != 0xFF, b[4] != 0xFF,
              b[6] & 0x80 == 0, b[7] & 0x80 == 0, b[8] & 0x80 == 0, b[9] & 0x80 == 0
        else { return nil }
        let body = Int(b[6]) << 21 | Int(b[7]) << 14 | Int(b[8]) << 7 | Int(b[9])
        let hasFooter = b[5] & 0x10 != 0
        return 10 + body + (hasFooter ? 10 : 0)
    }

    static func skipZeroPadding(_ file: InputFile, from start: Int) throws(DecodeError) -> Int {
        var offset = start
        while offset - start < maxPaddingAfterID3 {
            let chunk = try file.bytes(at: offset, count: 4096)
            guard !chunk.isEmpty else { return offset }
            if let nonZero = chunk.firstIndex(where: { $0 != 0 }) { return offset + nonZero }
            offset += chunk.count
        }
        return offset
    }

    /// Whether the four bytes are a plausible MPEG-1/2/2.5 audio (layer I-III) frame header.
    static func isMPEGAudioFrameHeader(_ b: [UInt8]) -> Bool {
        guard b.count >= 4, b[0] == 0xFF, b[1] & 0xE0 == 0xE0 else { return false }
        let version = (b[1] >> 3) & 0x3   // 01 is reserved
        let layer = (b[1] >> 1) & 0x3     // 00 is reserved
        let bitrate = b[2] >> 4           // 1111 is invalid
        let rate = (b[2] >> 2) & 0x3      // 11 is reserved
        let emphasis = b[3] & 0x3         // 10 is reserved
        return version != 1 && layer != 0 && bitrate != 0xF && rate != 3 && emphasis != 2
    }
}
