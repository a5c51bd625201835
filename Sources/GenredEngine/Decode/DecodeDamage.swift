/// One problem met while decoding a file whose audio was still (at least partly) read.
///
/// A damaged file is analysed from what decodes rather than refused: a few lost seconds do not
/// change what a track sounds like, and refusing it would leave a whole track untagged. The notes
/// end up, joined, in `DecodedAudio.damage`.
enum DamageNote: Sendable, Equatable {
    /// The file ends before its audio does.
    case truncated(String)
    /// Data in the middle could not be decoded (skipped, or where decoding stopped).
    case corrupt(String)
    /// The audio decoded but some samples were unusable and were replaced.
    case repaired(String)

    /// Whether the file's data is damaged (cut or corrupt), as opposed to samples replaced.
    var isDataDamage: Bool {
        if case .repaired = self { false } else { true }
    }

    var text: String {
        switch self {
        case .truncated(let why): "truncated: \(why)"
        case .corrupt(let why), .repaired(let why): why
        }
    }

    /// The error to report instead when nothing at all decoded.
    func error(path: String) -> DecodeError {
        switch self {
        case .truncated(let why): DecodeError(path: path, reason: .truncated(why))
        case .corrupt(let why), .repaired(let why): DecodeError(path: path, reason: .corrupt(why))
        }
    }

    static func summary(_ notes: [DamageNote]) -> String? {
        notes.isEmpty ? nil : notes.map(\.text).joined(separator: "; ")
    }

    /// "N of M frames (S s) missing": how much of the announced length did not decode.
    static func missing(_ framesRead: Int, of announced: Int, sampleRate: Int) -> String {
        let seconds = Double(announced - framesRead) / Double(sampleRate)
        return "\(announced - framesRead) of \(announced) frames (\(formatSeconds(seconds)) s) missing"
    }

    static func formatSeconds(_ s: Double) -> String {
        let hundredths = Int((s * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

/// Stretches of a file that do not hold the structure its format requires (Ogg pages, MPEG frames),
/// found by walking the file's bytes after decoding.
///
/// The decoders skip such stretches silently when they can resync (libogg drops pages whose
/// checksum fails, libmpg123 searches for the next frame header), so walking the structure is the
/// only way to say where a file is damaged. The walk reads the bytes; it never changes what decodes.
struct StructureFindings: Sendable, Equatable {
    struct Region: Sendable, Equatable {
        var offset: Int
        var length: Int
    }

    /// Bytes of no format where the stream should start (after any ID3v2 tag): the first
    /// page or frame follows them.
    var junkBefore: Region?
    /// Damaged stretches: where each starts and how many bytes were skipped.
    var skipped: [Region] = []
    /// The file ends inside a page or frame that starts at this offset.
    var cutAt: Int?
    /// Ogg only: the first logical stream has no end-of-stream page.
    var missingEndOfStream = false
    /// Ogg only: pages missing by sequence number although the bytes around them are intact.
    var missingPages = 0

    var isEmpty: Bool { junkBefore == nil && skipped.isEmpty && cutAt == nil && !missingEndOfStream && missingPages == 0 }

    /// Human-readable notes; `unit` names what was cut ("an Ogg page", "an MPEG frame").
    func notes(unit: String) -> [DamageNote] {
        var notes: [DamageNote] = []
        if let junk = junkBefore {
            notes.append(.corrupt(Self.junkNote(junk, unit: unit)))
        }
        if let cutAt {
            var why = "the file ends inside \(unit) that starts at byte \(cutAt)"
            if missingEndOfStream { why += ", before the end-of-stream page" }
            notes.append(.truncated(why))
        } else if missingEndOfStream {
            notes.append(.truncated("the Ogg stream ends without its end-of-stream page"))
        }
        if let first = skipped.first {
            if skipped.count == 1 {
                notes.append(.corrupt("corrupt data skipped at byte \(first.offset) (\(first.length) bytes)"))
            } else {
                let total = skipped.reduce(0) { $0 + $1.length }
                notes.append(.corrupt("corrupt data skipped at \(skipped.count) places (first at byte \(first.offset); \(total) bytes in all)"))
            }
        }
        if missingPages > 0 {
            notes.append(.corrupt("\(missingPages) Ogg page\(missingPages == 1 ? "" : "s") missing (sequence numbers skip)"))
        }
        return notes
    }
}

extension StructureFindings {
    /// "N bytes of junk before the first UNIT, which starts at byte X".
    static func junkNote(_ junk: Region, unit: String) -> String {
        let first = unit.hasPrefix("an ") ? unit.dropFirst(3) : unit.hasPrefix("a ") ? unit.dropFirst(2) : Substring(unit)
        return "\(junk.length) bytes of junk before the first \(first), which starts at byte \(junk.offset + junk.length)"
    }
}

/// Reads a file through one cached block, for the structure walks (many small reads, mostly forward).
struct ByteReader {
    let file: InputFile
    private var blockStart = 0
    private var block: [UInt8] = []
    /// Larger than the largest Ogg page (65,307 bytes), so any page fits in one block.
    static let blockSize = 1 << 18

    init(_ file: InputFile) { self.file = file }

    var size: Int { file.size }

    /// Up to `count` bytes at `offset` (fewer at the end of the file); `count` at most `blockSize`.
    mutating func bytes(at offset: Int, count: Int) throws(DecodeError) -> ArraySlice<UInt8> {
        precondition(count <= Self.blockSize)
        guard offset >= 0, offset < size else { return [] }
        let end = min(size, offset + count)
        if offset < blockStart || end > blockStart + block.count {
            blockStart = offset
            block = try file.bytes(at: offset, count: Self.blockSize)
        }
        let start = offset - blockStart
        return block[start..<min(block.count, start + (end - offset))]
    }

    /// The first offset at or after `start` where `pattern` begins, or nil. Searches the cached block
    /// before reading further, so repeated searches through one stretch read it once.
    mutating func find(_ pattern: [UInt8], from start: Int) throws(DecodeError) -> Int? {
        precondition(!pattern.isEmpty && pattern.count <= Self.blockSize)
        var offset = max(0, start)
        while offset + pattern.count <= size {
            if offset < blockStart || offset + pattern.count > blockStart + block.count {
                blockStart = offset
                block = try file.bytes(at: offset, count: Self.blockSize)
                if block.count < pattern.count { return nil }
            }
            let from = offset - blockStart
            let found: Int? = block.withUnsafeBufferPointer { buffer in
                let last = buffer.count - pattern.count
                var i = from
                while i <= last {
                    if buffer[i] == pattern[0] {
                        var k = 1
                        while k < pattern.count, buffer[i + k] == pattern[k] { k += 1 }
                        if k == pattern.count { return i }
                    }
                    i += 1
                }
                return nil
            }
            if let found { return blockStart + found }
            // Continue so that a pattern straddling the block's end is found in the next block.
            offset = blockStart + block.count - pattern.count + 1
        }
        return nil
    }
}
