import Foundation
import GenredEngine
import GenredLibrary

/// Handing queued files to the analysis pool, and storing and tagging what comes back.
extension Daemon {
    func startWorkers() {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        workerCount = configuration.watch.workers > 0 ? configuration.watch.workers : cores
        let (jobs, results) = (jobs, results)
        // Background priority for analysis; the coordinator keeps its own. Each job names its
        // model: after a reload the next job brings the new one.
        analysisPool = AnalysisPool(count: workerCount, innerThreads: 1, precision: configuration.precision, background: true) { _, slot in
            while let job = jobs.pop() { results.push(LibraryProcessor.work(job, analyzer: slot.analyzer(for: job.bundle))) }
        }
    }

    /// Hands due queue items to the workers, keeping them just busy.
    func dispatch() {
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

    func finish(_ result: LibraryProcessor.JobResult) {
        let report = watchdog.busy { processor.handle(result) }
        inFlight[ExactPath(report.path)] = nil
        settleFinished(report)
    }

    /// Logs a file's outcome and takes it off the queue (or schedules a retry).
    func settleFinished(_ r: FileReport) {
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
}
