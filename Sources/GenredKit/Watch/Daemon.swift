import CGenredLinux
import Dispatch
import Foundation

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
        public var databasePath: String

        public init(configuration: Configuration, configPath: String?, rootsOverride: [String]?, databasePath: String) {
            self.configuration = configuration
            self.configPath = configPath
            self.rootsOverride = rootsOverride
            self.databasePath = databasePath
        }
    }

    public struct StartError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    private struct Signals: Sendable {
        var stop = false
        var reload = false
        var rescan = false
    }

    private var options: Options
    private var configuration: Configuration
    private let signals = LockedValue(Signals())
    private var signalSources: [DispatchSourceSignal] = []
    private let notifier = SystemdNotifier()
    private lazy var watchdog = WatchdogFeeder(notifier: notifier)

    private var store: LibraryStore!
    private var processor: LibraryProcessor!
    private var watcher: InotifyWatcher?
    private var settle: SettleTracker!
    /// The last error from taking up a changed taxonomy, so it is logged once.
    private var taxonomyProblem: String?
    private var roots: [String] = []
    /// Each root's directory (device, inode) when it was last watched, so a root that is
    /// replaced (a disk mounted over its mount point) is noticed as well as one that is gone.
    private var rootIdentities: [ExactPath: RootIdentity] = [:]
    private var missingRoots = Set<ExactPath>()

    private let jobs = BlockingQueue<LibraryProcessor.Job>()
    private let results = BlockingQueue<LibraryProcessor.JobResult>()
    /// The analysis threads, waited for at exit: a process that exits while one is inside the
    /// numeric libraries can crash in their teardown.
    private var analysisPool: AnalysisPool?
    private var inFlight: [ExactPath: Date] = [:]
    private var workerCount = 1

    private var lastRescan = Date.distantPast
    private var lastRootCheck = Date()
    private var lastStatus = ""
    private var analysedCount = 0
    private var failedCount = 0

    private struct RootIdentity: Equatable {
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
    private func tick() {
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
    }

    private func housekeeping() {
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
    private func recoverInterruptedWrites() {
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

    // MARK: Events

    private func handle(_ event: WatchEvent) {
        do {
            switch event {
            case .written(let path), .appeared(let path):
                noteIfRelevant(path)
            case .moved(let from, let to):
                settle.remove(from)
                if try store.track(path: from) != nil {
                    if isIgnored(to) {
                        try store.forget(path: from)
                    } else {
                        try store.moveTrack(from: from, to: to)
                        Log.info("moved \(from) -> \(to)")
                    }
                } else {
                    noteIfRelevant(to)
                }
            case .removed(let path):
                settle.remove(path)
                if try store.forget(path: path) { Log.info("removed \(path)") }
            case .directoryAppeared(let path):
                // Files may have landed before the watch existed: look now.
                for entry in (try? LibraryScanner().scan([path])) ?? [] {
                    if case .candidate(let p) = entry { settle.note(p, now: Date()) }
                }
            case .directoryMoved(let from, let to):
                try store.moveTracks(under: from, to: to)
                settle.renameDirectory(from: from, to: to)
                Log.info("moved folder \(from) -> \(to)")
            case .directoryRemoved(let path):
                let n = try store.forget(under: path)
                if n > 0 { Log.info("removed folder \(path) (\(n) tracks)") }
            case .overflow:
                Log.warning("inotify queue overflowed (events were lost): rescanning")
                signals.withLock { $0.rescan = true }
            case .watchLost(let path, let reason):
                if roots.contains(where: { ExactPath($0) == ExactPath(path) }) {
                    // A root that went away is watched again when it comes back (`checkRoots`).
                    Log.warning("watch lost on \(path): \(reason); watching it again once it is back")
                    rootIdentities[ExactPath(path)] = nil
                } else {
                    Log.warning("watch lost on \(path): \(reason); rescanning")
                    signals.withLock { $0.rescan = true }
                }
            }
        } catch {
            Log.error("\(error)")
        }
    }

    private func isIgnored(_ path: String) -> Bool {
        path.split(separator: "/").contains { LibraryScanner.isIgnoredName(String($0)) }
    }

    /// Starts the settle window for a file, unless it is hidden, partial, or genred's own write.
    private func noteIfRelevant(_ path: String) {
        guard !isIgnored(path) else { return }
        if let track = try? store.track(path: path), let stat = FileStat.of(path),
           track.writtenSize == stat.size, track.writtenMtimeNs == stat.mtimeNs, track.writtenInode == stat.inode {
            return  // the event of genred's own tag write
        }
        settle.note(path, now: Date())
    }

    /// Queues a settled file if it needs anything.
    private func consider(_ path: String, reason: String) {
        do {
            switch try processor.decide(path) {
            case .upToDate, .held: return
            case .gaveUp(let track): Log.debug("\(path): left alone after \(track.errorCount) failures (unchanged since)")
            case .failed(let r): Log.debug("\(path): \(r.error ?? "skipped")")
            case .tagOnly, .decode: try store.enqueue(path, reason: reason)
            }
        } catch {
            Log.error("\(error)")
        }
    }

    // MARK: Work

    private func startWorkers() {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        workerCount = configuration.watch.workers > 0 ? configuration.watch.workers : cores
        let (jobs, results) = (jobs, results)
        // Background priority for analysis; the coordinator keeps its own. Each job names its
        // model: after a reload the next job brings the new one.
        analysisPool = AnalysisPool(count: workerCount, innerThreads: 1, background: true) { _, slot in
            while let job = jobs.pop() { results.push(LibraryProcessor.work(job, analyzer: slot.analyzer(for: job.bundle))) }
        }
    }

    /// Hands due queue items to the workers, keeping them just busy.
    private func dispatch() {
        // Handing a file to the shared queue takes a moment; analysing one here takes seconds.
        let capacity = configuration.analyse == .workers ? 256 : 2 * workerCount - inFlight.count
        guard capacity > 0, let items = try? store.dueQueueItems(limit: capacity + inFlight.count) else { return }
        var handed = 0
        for item in items where inFlight[ExactPath(item.path)] == nil && handed < capacity {
            if signals.withLock({ $0.stop }) { return }
            do {
                switch try processor.decide(item.path) {
                case .upToDate, .held:
                    try store.dequeue(item.path)
                case .failed:
                    try store.dequeue(item.path)  // gone; a delete event or the next rescan forgets it
                case .gaveUp(let track):
                    try store.dequeue(item.path)
                    Log.warning("giving up on \(item.path) after \(track.errorCount) failures: \(track.lastError ?? "")"
                        + "; it is tried again once it changes, or by `genred retag`")
                case .tagOnly(let track, let moved):
                    try setState("working", current: item.path)
                    settleFinished(watchdog.busy { processor.tagFromStoredAnalysis(track, moved: moved) })
                case .decode(let job) where configuration.analyse == .workers:
                    // A worker analyses it; its result comes back through the queue ("analysed").
                    let manifest = job.bundle.manifest
                    try store.enqueueJob(JobRecord(path: item.path, stat: job.stat, model: manifest.name, modelVersion: manifest.version,
                                                   priority: item.priority, owner: "daemon"))
                    try store.dequeue(item.path)
                    Log.debug("\(item.path): queued for a worker")
                case .decode(let job):
                    inFlight[ExactPath(item.path)] = Date()
                    try setState("working", current: item.path)
                    jobs.push(job)
                    handed += 1
                }
            } catch {
                Log.error("\(error)")
            }
        }
    }

    private func finish(_ result: LibraryProcessor.JobResult) {
        let report = watchdog.busy { processor.handle(result) }
        inFlight[ExactPath(report.path)] = nil
        settleFinished(report)
    }

    /// Logs a file's outcome and takes it off the queue (or schedules a retry).
    private func settleFinished(_ r: FileReport) {
        do {
            if r.stale {
                // Analysed with the model of before a reload: it stays queued for the current one.
                Log.debug("\(r.path): analysed with the previous model; queued again")
                return
            }
            if let error = r.error {
                failedCount += 1
                let stays = try store.failQueueItem(r.path, error: error, maxAttempts: configuration.watch.maxAttempts,
                                                    backoff: configuration.watch.retryBackoff)
                Log.warning("failed \(r.path): \(error)" + (stays ? " (will retry)" : " (giving up; it is tried again once it changes)"))
                return
            }
            try store.dequeue(r.path)
            if r.analysed { analysedCount += 1 }
            var line = r.analysed ? "analysed \(r.path)" : "checked \(r.path)"
            switch r.tagging {
            case .written(let changes):
                line += ": " + changes.sorted { $0.key.rawValue < $1.key.rawValue }
                    .map { "\($0.key.rawValue)=\($0.value.new.joined(separator: ", "))" }.joined(separator: "; ")
            case .leftAlone: line += ": already tagged, left alone"
            case .held: line += ": tags undone by a person, left alone"
            case .damaged(let why): line += ": damaged (\(why)); tags left alone"
            default: break
            }
            if r.analysed || r.tagging != .unchanged { Log.info(line) } else { Log.debug(line) }
        } catch {
            Log.error("\(error)")
        }
    }

    // MARK: Rescans

    /// Brings the database in line with the disk: new and changed files are queued, files
    /// that are gone are forgotten. Runs at start, periodically, on overflow and on SIGUSR1.
    private func rescan(reason: String) {
        lastRescan = Date()
        try? setState("scanning")
        _ = notifier.status("scanning (\(reason))")
        Log.info("rescanning \(roots.count) root(s) (\(reason))")
        var seen = Set<ExactPath>()
        var queued = 0
        var scannedRoots: [String] = []
        watchdog.busy {
            for root in roots {
                guard let entries = scan(root: root) else { continue }
                scannedRoots.append(root)
                for (i, entry) in entries.enumerated() {
                    if i % 500 == 0 { watchdog.beat() }
                    guard case .candidate(let path) = entry else { continue }
                    seen.insert(ExactPath(path))
                    if queueIfNeeded(path) { queued += 1 }
                }
            }
        }
        var forgotten = 0
        for root in scannedRoots {
            for track in (try? store.tracks(under: root)) ?? [] where !seen.contains(ExactPath(track.path)) && FileStat.of(track.path) == nil {
                if (try? store.forget(path: track.path)) == true { forgotten += 1 }
            }
        }
        try? store.setDaemonState("last_rescan_at", ISO8601DateFormatter().string(from: Date()))
        Log.info("rescan done: \(seen.count) files, \(queued) queued, \(forgotten) gone")
        lastStatus = ""
    }

    /// The files under one root, or nil when it cannot be scanned or looks unmounted.
    private func scan(root: String) -> [LibraryScanner.Entry]? {
        let entries: [LibraryScanner.Entry]
        do { entries = try LibraryScanner().scan([root]) } catch {
            Log.error("cannot scan \(root): \(error)")
            return nil
        }
        // An empty root that used to hold tracks is more likely an unmounted disk than a
        // deleted collection: keep its tracks until files show up again.
        if entries.isEmpty, let known = try? store.tracks(under: root), !known.isEmpty {
            Log.warning("\(root) is empty but \(known.count) tracks were there: not forgetting them (unmounted?)")
            return nil
        }
        return entries
    }

    /// Queues `path` if it needs work; re-analysis of an unchanged file (a model change) waits
    /// behind new and changed files. Returns whether it was queued.
    private func queueIfNeeded(_ path: String) -> Bool {
        do {
            switch try processor.decide(path) {
            case .upToDate, .held, .failed, .gaveUp:
                return false
            case .tagOnly:
                try store.enqueue(path, reason: "rescan")
            case .decode(let job):
                let unchanged = job.track.map { t in job.stat.size == t.size && job.stat.mtimeNs == t.mtimeNs } ?? false
                try store.enqueue(path, reason: unchanged ? "re-analysis" : "rescan", priority: unchanged ? 1 : 0)
            }
            return true
        } catch {
            Log.error("\(error)")
            return false
        }
    }

    /// Watches again, and scans, each root that came back or was replaced since it was
    /// watched (a disk unmounted and mounted again, a folder deleted and made again).
    private func checkRoots() {
        if watcher == nil { startWatcher() }
        guard let watcher else { return }
        for root in roots {
            let key = ExactPath(root)
            guard let info = PathIO.stat(root), info.st_mode & S_IFMT == S_IFDIR else {
                if missingRoots.insert(key).inserted { Log.warning("\(root) is missing; it is watched again once it is back") }
                continue
            }
            let identity = RootIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            if watcher.isWatching(root: root) && rootIdentities[key] == identity { continue }
            do {
                try watcher.rewatch(root: root)
            } catch {
                if missingRoots.insert(key).inserted { Log.warning("\(error)") }
                continue
            }
            rootIdentities[key] = identity
            missingRoots.remove(key)
            Log.info("\(root) is back: watching it again (\(watcher.watchCount) watches)")
            var queued = 0
            watchdog.busy {
                for case .candidate(let path) in scan(root: root) ?? [] where queueIfNeeded(path) { queued += 1 }
            }
            Log.info("\(root): \(queued) file(s) queued")
        }
    }

    /// Follows `genred learn` and `learn --import`: when a taxonomy the tags use has a newer
    /// version in the database, the daemon takes it up as a reload would (the tracks whose tags
    /// it changes are decided again from their stored scores). A taxonomy removed or made
    /// unusable leaves the loaded version in use, with one error in the log.
    private func checkTaxonomies() {
        guard !processor.taxonomies.isEmpty else { return }
        var changed = false
        for applied in processor.taxonomies {
            let latest: TaxonomyRecord?
            do { latest = try store.taxonomy(name: applied.taxonomy.name) } catch { continue }
            if latest?.version != applied.taxonomy.version { changed = true }
        }
        guard changed else {
            taxonomyProblem = nil
            return
        }
        let planBefore = processor.planKey
        let previous = processor
        do {
            try setUpProcessor()
            taxonomyProblem = nil
            let versions = processor.taxonomies.map { "\($0.taxonomy.name) version \($0.taxonomy.version ?? 0)" }
            Log.info("taxonomies now in use: \(versions.joined(separator: ", "))")
            if processor.planKey != planBefore { signals.withLock { $0.rescan = true } }
        } catch {
            processor = previous
            let problem = "\(error)"
            if taxonomyProblem != problem {
                taxonomyProblem = problem
                Log.error("a taxonomy changed in the library database and cannot be used: \(problem); "
                    + "keeping the version loaded (fix [tags] taxonomies and reload)")
            }
        }
    }

    // MARK: Set-up and reload

    private func setUpProcessor() throws {
        let bundle = try ModelBundle.load(configuration.model)
        let backup = StoreLocation(options.databasePath).backupDirectory()
        let previousRun = processor?.runID
        processor = try LibraryProcessor(store: store, bundle: bundle, settings: configuration.tags, backupDirectory: backup)
        processor.retryLimit = configuration.watch.maxAttempts
        processor.runID = try previousRun ?? store.beginRun(command: "watch")
    }

    private func resolveRoots() throws -> [String] {
        let wanted = options.rootsOverride ?? configuration.roots
        guard !wanted.isEmpty else {
            throw StartError(description: "no folders to watch: give them on the command line or as roots in [library] of the config file")
        }
        var out: [String] = []
        for root in wanted {
            let path = FilePath.normalize(root)
            guard PathIO.isDirectory(path) else {
                // A missing root may be a disk not mounted yet: carry on with the others.
                Log.warning("\(root): not a folder (yet?); it is watched once it appears")
                out.append(path)
                continue
            }
            if let fs = NetworkFileSystem.kind(of: path) {
                Log.warning("\(path) is on a network file system (\(fs)): inotify sees no changes made elsewhere there; relying on rescans every \(formatSeconds(configuration.watch.rescanInterval))")
            }
            out.append(path)
        }
        guard out.contains(where: { PathIO.exists($0) }) else {
            throw StartError(description: "none of the folders to watch exists: \(wanted.joined(separator: ", "))")
        }
        return out
    }

    private func startWatcher() {
        watcher?.close()
        watcher = nil
        rootIdentities = [:]
        do {
            watcher = try InotifyWatcher(roots: roots)
        } catch {
            Log.error("\(error); falling back to periodic rescans")
            return
        }
        for root in roots where watcher!.isWatching(root: root) {
            if let info = PathIO.stat(root) {
                rootIdentities[ExactPath(root)] = RootIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            }
        }
        try? store.setDaemonState("watches", String(watcher?.watchCount ?? 0))
    }

    private func reload() {
        _ = notifier.reloading()
        guard let path = options.configPath ?? configuration.source else {
            Log.info("SIGHUP: no config file to reload")
            _ = notifier.ready()
            return
        }
        // A reload that fails part-way leaves every setting as it was, not some old and some new.
        let previous = (configuration: configuration, processor: processor, logThreshold: Log.threshold,
                        settleSeconds: settle.settleSeconds)
        do {
            let fresh = try Configuration.load(path: path)
            let rootsChanged = options.rootsOverride == nil && fresh.roots != configuration.roots
            if fresh.watch.workers != configuration.watch.workers {
                Log.warning("a change of [watch] workers takes effect at the next restart")
            }
            let before = (processor.bundle.manifest.name, processor.bundle.manifest.version, processor.planKey)
            configuration = fresh
            Log.threshold = fresh.watch.logLevel
            settle.settleSeconds = fresh.watch.settleSeconds
            try setUpProcessor()
            let modelChanged = before.0 != processor.bundle.manifest.name || before.1 != processor.bundle.manifest.version
            if rootsChanged {
                let resolved = try resolveRoots()
                try store.setDaemonState("roots", BlobCoding.json(resolved))
                roots = resolved
                startWatcher()
            }
            if rootsChanged || modelChanged || before.2 != processor.planKey {
                if modelChanged {
                    Log.info("model is now \(processor.bundle.manifest.name) \(processor.bundle.manifest.version): "
                        + "new files are analysed with it, the others are re-analysed in the background")
                }
                signals.withLock { $0.rescan = true }
            }
            Log.info("reloaded \(path)")
        } catch {
            configuration = previous.configuration
            processor = previous.processor
            Log.threshold = previous.logThreshold
            settle.settleSeconds = previous.settleSeconds
            Log.error("reload failed, keeping the previous settings: \(error)")
        }
        _ = notifier.ready()
    }

    private func installSignalHandlers() {
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

    private func setState(_ state: String, current: String? = nil) throws {
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
