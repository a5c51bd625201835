/// Walks an MPEG audio file frame by frame: each frame header gives the frame's length, so the next
/// header must start right after it. Where it does not, libmpg123 searched for the next frame and
/// skipped the bytes in between; where a frame runs past the end of the file, the file was cut.
///
/// Tags are not damage: ID3v2, ID3v1 and APEv2 tags met between frames are stepped over, and data
/// after the last frame that no frame follows (tags, padding) is ignored. Free-format streams
/// (bitrate index 0) give no frame length, so the walk stops there and reports nothing.
enum MPEGFrameScan {
    struct Header: Equatable {
        /// 3 for MPEG-1, 2 for MPEG-2, 0 for MPEG-2.5 (the header's version bits).
        var version: Int
        var layer: Int
        var rateIndex: Int
        /// Bytes from this header to the next; nil for free format.
        var length: Int?

        /// Frames of one stream share version, layer and sample rate.
        func sameStream(_ other: Header) -> Bool {
            version == other.version && layer == other.layer && rateIndex == other.rateIndex
        }
    }

    /// Consecutive frames needed after a gap before the walk believes it has found the stream again.
    static let framesToResync = 3
    /// Consecutive frames that make bytes MPEG audio when the file does not start with a frame:
    /// random bytes pass as one header about once in 400 positions, as four chained ones
    /// practically never.
    static let framesToRecognise = 4

    /// Whether `framesToRecognise` frames of one stream follow each other from `offset`.
    static func isRun(_ reader: inout ByteReader, at offset: Int) throws(DecodeError) -> Bool {
        guard let first = header(try reader.bytes(at: offset, count: 4)) else { return false }
        var position = offset
        for _ in 0..<framesToRecognise {
            guard let h = header(try reader.bytes(at: position, count: 4)), h.sameStream(first), let length = h.length else {
                return false
            }
            position += length
        }
        return true
    }

    /// The first run of frames (`isRun`) within `ContainerSniffer.junkSearchLimit` bytes of `from`.
    static func firstRun(_ reader: inout ByteReader, from: Int) throws(DecodeError) -> Int? {
        var probe = from
        let limit = min(reader.size, from + ContainerSniffer.junkSearchLimit)
        while probe < limit, let candidate = try reader.find([0xFF], from: probe), candidate < limit {
            if try isRun(&reader, at: candidate) { return candidate }
            probe = candidate + 1
        }
        return nil
    }

    static func scan(_ file: InputFile) -> StructureFindings {
        var findings = StructureFindings()
        do {
            var reader = ByteReader(file)
            var offset = try firstFrame(file)
            if header(try reader.bytes(at: offset, count: 4)) == nil,
               let start = try firstRun(&reader, from: offset), start > offset {
                // Junk where the first frame should be: players (and libmpg123) skip to the frames.
                findings.junkBefore = .init(offset: offset, length: start - offset)
                offset = start
            }
            guard let first = header(try reader.bytes(at: offset, count: 4)) else { return findings }
            walk: while offset < reader.size {
                let bytes = try reader.bytes(at: offset, count: 4)
                if let h = header(bytes), h.sameStream(first) {
                    guard let length = h.length else { return findings }
                    if offset + length > reader.size {
                        findings.cutAt = offset
                        break walk
                    }
                    offset += length
                    continue
                }
                if let tag = try tagLength(&reader, at: offset) {
                    offset += tag
                    continue
                }
                var probe = offset + 1
                while let candidate = try reader.find([0xFF], from: probe) {
                    if try chainStarts(&reader, at: candidate, like: first) {
                        findings.skipped.append(.init(offset: offset, length: candidate - offset))
                        offset = candidate
                        continue walk
                    }
                    probe = candidate + 1
                }
                break walk  // no frame follows: trailing data
            }
        } catch {
            // A read error ends the walk; what it found so far stands.
        }
        return findings
    }

    /// Where the first frame starts: after any ID3v2 tags and the zero padding that may follow them.
    static func firstFrame(_ file: InputFile) throws(DecodeError) -> Int {
        var offset = 0
        while let size = ContainerSniffer.id3v2Size(try file.bytes(at: offset, count: 10)) {
            offset = try ContainerSniffer.skipZeroPadding(file, from: offset + size)
        }
        return offset
    }

    /// Whether `framesToResync` frames of the stream follow each other from `offset` (or run into
    /// the end of the file or a tag first).
    static func chainStarts(_ reader: inout ByteReader, at offset: Int, like first: Header) throws(DecodeError) -> Bool {
        var position = offset
        for _ in 0..<framesToResync {
            guard let h = header(try reader.bytes(at: position, count: 4)), h.sameStream(first), let length = h.length else {
                if position == offset { return false }
                return try tagLength(&reader, at: position) != nil
            }
            position += length
            if position >= reader.size { return position == reader.size }
        }
        return true
    }

    /// The length of an ID3v2, ID3v1 or APEv2 (with header) tag starting at `offset`, or nil.
    static func tagLength(_ reader: inout ByteReader, at offset: Int) throws(DecodeError) -> Int? {
        let b = Array(try reader.bytes(at: offset, count: 32))
        if let size = ContainerSniffer.id3v2Size(b) { return size }
        if b.count >= 3, b[0] == 0x54, b[1] == 0x41, b[2] == 0x47 { return 128 }  // "TAG"
        if b.count == 32, Array(b[0..<8]) == Array("APETAGEX".utf8) {
            let size = Int(b[12]) | Int(b[13]) << 8 | Int(b[14]) << 16 | Int(b[15]) << 24
            let hasHeader = b[23] & 0x80 != 0
            return size + (hasHeader ? 32 : 0)
        }
        return nil
    }

    /// Parses a frame header; nil when the four bytes are not a valid one.
    static func header(_ bytes: ArraySlice<UInt8>) -> Header? {
        let b = Array(bytes)
        guard ContainerSniffer.isMPEGAudioFrameHeader(b) else { return nil }
        let version = Int(b[1] >> 3) & 0x3
        let layer = 4 - (Int(b[1] >> 1) & 0x3)
        let bitrateIndex = Int(b[2] >> 4)
        let rateIndex = Int(b[2] >> 2) & 0x3
        let padding = Int(b[2] >> 1) & 0x1
        let rates = [[11025, 12000, 8000], [], [22050, 24000, 16000], [44100, 48000, 32000]]
        let rate = rates[version][rateIndex]
        var h = Header(version: version, layer: layer, rateIndex: rateIndex, length: nil)
        guard bitrateIndex != 0 else { return h }
        let bitrate = 1000 * bitrates(version: version, layer: layer)[bitrateIndex - 1]
        switch layer {
        case 1: h.length = (12 * bitrate / rate + padding) * 4
        case 2: h.length = 144 * bitrate / rate + padding
        default: h.length = (version == 3 ? 144 : 72) * bitrate / rate + padding
        }
        return h
    }

    /// Bitrates in kbit/s for indices 1-14.
    static func bitrates(version: Int, layer: Int) -> [Int] {
        switch (version == 3, layer) {
        case (true, 1): [32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448]
        case (true, 2): [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384]
        case (true, _): [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
        case (false, 1): [32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256]
        case (false, _): [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
        }
    }
}
