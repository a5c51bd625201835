import Foundation
import GenredEngine
import GenredLibrary

/// `genred worker`: takes analysis jobs from a shared store, reads each file through this
/// machine's mount of the collection, analyses it and stores the result (see docs/workers.md).
///
/// It never writes tags: the process on the machine that owns the files does, when the
/// analyses arrive. Each job is held under a lease the worker renews while it lives; a worker
/// that dies loses its jobs to others once their leases run out, and a result stored after the
/// lease was lost is refused, so no job's analysis is stored twice.
public final class AnalysisWorker: @unchecked Sendable {
    public struct Options: Sendable {
        public var jobs: Int
        /// Path prefixes rewritten from the owner's view to this machine's, in order: the first match wins.
        public var maps: [PathMap] = []
        /// Stop once the queue holds no job of this worker's model.
        public var untilEmpty = false
        /// Seconds a claimed job stays this worker's without a renewal.
        public var lease: TimeInterval = 60
        /// A job taken this often (its workers failed or died) is given up.
        public var maxClaims = 3
        /// Seconds before a failed job is tried again (doubling with each try).
        package var retryBackoff: TimeInterval = 30
        /// The network's number format asked for (see `Precision.resolve`).
        public var precision: Precision = .fp32
        /// The worker's name in the store (default `host:pid`).
        public var name: String

        public init(jobs: Int, name: String? = nil) {
            self.jobs = max(1, jobs)
            self.name = name ?? "\(StoreHost.name):\(getpid())"
        }
    }


    public enum Event: Sendable {
        case started(name: String, model: String, jobs: Int)
        case analysed(path: String, audioSeconds: Double, seconds: Double)
        /// Its lease ran out (or the file changed and was queued again) before the result was stored.
        case discarded(path: String)
        case failed(path: String, reason: String)
        /// Nothing to take; waiting for jobs.
        case idle
        case stopping
    }

    public struct Summary: Sendable, Equatable {
        public var analysed = 0
        public var failed = 0
        public var discarded = 0
        public var audioSeconds = 0.0
        /// Seconds spent in the store: claiming jobs and storing results.
        public var storeSeconds = 0.0
        public var seconds = 0.0
    }

    private let store: LibraryStore
    private let bundle: ModelBundle
    private let options: Options
    private let stop: @Sendable () -> Bool
    private let report: @Sendable (Event) -> Void
    private let state = LockedValue(State())
    private let wake = NSCondition()
    private var wakeCount = 0

    private struct State {
        var summary = Summary()
        /// The job each thread has in hand.
        var current: [Int: JobRecord] = [:]
        var finished = false
    }

    public init(store: LibraryStore, bundle: ModelBundle, options: Options,
                stop: @escaping @Sendable () -> Bool, report: @escaping @Sendable (Event) -> Void) {
        self.store = store
        self.bundle = bundle
        self.options = options
        self.stop = stop
        self.report = report
    }

    /// Works until `stop` says so (between files: an analysis in progress finishes and is
    /// stored), or, with `untilEmpty`, until the queue is empty. Gives back what it holds.
    public func run() throws(StoreError) -> Summary {
        let start = Date()
        try store.register(model: bundle.manifest)
        try store.registerWorker(name: options.name, host: StoreHost.name, pid: Int(getpid()), jobs: options.jobs)
        report(.started(name: options.name, model: "\(bundle.manifest.name) \(bundle.manifest.version)", jobs: options.jobs))
        let listener = (try? store.listen(StoreChannel.jobs) { [weak self] in self?.poke() }) ?? nil
        defer { listener?.stop() }

        let heartbeatDone = DispatchSemaphore(value: 0)
        let heartbeat = Thread { [weak self] in
            self?.renewLeases()
            heartbeatDone.signal()
        }
        heartbeat.start()
        let split = AnalysisPool.split(requested: options.jobs)
        let bundle = bundle
        let pool = AnalysisPool(count: split.threads, innerThreads: split.inner, precision: options.precision) { [self] index, slot in
            work(index: index, analyzer: slot.analyzer(for: bundle))
        }
        // Wake idle threads now and then: for leases that ran out (nobody notifies those) and
        // for a stop request.
        while !pool.wait(seconds: 1) {
            if stop() { poke() }
        }
        state.withLock { $0.finished = true }
        poke()
        heartbeatDone.wait()
        if stop() { report(.stopping) }
        try store.stopWorker(name: options.name)
        var summary = state.withLock { $0.summary }
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    private func poke() {
        wake.lock()
        wakeCount += 1
        wake.broadcast()
        wake.unlock()
    }

    /// Waits for a notification, or at most `seconds`.
    private func waitForWork(seconds: TimeInterval) {
        wake.lock()
        let seen = wakeCount
        let deadline = Date().addingTimeInterval(seconds)
        while wakeCount == seen && !stop() && Date() < deadline {
            _ = wake.wait(until: min(deadline, Date().addingTimeInterval(1)))
        }
        wake.unlock()
    }

    private var claim: LibraryStore.Claim {
        LibraryStore.Claim(worker: options.name, model: bundle.manifest.name, modelVersion: bundle.manifest.version,
                           lease: options.lease, maxClaims: options.maxClaims)
    }

    private func work(index: Int, analyzer: Analyzer) {
        var idleReported = false
        // The next job, taken in the transaction that stored the last one's result.
        var next: JobRecord?
        while !stop() {
            var claimSeconds = 0.0
            let job: JobRecord
            if let n = next {
                job = n
                next = nil
            } else {
                let claimStart = Date()
                let claimed: JobRecord?
                do { claimed = try store.claimJob(claim) } catch {
                    report(.failed(path: "(the store)", reason: "\(error)"))
                    waitForWork(seconds: 5)
                    continue
                }
                claimSeconds = Date().timeIntervalSince(claimStart)
                guard let c = claimed else {
                    if index == 0 { _ = try? store.reapJobs(maxClaims: options.maxClaims) }
                    if options.untilEmpty, (try? queueIsEmpty()) ?? false { return }
                    if !idleReported && index == 0 && state.withLock({ $0.current.isEmpty }) { report(.idle) }
                    idleReported = true
                    waitForWork(seconds: min(5, options.lease / 2))
                    continue
                }
                job = c
            }
            idleReported = false
            state.withLock { $0.current[index] = job }
            next = handle(job, analyzer: analyzer, claimSeconds: claimSeconds)
            state.withLock { $0.current[index] = next }
            // Another thread may be waiting only for the queue to empty.
            if options.untilEmpty { poke() }
        }
        // A job taken with the last result and not started goes back with the others (`stopWorker`).
    }

    private func queueIsEmpty() throws(StoreError) -> Bool {
        try !store.hasJobs(model: bundle.manifest.name, modelVersion: bundle.manifest.version)
    }

    /// Analyses the job and stores the result; returns the next job when it took one with it.
    private func handle(_ job: JobRecord, analyzer: Analyzer, claimSeconds: Double) -> JobRecord? {
        let local = options.maps.lazy.compactMap { $0.apply(job.path) }.first ?? job.path
        let shown = FilePath.display(local) + (local == job.path ? "" : " (\(FilePath.display(job.path)) there)")
        func fail(_ reason: String) {
            report(.failed(path: shown, reason: reason))
            state.withLock {
                $0.summary.failed += 1
                $0.summary.storeSeconds += claimSeconds
            }
            do { try store.failJob(job, worker: options.name, error: reason, maxClaims: options.maxClaims, backoff: options.retryBackoff) } catch {
                report(.failed(path: shown, reason: "\(error)"))
            }
        }
        guard let stat = FileStat.of(local) else {
            fail(local == job.path && !options.maps.isEmpty
                        ? "cannot read it here: no --map covers it" : "cannot read it here (is the collection mounted?)")
            return nil
        }
        // The owner's file and this one must be the same version: size exactly, mtime to the
        // second (network file systems may keep less than nanoseconds).
        guard stat.size == job.size, stat.mtimeNs / 1_000_000_000 == job.mtimeNs / 1_000_000_000 else {
            fail("the file here differs from the one queued (size \(stat.size) here, \(job.size) there): it changed since, or --map points elsewhere")
            return nil
        }
        let start = Date()
        let analysis: TrackAnalysis
        do { analysis = try analyzer.analyze(local) } catch {
            fail(error.reasonText)
            return nil
        }
        let seconds = Date().timeIntervalSince(start)
        let storeStart = Date()
        do {
            let (stored, next) = try store.completeJob(job, worker: options.name, analysis: analysis, seconds: seconds,
                                                       thenClaim: stop() ? nil : claim)
            let storeSeconds = claimSeconds + Date().timeIntervalSince(storeStart)
            state.withLock {
                $0.summary.storeSeconds += storeSeconds
                if stored {
                    $0.summary.analysed += 1
                    $0.summary.audioSeconds += analysis.audio.duration
                } else {
                    $0.summary.discarded += 1
                }
            }
            report(stored ? .analysed(path: shown, audioSeconds: analysis.audio.duration, seconds: seconds) : .discarded(path: shown))
            return next
        } catch {
            report(.failed(path: shown, reason: "\(error)"))
            return nil
        }
    }

    /// Renews the leases of the jobs in hand every quarter lease, until the run ends.
    private func renewLeases() {
        let interval = max(0.2, options.lease / 4)
        while !state.withLock({ $0.finished }) {
            let (jobs, storeSeconds) = state.withLock { (Array($0.current.values), $0.summary.storeSeconds) }
            _ = try? store.renewLeases(worker: options.name, jobs: jobs.compactMap(\.id), lease: options.lease,
                                       current: jobs.map(\.path).sorted().first, storeSeconds: storeSeconds)
            var waited = 0.0
            while waited < interval && !state.withLock({ $0.finished }) {
                Thread.sleep(forTimeInterval: 0.2)
                waited += 0.2
            }
        }
    }
}
