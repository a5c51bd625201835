import GenredEngine
/// A tag field genred writes: a property key as TagLib's property interface names it
/// (`GENRE`, `MOOD`, or one a taxonomy is configured to write, such as `GROUPING`).
///
/// A struct rather than an enum because a taxonomy (docs/learn.md) may write to a field named
/// in the config; the write intent and the journal already store fields by key, so a key
/// read back from them is a `TagField` as well.
public struct TagField: RawRepresentable, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public static let genre = TagField(key: "GENRE")
    public static let mood = TagField(key: "MOOD")
    /// The fields genred's built-in tags go to.
    public static let builtIn: [TagField] = [.genre, .mood]

    /// Fields that identify a recording or order it in an album: never written, whatever a
    /// config asks, so a mistyped field name cannot overwrite a title or a track number.
    public static let refused: Set<String> = [
        "TITLE", "ARTIST", "ALBUM", "ALBUMARTIST", "TRACKNUMBER", "DISCNUMBER", "DATE", "COMPOSER",
        "MUSICBRAINZ_TRACKID", "MUSICBRAINZ_ALBUMID", "MUSICBRAINZ_ARTISTID", "ISRC",
    ]

    /// `rawValue` upper-cased; nil unless it is a valid key: ASCII letters, digits and `_`,
    /// starting with a letter (a name every format genred writes stores as given).
    public init?(rawValue: String) {
        let key = rawValue.uppercased()
        guard let first = key.unicodeScalars.first, ("A"..."Z").contains(first),
              key.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
        else { return nil }
        self.rawValue = key
    }

    private init(key: String) { rawValue = key }

    /// Whether genred may write this field (see `refused`).
    public var isWritable: Bool { !Self.refused.contains(rawValue) }

    public var description: String { rawValue }

    public static func < (a: TagField, b: TagField) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        let key = try decoder.singleValueContainer().decode(String.self)
        guard let field = TagField(rawValue: key) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a tag field: \(key)"))
        }
        self = field
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// What a file's tags hold, as TagLib's property interface shows them.
///
/// `properties` is the tag genred writes: ID3v2 for MP3, WAV and AIFF, the Vorbis comment for FLAC,
/// Ogg Vorbis and Opus. Other tags (ID3v1, APE, RIFF INFO) are never written; they are listed in
/// `otherTags` so that a caller can see values hidden there and a write can prove it left them alone.
public struct TagSnapshot: Sendable, Equatable, Codable {
    /// Property keys (upper case) to values.
    var properties: [String: [String]]
    /// 3 or 4 for files with an ID3v2 tag on disk (2 for the rare v2.2 tag, which genred does not write); else nil.
    var id3v2Version: Int?
    /// Items the property interface cannot show (pictures, private and unknown frames), one entry per item.
    public var unsupported: [String]
    /// Tags genred never writes, by name ("ID3v1", "APE", "RIFF INFO", "ID3v2 in FLAC"), with their properties.
    var otherTags: [String: [String: [String]]]
    /// The separator that joins several values into one in ID3v2.3 text frames.
    public var id3v23Separator: String

    public init(
        properties: [String: [String]], id3v2Version: Int?, unsupported: [String] = [],
        otherTags: [String: [String: [String]]] = [:], id3v23Separator: String = "/"
    ) {
        self.properties = properties
        self.id3v2Version = id3v2Version
        self.unsupported = unsupported
        self.otherTags = otherTags
        self.id3v23Separator = id3v23Separator
    }

    /// The field's values, one per element; in an ID3v2.3 tag each stored value is split on the separator
    /// and the parts are trimmed of surrounding spaces.
    public func values(_ field: TagField) -> [String] {
        let stored = properties[field.rawValue] ?? []
        guard id3v2Version == 3, !id3v23Separator.isEmpty else { return stored }
        return stored.flatMap { value in
            value.split(separator: id3v23Separator, omittingEmptySubsequences: true)
                .map { $0.trimmingSpaces() }
                .filter { !$0.isEmpty }
        }
    }
}

/// Why a tag read or write did not happen, or was undone.
public struct TagError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// TagLib does not open it as a valid file of its kind.
        case cannotOpen
        /// The file or a folder it needs is not writable (the text says which).
        case readOnly(String)
        /// Keys the format cannot store; nothing was written.
        case rejected([String])
        /// Values genred refuses to write, since they would not read back as given; nothing was written.
        case invalidValues(String)
        /// A tag layout TagLib cannot write back without losing something; nothing was written.
        case unsupported(String)
        /// The audio does not decode, so a write could not be checked; nothing was written.
        case undecodable(String)
        /// TagLib failed to save; the original bytes were restored.
        case saveFailed
        /// The re-read file differed from what was intended (the text says what); the original bytes were restored.
        case verificationFailed(String)
        /// A write had to be undone and the undo failed too (the text says where the backup is kept).
        case restoreFailed(String)
        /// A person's `genred undo` holds the track's tags; nothing was written.
        case held
        case io(String)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var reasonText: String {
        switch reason {
        case .cannotOpen: "TagLib does not open it as a valid file of its kind"
        case .readOnly(let why): "read-only: \(why)"
        case .rejected(let keys): "the format cannot store \(keys.joined(separator: ", ")); nothing was written"
        case .invalidValues(let why): "invalid values: \(why); nothing was written"
        case .unsupported(let why): "cannot write tags safely: \(why); nothing was written"
        case .undecodable(let why): "audio does not decode (\(why)); nothing was written"
        case .saveFailed: "TagLib failed to save; the original bytes were restored"
        case .verificationFailed(let what): "write undone, the file read back wrong: \(what); the original bytes were restored"
        case .restoreFailed(let why): "write went wrong and undoing it failed: \(why)"
        case .held: "a person's undo holds this track's tags; nothing was written"
        case .io(let why): why
        }
    }

    public var description: String { "\(path): \(reasonText)" }
}

/// The outcome of a write that read back as intended.
public struct TagWriteResult: Sendable {
    public var before: TagSnapshot
    public var after: TagSnapshot
    /// The file's size, modification time and inode right after the write, to recognise this write later.
    public var size: Int64
    var mtimeNanoseconds: Int64
    public var inode: UInt64
    /// How the write proved the audio unchanged.
    public var audioProof: AudioProof = .decoded

    public init(before: TagSnapshot, after: TagSnapshot, size: Int64, mtimeNanoseconds: Int64, inode: UInt64) {
        self.before = before
        self.after = after
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.inode = inode
    }
}

/// How a tag write proved that it left the audio as it was.
public enum AudioProof: String, Sendable {
    /// The bytes that hold the audio (`AudioRegions`) are the same as before the write.
    case bytes
    /// The audio decodes to the same samples as before the write.
    case decoded
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var s = self
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}

extension TagError: GenredError {
    public var subject: String { path }
}
