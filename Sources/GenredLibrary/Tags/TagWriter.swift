import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GenredEngine

/// A write checked and decided, before anything is touched: what the file holds and what it will hold.
/// The audio hash of a file as a decode that already happened found it, with the file's stat
/// before and after that decode: the tag writer takes it instead of decoding again while the
/// file still has exactly this stat (its ctime moves with any change).
public struct KnownAudio: Sendable, Equatable {
    package var digest: String
    public var stat: FileStat

    public init(digest: String, stat: FileStat) {
        self.digest = digest
        self.stat = stat
    }
}

public struct PreparedTagWrite: Sendable {
    public let path: String
    public let container: AudioContainer
    public let before: TagSnapshot
    /// Property key -> the values to store (joined into one value for ID3v2.3); empty removes the key.
    let staged: [String: [String]]
    /// 3 or 4 for the ID3v2 tag written to MP3, WAV and AIFF; 0 for other formats.
    let id3v2Version: Int
    /// The decoded audio's shape and SHA-256, which the write must leave unchanged.
    let audioDigest: String
    /// The SHA-256 of the bytes that hold the audio (`AudioRegions`), where the container has
    /// them apart from its tags: the same bytes after the write prove the same audio without a decode.
    var audioBytes: String? = nil
    let original: FileOps.Status

    /// What the file's tag must hold once the write is done: `before` with the staged keys replaced.
    var expectedProperties: [String: [String]] {
        var expected = before.properties
        for (key, values) in staged { expected[key] = values.isEmpty ? nil : values }
        return expected
    }
}

/// Reads and writes genre and mood tags, proving each write left everything else alone.
///
/// A write runs in phases, and nothing is written unless every earlier step passed:
/// 1. `prepare`: refuse files TagLib does not open cleanly and files without write permission
///    (the mode bits count even for root); read every property and hash the decoded audio.
/// 2. `backup`: copy the file to a uniquely named, flushed backup in `backupDirectory`.
/// 3. `commit`: set the fields and save in place (same inode); re-open and compare every
///    property, the ID3v2 version, the other tags and the audio hash with what was intended;
///    flush the file. On any difference the original bytes are written back over the same inode
///    and checked.
/// The caller removes the backup once it has recorded the outcome (`JournaledTagWriter` records
/// an intent between phases 2 and 3, so a crash at any point can be settled later). `write` runs
/// all three for callers that keep no journal.
///
/// The music folder itself need not be writable (the file is rewritten in place); the backup
/// folder must be, and is created readable by its owner only.
public struct TagWriter: Sendable {
    public let id3v23Separator: String
    public let backupDirectory: URL
    /// Write files whose audio decodes only in part: the audio hash then covers what decodes,
    /// which the write must leave exactly as it was. Off: such files are refused.
    public var allowsDamagedAudio = false
    /// Runs right after a save, before verification (tests use it to damage the file).
    let afterSave: (@Sendable (String) -> Void)?

    public init(id3v23Separator: String = "/", backupDirectory: URL) {
        self.init(id3v23Separator: id3v23Separator, backupDirectory: backupDirectory, afterSave: nil)
    }

    init(id3v23Separator: String, backupDirectory: URL, afterSave: (@Sendable (String) -> Void)?) {
        precondition(!id3v23Separator.isEmpty, "the ID3v2.3 separator must not be empty")
        self.id3v23Separator = id3v23Separator
        self.backupDirectory = backupDirectory
        self.afterSave = afterSave
    }

    /// The file's tags, read without opening it for writing.
    public func read(_ path: String, container: AudioContainer) throws(TagError) -> TagSnapshot {
        _ = try FileOps.status(path)
        let file = try TagLibFile(path, container: container, readOnly: true)
        defer { file.close() }
        return try file.snapshot(separator: id3v23Separator)
    }

    /// Sets each given field to exactly these values (an empty array removes the field); other
    /// fields untouched. Prepares, backs up and commits in one go, removing the backup at the end.
    ///
    /// In an ID3v2.3 tag the values are joined with the separator into one value, and MOOD is stored in a
    /// TXXX:MOOD frame (v2.3 has no TMOO). A file with no ID3v2 tag gets ID3v2.4.
    public func write(_ path: String, container: AudioContainer, values: [TagField: [String]]) throws(TagError) -> TagWriteResult {
        let prepared = try prepare(path, container: container, values: values)
        let copy = try backup(prepared)
        defer { copy.remove() }
        return try commit(prepared, backup: copy)
    }

    /// Checks that the write can be made safely and decides it; touches nothing.
    public func prepare(_ path: String, container: AudioContainer, values: [TagField: [String]],
                        knownAudio known: KnownAudio? = nil) throws(TagError) -> PreparedTagWrite {
        let original = try FileOps.status(path)
        try FileOps.requireWritable(path, mode: original.mode, label: "file", errorPath: path)
        let file = try TagLibFile(path, container: container, readOnly: true)
        defer { file.close() }
        let info = try file.tagInfo()
        if info.id3v2_version == 2 {
            throw TagError(path: path, reason: .unsupported("the file has an ID3v2.2 tag, which TagLib cannot write back as v2.2"))
        }
        if info.has_flac_id3v2 != 0 {
            throw TagError(path: path, reason: .unsupported("the FLAC file has an ID3v2 tag, which TagLib would rewrite as v2.4"))
        }
        let before = try file.snapshot(separator: id3v23Separator)
        let usesID3v2 = container == .mp3 || container == .wav || container == .aiff
        let version = usesID3v2 ? (before.id3v2Version ?? 4) : 0
        let staged = try stage(values, id3v2Version: version, path: path)
        let audio: String
        if let known, FileStat.of(path) == known.stat {
            audio = known.digest
        } else {
            audio = try audioDigest(path, when: "before writing")
        }
        return PreparedTagWrite(path: path, container: container, before: before, staged: staged, id3v2Version: version,
                                audioDigest: audio, audioBytes: AudioRegions.digest(path, container: container), original: original)
    }

    /// A flushed copy of the file's original bytes, under a fresh name in `backupDirectory`.
    /// Fails if the file changed since it was prepared.
    public func backup(_ prepared: PreparedTagWrite) throws(TagError) -> TagBackup {
        let directory = try backupFolder(for: prepared.path)
        return try TagBackup.make(of: prepared.path, in: directory, expected: prepared.original)
    }

    /// Saves the prepared values and proves the result; on any failure the original bytes are
    /// restored from `backup` (which the caller removes) and the error says so.
    func commit(_ prepared: PreparedTagWrite, backup: TagBackup) throws(TagError) -> TagWriteResult {
        let path = prepared.path
        let file = try TagLibFile(path, container: prepared.container, readOnly: false)
        defer { file.close() }
        if file.isReadOnly { throw TagError(path: path, reason: .readOnly("TagLib could not open the file for writing")) }
        guard try file.snapshot(separator: id3v23Separator) == prepared.before,
              try FileOps.status(path).isUnchanged(comparedTo: prepared.original) else {
            throw TagError(path: path, reason: .io("the file changed while it was being tagged; try again once it is settled"))
        }
        let rejected = try file.setFields(prepared.staged, id3v2Version: prepared.id3v2Version)
        if !rejected.isEmpty {
            throw TagError(path: path, reason: .rejected(rejected))
        }
        let saved = file.save(id3v2Version: prepared.id3v2Version)
        file.close()
        if !saved {
            try backup.restore()
            throw TagError(path: path, reason: .saveFailed)
        }
        afterSave?(path)

        let after: TagSnapshot, proof: AudioProof
        do {
            (after, proof) = try verify(prepared)
            try FileOps.flush(path)
        } catch let failure {
            try backup.restore()
            throw failure
        }
        let written = try FileOps.status(path)
        var result = TagWriteResult(before: prepared.before, after: after, size: written.size,
                                    mtimeNanoseconds: written.mtimeNanoseconds, inode: written.inode)
        result.audioProof = proof
        return result
    }

    /// The backup folder, created if needed and kept readable by its owner only (the backups are
    /// copies of a user's files).
    func backupFolder(for path: String) throws(TagError) -> String {
        let directory = backupDirectory.path
        if !PathIO.makeDirectories(directory, mode: 0o700) {
            throw TagError(path: path, reason: .io(FileOps.message("cannot create backup folder \(directory)", errno)))
        }
        guard let info = PathIO.stat(directory) else {
            throw TagError(path: path, reason: .io(FileOps.message("cannot stat backup folder \(directory)", errno)))
        }
        if info.st_mode & 0o077 != 0 { _ = FilePath.withCString(directory) { chmod($0, 0o700) } }
        try FileOps.requireWritable(directory, mode: UInt32(info.st_mode), label: "backup folder", errorPath: path)
        return directory
    }

    /// The property values to store: as given, or joined into one value for ID3v2.3.
    private func stage(_ values: [TagField: [String]], id3v2Version: Int, path: String) throws(TagError) -> [String: [String]] {
        var staged: [String: [String]] = [:]
        for (field, list) in values {
            for value in list {
                if value.isEmpty || value.contains("\u{0}") {
                    throw TagError(path: path, reason: .invalidValues("\(field.rawValue) has an empty value or one with a NUL character"))
                }
                if value.trimmingCharacters(in: .whitespaces) != value {
                    throw TagError(path: path, reason: .invalidValues("\(field.rawValue) value \"\(value)\" has surrounding spaces"))
                }
                if id3v2Version == 3 && value.contains(id3v23Separator) {
                    throw TagError(path: path, reason: .invalidValues(
                        "\(field.rawValue) value \"\(value)\" contains the ID3v2.3 separator \"\(id3v23Separator)\""))
                }
            }
            staged[field.rawValue] = id3v2Version == 3 && !list.isEmpty ? [list.joined(separator: id3v23Separator)] : list
        }
        return staged
    }

    /// SHA-256 over the decoded samples at the source rate (float bit patterns), with the stream's shape.
    func audioDigest(_ path: String, when: String) throws(TagError) -> String {
        do {
            let decoded = try AudioDecoding.stream(path, targetRate: nil, chunkFrames: 65536, allowDamage: allowsDamagedAudio,
                                                   sourceDigest: true) { _ in }
            return decoded.sourceDigest!
        } catch {
            throw TagError(path: path, reason: .undecodable("\(error.reasonText), \(when)"))
        }
    }

    /// The re-read snapshot, and how the audio was proved unchanged, if the file holds exactly the
    /// prepared write's result; or `.verificationFailed` naming every difference from what was intended.
    func verify(_ prepared: PreparedTagWrite) throws(TagError) -> (TagSnapshot, AudioProof) {
        let (path, before, staged, version) = (prepared.path, prepared.before, prepared.staged, prepared.id3v2Version)
        let (audio, original) = (prepared.audioDigest, prepared.original)
        func failed(_ what: String) -> TagError { TagError(path: path, reason: .verificationFailed(what)) }
        let after: TagSnapshot
        do {
            let file = try TagLibFile(path, container: prepared.container, readOnly: true)
            defer { file.close() }
            after = try file.snapshot(separator: id3v23Separator)
        } catch {
            throw failed("TagLib no longer reads the file (\(error.reasonText))")
        }

        var problems: [String] = []
        let expected = prepared.expectedProperties
        for key in Set(expected.keys).union(after.properties.keys).sorted() where expected[key] != after.properties[key] {
            let role = staged[key] == nil ? "unwritten field" : "written field"
            problems.append("\(role) \(key) is \(Self.show(after.properties[key])), expected \(Self.show(expected[key]))")
        }
        if after.unsupported != before.unsupported {
            problems.append("frames or blocks TagLib cannot show changed: \(before.unsupported) -> \(after.unsupported)")
        }
        for name in Set(before.otherTags.keys).union(after.otherTags.keys).sorted()
        where before.otherTags[name] != after.otherTags[name] {
            problems.append("the \(name) tag changed")
        }
        if version != 0 {
            let empty = expected.isEmpty && after.unsupported.isEmpty
            if after.id3v2Version != version && !(empty && after.id3v2Version == nil) {
                problems.append("ID3v2 version is \(after.id3v2Version.map { "2.\($0)" } ?? "none"), expected 2.\(version)")
            }
        }
        do {
            let status = try FileOps.status(path)
            if status.inode != original.inode || status.device != original.device {
                problems.append("the file was replaced (inode \(original.inode) -> \(status.inode))")
            }
        } catch {
            problems.append(error.reasonText)
        }
        // The audio's bytes as they were prove the audio unchanged; otherwise (they moved within
        // the file, or the container has none apart from its tags) the decoded audio decides.
        var proof = AudioProof.decoded
        if let bytes = prepared.audioBytes, AudioRegions.digest(path, container: prepared.container) == bytes {
            proof = .bytes
        } else {
            do {
                let now = try audioDigest(path, when: "after writing")
                if now != audio { problems.append("the decoded audio changed (\(audio) -> \(now))") }
            } catch {
                problems.append(error.reasonText)
            }
        }
        if !problems.isEmpty { throw failed(problems.joined(separator: "; ")) }
        return (after, proof)
    }

    private static func show(_ values: [String]?) -> String {
        guard let values else { return "absent" }
        return "[" + values.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
    }
}
