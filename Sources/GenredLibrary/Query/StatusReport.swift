import Foundation
import GenredEngine

/// What `genred status` shows, gathered once.
public struct StatusReport: Sendable {
    public var database: String
    public var databaseExists = false
    /// The lock holder's pid; nil when no daemon runs.
    public var holder: Int32?
    public var daemon: [String: String] = [:]
    /// Nil when there is no database: every count is zero.
    public var counts: LibraryStore.Counts?
    public var errors: [LibraryStore.RecentError] = []
    /// Interrupted tag writes that need a person.
    public var stuck: [IntentRecord] = []
    /// Workers heard from in the last hour, and the store's clock to age them by.
    public var workers: [WorkerRecord] = []
    public var storeNow = Date()

    public var running: Bool { holder != nil }

    public var pid: Int? {
        guard let holder else { return nil }
        if holder > 0 { return Int(holder) }
        return daemon["pid"].flatMap { Int($0) }
    }

    /// Daemon fields are shown only while a daemon runs: a crashed one leaves stale values.
    public func live(_ key: String) -> String? {
        guard running, let value = daemon[key], !value.isEmpty else { return nil }
        return value
    }

    public var state: String { running ? (live("state") ?? "starting") : "stopped" }

    public var roots: [String] {
        guard let text = daemon["roots"],
              let array = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else { return [] }
        return array
    }

    /// What the lock, the database and the daemon's own record say now. A database that does
    /// not exist is reported as such and not created; an existing one is opened read-only.
    public static func gather(databasePath: String) throws(StoreError) -> StatusReport {
        var report = StatusReport(database: StoreLocation(databasePath).description)
        report.holder = DaemonLock.holder(databasePath: databasePath)
        report.databaseExists = StoreLocation(databasePath).exists
        guard report.databaseExists else { return report }
        let store = try LibraryStore(path: databasePath, readOnly: true)
        report.counts = try store.counts()
        report.daemon = try store.daemonState()
        report.errors = try store.recentErrors(limit: errorCount).map { LibraryStore.RecentError(path: $0.path, error: $0.error, at: $0.at) }
        report.stuck = try store.intents(includeStuck: true).filter { $0.state == .stuck }
        report.workers = try store.workers()
        report.storeNow = try store.storeNow()
        return report
    }

    /// How many recent errors are reported.
    package static let errorCount = 5

    /// The object `genred status --json` prints and `GET /api/status` answers.
    public func json() -> String {
        func orNull(_ value: Any?) -> Any { value ?? NSNull() }
        let object: [String: Any] = [
            "running": running,
            "pid": orNull(pid),
            "state": state,
            "current": orNull(live("current")),
            "started_at": orNull(live("started_at")),
            "roots": roots,
            "watches": orNull(live("watches").flatMap { Int($0) }),
            "last_rescan_at": orNull(daemon["last_rescan_at"]),
            "version": orNull(live("version")),
            "database": database,
            "database_exists": databaseExists,
            "tracks": counts?.tracks ?? 0,
            "analysed": counts?.analysed ?? 0,
            "tagged": counts?.tagged ?? 0,
            "failed": counts?.failed ?? 0,
            "queue": counts?.queue ?? 0,
            "held": counts?.held ?? 0,
            "damaged": counts?.damaged ?? 0,
            "jobs": counts?.jobs ?? 0,
            "jobs_running": counts?.jobsRunning ?? 0,
            "workers": workers.map { w -> [String: Any] in
                ["name": w.name, "host": w.host, "pid": w.pid, "jobs": w.jobs, "state": workerState(w),
                 "current": orNull(w.current), "done": w.done, "failed": w.failed, "audio_seconds": w.audioSeconds,
                 "store_seconds": w.storeSeconds, "started_at": Self.timestamp(w.startedAt), "seen_at": Self.timestamp(w.seenAt)]
            },
            "stuck_writes": stuck.map { ["path": $0.path, "note": orNull($0.note)] as [String: Any] },
            "last_errors": errors.map { e -> [String: Any] in
                ["path": e.path, "error": e.error, "at": orNull(e.at.map(Self.timestamp))]
            },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return JSONText.escapingCarriedBytes(String(decoding: data, as: UTF8.self))
    }

    /// `stopped`, `silent` (not heard from for three lease renewals: it died or lost the
    /// store), `analysing` or `idle`.
    public func workerState(_ w: WorkerRecord) -> String {
        if w.stoppedAt != nil { return "stopped" }
        if storeNow.timeIntervalSince(w.seenAt) > 60 { return "silent" }
        return w.current == nil ? "idle" : "analysing"
    }

    public static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter.string(from: date, timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withInternetDateTime])
    }
}

extension LibraryStore {
    /// A track's last failure.
    public struct RecentError: Sendable {
        public var path: String
        public var error: String
        public var at: Date?
    }
}
