/// The bytes of a file that hold its audio, with the tags left out: what a tag write must leave
/// exactly as it was.
///
/// When these bytes are the same after a write as before it, the decoder reads the same input
/// and so gives the same audio; the tag writer then needs no second decode to prove it. Only the
/// containers whose tags sit in regions of their own are covered:
/// - MP3: everything after the leading ID3v2 tags and before a trailing APEv2 and ID3v1 tag;
/// - FLAC: the STREAMINFO block and everything after the last metadata block;
/// - WAV: the `fmt `, `fact` and `data` chunks; AIFF and AIFF-C: the `COMM` and `SSND` chunks;
/// - Ogg Vorbis and Opus (`oggPages`): the identification header (and Vorbis's setup header) as
///   packets, and every page after the headers less its sequence number and checksum, which a
///   write that resizes the comment header renumbers.
/// For any file whose layout is not as expected there is no digest and the writer decodes.
package enum AudioRegions {
    /// "bytes CONTAINER LENGTH SHA256" over the audio's byte ranges, or "pages CONTAINER PAGES
    /// SHA256" for Ogg; nil where not covered (see above).
    package static func digest(_ path: String, container: AudioContainer) -> String? {
        guard let file = try? InputFile(path) else { return nil }
        if container == .oggVorbis || container == .opus { return oggPages(file, container: container) }
        guard let ranges = try? ranges(file, container: container) else { return nil }
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

extension AudioRegions {
    /// The Ogg digest, from a strict walk of the file: one logical stream from byte 0 to the end of
    /// the file, every page whole with its checksum right, the first marked as the stream's start,
    /// each numbered one past the last, nothing after the end-of-stream page. The decoder's input
    /// is then the header packets and the audio pages, and the digest covers all of it but the
    /// comment header: the identification header (Vorbis's setup header too) as packets, wherever
    /// a write puts them, and each audio page with its flags, granule position, serial number,
    /// segment table and payload. The first audio page must start a packet, as both formats
    /// require. nil for anything else: the writer then decodes.
    static func oggPages(_ file: InputFile, container: AudioContainer) -> String? {
        var reader = ByteReader(file)
        var hash = SHA256()
        func add(_ bytes: ArraySlice<UInt8>) {
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { hash.update($0) }
            bytes.withUnsafeBytes { hash.update($0) }
        }
        let headerPackets = container == .oggVorbis ? 3 : 2
        guard let signature = container.oggSignature else { return nil }
        var packets = 0
        var packet: [UInt8] = []
        var serial: UInt32?
        var nextSequence: UInt32 = 0
        var audioPages = 0
        var offset = 0
        do {
            while offset < reader.size {
                guard case .page(let info) = try OggPageScan.check(&reader, at: offset) else { return nil }
                let page = try reader.bytes(at: offset, count: info.length)
                let flags = page[page.startIndex + 5]
                if serial == nil {
                    guard flags & 0x02 != 0, flags & 0x01 == 0 else { return nil }
                    serial = info.serial
                } else {
                    guard info.serial == serial, info.sequence == nextSequence, flags & 0x02 == 0 else { return nil }
                }
                nextSequence = info.sequence &+ 1
                let segments = Int(page[page.startIndex + 26])
                if packets < headerPackets {
                    // Header pages: gather the packets; only their contents count.
                    var at = page.startIndex + 27 + segments
                    for i in 0..<segments {
                        let lacing = Int(page[page.startIndex + 27 + i])
                        guard packets < headerPackets else { return nil }  // audio on a header page
                        packet += page[at..<(at + lacing)]
                        at += lacing
                        if lacing < 255 {
                            if packets == 0 && !packet.starts(with: signature) { return nil }
                            // The comment header (packet 1) holds the tags and is left out of the
                            // digest; the decoders parse it all the same, so it must be well formed.
                            if packets == 1 {
                                guard commentIsWellFormed(packet, container: container) else { return nil }
                            } else {
                                add(packet[...])
                            }
                            packets += 1
                            packet = []
                        }
                    }
                    guard !info.endOfStream else { return nil }
                } else {
                    // Audio pages: all but the sequence number (18-21) and checksum (22-25).
                    if audioPages == 0 && flags & 0x01 != 0 { return nil }
                    let start = page.startIndex
                    add(page[start..<(start + 18)])
                    add(page[(start + 26)...])
                    audioPages += 1
                }
                offset += info.length
                if info.endOfStream { break }
            }
        } catch {
            return nil
        }
        guard packets == headerPackets, audioPages > 0, offset == reader.size else { return nil }
        return "pages \(container.rawValue) \(audioPages) \(hash.finalizeHex())"
    }

    /// A comment header as libvorbis and libopusfile read it: the signature, a vendor string, a
    /// count of comments each within the packet, and for Vorbis the framing bit after them.
    static func commentIsWellFormed(_ packet: [UInt8], container: AudioContainer) -> Bool {
        let signature = container == .oggVorbis ? [3] + Array("vorbis".utf8) : Array("OpusTags".utf8)
        guard packet.starts(with: signature) else { return false }
        var at = signature.count
        func length() -> Int? {
            guard at + 4 <= packet.count else { return nil }
            defer { at += 4 }
            return Int(littleEndian: packet, at: at) & 0xFFFF_FFFF
        }
        guard let vendor = length(), vendor <= packet.count - at else { return false }
        at += vendor
        guard let count = length(), count <= (packet.count - at) / 4 else { return false }
        for _ in 0..<count {
            guard let size = length(), size <= packet.count - at else { return false }
            at += size
        }
        if container == .oggVorbis { return at < packet.count && packet[at] & 1 == 1 }
        return true
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
