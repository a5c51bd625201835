import Foundation
import GenredEngine

/// A tag write about to happen, recorded before the file is touched (write-ahead).
///
/// The row holds everything needed to settle the write after a crash without the process
/// that started it: the file's original status and digest, where its backup is, what the
/// tag held before and what it must hold after, and the journal entry the write will make.
/// It is deleted in the same transaction that records the outcome.
public struct IntentRecord: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "write_intent"

    public enum Kind: String, Codable, Sendable {
        /// genred's own tags, decided from the scores.
        case tag
        /// A `genred undo` putting back the values of journal entry `undoes`.
        case undo
    }

    public enum State: String, Codable, Sendable {
        /// Recorded; the file may be anywhere between untouched and written.
        case pending
        /// Settling failed in a way that needs a person (the file is gone or was replaced, or a
        /// restore failed); the backup is kept and `note` says why.
        case stuck
    }

    public var id: Int64?
    public var runId: Int64
    var trackId: Int64?
    public var path: String
    public var kind: Kind
    /// For an undo: the journal entry it reverses.
    public var undoes: Int64?
    /// For a tag write: the tag plan the track gets once written.
    package var planKey: String?
    /// The backup file's path.
    public var backup: String
    var originalSize: Int64
    /// SHA-256 of the original bytes.
    var originalDigest: String
    var originalDevice: Int64
    var originalInode: Int64
    var originalMode: Int64
    var originalAtimeNs: Int64
    var originalMtimeNs: Int64
    /// The decoded audio's shape and hash (`TagWriter.audioDigest`).
    var audioDigest: String
    public var container: String
    var id3v2Version: Int
    /// JSON `TagSnapshot` of the file before.
    public var before: String
    /// JSON object: property key -> values to store.
    var staged: String
    /// JSON objects of the journal entry: field -> values before and after.
    public var previous: String
    public var new: String
    public var createdAt: Date
    public var state: State
    public var note: String?
    /// The machine whose process recorded it (its backup is on that machine's disk): with a
    /// store shared by several machines, each settles only its own. Nil in rows written before
    /// the column existed, which any machine settles.
    public var host: String? = StoreHost.name

}

extension LibraryStore {
    /// Records an intent durably; the file may be touched once this returns.
    func insertIntent(_ intent: inout IntentRecord) throws(StoreError) {
        let copy = intent
        intent = try write { db in
            var i = copy
            i.id = try db.insert(i)
            return i
        }
    }

    /// Intents not yet settled, oldest first; with `includeStuck`, those waiting for a person too;
    /// with `host`, only that machine's (and those that name none).
    func intents(includeStuck: Bool = false, host: String? = nil) throws(StoreError) -> [IntentRecord] {
        try read { db in
            var conditions: [String] = []
            var arguments: [SQLValue] = []
            if !includeStuck { conditions.append("state = '\(IntentRecord.State.pending.rawValue)'") }
            if let host {
                conditions.append("(host IS NULL OR host = ?)")
                arguments.append(.text(host))
            }
            let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
            return try db.fetch(IntentRecord.self, "SELECT * FROM write_intent\(filter) ORDER BY id", arguments)
        }
    }

    /// The write happened and was verified: journals it, updates the track and forgets the
    /// intent, in one transaction. Returns the journal entry and the updated track.
    @discardableResult
    func settleWritten(_ intent: IntentRecord, written stat: FileStat, at date: Date = Date())
        throws(StoreError) -> (entry: JournalEntry, track: TrackRecord?) {
        try write { db in
            var entry = JournalEntry(runId: intent.runId, trackId: intent.trackId, path: intent.path,
                                     previous: [:], new: [:], writtenAt: date)
            entry.previous = intent.previous
            entry.new = intent.new
            entry.id = try db.insert(entry)
            if intent.kind == .undo, let undone = intent.undoes {
                try db.execute("UPDATE tag_journal SET undone_at = ? WHERE id = ?", [.date(date), .integer(undone)])
            }
            var track: TrackRecord?
            if let id = intent.trackId, var t = try Self.fetchTrack(id: id, in: db) {
                t.writtenSize = stat.size
                t.writtenMtimeNs = stat.mtimeNs
                t.writtenInode = stat.inode
                t.update(from: stat)
                t.taggedAt = date
                t.updatedAt = date
                t.lastError = nil
                t.errorCount = 0
                t.lastErrorAt = nil
                t.errorCtimeNs = nil
                switch intent.kind {
                case .tag:
                    t.tagPlan = intent.planKey
                    t.tagsHeldAt = nil
                case .undo:
                    t.tagPlan = nil
                    t.tagsHeldAt = date
                }
                try db.update(t)
                track = t
            }
            try Self.deleteIntent(intent, in: db)
            return (entry, track)
        }
    }

    /// The file holds its original bytes (never written, or restored): forgets the intent.
    func settleUnwritten(_ intent: IntentRecord) throws(StoreError) {
        _ = try write { try Self.deleteIntent(intent, in: $0) }
    }

    static func deleteIntent(_ intent: IntentRecord, in db: any SQLSession) throws {
        guard let id = intent.id else { return }
        try db.execute("DELETE FROM write_intent WHERE id = ?", [.integer(id)])
    }

    /// Leaves the intent for a person, with the reason.
    func markStuck(_ intent: IntentRecord, note: String) throws(StoreError) {
        _ = try write { db in
            try db.execute("UPDATE write_intent SET state = ?, note = ? WHERE id = ?",
                           [.text(IntentRecord.State.stuck.rawValue), .text(note), intent.id.map { .integer($0) } ?? .null])
        }
    }
}

/// This machine's name, as `gethostname(2)` gives it.
package enum StoreHost {
    public static let name: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return cText(buffer)
    }()
}
