import Foundation
import GRDB
import GenredEngine

/// The embedded engine: one SQLite file in WAL mode through a GRDB `DatabasePool` (one writer,
/// concurrent readers, so `genred status` can read while the daemon writes).
final class SQLiteEngine: StoreEngine {
    let path: String
    let pool: DatabasePool
    var dialect: SQLDialect { .sqlite }
    var display: String { path }

    /// Opens (creating and migrating) the database; `readOnly` opens an existing one without
    /// writing anything, for readers such as `genred status` that may not own it.
    init(path: String, readOnly: Bool) throws(StoreError) {
        self.path = path
        if readOnly {
            var config = GRDB.Configuration()
            config.readonly = true
            config.busyMode = .timeout(10)
            do {
                let direct = try? DatabasePool(path: path, configuration: config)
                if let direct, (try? direct.read { try Int.fetchOne($0, sql: "SELECT 1") }) != nil {
                    pool = direct
                } else {
                    // No daemon holds the WAL index open and this user cannot create it: read
                    // the file as it stands, which is complete when no writer is running.
                    pool = try DatabasePool(path: "file:\(path)?immutable=1", configuration: config)
                }
                let migrator = Self.migrator
                let (superseded, complete) = try pool.read { db in
                    (try migrator.hasBeenSuperseded(db), try migrator.hasCompletedMigrations(db))
                }
                if superseded { throw StoreError(path: path, reason: .newerThanBinary) }
                if !complete {
                    throw StoreError(path: path, reason: .cannotOpen("it needs an upgrade first: run any genred command that writes to it as its owner"))
                }
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(path: path, reason: .cannotOpen(Self.describe(error)))
            }
            return
        }
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(path: path, reason: .cannotOpen("cannot create \(directory): \(error.localizedDescription)"))
        }
        // A database from a newer genred is refused before anything opens it for writing, so
        // that not a byte of it changes (opening a pool for writing may checkpoint its WAL).
        if FileManager.default.fileExists(atPath: path) {
            var probe = GRDB.Configuration()
            probe.readonly = true
            probe.busyMode = .timeout(10)
            let superseded: Bool
            do {
                let queue = try DatabaseQueue(path: path, configuration: probe)
                superseded = try queue.read { try Self.migrator.hasBeenSuperseded($0) }
                try queue.close()
            } catch {
                throw StoreError(path: path, reason: .cannotOpen(Self.describe(error)))
            }
            if superseded { throw StoreError(path: path, reason: .newerThanBinary) }
        }
        var config = GRDB.Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            // A committed write intent must survive a power cut, not only a crash: flush the
            // WAL on every commit (GRDB's pools default to NORMAL).
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        } catch {
            throw StoreError(path: path, reason: .cannotOpen(Self.describe(error)))
        }
        let migrator = Self.migrator
        do {
            let superseded = try pool.read { try migrator.hasBeenSuperseded($0) }
            if superseded { throw StoreError(path: path, reason: .newerThanBinary) }
            try migrator.migrate(pool)
            // The reader that checked holds the schema from before the migration; a statement it
            // prepares names the columns from that schema (SQLite re-prepares it on a schema change,
            // but GRDB has taken the names already), so a column just added would read as missing.
            pool.invalidateReadOnlyConnections()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(path: path, reason: .query(Self.describe(error)))
        }
    }

    /// Append-only: never edit a shipped migration; add a new one.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "track") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("path", .text).notNull().unique()
                t.column("size", .integer).notNull()
                t.column("mtime_ns", .integer).notNull()
                t.column("inode", .integer).notNull()
                t.column("format", .text)
                t.column("duration", .double)
                t.column("fingerprint", .text).indexed()
                t.column("title", .text)
                t.column("artist", .text)
                t.column("album", .text)
                t.column("added_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
                t.column("written_size", .integer)
                t.column("written_mtime_ns", .integer)
                t.column("written_inode", .integer)
                t.column("tagged_at", .datetime)
                t.column("tag_plan", .text)
                t.column("last_error", .text)
                t.column("error_count", .integer).notNull().defaults(to: 0)
                t.column("last_error_at", .datetime)
            }
            try db.create(index: "track_inode", on: "track", columns: ["inode", "size"])
            try db.create(table: "model") { t in
                t.primaryKey("name", .text)
                t.column("version", .text).notNull()
                t.column("labels", .text).notNull()
                t.column("display_names", .text).notNull()
            }
            try db.create(table: "analysis") { t in
                t.column("track_id", .integer).notNull().references("track", onDelete: .cascade)
                t.column("model", .text).notNull().references("model")
                t.column("model_version", .text).notNull()
                t.column("windows", .integer).notNull()
                t.column("window_frames", .integer).notNull()
                t.column("hop_frames", .integer).notNull()
                t.column("frame_seconds", .double).notNull()
                t.column("padded", .boolean).notNull()
                t.column("mean", .blob).notNull()
                t.column("vote", .blob).notNull()
                t.column("taggram", .blob).notNull()
                t.column("embedding", .blob).notNull()
                t.column("analyzed_at", .datetime).notNull()
                t.column("seconds", .double).notNull()
                t.primaryKey(["track_id", "model"])
            }
            try db.create(table: "run") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("command", .text).notNull()
                t.column("started_at", .datetime).notNull()
                t.column("finished_at", .datetime)
                t.column("summary", .text)
            }
            try db.create(table: "tag_journal") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).notNull().references("run").indexed()
                t.column("track_id", .integer).references("track", onDelete: .setNull)
                t.column("path", .text).notNull().indexed()
                t.column("previous", .text).notNull()
                t.column("new", .text).notNull()
                t.column("written_at", .datetime).notNull()
                t.column("undone_at", .datetime)
            }
        }
        m.registerMigration("v2-daemon") { db in
            try db.create(table: "queue") { t in
                t.primaryKey("path", .text)
                t.column("reason", .text).notNull()
                t.column("enqueued_at", .datetime).notNull()
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("not_before", .datetime)
                t.column("last_error", .text)
            }
            try db.create(table: "daemon_state") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
                t.column("updated_at", .datetime).notNull()
            }
        }
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
        // What media servers match songs on besides title, artist and duration: the MusicBrainz
        // recording id and the ISRC, read from the files' tags (`MUSICBRAINZ_TRACKID`, `ISRC`).
        m.registerMigration("v4-track-identifiers") { db in
            try db.alter(table: "track") { t in
                t.add(column: "musicbrainz_recording_id", .text)
                t.add(column: "isrc", .text)
            }
            try db.create(index: "track_musicbrainz_recording_id", on: "track", columns: ["musicbrainz_recording_id"])
            try db.create(index: "track_isrc", on: "track", columns: ["isrc"])
            // `contentStamp` asks for the latest change on every refresh of a long-running reader
            // (`genred serve`); the index answers without a scan of the table.
            try db.create(index: "track_updated_at", on: "track", columns: ["updated_at"])
        }
        m.registerMigration("v5-taxonomies") { db in
            try db.create(table: "taxonomy") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("model", .text).notNull()
                t.column("model_version", .text).notNull()
                t.column("manifest", .text).notNull()
                t.column("weights", .blob).notNull()
                t.column("report", .text)
                t.column("sources", .text)
                t.column("origin", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.uniqueKey(["name", "version"])
            }
            try db.create(table: "taxonomy_example") { t in
                t.column("taxonomy_id", .integer).notNull().references("taxonomy", onDelete: .cascade).indexed()
                t.column("track_id", .integer).references("track", onDelete: .setNull)
                t.column("path", .text).notNull()
                t.column("labels", .text).notNull()
                t.column("group_key", .text).notNull()
                t.column("fold", .integer).notNull()
            }
        }
        m.registerMigration("v6-workers") { db in
            for statement in StoreSchema.workerTables(.sqlite) { try db.execute(sql: statement) }
            // The machine that recorded a write intent: with a shared store, each settles its own.
            try db.execute(sql: "ALTER TABLE write_intent ADD COLUMN host TEXT")
        }
        m.registerMigration("v7-analysis-precision") { db in
            // The precision the network ran in (`[analysis] precision`, after any fallback to fp32).
            try db.execute(sql: "ALTER TABLE analysis ADD COLUMN precision TEXT NOT NULL DEFAULT 'fp32'")
        }
        return m
    }

    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            return try pool.read { try box.value(GRDBSession(db: $0)) }
        }
    }

    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            return try pool.write { try box.value(GRDBSession(db: $0)) }
        }
    }

    func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }

    /// SQLite has no notifications between processes: readers poll.
    func listen(_ channel: String, _ body: @escaping @Sendable () -> Void) throws -> (any StoreListener)? { nil }

    func describe(_ error: any Error) -> String { Self.describe(error) }

    static func describe(_ error: any Error) -> String {
        if let db = error as? DatabaseError { return db.message ?? "\(db)" }
        return "\(error)"
    }
}

/// Carries a closure GRDB's `@Sendable` parameters do not need to know about: the closure
/// runs synchronously on the calling thread's behalf, before `read`/`write` returns.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// One GRDB connection as a `SQLSession`.
struct GRDBSession: SQLSession {
    let db: Database
    var dialect: SQLDialect { .sqlite }

    static func bind(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(values.map { value -> DatabaseValue in
            switch value {
            case .null: .null
            case .integer(let v): v.databaseValue
            case .real(let v): v.databaseValue
            case .text(let s): s.databaseValue
            case .blob(let d): d.databaseValue
            case .date(let d): SQLiteDate.format(d).databaseValue
            case .bool(let b): (b ? 1 : 0).databaseValue
            }
        })
    }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try db.execute(sql: sql, arguments: Self.bind(arguments))
        return db.changesCount
    }

    func each(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
        let cursor = try Row.fetchCursor(db, sql: sql, arguments: Self.bind(arguments))
        var columns: [String]?
        while let row = try cursor.next() {
            if columns == nil { columns = Array(row.columnNames) }
            let values = Array(row.databaseValues).map { value -> SQLValue in
                switch value.storage {
                case .null: .null
                case .int64(let v): .integer(v)
                case .double(let v): .real(v)
                case .string(let s): .text(s)
                case .blob(let d): .blob(d)
                }
            }
            try body(SQLRow(columns: columns!, values: values))
        }
    }

    func insertReturningID(_ sql: String, _ arguments: [SQLValue]) throws -> Int64 {
        try db.execute(sql: sql, arguments: Self.bind(arguments))
        return db.lastInsertedRowID
    }
}
