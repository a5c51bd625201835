import Foundation
import GRDB

/// A tag write about to happen, recorded before the file is touched (write-ahead).
///
/// The row holds everything needed to settle the write after a crash without the process
/// that started it: the file's original status and digest, where its backup is, what the
/// tag held before and what it must hold after, and the journal entry the write will make.
/// It is deleted in the same transaction that records the outcome.
public struct IntentRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "write_intent"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

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
    public var trackId: Int64?
    public var path: String
    public var kind: Kind
    /// For an undo: the journal entry it reverses.
    public var undoes: Int64?
    /// For a tag write: the tag plan the track gets once written.
    public var planKey: String?
    /// The backup file's path.
    public var backup: String
    public var originalSize: Int64
    /// SHA-256 of the original bytes.
    public var originalDigest: String
    public var originalDevice: Int64
    public var originalInode: Int64
    public var originalMode: Int64
    public var originalAtimeNs: Int64
    public var originalMtimeNs: Int64
    /// The decoded audio's shape and hash (`TagWriter.audioDigest`).
    public var audioDigest: String
    public var container: String
    public var id3v2Version: Int
    /// JSON `TagSnapshot` of the file before.
    public var before: String
    /// JSON object: property key -> values to store.
    public var staged: String
    /// JSON objects of the journal entry: field -> values before and after.
    public var previous: String
    public var new: String
    public var createdAt: Date
    public var state: State
    public var note: String?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension LibraryStore {
    static func registerIntentMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3-write-intents") { db in
            try db.create(table: "write_intent") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).notNull().references("run")
                t.column("track_id", .integer).references("track", onDelete: .setNull)
                t.column("path", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("undoes", .integer).references("tag_journal", onDelete: .setNull)
                t.column("plan_key", .text)
                t.column("backup", .text).notNull()
                t.column("original_size", .integer).notNull()
                t.column("original_digest", .text).notNull()
                t.column("original_device", .integer).notNull()
                t.column("original_inode", .integer).notNull()
                t.column("original_mode", .integer).notNull()
                t.column("original_atime_ns", .integer).notNull()
                t.column("original_mtime_ns", .integer).notNull()
                t.column("audio_digest", .text).notNull()
                t.column("container", .text).notNull()
                t.column("id3v2_version", .integer).notNull()
                t.column("before", .text).notNull()
                t.column("staged", .text).notNull()
                t.column("previous", .text).notNull()
                t.column("new", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("state", .text).notNull()
                t.column("note", .text)
            }
            // A person's undo holds the track's tags: genred does not write them again unasked.
            try db.alter(table: "track") { t in
                t.add(column: "tags_held_at", .datetime)
                // The file's ctime when the last failure was recorded: a failed file is tried
                // again once anything about it (content, tags, permissions) changes.
                t.add(column: "error_ctime_ns", .integer)
                // Why the file decodes only in part, when it does (`DecodedAudio.damage`).
                t.add(column: "damage", .text)
            }
            // 0: new and changed files; 1: background work such as re-analysis after a model change.
            try db.alter(table: "queue") { t in
                t.add(column: "priority", .integer).notNull().defaults(to: 0)
            }
        }
    }

    /// Records an intent durably; the file may be touched once this returns.
    public func insertIntent(_ intent: inout IntentRecord) throws(StoreError) {
        let copy = intent
        intent = try write { db in
            var i = copy
            try i.insert(db)
            return i
        }
    }

    /// Intents not yet settled, oldest first; with `includeStuck`, those waiting for a person too.
    public func intents(includeStuck: Bool = false) throws(StoreError) -> [IntentRecord] {
        try read { db in
            var request = IntentRecord.order(Column("id"))
            if !includeStuck { request = request.filter(Column("state") == IntentRecord.State.pending.rawValue) }
            return try request.fetchAll(db)
        }
    }

    /// The write happened and was verified: journals it, updates the track and forgets the
    /// intent, in one transaction. Returns the journal entry and the updated track.
    @discardableResult
    public func settleWritten(_ intent: IntentRecord, written stat: FileStat, at date: Date = Date())
        throws(StoreError) -> (entry: JournalEntry, track: TrackRecord?) {
        try write { db in
            var entry = JournalEntry(runId: intent.runId, trackId: intent.trackId, path: intent.path,
                                     previous: [:], new: [:], writtenAt: date)
            entry.previous = intent.previous
            entry.new = intent.new
            try entry.insert(db)
            if intent.kind == .undo, let undone = intent.undoes {
                try db.execute(sql: "UPDATE tag_journal SET undone_at = ? WHERE id = ?", arguments: [date, undone])
            }
            var track: TrackRecord?
            if let id = intent.trackId, var t = try TrackRecord.fetchOne(db, key: id) {
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
                try t.update(db)
                track = t
            }
            _ = try IntentRecord.deleteOne(db, key: intent.id)
            return (entry, track)
        }
    }

    /// The file holds its original bytes (never written, or restored): forgets the intent.
    public func settleUnwritten(_ intent: IntentRecord) throws(StoreError) {
        _ = try write { try IntentRecord.deleteOne($0, key: intent.id) }
    }

    /// Leaves the intent for a person, with the reason.
    public func markStuck(_ intent: IntentRecord, note: String) throws(StoreError) {
        try write { db in
            try db.execute(sql: "UPDATE write_intent SET state = ?, note = ? WHERE id = ?",
                           arguments: [IntentRecord.State.stuck.rawValue, note, intent.id])
        }
    }
}
