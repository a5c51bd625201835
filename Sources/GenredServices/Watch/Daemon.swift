import CGenredLinux
import Dispatch
import Foundation
import GenredEngine
import GenredLibrary

/// `genred watch`: keeps the files under the configured roots analysed and tagged.
///
/// One coordinating thread owns the inotify watcher, the database and every tag write;
/// analysis runs on worker threads at background priority. Work waits in the database's
/// queue, so nothing is lost when the daemon stops or crashes. SIGTERM and SIGINT stop it
/// between two files (a tag write is never interrupted); SIGHUP reloads the configuration;
/// SIGUSR1 forces a full rescan.
public final class Daemon {
    public struct Options: Sendable {
        public var configuration: Configuration
        /// The file to reload on SIGHUP.
        public var configPath: String?
        /// Roots given on the command line; they replace the configured ones, also on reload.
        public var rootsOverride: [String]?
        /// The precision given on the command line; it replaces the configured one, also on reload.
        public var precisionOverride: Precision?
        public var databasePath: String

        public init(configuration: Configuration, configPath: String?, rootsOverride: [String]?, databasePath: String) {
            self.configuration = configuration
            self.configPath = configPath
            self.rootsOverride = rootsOverride
            self.databasePath = databasePath
        }
    }

    struct StartError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    struct Signals: Sendable {
        var stop = false
        var reload = false
        var rescan = false
    }

    var options: Options
    var configuration: Configuration
    let signals = LockedValue(Signals())
    var signalSources: [DispatchSourceSignal] = []
    let notifier = SystemdNotifier()
    lazy var watchdog = WatchdogFeeder(notifier: notifier)

    var store: LibraryStore!
    var processor: LibraryProcessor!
    var watcher: InotifyWatcher?
    var settle: SettleTracker!
    /// The last error from taking up a changed taxonomy, so it is logged once.
    var taxonomyProblem: String?
    var roots: [String] = []
    /// Each root's directory (device, inode) when it was last watched, so a root that is
    /// replaced (a disk mounted over its mount point) is noticed as well as one that is gone.
    var rootIdentities: [ExactPath: RootIdentity] = [:]
    var missingRoots = Set<ExactPath>()

    let jobs = BlockingQueue<LibraryProcessor.Job>()
    let results = BlockingQueue<LibraryProcessor.JobResult>()
    /// The analysis threads, waited for at exit: a process that exits while one is inside the
    /// numeric libraries can crash in their teardown.
    var analysisPool: AnalysisPool?
    var inFlight: [ExactPath: Date] = [:]
    var workerCount = 1

    var lastRescan = Date.distantPast
    var lastRootCheck = Date()
    var lastStatus = ""
    var playlists = PlaylistState()
    var analysedCount = 0
    var failedCount = 0

    struct RootIdentity: Equatable {
        var device: UInt64
        var inode: UInt64
    }

    public init(options: Options) {
        self.options = options
        configuration = options.configuration
    }

    /// Runs until a stop signal; returns the process exit status.
    public func run() throws -> Int32 {
        Log.threshold = configuration.watch.logLevel
        installSignalHandlers()
        let lock: DaemonLock
        do { lock = try DaemonLock.acquire(databasePath: options.databasePath) } catch {
            throw StartError(description: "\(error)")
        }
        defer { withExtendedLifetime(lock) {} }
        store = try LibraryStore(path: options.databasePath)
        try setUpProcessor()
        roots = try resolveRoots()
        try store.setDaemonState("pid", String(getpid()))
        try store.setDaemonState("version", genredVersion)
        try store.setDaemonState("started_at", ISO8601DateFormatter().string(from: Date()))
        try store.setDaemonState("roots", BlobCoding.json(roots))
        try setState("starting")
        recoverInterruptedWrites()

        settle = SettleTracker(settleSeconds: configuration.watch.settleSeconds)
        startWatcher()
        startWorkers()
        watchdog.start()
        _ = notifier.ready()
        Log.info("watching \(roots.joined(separator: ", ")) (\(watcher?.watchCount ?? 0) watches), store \(store.display)"
                 + (configuration.analyse == .workers ? "; analyses by genred workers" : ""))

        rescan(reason: "start")
        while !signals.withLock({ $0.stop }) {
            tick()
        }
        _ = notifier.stopping()
        try? setState("stopping")
        Log.info("stopping: \(inFlight.count) file(s) in analysis stay queued for next time")
        if let run = processor.runID {
            try? store.finishRun(run, summary: BlobCoding.json(["analysed": analysedCount, "failed": failedCount]))
        }
        // The files in analysis finish (their results are dropped; they stay queued), then the
        // threads end, before the process does.
        jobs.closeAndDrain()
        if analysisPool?.wait(seconds: 120) == false { Log.warning("an analysis did not finish within 2 minutes") }
        watchdog.stop()
        watcher?.close()
        try? setState("stopped")
        return 0
    }

    // MARK: The loop

    /// One turn: events, settled files, queue, results, housekeeping.
    func tick() {
        watchdog.beat()
        if signals.withLock({ s in defer { s.reload = false }; return s.reload }) { reload() }
        let events = watcher?.next(timeout: inFlight.isEmpty ? 0.5 : 0.1) ?? {
            Thread.sleep(forTimeInterval: 0.5)
            return []
        }()
        for event in events { handle(event) }

        let now = Date()
        let (ready, vanished) = settle.due(now: now)
        for path in vanished { Log.debug("gone before it settled: \(path)") }
        for path in ready { consider(path, reason: "changed") }

        while let result = results.tryPop() {
            if signals.withLock({ $0.stop }) { break }
            finish(result)
        }
        dispatch()

        if now.timeIntervalSince(lastRootCheck) >= configuration.watch.rootCheckInterval {
            lastRootCheck = now
            checkRoots()
            checkTaxonomies()
        }
        let forced = signals.withLock { s in defer { s.rescan = false }; return s.rescan }
        let interval = configuration.watch.rescanInterval
        if forced || (interval > 0 && now.timeIntervalSince(lastRescan) >= interval) {
            rescan(reason: forced ? "requested" : "periodic")
        }
        housekeeping()
        updatePlaylists(now: now)
    }

    func housekeeping() {
        let queued = (try? store.queueLength()) ?? 0
        let status = inFlight.isEmpty && queued == 0
            ? "idle; \(analysedCount) analysed, \(failedCount) failed since start"
            : "working; queue \(queued), analysing \(inFlight.count); \(analysedCount) analysed, \(failedCount) failed since start"
        if status != lastStatus {
            _ = notifier.status(status)
            try? setState(inFlight.isEmpty && queued == 0 ? "idle" : "working")
            try? store.setDaemonState("watches", String(watcher?.watchCount ?? 0))
            lastStatus = status
        }
    }

    /// Settles tag writes that a crash or a kill left unfinished (see `JournaledTagWriter`).
    func recoverInterruptedWrites() {
        do {
            for recovery in try watchdog.busy({ try processor.journal.recover() }) {
                if case .stuck = recovery.action {
                    Log.error("\(recovery.path): \(recovery.summary)")
                } else {
                    Log.info("\(recovery.path): \(recovery.summary)")
                }
            }
        } catch {
            Log.error("cannot settle interrupted tag writes: \(error)")
        }
    }

    // MARK: Signals and state

    func installSignalHandlers() {
        let queue = DispatchQueue(label: "genred.signals")
        let flags = signals
        for (sig, action) in [(SIGTERM, 0), (SIGINT, 0), (SIGHUP, 1), (SIGUSR1, 2)] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                flags.withLock { s in
                    switch action {
                    case 0: s.stop = true
                    case 1: s.reload = true
                    default: s.rescan = true
                    }
                }
            }
            source.resume()
            signalSources.append(source)
        }
    }

    func setState(_ state: String, current: String? = nil) throws {
        try store.setDaemonState("state", state)
        try store.setDaemonState("current", current ?? "")
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func formatSeconds(_ s: Double) -> String {
    if s <= 0 { return "never" }
    if s.truncatingRemainder(dividingBy: 86400) == 0 { return "\(Int(s / 86400))d" }
    if s.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(s / 3600))h" }
    if s.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(s / 60))m" }
    return "\(Int(s))s"
}

/// Recognises file systems where inotify does not see changes made by other machines.
enum NetworkFileSystem {
    static let magics: [Int: String] = [
        0x6969: "NFS", 0x517B: "SMB", 0xFF53_4D42: "CIFS", 0xFE53_4D42: "SMB2", 0x6573_5546: "FUSE",
        0x0102_1997: "9P", 0x0BD0_0BD0: "Lustre", 0x0047_5346: "GlusterFS", 0x00C3_6400: "CephFS", 0x5346_414F: "AFS",
    ]

    static func kind(of path: String) -> String? {
        let type = FilePath.withCString(path) { genred_fs_type($0) }
        guard type != -1 else { return nil }
        return magics[Int(UInt32(truncatingIfNeeded: type))]
    }
}

extension Daemon.StartError: GenredError {
    public var subject: String { "genred watch" }
    public var reasonText: String { description }
}
