import Foundation
import GRDB

/// The library database: tracks, analyses, runs and the tag journal (see docs/database.md).
///
/// SQLite in WAL mode through a GRDB `DatabasePool`: one writer, concurrent readers, so
/// `genred status` can read while the daemon writes.
public final class LibraryStore: Sendable {
    public let path: String
    let pool: DatabasePool

    /// Where the database lives by default: `$STATE_DIRECTORY` (set by systemd's
    /// `StateDirectory=`), else `$XDG_DATA_HOME/genred`, else `~/.local/share/genred`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let state = environment["STATE_DIRECTORY"], !state.isEmpty {
            return state.split(separator: ":").first.map(String.init)! + "/library.sqlite"
        }
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") { return data + "/genred/library.sqlite" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/share/genred/library.sqlite"
    }

    /// Opens (creating and migrating) the database; `readOnly` opens an existing one without
    /// writing anything, for readers such as `genred status` that may not own it.
    public init(path: String, readOnly: Bool = false) throws(StoreError) {
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
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(path: path, reason: .sqlite(Self.describe(error)))
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
        registerIntentMigration(&m)
        registerTrackIdentifierMigration(&m)
        registerTaxonomyMigration(&m)
        return m
    }

    // MARK: Tracks

    public func track(path: String) throws(StoreError) -> TrackRecord? {
        try read { try TrackRecord.filter(Column("path") == path).fetchOne($0) }
    }

    public func track(id: Int64) throws(StoreError) -> TrackRecord? {
        try read { try TrackRecord.fetchOne($0, key: id) }
    }

    public func tracks(fingerprint: String) throws(StoreError) -> [TrackRecord] {
        try read { try TrackRecord.filter(Column("fingerprint") == fingerprint).fetchAll($0) }
    }

    public func tracks(inode: Int64, size: Int64) throws(StoreError) -> [TrackRecord] {
        try read { try TrackRecord.filter(Column("inode") == inode && Column("size") == size).fetchAll($0) }
    }

    /// Every track, or those whose path lies under `directory`.
    public func tracks(under directory: String? = nil) throws(StoreError) -> [TrackRecord] {
        try read { db in
            guard let directory else { return try TrackRecord.order(Column("path")).fetchAll(db) }
            let range = Self.pathRange(under: directory)
            return try TrackRecord.filter(Column("path") >= range.lower && Column("path") < range.upper)
                .order(Column("path")).fetchAll(db)
        }
    }

    /// Inserts the track, or updates it when it has an id.
    public func save(_ track: inout TrackRecord) throws(StoreError) {
        track.updatedAt = Date()
        let copy = track
        let saved: TrackRecord = try write { db in
            var t = copy
            try t.save(db)
            return t
        }
        track = saved
    }

    /// Applies `change` to the track's row as it is now, in one transaction, and returns the
    /// result (nil when the track is gone). Columns `change` leaves alone keep what another
    /// process may have written meanwhile (an undo's hold, say), which saving a copy read
    /// earlier would overwrite.
    @discardableResult
    public func updateTrack(id: Int64, _ change: @escaping @Sendable (inout TrackRecord) -> Void) throws(StoreError) -> TrackRecord? {
        try write { db in
            guard var t = try TrackRecord.fetchOne(db, key: id) else { return nil }
            change(&t)
            t.updatedAt = Date()
            try t.update(db)
            return t
        }
    }

    /// Stores an analysis and its track in one transaction: `change` is applied to the track's
    /// current row, or to `new` when `id` is nil or names no track.
    public func saveAnalysis(_ analysis: TrackAnalysis, seconds: Double, trackID id: Int64?, new: TrackRecord,
                             _ change: @escaping @Sendable (inout TrackRecord) -> Void) throws(StoreError) -> TrackRecord {
        try write { db in
            var t = try id.flatMap { try TrackRecord.fetchOne(db, key: $0) } ?? new
            change(&t)
            t.updatedAt = Date()
            try t.save(db)
            try AnalysisRecord(trackId: t.id!, analysis: analysis, seconds: seconds).save(db)
            return t
        }
    }

    public func deleteTrack(id: Int64) throws(StoreError) {
        _ = try write { try TrackRecord.deleteOne($0, key: id) }
    }

    // MARK: Analyses

    public func register(model manifest: BundleManifest) throws(StoreError) {
        try write { try ModelRecord(manifest).save($0) }
    }

    public func model(_ name: String) throws(StoreError) -> ModelRecord? {
        try read { try ModelRecord.fetchOne($0, key: name) }
    }

    /// Stores a track and its analysis in one transaction; the track gets its id if new.
    public func save(_ track: inout TrackRecord, analysis: TrackAnalysis, seconds: Double) throws(StoreError) {
        track.updatedAt = Date()
        let copy = track
        let saved: TrackRecord = try write { db in
            var t = copy
            try t.save(db)
            try AnalysisRecord(trackId: t.id!, analysis: analysis, seconds: seconds).save(db)
            return t
        }
        track = saved
    }

    public func analysis(trackID: Int64, model: String) throws(StoreError) -> AnalysisRecord? {
        try read { try AnalysisRecord.fetchOne($0, key: ["track_id": trackID, "model": model]) }
    }

    // MARK: Runs and the tag journal

    public func beginRun(command: String) throws(StoreError) -> Int64 {
        try write { db in
            var run = RunRecord(command: command)
            try run.insert(db)
            return run.id!
        }
    }

    public func finishRun(_ id: Int64, summary: String) throws(StoreError) {
        try write { db in
            try db.execute(sql: "UPDATE run SET finished_at = ?, summary = ? WHERE id = ?", arguments: [Date(), summary, id])
        }
    }

    public func run(_ id: Int64) throws(StoreError) -> RunRecord? {
        try read { try RunRecord.fetchOne($0, key: id) }
    }

    /// Journal entries, newest first; filtered by run, by path or by track, without undone ones
    /// unless asked. With `track`, entries of that track wherever its file was, and entries at
    /// `path` whose track is gone.
    public func journalEntries(run: Int64? = nil, path: String? = nil, track: Int64? = nil,
                               includeUndone: Bool = false) throws(StoreError) -> [JournalEntry] {
        try read { db in
            var request = JournalEntry.all()
            if let run { request = request.filter(Column("run_id") == run) }
            if let track {
                request = request.filter(Column("track_id") == track || (Column("track_id") == nil && Column("path") == path))
            } else if let path {
                request = request.filter(Column("path") == path)
            }
            if !includeUndone { request = request.filter(Column("undone_at") == nil) }
            return try request.order(Column("id").desc).fetchAll(db)
        }
    }

    /// SQLite's `PRAGMA integrity_check`: "ok", or the problems it found.
    public func integrityCheck() throws(StoreError) -> String {
        try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }

    // MARK: Plumbing

    func read<T>(_ body: @Sendable (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.read(body) } catch { throw StoreError(path: path, reason: .sqlite(Self.describe(error))) }
    }

    func write<T>(_ body: @Sendable (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.write(body) } catch { throw StoreError(path: path, reason: .sqlite(Self.describe(error))) }
    }

    static func describe(_ error: Error) -> String {
        if let db = error as? DatabaseError { return db.message ?? "\(db)" }
        return "\(error)"
    }

    /// The paths below `directory` are exactly those `p` with `lower <= p < upper`: SQLite
    /// compares text byte by byte, so this is a byte-prefix match on `directory/` that keeps case
    /// and Unicode normalisation apart and uses the path index (a `LIKE` would fold ASCII case).
    static func pathRange(under directory: String) -> (lower: String, upper: String) {
        var bytes = Array(directory.utf8)
        while bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        let lower = String(decoding: bytes + [UInt8(ascii: "/")], as: UTF8.self)
        let upper = String(decoding: bytes + [UInt8(ascii: "/") + 1], as: UTF8.self)
        return (lower, upper)
    }
}
