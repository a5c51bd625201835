import Foundation
import GRDB

/// A file waiting for the daemon, kept in the database so it survives restarts and crashes.
public struct QueueItem: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "queue"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var path: String
    /// Why it was queued: `new`, `changed`, `moved`, `rescan`, `retry`.
    public var reason: String
    public var enqueuedAt: Date
    public var attempts: Int
    /// Not to be tried before this time (backoff after a failure).
    public var notBefore: Date?
    public var lastError: String?
    /// 0 for new and changed files; higher waits behind them (re-analysis after a model change).
    public var priority: Int

    public init(path: String, reason: String, enqueuedAt: Date = Date(), priority: Int = 0) {
        self.path = path
        self.reason = reason
        self.enqueuedAt = enqueuedAt
        self.priority = priority
        attempts = 0
    }
}

extension LibraryStore {
    /// Queues `path`; a path already queued keeps its place and its attempt count, and takes
    /// the more urgent priority of the two (lower is sooner).
    public func enqueue(_ path: String, reason: String, priority: Int = 0) throws(StoreError) {
        try write { db in
            try db.execute(sql: """
                INSERT INTO queue (path, reason, enqueued_at, attempts, priority) VALUES (?, ?, ?, 0, ?)
                ON CONFLICT(path) DO UPDATE SET priority = MIN(priority, excluded.priority)
                """, arguments: [path, reason, Date(), priority])
        }
    }

    /// The items due now, most urgent then oldest first, at most `limit`.
    public func dueQueueItems(limit: Int, now: Date = Date()) throws(StoreError) -> [QueueItem] {
        try read { db in
            try QueueItem.filter(Column("not_before") == nil || Column("not_before") <= now)
                .order(Column("priority"), Column("enqueued_at"), Column("path")).limit(limit).fetchAll(db)
        }
    }

    /// When the next item not yet due becomes due.
    public func nextQueueDate() throws(StoreError) -> Date? {
        try read { try Date.fetchOne($0, sql: "SELECT MIN(not_before) FROM queue WHERE not_before IS NOT NULL") }
    }

    public func dequeue(_ path: String) throws(StoreError) {
        _ = try write { try QueueItem.deleteOne($0, key: path) }
    }

    /// Records a failed attempt: retried after `backoff`, or dropped from the queue once
    /// `maxAttempts` is reached (the track keeps the error). Returns whether it stays queued.
    @discardableResult
    public func failQueueItem(_ path: String, error: String, maxAttempts: Int, backoff: TimeInterval) throws(StoreError) -> Bool {
        try write { db in
            guard var item = try QueueItem.fetchOne(db, key: path) else { return false }
            item.attempts += 1
            item.lastError = error
            if item.attempts >= maxAttempts {
                try item.delete(db)
                return false
            }
            item.notBefore = Date().addingTimeInterval(backoff * pow(2, Double(item.attempts - 1)))
            try item.update(db)
            return true
        }
    }

    public func queueLength() throws(StoreError) -> Int {
        try read { try QueueItem.fetchCount($0) }
    }

    /// Moves a queued path along with its file.
    public func renameQueued(from old: String, to new: String) throws(StoreError) {
        try write { db in
            try db.execute(sql: "UPDATE OR REPLACE queue SET path = ? WHERE path = ?", arguments: [new, old])
        }
    }

    public func removeQueued(under directory: String) throws(StoreError) {
        let range = Self.pathRange(under: directory)
        try write { db in
            try db.execute(sql: "DELETE FROM queue WHERE path = ? OR (path >= ? AND path < ?)",
                           arguments: [directory, range.lower, range.upper])
        }
    }

    // MARK: Daemon state, for `genred status`

    public func setDaemonState(_ key: String, _ value: String) throws(StoreError) {
        try write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO daemon_state (key, value, updated_at) VALUES (?, ?, ?)",
                           arguments: [key, value, Date()])
        }
    }

    public func daemonState() throws(StoreError) -> [String: String] {
        try read { db in
            var out: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM daemon_state") { out[row["key"]] = row["value"] }
            return out
        }
    }

    /// Counts for `genred status`.
    public struct Counts: Sendable, Equatable {
        public var tracks = 0
        public var analysed = 0
        public var tagged = 0
        public var failed = 0
        public var queue = 0
        /// Tracks whose tags a person's undo put back (left alone until `retag --rewrite-undone`).
        public var held = 0
        /// Interrupted writes that could not be settled and wait for a person (`write_intent`).
        public var stuckWrites = 0
        /// Tracks whose files decode only in part.
        public var damaged = 0

        public init() {}
    }

    public func counts() throws(StoreError) -> Counts {
        try read { db in
            var c = Counts()
            c.tracks = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM track") ?? 0
            c.analysed = try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT track_id) FROM analysis") ?? 0
            c.tagged = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM track WHERE tagged_at IS NOT NULL") ?? 0
            c.failed = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM track WHERE last_error IS NOT NULL") ?? 0
            c.queue = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM queue") ?? 0
            c.held = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM track WHERE tags_held_at IS NOT NULL") ?? 0
            c.stuckWrites = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM write_intent WHERE state = 'stuck'") ?? 0
            c.damaged = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM track WHERE damage IS NOT NULL") ?? 0
            return c
        }
    }

    /// The most recent failures: path, error, when.
    public func recentErrors(limit: Int) throws(StoreError) -> [(path: String, error: String, at: Date?)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT path, last_error, last_error_at FROM track WHERE last_error IS NOT NULL
                ORDER BY last_error_at DESC LIMIT ?
                """, arguments: [limit]).map { ($0["path"], $0["last_error"], $0["last_error_at"]) }
        }
    }
}

extension LibraryStore {
    /// Follows a file renamed on disk: its track (and queue entry) take the new path. A track
    /// already at the new path (a file replaced by the move) is dropped first.
    public func moveTrack(from old: String, to new: String) throws(StoreError) {
        try write { db in
            try db.execute(sql: "DELETE FROM track WHERE path = ?", arguments: [new])
            try db.execute(sql: "UPDATE track SET path = ?, updated_at = ? WHERE path = ?", arguments: [new, Date(), old])
            try db.execute(sql: "UPDATE OR REPLACE queue SET path = ? WHERE path = ?", arguments: [new, old])
        }
    }

    /// Follows a directory renamed on disk: every track and queue entry under it moves along.
    public func moveTracks(under old: String, to new: String) throws(StoreError) {
        let from = Self.pathRange(under: old)
        let newPrefix = Self.pathRange(under: new).lower
        // SQLite's substr counts a text's characters as code points, as `unicodeScalars` does.
        let rest = from.lower.unicodeScalars.count + 1
        try write { db in
            let under = "path >= ? AND path < ?"
            // A track already where a moved one lands (a file replaced by the move) goes first.
            try db.execute(sql: "DELETE FROM track WHERE path IN (SELECT ? || substr(path, ?) FROM track WHERE \(under))",
                           arguments: [newPrefix, rest, from.lower, from.upper])
            try db.execute(sql: "UPDATE track SET path = ? || substr(path, ?), updated_at = ? WHERE \(under)",
                           arguments: [newPrefix, rest, Date(), from.lower, from.upper])
            try db.execute(sql: "UPDATE OR REPLACE queue SET path = ? || substr(path, ?) WHERE \(under)",
                           arguments: [newPrefix, rest, from.lower, from.upper])
        }
    }

    /// Forgets a deleted file (its tag journal stays). Returns whether a track was removed.
    @discardableResult
    public func forget(path: String) throws(StoreError) -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM queue WHERE path = ?", arguments: [path])
            try db.execute(sql: "DELETE FROM track WHERE path = ?", arguments: [path])
            return db.changesCount > 0
        }
    }

    /// Forgets every file under a deleted directory. Returns how many tracks were removed.
    @discardableResult
    public func forget(under directory: String) throws(StoreError) -> Int {
        let range = Self.pathRange(under: directory)
        return try write { db in
            try db.execute(sql: "DELETE FROM queue WHERE path >= ? AND path < ?", arguments: [range.lower, range.upper])
            try db.execute(sql: "DELETE FROM track WHERE path >= ? AND path < ?", arguments: [range.lower, range.upper])
            return db.changesCount
        }
    }
}

extension LibraryStore {
    /// What similarity and maps need of each analysed track, without the taggrams.
    public struct TrackVectors: Sendable {
        public var ids: [Int64] = []
        public var paths: [String] = []
        public var titles: [String?] = []
        public var artists: [String?] = []
        public var albums: [String?] = []
        public var durations: [Double?] = []
        /// MusicBrainz recording ids and ISRCs (see `TrackIdentifier`), what media servers match songs on.
        public var recordingIDs: [String?] = []
        public var isrcs: [String?] = []
        /// Row-major, `count x embeddingSize`.
        public var embeddings: [Float] = []
        /// Row-major mean probabilities, `count x labels`.
        public var scores: [Float] = []
        public var embeddingSize = 0
        public var labelCount = 0
        public var count: Int { ids.count }

        public init() {}
    }

    /// The embeddings and mean scores of every track analysed by `model`, optionally under a folder.
    public func vectors(model: String, under directory: String? = nil) throws(StoreError) -> TrackVectors {
        try read { db in
            var v = TrackVectors()
            var sql = """
                SELECT t.id, t.path, t.title, t.artist, t.album, t.duration, t.musicbrainz_recording_id, t.isrc,
                       a.embedding, a.mean
                FROM track t JOIN analysis a ON a.track_id = t.id WHERE a.model = ?
                """
            var arguments: StatementArguments = [model]
            if let directory {
                let range = Self.pathRange(under: directory)
                sql += " AND t.path >= ? AND t.path < ?"
                _ = arguments.append(contentsOf: [range.lower, range.upper])
            }
            sql += " ORDER BY t.path"
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                let embedding = BlobCoding.float32(row["embedding"] as Data)
                let mean = BlobCoding.float32(row["mean"] as Data)
                if v.count == 0 {
                    v.embeddingSize = embedding.count
                    v.labelCount = mean.count
                }
                guard embedding.count == v.embeddingSize, mean.count == v.labelCount else { continue }
                v.ids.append(row["id"])
                v.paths.append(row["path"])
                v.titles.append(row["title"])
                v.artists.append(row["artist"])
                v.albums.append(row["album"])
                v.durations.append(row["duration"])
                v.recordingIDs.append(row["musicbrainz_recording_id"])
                v.isrcs.append(row["isrc"])
                v.embeddings += embedding
                v.scores += mean
            }
            return v
        }
    }
}
