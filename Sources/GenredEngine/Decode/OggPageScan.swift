/// Walks an Ogg file page by page the way libogg reads it: a page counts only if it starts with the
/// capture pattern "OggS", is complete and its CRC-32 matches. Whatever lies between good pages is
/// what the decoder skipped; a page that runs past the end of the file means the file was cut.
///
/// Only the first logical stream matters (libsndfile decodes that one); the walk stops at its
/// end-of-stream page, so data appended after it (a stray ID3v1 tag, a chained stream) is not damage.
enum OggPageScan {
    struct Page {
        var length: Int
        var serial: UInt32
        var sequence: UInt32
        var endOfStream: Bool
        /// The granule position: -1 where no packet ends on the page.
        var granule: Int64
    }

    /// What a walk found: the damage, and the first logical stream's shape.
    struct Walk {
        var findings = StructureFindings()
        /// Pages of other logical streams before the first one's end (a multiplexed file).
        var otherStreamPages = 0
        /// The granule position of the first stream's last good page (its end-of-stream page in a
        /// whole file); nil when it has no page.
        var lastGranule: Int64?
    }

    enum Check {
        case page(Page)
        /// A capture pattern whose page runs past the end of the file.
        case cut
        case invalid
    }

    static let capture = Array("OggS".utf8)

    /// `start`: where the first page is, past junk that `ContainerSniffer` skipped (reported as such).
    static func scan(_ file: InputFile, from start: Int = 0) -> StructureFindings {
        walk(file, from: start).findings
    }

    static func walk(_ file: InputFile, from start: Int = 0) -> Walk {
        var reader = ByteReader(file)
        var result = Walk()
        var findings = StructureFindings()
        if start > 0 { findings.junkBefore = .init(offset: 0, length: start) }
        var serial: UInt32?
        var nextSequence: UInt32?
        var ended = false
        /// Pages lost inside a skipped stretch are already reported with it.
        var skippedSinceLastPage = false
        var offset = start
        do {
            walk: while offset < reader.size, !ended {
                switch try check(&reader, at: offset) {
                case .page(let page):
                    if serial == nil { serial = page.serial }
                    if page.serial == serial {
                        if let expected = nextSequence, page.sequence > expected, !skippedSinceLastPage {
                            findings.missingPages += Int(page.sequence - expected)
                        }
                        nextSequence = page.sequence &+ 1
                        ended = page.endOfStream
                        skippedSinceLastPage = false
                        result.lastGranule = page.granule
                    } else {
                        result.otherStreamPages += 1
                    }
                    offset += page.length
                case .cut:
                    findings.cutAt = offset
                    break walk
                case .invalid:
                    // Resynchronise as libogg does: the next capture pattern that starts a good page.
                    var probe = offset + 1
                    while let candidate = try reader.find(capture, from: probe) {
                        switch try check(&reader, at: candidate) {
                        case .page:
                            findings.skipped.append(.init(offset: offset, length: candidate - offset))
                            skippedSinceLastPage = true
                            offset = candidate
                            continue walk
                        case .cut:
                            findings.skipped.append(.init(offset: offset, length: candidate - offset))
                            findings.cutAt = candidate
                            break walk
                        case .invalid:
                            probe = candidate + 1
                        }
                    }
                    // No good page follows: the rest of the file is lost to the stream.
                    findings.skipped.append(.init(offset: offset, length: reader.size - offset))
                    break walk
                }
            }
        } catch {
            // A read error ends the walk; what it found so far stands.
        }
        findings.missingEndOfStream = serial != nil && !ended
        result.findings = findings
        return result
    }

    static func check(_ reader: inout ByteReader, at offset: Int) throws(DecodeError) -> Check {
        let head = Array(try reader.bytes(at: offset, count: 27))
        guard head.count >= 4, Array(head[0..<4]) == capture else { return .invalid }
        guard head.count == 27 else { return .cut }
        guard head[4] == 0 else { return .invalid }  // stream structure version 0 is the only one
        let segments = Int(head[26])
        let lacing = try reader.bytes(at: offset + 27, count: segments)
        guard lacing.count == segments else { return .cut }
        let length = 27 + segments + lacing.reduce(0) { $0 + Int($1) }
        let page = try reader.bytes(at: offset, count: length)
        guard page.count == length else { return .cut }
        guard crc(page) == le32(head, 22) else { return .invalid }
        let granule = Int64(bitPattern: UInt64(le32(head, 6)) | UInt64(le32(head, 10)) << 32)
        return .page(Page(length: length, serial: le32(head, 14), sequence: le32(head, 18),
                          endOfStream: head[5] & 0x04 != 0, granule: granule))
    }

    /// The page checksum: CRC-32 with polynomial 0x04C11DB7, no reflection, initial value and final
    /// XOR zero, computed with the checksum field (bytes 22-25) set to zero.
    static func crc(_ page: ArraySlice<UInt8>) -> UInt32 {
        crcTable.withUnsafeBufferPointer { table in
            page.withUnsafeBufferPointer { bytes in
                var crc: UInt32 = 0
                for i in 0..<bytes.count {
                    let byte = i >= 22 && i < 26 ? 0 : bytes[i]
                    crc = (crc << 8) ^ table[Int((crc >> 24) ^ UInt32(byte))]
                }
                return crc
            }
        }
    }

    private static let crcTable: [UInt32] = (0..<256).map { index in
        var r = UInt32(index) << 24
        for _ in 0..<8 { r = r & 0x8000_0000 != 0 ? (r << 1) ^ 0x04C1_1DB7 : r << 1 }
        return r
    }

    private static func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}
