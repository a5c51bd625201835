/// The bytes of a file that hold its audio, with the tags left out: what a tag write must leave
/// exactly as it was.
///
/// When these bytes are the same after a write as before it, the decoder reads the same input
/// and so gives the same audio; the tag writer then needs no second decode to prove it. Only the
/// containers whose tags sit in regions of their own are covered:
/// - MP3: everything after the leading ID3v2 tags and before a trailing APEv2 and ID3v1 tag;
/// - FLAC: the STREAMINFO block and everything after the last metadata block;
/// - WAV: the `fmt `, `fact` and `data` chunks; AIFF and AIFF-C: the `COMM` and `SSND` chunks.
/// Ogg Vorbis and Opus keep their tags in a packet that shares pages with the audio (a write
/// renumbers the pages), so for them, and for any file whose layout is not as expected, there is
/// no digest and the writer decodes.
package enum AudioRegions {
    /// "bytes CONTAINER LENGTH SHA256" over the audio's byte ranges, or nil (see above).
    package static func digest(_ path: String, container: AudioContainer) -> String? {
        guard let file = try? InputFile(path), let ranges = try? ranges(file, container: container) else { return nil }
        var hash = SHA256()
        var total = 0
        for range in ranges {
            // Each range's length goes in first, so moving a byte across a boundary changes the digest.
            withUnsafeBytes(of: UInt64(range.count).littleEndian) { hash.update($0) }
            var offset = range.lowerBound
            while offset < range.upperBound {
                guard let chunk = try? file.bytes(at: offset, count: min(1 << 20, range.upperBound - offset)),
                      !chunk.isEmpty else { return nil }
                chunk.withUnsafeBytes { hash.update($0) }
                offset += chunk.count
            }
            total += range.count
        }
        return "bytes \(container.rawValue) \(total) \(hash.finalizeHex())"
    }

    /// The audio's byte ranges in file order, or nil for a container or layout not covered.
    static func ranges(_ file: InputFile, container: AudioContainer) throws(DecodeError) -> [Range<Int>]? {
        var reader = ByteReader(file)
        switch container {
        case .mp3: return try mpeg(&reader)
        case .flac: return try flac(&reader)
        case .wav: return try chunks(&reader, form: "RIFF", kinds: ["WAVE"], keep: ["fmt ", "data", "fact"], bigEndian: false)
        case .aiff: return try chunks(&reader, form: "FORM", kinds: ["AIFF", "AIFC"], keep: ["COMM", "SSND"], bigEndian: true)
        default: return nil
        }
    }

    private static func mpeg(_ reader: inout ByteReader) throws(DecodeError) -> [Range<Int>]? {
        var start = 0
        while let size = ContainerSniffer.id3v2Size(Array(try reader.bytes(at: start, count: 10))) {
            start += size
        }
        var end = reader.size
        if end - 128 >= start, Array(try reader.bytes(at: end - 128, count: 3)) == Array("TAG".utf8) { end -= 128 }
        if end - 32 >= start {
            let footer = Array(try reader.bytes(at: end - 32, count: 32))
            if footer.count == 32, Array(footer[0..<8]) == Array("APETAGEX".utf8) {
                let size = Int(littleEndian: footer, at: 12), hasHeader = footer[23] & 0x80 != 0
                let length = size + (hasHeader ? 32 : 0)
                guard size >= 32, end - length >= start else { return nil }
                end -= length
            }
        }
        guard end > start else { return nil }
        return [start..<end]
    }

    private static func flac(_ reader: inout ByteReader) throws(DecodeError) -> [Range<Int>]? {
        guard Array(try reader.bytes(at: 0, count: 4)) == Array("fLaC".utf8) else { return nil }
        var offset = 4
        var streamInfo: Range<Int>?
        while true {
            let header = Array(try reader.bytes(at: offset, count: 4))
            guard header.count == 4 else { return nil }
            let last = header[0] & 0x80 != 0, type = header[0] & 0x7F
            let length = Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
            let body = offset + 4
            guard body + length <= reader.size else { return nil }
            if type == 0 { streamInfo = offset..<(body + length) }
            offset = body + length
            if last { break }
        }
        guard let streamInfo, offset < reader.size else { return nil }
        return [streamInfo, offset..<reader.size]
    }

    /// The kept chunks (header and body) of a RIFF or IFF file; nil when a chunk runs past the
    /// end (except the audio chunk, which a truncated file cuts short) or `keep`'s first two are missing.
    private static func chunks(_ reader: inout ByteReader, form: String, kinds: [String], keep: [String],
                               bigEndian: Bool) throws(DecodeError) -> [Range<Int>]? {
        let head = Array(try reader.bytes(at: 0, count: 12))
        guard head.count == 12, Array(head[0..<4]) == Array(form.utf8),
              kinds.contains(where: { Array(head[8..<12]) == Array($0.utf8) }) else { return nil }
        var ranges: [Range<Int>] = []
        var found: Set<String> = []
        var offset = 12
        while offset + 8 <= reader.size {
            let header = Array(try reader.bytes(at: offset, count: 8))
            let id = String(decoding: header[0..<4], as: UTF8.self)
            let size = bigEndian ? Int(bigEndian: header, at: 4) : Int(littleEndian: header, at: 4)
            let end = offset + 8 + size
            let audio = id == keep[1]
            if end > reader.size && !audio { return nil }
            if keep.contains(id) {
                ranges.append(offset..<min(end, reader.size))
                found.insert(id)
            }
            offset = end + (size & 1)
        }
        guard found.contains(keep[0]), found.contains(keep[1]) else { return nil }
        return ranges
    }
}

private extension Int {
    init(littleEndian b: [UInt8], at i: Int) {
        self = Int(b[i]) | Int(b[i + 1]) << 8 | Int(b[i + 2]) << 16 | Int(b[i + 3]) << 24
    }

    init(bigEndian b: [UInt8], at i: Int) {
        self = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
    }
}
