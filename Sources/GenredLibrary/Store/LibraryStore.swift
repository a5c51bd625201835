import Foundation
import GRDB

import Foundation
import GenredEngine

/// The library database: tracks, analyses, runs and the tag journal (see docs/database.md).
///
/// One set of queries over two engines: a SQLite file (the default) or a PostgreSQL server
/// shared by several machines (`--store postgresql://...`, see docs/workers.md).
public final class LibraryStore: Sendable {
    /// Where it lives, as given: a file path or a URL.
    public let path: String
    let engine: any StoreEngine

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

    /// Opens (creating and migrating) the store at `path`, a SQLite file or a `postgresql://`
    /// URL; `readOnly` opens an existing one without writing anything, for readers such as
    /// `genred status` that may not own it.
    public init(path: String, readOnly: Bool = false) throws(StoreError) {
        self.path = path
        let location = StoreLocation(path)
        if location.isPostgres {
            engine = try PostgresEngine(location: location, readOnly: readOnly)
        } else {
            engine = try SQLiteEngine(path: path, readOnly: readOnly)
        }
    }

    /// The store as shown to people: a URL without its password.
    public var display: String { engine.display }
    public var isShared: Bool { engine.dialect == .postgres }

    // MARK: Tracks

    public func track(path: String) throws(StoreError) -> TrackRecord? {
        try read { try $0.fetchOne(TrackRecord.self, "SELECT * FROM track WHERE path = ?", [.text(path)]) }
    }

    public func track(id: Int64) throws(StoreError) -> TrackRecord? {
        try read { try $0.fetchOne(TrackRecord.self, "SELECT * FROM track WHERE id = ?", [.integer(id)]) }
    }

    public func tracks(fingerprint: String) throws(StoreError) -> [TrackRecord] {
        try read { try $0.fetch(TrackRecord.self, "SELECT * FROM track WHERE fingerprint = ?", [.text(fingerprint)]) }
    }

    public func tracks(inode: Int64, size: Int64) throws(StoreError) -> [TrackRecord] {
        try read { try $0.fetch(TrackRecord.self, "SELECT * FROM track WHERE inode = ? AND size = ?", [.integer(inode), .integer(size)]) }
    }

    /// Every track, or those whose path lies under `directory`.
    public func tracks(under directory: String? = nil) throws(StoreError) -> [TrackRecord] {
        try read { db in
            guard let directory else { return try db.fetch(TrackRecord.self, "SELECT * FROM track ORDER BY path") }
            let range = Self.pathRange(under: directory)
            return try db.fetch(TrackRecord.self, "SELECT * FROM track WHERE path >= ? AND path < ? ORDER BY path",
                                [.text(range.lower), .text(range.upper)])
        }
    }

    /// Inserts the track, or updates it when it has an id.
    public func save(_ track: inout TrackRecord) throws(StoreError) {
        track.updatedAt = Date()
        let copy = track
        track = try write { db in try Self.save(copy, in: db) }
    }

    /// Inserts or updates `track` in `db`; returns it with its id.
    static func save(_ track: TrackRecord, in db: any SQLSession) throws -> TrackRecord {
        var t = track
        if t.id != nil, try db.update(t) > 0 { return t }
        t.id = try db.insert(t)
        return t
    }

    static func fetchTrack(id: Int64, in db: any SQLSession) throws -> TrackRecord? {
        try db.fetchOne(TrackRecord.self, "SELECT * FROM track WHERE id = ?", [.integer(id)])
    }

    /// Applies `change` to the track's row as it is now, in one transaction, and returns the
    /// result (nil when the track is gone). Columns `change` leaves alone keep what another
    /// process may have written meanwhile (an undo's hold, say), which saving a copy read
    /// earlier would overwrite.
    @discardableResult
    func updateTrack(id: Int64, _ change: @escaping @Sendable (inout TrackRecord) -> Void) throws(StoreError) -> TrackRecord? {
        try write { db in
            guard var t = try Self.fetchTrack(id: id, in: db) else { return nil }
            change(&t)
            t.updatedAt = Date()
            try db.update(t)
            return t
        }
    }

    /// Stores an analysis and its track in one transaction: `change` is applied to the track's
    /// current row, or to `new` when `id` is nil or names no track.
    public func saveAnalysis(_ analysis: TrackAnalysis, seconds: Double, trackID id: Int64?, new: TrackRecord,
                             _ change: @escaping @Sendable (inout TrackRecord) -> Void) throws(StoreError) -> TrackRecord {
        try write { db in try Self.saveAnalysis(analysis, seconds: seconds, trackID: id, new: new, in: db, change) }
    }

    static func saveAnalysis(_ analysis: TrackAnalysis, seconds: Double, trackID id: Int64?, new: TrackRecord,
                             in db: any SQLSession, _ change: (inout TrackRecord) -> Void) throws -> TrackRecord {
        var t = try id.flatMap { try fetchTrack(id: $0, in: db) } ?? new
        change(&t)
        t.updatedAt = Date()
        t = try save(t, in: db)
        try db.insert(AnalysisRecord(trackId: t.id!, analysis: analysis, seconds: seconds), orReplaceOn: ["track_id", "model"])
        return t
    }

    func deleteTrack(id: Int64) throws(StoreError) {
        _ = try write { try $0.execute("DELETE FROM track WHERE id = ?", [.integer(id)]) }
    }

    // MARK: Analyses

    public func register(model manifest: BundleManifest) throws(StoreError) {
        _ = try write { try $0.insert(ModelRecord(manifest), orReplaceOn: ["name"]) }
    }

    public func model(_ name: String) throws(StoreError) -> ModelRecord? {
        try read { try $0.fetchOne(ModelRecord.self, "SELECT * FROM model WHERE name = ?", [.text(name)]) }
    }

    /// Stores a track and its analysis in one transaction; the track gets its id if new.
    public func save(_ track: inout TrackRecord, analysis: TrackAnalysis, seconds: Double) throws(StoreError) {
        let copy = track
        track = try write { db in try Self.saveAnalysis(analysis, seconds: seconds, trackID: nil, new: copy, in: db) { _ in } }
    }

    public func analysis(trackID: Int64, model: String) throws(StoreError) -> AnalysisRecord? {
        try read {
            try $0.fetchOne(AnalysisRecord.self, "SELECT * FROM analysis WHERE track_id = ? AND model = ?", [.integer(trackID), .text(model)])
        }
    }

    // MARK: Runs and the tag journal

    package func beginRun(command: String) throws(StoreError) -> Int64 {
        try write { db in try db.insert(RunRecord(command: command))! }
    }

    package func finishRun(_ id: Int64, summary: String) throws(StoreError) {
        _ = try write { db in
            try db.execute("UPDATE run SET finished_at = ?, summary = ? WHERE id = ?", [.date(Date()), .text(summary), .integer(id)])
        }
    }

    public func run(_ id: Int64) throws(StoreError) -> RunRecord? {
        try read { try $0.fetchOne(RunRecord.self, "SELECT * FROM run WHERE id = ?", [.integer(id)]) }
    }

    /// Journal entries, newest first; filtered by run, by path or by track, without undone ones
    /// unless asked. With `track`, entries of that track wherever its file was, and entries at
    /// `path` whose track is gone.
    func journalEntries(run: Int64? = nil, path: String? = nil, track: Int64? = nil,
                               includeUndone: Bool = false) throws(StoreError) -> [JournalEntry] {
        try read { db in
            var conditions: [String] = []
            var arguments: [SQLValue] = []
            if let run {
                conditions.append("run_id = ?")
                arguments.append(.integer(run))
            }
            if let track {
                if let path {
                    conditions.append("(track_id = ? OR (track_id IS NULL AND path = ?))")
                    arguments += [.integer(track), .text(path)]
                } else {
                    conditions.append("track_id = ?")
                    arguments.append(.integer(track))
                }
            } else if let path {
                conditions.append("path = ?")
                arguments.append(.text(path))
            }
            if !includeUndone { conditions.append("undone_at IS NULL") }
            let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
            return try db.fetch(JournalEntry.self, "SELECT * FROM tag_journal\(filter) ORDER BY id DESC", arguments)
        }
    }

    /// The newest schema migration applied to the database; nil before the first.
    public func schemaVersion() throws(StoreError) -> String? {
        let sql = engine.dialect == .sqlite
            ? "SELECT identifier FROM grdb_migrations ORDER BY rowid DESC LIMIT 1"
            : "SELECT identifier FROM genred_migrations ORDER BY applied_at DESC, identifier DESC LIMIT 1"
        return try read { try $0.row(sql)?.string("identifier") }
    }

    /// The engine's own consistency check: "ok", or the problems it found.
    package func integrityCheck() throws(StoreError) -> String {
        do { return try engine.integrityCheck() } catch { throw StoreError(path: display, reason: .query(engine.describe(error))) }
    }

    // MARK: Plumbing

    func read<T>(_ body: (any SQLSession) throws -> T) throws(StoreError) -> T {
        do { return try engine.read(body) } catch let error as StoreError { throw error } catch {
            throw StoreError(path: display, reason: .query(engine.describe(error)))
        }
    }

    func write<T>(_ body: (any SQLSession) throws -> T) throws(StoreError) -> T {
        do { return try engine.write(body) } catch let error as StoreError { throw error } catch {
            throw StoreError(path: display, reason: .query(engine.describe(error)))
        }
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
