import Foundation
import GenredEngine

/// A file waiting for the daemon, kept in the database so it survives restarts and crashes.
public struct QueueItem: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "queue"

    public var path: String
    /// Why it was queued: `new`, `changed`, `moved`, `rescan`, `retry`.
    public var reason: String
    var enqueuedAt: Date
    var attempts: Int
    /// Not to be tried before this time (backoff after a failure).
    var notBefore: Date?
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
        _ = try write { db in try Self.enqueue(path, reason: reason, priority: priority, in: db) }
    }

    static func enqueue(_ path: String, reason: String, priority: Int = 0, in db: any SQLSession) throws {
        try db.execute("""
            INSERT INTO queue (path, reason, enqueued_at, attempts, priority) VALUES (?, ?, ?, 0, ?)
            ON CONFLICT (path) DO UPDATE SET priority = \(db.dialect.least("queue.priority", "excluded.priority"))
            """, [.text(path), .text(reason), .date(Date()), .integer(Int64(priority))])
    }

    /// The items due now, most urgent then oldest first, at most `limit`.
    public func dueQueueItems(limit: Int, now: Date = Date()) throws(StoreError) -> [QueueItem] {
        try read { db in
            try db.fetch(QueueItem.self, """
                SELECT * FROM queue WHERE not_before IS NULL OR not_before <= ?
                ORDER BY priority, enqueued_at, path LIMIT ?
                """, [.date(now), .integer(Int64(limit))])
        }
    }

    /// When the next item not yet due becomes due.
    func nextQueueDate() throws(StoreError) -> Date? {
        try read { try $0.row("SELECT MIN(not_before) AS d FROM queue WHERE not_before IS NOT NULL")?.date("d") }
    }

    package func dequeue(_ path: String) throws(StoreError) {
        _ = try write { try $0.execute("DELETE FROM queue WHERE path = ?", [.text(path)]) }
    }

    /// Records a failed attempt: retried after `backoff`, or dropped from the queue once
    /// `maxAttempts` is reached (the track keeps the error). Returns whether it stays queued.
    @discardableResult
    package func failQueueItem(_ path: String, error: String, maxAttempts: Int, backoff: TimeInterval) throws(StoreError) -> Bool {
        try write { db in
            guard var item = try db.fetchOne(QueueItem.self, "SELECT * FROM queue WHERE path = ?", [.text(path)]) else { return false }
            item.attempts += 1
            item.lastError = error
            if item.attempts >= maxAttempts {
                try db.execute("DELETE FROM queue WHERE path = ?", [.text(path)])
                return false
            }
            item.notBefore = Date().addingTimeInterval(backoff * pow(2, Double(item.attempts - 1)))
            try db.update(item, key: ["path"])
            return true
        }
    }

    package func queueLength() throws(StoreError) -> Int {
        try read { Int(try $0.integer("SELECT COUNT(*) FROM queue") ?? 0) }
    }

    /// Moves a queued path along with its file.
    func renameQueued(from old: String, to new: String) throws(StoreError) {
        _ = try write { db in try Self.moveQueued(from: old, to: new, in: db) }
    }

    /// A queue entry at `new` gives way to the one moving there.
    static func moveQueued(from old: String, to new: String, in db: any SQLSession) throws {
        guard try db.integer("SELECT COUNT(*) FROM queue WHERE path = ?", [.text(old)]) ?? 0 > 0 else { return }
        try db.execute("DELETE FROM queue WHERE path = ?", [.text(new)])
        try db.execute("UPDATE queue SET path = ? WHERE path = ?", [.text(new), .text(old)])
    }

    func removeQueued(under directory: String) throws(StoreError) {
        let range = Self.pathRange(under: directory)
        _ = try write { db in
            try db.execute("DELETE FROM queue WHERE path = ? OR (path >= ? AND path < ?)",
                           [.text(directory), .text(range.lower), .text(range.upper)])
        }
    }

    // MARK: Daemon state, for `genred status`

    package func setDaemonState(_ key: String, _ value: String) throws(StoreError) {
        _ = try write { db in
            try db.execute("""
                INSERT INTO daemon_state (key, value, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """, [.text(key), .text(value), .date(Date())])
        }
    }

    func daemonState() throws(StoreError) -> [String: String] {
        try read { db in
            var out: [String: String] = [:]
            for row in try db.rows("SELECT key, value FROM daemon_state") { out[row.string("key") ?? ""] = row.string("value") }
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
        var stuckWrites = 0
        /// Tracks whose files decode only in part.
        public var damaged = 0
        /// Analysis jobs in the shared queue (`genred enqueue`, `analyse = "workers"`), and
        /// how many of them a worker holds now.
        public var jobs = 0
        public var jobsRunning = 0

        public init() {}
    }

    public func counts() throws(StoreError) -> Counts {
        try read { db in
            func count(_ sql: String) throws -> Int { Int(try db.integer(sql) ?? 0) }
            var c = Counts()
            c.tracks = try count("SELECT COUNT(*) FROM track")
            c.analysed = try count("SELECT COUNT(DISTINCT track_id) FROM analysis")
            c.tagged = try count("SELECT COUNT(*) FROM track WHERE tagged_at IS NOT NULL")
            c.failed = try count("SELECT COUNT(*) FROM track WHERE last_error IS NOT NULL")
            c.queue = try count("SELECT COUNT(*) FROM queue")
            c.held = try count("SELECT COUNT(*) FROM track WHERE tags_held_at IS NOT NULL")
            c.stuckWrites = try count("SELECT COUNT(*) FROM write_intent WHERE state = 'stuck'")
            c.damaged = try count("SELECT COUNT(*) FROM track WHERE damage IS NOT NULL")
            c.jobs = try count("SELECT COUNT(*) FROM job")
            c.jobsRunning = try count("SELECT COUNT(*) FROM job WHERE worker IS NOT NULL")
            return c
        }
    }

    /// The most recent failures: path, error, when.
    func recentErrors(limit: Int) throws(StoreError) -> [(path: String, error: String, at: Date?)] {
        try read { db in
            try db.rows("""
                SELECT path, last_error, last_error_at FROM track WHERE last_error IS NOT NULL
                ORDER BY last_error_at DESC LIMIT ?
                """, [.integer(Int64(limit))]).map { ($0.string("path") ?? "", $0.string("last_error") ?? "", $0.date("last_error_at")) }
        }
    }
}

extension LibraryStore {
    /// Follows a file renamed on disk: its track (and queue entry) take the new path. A track
    /// already at the new path (a file replaced by the move) is dropped first.
    package func moveTrack(from old: String, to new: String) throws(StoreError) {
        _ = try write { db in
            try db.execute("DELETE FROM track WHERE path = ?", [.text(new)])
            try db.execute("UPDATE track SET path = ?, updated_at = ? WHERE path = ?", [.text(new), .date(Date()), .text(old)])
            try Self.moveQueued(from: old, to: new, in: db)
        }
    }

    /// Follows a directory renamed on disk: every track and queue entry under it moves along.
    package func moveTracks(under old: String, to new: String) throws(StoreError) {
        let from = Self.pathRange(under: old)
        let newPrefix = Self.pathRange(under: new).lower
        // Both engines' substr count a text's characters as code points, as `unicodeScalars` does.
        let rest = Int64(from.lower.unicodeScalars.count + 1)
        let range: [SQLValue] = [.text(from.lower), .text(from.upper)]
        _ = try write { db in
            let under = "path >= ? AND path < ?"
            // A track already where a moved one lands (a file replaced by the move) goes first.
            try db.execute("DELETE FROM track WHERE path IN (SELECT ? || substr(path, CAST(? AS INTEGER)) FROM track WHERE \(under))",
                           [.text(newPrefix), .integer(rest)] + range)
            try db.execute("UPDATE track SET path = ? || substr(path, CAST(? AS INTEGER)), updated_at = ? WHERE \(under)",
                           [.text(newPrefix), .integer(rest), .date(Date())] + range)
            try db.execute("DELETE FROM queue WHERE path IN (SELECT ? || substr(path, CAST(? AS INTEGER)) FROM queue WHERE \(under))",
                           [.text(newPrefix), .integer(rest)] + range)
            try db.execute("UPDATE queue SET path = ? || substr(path, CAST(? AS INTEGER)) WHERE \(under)", [.text(newPrefix), .integer(rest)] + range)
        }
    }

    /// Forgets a deleted file (its tag journal stays). Returns whether a track was removed.
    @discardableResult
    package func forget(path: String) throws(StoreError) -> Bool {
        try write { db in
            try db.execute("DELETE FROM queue WHERE path = ?", [.text(path)])
            return try db.execute("DELETE FROM track WHERE path = ?", [.text(path)]) > 0
        }
    }

    /// Forgets every file under a deleted directory. Returns how many tracks were removed.
    @discardableResult
    package func forget(under directory: String) throws(StoreError) -> Int {
        let range = Self.pathRange(under: directory)
        return try write { db in
            try db.execute("DELETE FROM queue WHERE path >= ? AND path < ?", [.text(range.lower), .text(range.upper)])
            return try db.execute("DELETE FROM track WHERE path >= ? AND path < ?", [.text(range.lower), .text(range.upper)])
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
            var arguments: [SQLValue] = [.text(model)]
            if let directory {
                let range = Self.pathRange(under: directory)
                sql += " AND t.path >= ? AND t.path < ?"
                arguments += [.text(range.lower), .text(range.upper)]
            }
            sql += " ORDER BY t.path"
            try db.each(sql, arguments) { row in
                let embedding = BlobCoding.float32(row.data("embedding") ?? Data())
                let mean = BlobCoding.float32(row.data("mean") ?? Data())
                if v.count == 0 {
                    v.embeddingSize = embedding.count
                    v.labelCount = mean.count
                }
                guard embedding.count == v.embeddingSize, mean.count == v.labelCount, let id = row.int64("id") else { return }
                v.ids.append(id)
                v.paths.append(row.string("path") ?? "")
                v.titles.append(row.string("title"))
                v.artists.append(row.string("artist"))
                v.albums.append(row.string("album"))
                v.durations.append(row.double("duration"))
                v.recordingIDs.append(row.string("musicbrainz_recording_id"))
                v.isrcs.append(row.string("isrc"))
                v.embeddings += embedding
                v.scores += mean
            }
            return v
        }
    }
}
