import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and writes genre and mood tags, proving each write left everything else alone.
///
/// A write runs in this order, and nothing is written unless every earlier step passed:
/// refuse files TagLib does not open cleanly and files without write permission (the mode bits count
/// even for root); read every property and hash the decoded audio; copy the file to a backup in
/// `backupDirectory` and flush it; set the fields and save in place (same inode); re-open and compare
/// every property, the ID3v2 version, the other tags and the audio hash with what was intended. On any
/// difference the original bytes are written back over the same inode and checked, and the backup is
/// removed only once the file is verified or restored.
///
/// The music folder itself need not be writable (the file is rewritten in place); the backup folder must be.
public struct TagWriter: Sendable {
    public let id3v23Separator: String
    public let backupDirectory: URL
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

    public func read(_ path: String, container: AudioContainer) throws(TagError) -> TagSnapshot {
        _ = try FileOps.status(path)
        let file = try TagLibFile(path, container: container)
        defer { file.close() }
        return try file.snapshot(separator: id3v23Separator)
    }

    /// Sets each given field to exactly these values (an empty array removes the field); other fields untouched.
    ///
    /// In an ID3v2.3 tag the values are joined with the separator into one value, and MOOD is stored in a
    /// TXXX:MOOD frame (v2.3 has no TMOO). A file with no ID3v2 tag gets ID3v2.4.
    public func write(_ path: String, container: AudioContainer, values: [TagField: [String]]) throws(TagError) -> TagWriteResult {
        // a. Refuse what cannot be written safely, before touching anything.
        let original = try FileOps.status(path)
        try FileOps.requireWritable(path, mode: original.mode, label: "file", errorPath: path)
        let file = try TagLibFile(path, container: container)
        defer { file.close() }
        if file.isReadOnly { throw TagError(path: path, reason: .readOnly("TagLib could not open the file for writing")) }
        let info = try file.tagInfo()
        if info.id3v2_version == 2 {
            throw TagError(path: path, reason: .unsupported("the file has an ID3v2.2 tag, which TagLib cannot write back as v2.2"))
        }
        if info.has_flac_id3v2 != 0 {
            throw TagError(path: path, reason: .unsupported("the FLAC file has an ID3v2 tag, which TagLib would rewrite as v2.4"))
        }

        // b. What the file holds now.
        let before = try file.snapshot(separator: id3v23Separator)
        let usesID3v2 = container == .mp3 || container == .wav || container == .aiff
        let version = usesID3v2 ? (before.id3v2Version ?? 4) : 0
        let staged = try stage(values, id3v2Version: version, path: path)
        let audio = try audioDigest(path, when: "before writing")

        // c. A flushed copy of the original bytes.
        let backup = try makeBackup(of: path, expected: original)

        // d. Stage and save.
        let rejected: [String]
        do {
            rejected = try file.setFields(staged, id3v2Version: version)
        } catch {
            backup.remove()
            throw error
        }
        if !rejected.isEmpty {
            file.close()
            backup.remove()
            throw TagError(path: path, reason: .rejected(rejected))
        }
        let unchanged: Bool
        do {
            unchanged = try FileOps.status(path).isUnchanged(comparedTo: original)
        } catch {
            backup.remove()
            throw error
        }
        guard unchanged else {
            backup.remove()
            throw TagError(path: path, reason: .io("the file changed while it was being tagged; try again once it is settled"))
        }
        let saved = file.save(id3v2Version: version)
        file.close()
        if !saved {
            try backup.restore()
            backup.remove()
            throw TagError(path: path, reason: .saveFailed)
        }
        afterSave?(path)

        // e. Re-read and compare; f. undo on any difference.
        let after: TagSnapshot
        do {
            after = try verify(path, container: container, before: before, staged: staged, version: version,
                               audio: audio, original: original)
        } catch let failure {
            try backup.restore()
            backup.remove()
            throw failure
        }
        backup.remove()

        // g. The post-write status, so the caller can recognise its own write.
        let written = try FileOps.status(path)
        return TagWriteResult(before: before, after: after, size: written.size,
                              mtimeNanoseconds: written.mtimeNanoseconds, inode: written.inode)
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

    private func makeBackup(of path: String, expected: FileOps.Status) throws(TagError) -> TagBackup {
        let directory = backupDirectory.path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TagError(path: path, reason: .io("cannot create backup folder \(directory): \(error.localizedDescription)"))
        }
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw TagError(path: path, reason: .io(FileOps.message("cannot stat backup folder \(directory)", errno)))
        }
        try FileOps.requireWritable(directory, mode: UInt32(info.st_mode), label: "backup folder", errorPath: path)
        return try TagBackup.make(of: path, in: directory, expected: expected)
    }

    /// SHA-256 over the decoded samples at the source rate (float bit patterns), with the stream's shape.
    private func audioDigest(_ path: String, when: String) throws(TagError) -> String {
        var hash = SHA256()
        let decoded: DecodedAudio
        do {
            decoded = try AudioDecoding.stream(path, targetRate: nil, chunkFrames: 65536) { chunk in
                hash.update(UnsafeRawBufferPointer(chunk))
            }
        } catch {
            throw TagError(path: path, reason: .undecodable("\(error.reasonText), \(when)"))
        }
        let shape = "\(decoded.container.rawValue) \(decoded.sourceSampleRate) Hz \(decoded.channels) ch \(decoded.sourceFrames) frames"
        return shape + " " + hash.finalizeHex()
    }

    /// The re-read snapshot, or `.verificationFailed` naming every difference from what was intended.
    private func verify(
        _ path: String, container: AudioContainer, before: TagSnapshot, staged: [String: [String]], version: Int,
        audio: String, original: FileOps.Status
    ) throws(TagError) -> TagSnapshot {
        func failed(_ what: String) -> TagError { TagError(path: path, reason: .verificationFailed(what)) }
        let after: TagSnapshot
        do {
            let file = try TagLibFile(path, container: container)
            defer { file.close() }
            after = try file.snapshot(separator: id3v23Separator)
        } catch {
            throw failed("TagLib no longer reads the file (\(error.reasonText))")
        }

        var problems: [String] = []
        var expected = before.properties
        for (key, values) in staged { expected[key] = values.isEmpty ? nil : values }
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
        do {
            let now = try audioDigest(path, when: "after writing")
            if now != audio { problems.append("the decoded audio changed (\(audio) -> \(now))") }
        } catch {
            problems.append(error.reasonText)
        }
        if !problems.isEmpty { throw failed(problems.joined(separator: "; ")) }
        return after
    }

    private static func show(_ values: [String]?) -> String {
        guard let values else { return "absent" }
        return "[" + values.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
    }
}
