import Foundation
import GenredEngine

/// Tables both engines create the same way, with each dialect's types.
enum StoreSchema {
    /// The shared analysis queue (`job`) and the workers that take from it (`worker`).
    static func workerTables(_ dialect: SQLDialect) -> [String] {
        let (key, int, real, time, path) = dialect == .sqlite
            ? ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", "DOUBLE", "DATETIME", "TEXT")
            : ("BIGSERIAL PRIMARY KEY", "BIGINT", "DOUBLE PRECISION", "TIMESTAMPTZ", "TEXT COLLATE \"C\"")
        return [
            """
            CREATE TABLE job (
                id \(key),
                path \(path) NOT NULL UNIQUE,
                size \(int) NOT NULL,
                mtime_ns \(int) NOT NULL,
                inode \(int) NOT NULL,
                model TEXT NOT NULL,
                model_version TEXT NOT NULL,
                priority \(int) NOT NULL DEFAULT 0,
                owner TEXT,
                enqueued_at \(time) NOT NULL,
                claims \(int) NOT NULL DEFAULT 0,
                worker TEXT,
                claimed_at \(time),
                lease_until \(time),
                not_before \(time),
                last_error TEXT
            )
            """,
            "CREATE INDEX job_order ON job (priority, id)",
            """
            CREATE TABLE worker (
                name TEXT NOT NULL PRIMARY KEY,
                host TEXT NOT NULL,
                pid \(int) NOT NULL,
                jobs \(int) NOT NULL,
                started_at \(time) NOT NULL,
                seen_at \(time) NOT NULL,
                stopped_at \(time),
                current TEXT,
                done \(int) NOT NULL DEFAULT 0,
                failed \(int) NOT NULL DEFAULT 0,
                audio_seconds \(real) NOT NULL DEFAULT 0,
                store_seconds \(real) NOT NULL DEFAULT 0
            )
            """,
        ]
    }
}

/// One file waiting in the shared queue for a worker (see docs/workers.md).
public struct JobRecord: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "job"

    public var id: Int64?
    /// The path on the machine that owns the files (a worker maps it to its own mount).
    public var path: String
    /// The file's stat there when it was queued: a worker analyses only that version of it.
    public var size: Int64
    public var mtimeNs: Int64
    public var inode: Int64
    /// The model to analyse with; a worker takes only jobs for the model and version it has.
    public var model: String
    public var modelVersion: String
    public var priority: Int
    /// `daemon` when a `watch` waits for the result to write tags; nil for `genred enqueue`.
    public var owner: String?
    var enqueuedAt: Date
    /// How often a worker took it; a job whose workers keep dying is given up.
    package var claims: Int
    public var worker: String?
    var claimedAt: Date?
    var leaseUntil: Date?
    var notBefore: Date?
    public var lastError: String?

    public init(path: String, stat: FileStat, model: String, modelVersion: String, priority: Int = 0, owner: String? = nil) {
        self.path = path
        size = stat.size
        mtimeNs = stat.mtimeNs
        inode = stat.inode
        self.model = model
        self.modelVersion = modelVersion
        self.priority = priority
        self.owner = owner
        enqueuedAt = Date()
        claims = 0
    }

    public var stat: FileStat { FileStat(size: size, mtimeNs: mtimeNs, inode: inode) }
}

/// A worker as the store last heard of it.
public struct WorkerRecord: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "worker"

    /// `host:pid`.
    public var name: String
    public var host: String
    public var pid: Int64
    public var jobs: Int
    public var startedAt: Date
    public var seenAt: Date
    public var stoppedAt: Date?
    /// The path it is analysing now.
    public var current: String?
    public var done: Int
    public var failed: Int
    /// Seconds of audio analysed, and seconds spent in the store (claims and results).
    public var audioSeconds: Double
    public var storeSeconds: Double
}

extension SQLDialect {
    /// A point in time `offset` seconds from now, on the clock every process shares: the
    /// server's for PostgreSQL (workers' clocks may disagree), this machine's for SQLite.
    func time(_ offset: TimeInterval = 0, _ arguments: inout [SQLValue]) -> String {
        switch self {
        case .sqlite:
            arguments.append(.date(Date().addingTimeInterval(offset)))
            return "?"
        case .postgres:
            if offset == 0 { return "now()" }
            arguments.append(.real(offset))
            return "(now() + ? * interval '1 second')"
        }
    }
}

extension SQLSession {
    /// The queue's own bookkeeping (claims, leases, a worker's results) commits without waiting
    /// for the server's disk: PostgreSQL may then lose the last moments of such commits in a
    /// crash of the server, but only whole transactions, never part of one. A job whose result
    /// was lost that way is still in the queue, held under a lease that runs out, and is
    /// analysed again; nothing is half-stored. Tag-write intents and the journal are never
    /// committed this way.
    func commitWithoutWaitingForDisk() throws {
        if dialect == .postgres { try execute("SET LOCAL synchronous_commit = off") }
    }

    /// Wakes those listening on `channel` once the transaction commits (PostgreSQL); nothing on SQLite.
    func notify(_ channel: String) throws {
        if dialect == .postgres { try execute("NOTIFY \(channel)") }
    }
}

/// The notification channels: new jobs for workers, finished analyses for the owner.
package enum StoreChannel {
    public static let jobs = "genred_jobs"
    public static let analysed = "genred_analysed"
}

extension LibraryStore {
    /// Queues the file for a worker. A job already queued for the path takes the new stat and
    /// model and the more urgent priority; one a worker holds is released to be taken afresh,
    /// and that worker's result, now out of date, is refused.
    package func enqueueJob(_ job: JobRecord) throws(StoreError) {
        _ = try write { db in
            try db.execute("""
                INSERT INTO job (path, size, mtime_ns, inode, model, model_version, priority, owner, enqueued_at, claims)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
                ON CONFLICT (path) DO UPDATE SET
                    priority = \(db.dialect.least("job.priority", "excluded.priority")),
                    owner = COALESCE(excluded.owner, job.owner),
                    worker = CASE WHEN job.size = excluded.size AND job.mtime_ns = excluded.mtime_ns
                                   AND job.model_version = excluded.model_version THEN job.worker END,
                    lease_until = CASE WHEN job.size = excluded.size AND job.mtime_ns = excluded.mtime_ns
                                   AND job.model_version = excluded.model_version THEN job.lease_until END,
                    size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                    model = excluded.model, model_version = excluded.model_version
                """, [.text(job.path), .integer(job.size), .integer(job.mtimeNs), .integer(job.inode), .text(job.model),
                      .text(job.modelVersion), .integer(Int64(job.priority)), job.owner.map { .text($0) } ?? .null, .date(job.enqueuedAt)])
            try db.notify(StoreChannel.jobs)
        }
    }

    /// What a worker asks the queue for: jobs of its model and version, held for `lease` seconds.
    package struct Claim: Sendable {
        public var worker: String
        public var model: String
        public var modelVersion: String
        public var lease: TimeInterval
        /// A job taken this often is not taken again (`reapJobs` gives it up).
        public var maxClaims: Int

        public init(worker: String, model: String, modelVersion: String, lease: TimeInterval, maxClaims: Int) {
            self.worker = worker
            self.model = model
            self.modelVersion = modelVersion
            self.lease = lease
            self.maxClaims = maxClaims
        }
    }

    /// Takes the most urgent job nobody holds (or whose holder's lease ran out) for this model,
    /// for `lease` seconds. Concurrent workers never take the same job: PostgreSQL skips rows
    /// another transaction has locked, and SQLite runs one writer at a time.
    package func claimJob(worker: String, model: String, modelVersion: String, lease: TimeInterval, maxClaims: Int)
        throws(StoreError) -> JobRecord? {
        try claimJob(Claim(worker: worker, model: model, modelVersion: modelVersion, lease: lease, maxClaims: maxClaims))
    }

    package func claimJob(_ claim: Claim) throws(StoreError) -> JobRecord? {
        try write { db in
            try db.commitWithoutWaitingForDisk()
            return try Self.claim(claim, in: db)
        }
    }

    static func claim(_ c: Claim, in db: any SQLSession) throws -> JobRecord? {
        var args: [SQLValue] = [.text(c.worker)]
        let until = db.dialect.time(c.lease, &args)
        let claimedAt = db.dialect.time(0, &args)
        args += [.text(c.model), .text(c.modelVersion), .integer(Int64(c.maxClaims))]
        let expired = db.dialect.time(0, &args)
        let due = db.dialect.time(0, &args)
        let lock = db.dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try db.fetchOne(JobRecord.self, """
            UPDATE job SET worker = ?, lease_until = \(until), claimed_at = \(claimedAt), claims = claims + 1
            WHERE id = (SELECT id FROM job WHERE model = ? AND model_version = ? AND claims < ?
                        AND (worker IS NULL OR lease_until < \(expired)) AND (not_before IS NULL OR not_before <= \(due))
                        ORDER BY priority, id LIMIT 1\(lock))
            RETURNING *
            """, args)
    }

    /// Keeps the jobs in hand (`jobs`) the worker's for another `lease` seconds, and records
    /// that it is alive. A job the worker holds but no longer works on (its result could not be
    /// stored: the server went away) is not renewed, so its lease runs out and it is taken again.
    /// Returns how many jobs it still holds.
    @discardableResult
    package func renewLeases(worker: String, jobs: [Int64], lease: TimeInterval, current: String?, storeSeconds: Double? = nil)
        throws(StoreError) -> Int {
        try write { db in
            try db.commitWithoutWaitingForDisk()
            var args: [SQLValue] = []
            let until = db.dialect.time(lease, &args)
            let held = jobs.isEmpty ? 0 : try db.execute(
                "UPDATE job SET lease_until = \(until) WHERE worker = ? AND id IN (\(jobs.map { _ in "?" }.joined(separator: ", ")))",
                args + [.text(worker)] + jobs.map { .integer($0) })
            var seen: [SQLValue] = []
            let now = db.dialect.time(0, &seen)
            try db.execute("UPDATE worker SET seen_at = \(now), current = ?, store_seconds = COALESCE(?, store_seconds) WHERE name = ?",
                           seen + [current.map { .text($0) } ?? .null, storeSeconds.map { .real($0) } ?? .null, .text(worker)])
            return held
        }
    }

    /// Stores a worker's analysis of `job` and retires the job, in one transaction; false (and
    /// nothing stored) when the worker no longer holds the job: its lease ran out and another
    /// took it, or the file changed and the job was queued again.
    ///
    /// The track keeps the owner's path and the stat the owner saw, so the owner recognises the
    /// file as analysed; the fingerprint comes from the audio the worker decoded.
    package func completeJob(_ job: JobRecord, worker: String, analysis: TrackAnalysis, seconds: Double) throws(StoreError) -> Bool {
        try completeJob(job, worker: worker, analysis: analysis, seconds: seconds, thenClaim: nil).stored
    }

    /// As `completeJob`, and takes the worker's next job in the same transaction (one round of
    /// the store per job instead of two).
    package func completeJob(_ job: JobRecord, worker: String, analysis: TrackAnalysis, seconds: Double, thenClaim next: Claim?)
        throws(StoreError) -> (stored: Bool, next: JobRecord?) {
        guard let id = job.id else { return (false, nil) }
        return try write { db in
            try db.commitWithoutWaitingForDisk()
            let held = try db.execute("DELETE FROM job WHERE id = ? AND worker = ? AND size = ? AND mtime_ns = ?",
                                      [.integer(id), .text(worker), .integer(job.size), .integer(job.mtimeNs)])
            guard held == 1 else { return (false, try next.flatMap { try Self.claim($0, in: db) }) }
            // The track as `TrackRecord.take` leaves it after a fresh analysis, in one statement:
            // the owner's path and stat, what the decode learned, no error, tags to be decided.
            let now = Date()
            let track = try db.row("""
                INSERT INTO track (path, size, mtime_ns, inode, format, duration, fingerprint, damage, added_at, updated_at, error_count)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
                ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                    format = excluded.format, duration = excluded.duration, fingerprint = excluded.fingerprint,
                    damage = excluded.damage, last_error = NULL, error_count = 0, error_ctime_ns = NULL, tag_plan = NULL,
                    updated_at = excluded.updated_at
                RETURNING id
                """, [.text(job.path), .integer(job.size), .integer(job.mtimeNs), .integer(job.inode),
                      .text(analysis.audio.container.rawValue), .real(analysis.audio.duration), .text(analysis.fingerprint),
                      analysis.damage.map { .text($0) } ?? .null, .date(now), .date(now)])
            guard let trackID = track?.int64("id") else { throw StoreError(path: "", reason: .query("the track's row was not written")) }
            try db.insert(AnalysisRecord(trackId: trackID, analysis: analysis, seconds: seconds), orReplaceOn: ["track_id", "model"])
            if job.owner != nil {
                try Self.enqueue(job.path, reason: "analysed", in: db)
                try db.notify(StoreChannel.analysed)
            }
            try db.execute("""
                UPDATE worker SET done = done + 1, audio_seconds = audio_seconds + ? WHERE name = ?
                """, [.real(analysis.audio.duration), .text(worker)])
            return (true, try next.flatMap { try Self.claim($0, in: db) })
        }
    }

    /// A worker could not analyse the job: it is retried after `backoff` by any worker, or, once
    /// taken `maxClaims` times, given up and the error recorded on the track.
    package func failJob(_ job: JobRecord, worker: String, error: String, maxClaims: Int, backoff: TimeInterval) throws(StoreError) {
        guard let id = job.id else { return }
        _ = try write { db in
            try db.commitWithoutWaitingForDisk()
            try db.execute("UPDATE worker SET failed = failed + 1 WHERE name = ?", [.text(worker)])
            if job.claims >= maxClaims {
                let gone = try db.execute("DELETE FROM job WHERE id = ? AND worker = ?", [.integer(id), .text(worker)])
                if gone == 1 { try Self.recordJobFailure(job, error: error, in: db) }
                return
            }
            var args: [SQLValue] = [.text(error)]
            let notBefore = db.dialect.time(backoff * pow(2, Double(max(0, job.claims - 1))), &args)
            try db.execute("UPDATE job SET worker = NULL, lease_until = NULL, last_error = ?, not_before = \(notBefore) WHERE id = ? AND worker = ?",
                           args + [.integer(id), .text(worker)])
        }
    }

    /// Gives up jobs that were taken `maxClaims` times by workers that died holding them (a
    /// file that crashes the decoder, say), recording why on their tracks. Returns how many.
    @discardableResult
    package func reapJobs(maxClaims: Int) throws(StoreError) -> Int {
        try write { db in
            var args: [SQLValue] = [.integer(Int64(maxClaims))]
            let now = db.dialect.time(0, &args)
            let dead = try db.fetch(JobRecord.self, "SELECT * FROM job WHERE claims >= ? AND worker IS NOT NULL AND lease_until < \(now)", args)
            for job in dead {
                try db.execute("DELETE FROM job WHERE id = ?", [.integer(job.id!)])
                try Self.recordJobFailure(job, error: "its workers stopped \(job.claims) times while analysing it"
                                          + (job.lastError.map { " (last error: \($0))" } ?? ""), in: db)
            }
            return dead.count
        }
    }

    private static func recordJobFailure(_ job: JobRecord, error: String, in db: any SQLSession) throws {
        var track = try db.fetchOne(TrackRecord.self, "SELECT * FROM track WHERE path = ?", [.text(job.path)])
            ?? TrackRecord(path: job.path, stat: job.stat)
        track.lastError = error
        track.errorCount += 1
        track.lastErrorAt = Date()
        track.updatedAt = Date()
        _ = try save(track, in: db)
    }

    /// Announces a worker (or announces it again after a restart under the same name).
    package func registerWorker(name: String, host: String, pid: Int, jobs: Int) throws(StoreError) {
        _ = try write { db in
            var args: [SQLValue] = [.text(name), .text(host), .integer(Int64(pid)), .integer(Int64(jobs))]
            let started = db.dialect.time(0, &args)
            let seen = db.dialect.time(0, &args)
            try db.execute("""
                INSERT INTO worker (name, host, pid, jobs, started_at, seen_at, done, failed, audio_seconds, store_seconds)
                VALUES (?, ?, ?, ?, \(started), \(seen), 0, 0, 0, 0)
                ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, jobs = excluded.jobs,
                    started_at = excluded.started_at, seen_at = excluded.seen_at, stopped_at = NULL, current = NULL,
                    done = 0, failed = 0, audio_seconds = 0, store_seconds = 0
                """, args)
        }
    }

    /// A worker stopping cleanly gives back the jobs it holds (none, after a clean stop) and says so.
    package func stopWorker(name: String) throws(StoreError) {
        _ = try write { db in
            try db.execute("UPDATE job SET worker = NULL, lease_until = NULL WHERE worker = ?", [.text(name)])
            var args: [SQLValue] = []
            let stopped = db.dialect.time(0, &args)
            let seen = db.dialect.time(0, &args)
            try db.execute("UPDATE worker SET stopped_at = \(stopped), seen_at = \(seen), current = NULL WHERE name = ?",
                           args + [.text(name)])
            try db.notify(StoreChannel.jobs)
        }
    }

    /// Workers heard from within `within` seconds, or stopped within it, by name.
    public func workers(within: TimeInterval = 3600) throws(StoreError) -> [WorkerRecord] {
        try read { db in
            var args: [SQLValue] = []
            let since = db.dialect.time(-within, &args)
            return try db.fetch(WorkerRecord.self, "SELECT * FROM worker WHERE seen_at >= \(since) ORDER BY name", args)
        }
    }

    /// The database's clock: a worker's `seen_at` is compared with this, not the local clock.
    public func storeNow() throws(StoreError) -> Date {
        try read { db in
            if db.dialect == .sqlite { return Date() }
            return try db.row("SELECT now() AS t")?.date("t") ?? Date()
        }
    }

    /// Whether any job for this model version is queued, held or not.
    package func hasJobs(model: String, modelVersion: String) throws(StoreError) -> Bool {
        try read { db in
            try db.row("SELECT 1 AS found FROM job WHERE model = ? AND model_version = ? LIMIT 1", [.text(model), .text(modelVersion)]) != nil
        }
    }

    public func jobs() throws(StoreError) -> [JobRecord] {
        try read { try $0.fetch(JobRecord.self, "SELECT * FROM job ORDER BY priority, id") }
    }

    /// Calls `body` whenever another process notifies `channel` (PostgreSQL); nil on SQLite,
    /// where callers poll instead.
    public func listen(_ channel: String, _ body: @escaping @Sendable () -> Void) throws(StoreError) -> (any StoreListener)? {
        do { return try engine.listen(channel, body) } catch {
            throw StoreError(path: display, reason: .query(engine.describe(error)))
        }
    }
}
