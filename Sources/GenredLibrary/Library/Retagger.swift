import Foundation
import GenredEngine

/// What happened to one file in a retag run.
public struct FileReport: Sendable {
    public enum Tagging: Sendable, Equatable {
        /// Nothing to write: no proposal, or the file already has exactly these values.
        case unchanged
        /// The fields have values a person set and the policy keeps them.
        case leftAlone
        /// Written (or, in a dry run, would be written): field -> (existing, new).
        case written([TagField: Change])
        case wouldWrite([TagField: Change])
        /// A person undid genred's tags on this track; they are not written again unasked.
        case held
        /// The file decodes only in part (the reason); tags are left alone (`[tags] write_damaged`).
        case damaged(String)
    }

    public struct Change: Sendable, Equatable {
        public var existing: [String]
        public var new: [String]
    }

    public var path: String
    public var analysed = false
    public var moved = false
    public var tagging: Tagging = .unchanged
    public var error: String?
    /// Analysed with a model that a reload has since replaced: stored, not tagged; the file
    /// needs another look.
    package var stale = false
    /// Where the time went, for a file that was analysed (zero otherwise).
    public var timings = StageTimings()

    init(path: String) { self.path = path }
}

/// Counts and failures of a run.
public struct RetagSummary: Sendable {
    public var files = 0
    public var analysed = 0
    public var upToDate = 0
    public var moved = 0
    public var tagged = 0
    public var leftAlone = 0
    public var unsupported = 0
    /// Tracks whose tags a person undid, so genred did not write them.
    public var held = 0
    /// Files analysed from what decodes, whose tags were left alone.
    public var damaged = 0
    public var failures: [(path: String, reason: String)] = []
    public var runID: Int64?
    /// Files left for next time because SIGINT or SIGTERM asked the run to stop.
    public var notReached = 0
    public var interrupted = false

    public var failed: Int { failures.count }
}

public struct RetagOptions: Sendable {
    public var dryRun = false
    /// Files analysed at once (0: one per core).
    public var jobs = 0
    /// The network's number format asked for (see `Precision.resolve`).
    public var precision: Precision = .fp32
    public var settings = TagSettings()
    /// Where the tag writer keeps a file's original bytes until a write is verified.
    public var backupDirectory: URL
    /// Also write the tags of tracks a person's `undo` put back.
    public var rewriteHeld = false
    /// Asked between files; true stops the run there (SIGINT, SIGTERM).
    public var shouldStop: @Sendable () -> Bool = { false }

    public init(backupDirectory: URL) { self.backupDirectory = backupDirectory }
}

/// Progress events, delivered on the calling thread.
public enum RetagEvent: Sendable {
    /// `pending` files will be reported one by one; the rest are up to date or unsupported.
    case scanned(files: Int, pending: Int, toAnalyse: Int)
    case started(path: String)
    case finished(FileReport)
    /// A write an earlier, interrupted process left unfinished, now settled.
    case recovered(JournaledTagWriter.Recovery)
}

/// `genred retag`: analyse what is new or changed under some folders, store the results and
/// write genre and mood tags as the policy says.
///
/// Decoding and inference run on `jobs` worker threads; everything that touches the database
/// or a file's tags happens on the calling thread, one file at a time.
public final class Retagger {
    let processor: LibraryProcessor
    let options: RetagOptions

    public init(store: LibraryStore, bundle: ModelBundle, options: RetagOptions) throws {
        processor = try LibraryProcessor(store: store, bundle: bundle, settings: options.settings,
                                         backupDirectory: options.backupDirectory, dryRun: options.dryRun)
        processor.rewriteHeld = options.rewriteHeld
        self.options = options
    }

    public func run(roots: [String], report: (RetagEvent) -> Void) throws -> RetagSummary {
        var summary = RetagSummary()
        if !options.dryRun {
            for recovery in try processor.journal.recover() { report(.recovered(recovery)) }
        }
        let entries = try LibraryScanner().scan(roots)
        if !options.dryRun {
            summary.runID = try processor.store.beginRun(command: "retag")
            processor.runID = summary.runID
        }
        let stop = options.shouldStop

        // Sort the files: up to date, tags to decide from the stored analysis, or decode.
        var jobs: [LibraryProcessor.Job] = []
        var tagOnly: [(track: TrackRecord, moved: Bool)] = []
        for entry in entries {
            summary.files += 1
            guard case .candidate(let path) = entry else {
                summary.unsupported += 1
                continue
            }
            switch try processor.decide(path) {
            case .upToDate: summary.upToDate += 1
            case .held: summary.held += 1
            case .tagOnly(let track, let moved): tagOnly.append((track, moved))
            case .decode(let job): jobs.append(job)
            case .failed(let r): record(r, into: &summary, report: report)
            case .gaveUp(let track): tagOnly.append((track, false))
            }
        }
        report(.scanned(files: summary.files, pending: tagOnly.count + jobs.count + summary.failed, toAnalyse: jobs.count))

        for (i, (track, moved)) in tagOnly.enumerated() {
            if stop() {
                summary.notReached += tagOnly.count - i + jobs.count
                jobs.removeAll()
                break
            }
            record(processor.tagFromStoredAnalysis(track, moved: moved), into: &summary, report: report)
        }

        let results = BlockingQueue<LibraryProcessor.JobResult>()
        let pending = BlockingQueue<LibraryProcessor.Job>(jobs)
        pending.close()
        let split = AnalysisPool.split(requested: options.jobs, jobs: jobs.count)
        let bundle = processor.bundle
        let pool = AnalysisPool(count: jobs.isEmpty ? 0 : split.threads, innerThreads: split.inner, precision: options.precision) { _, slot in
            while let job = pending.pop() { results.push(LibraryProcessor.work(job, analyzer: slot.analyzer(for: bundle))) }
        }
        var handled = 0
        while handled < jobs.count {
            if stop() {
                // Workers finish the file in hand; nothing more is started.
                pending.closeAndDrain()
                pool.wait()
                while let result = results.tryPop() {
                    record(processor.handle(result), into: &summary, report: report)
                    handled += 1
                }
                summary.notReached += jobs.count - handled
                break
            }
            guard let result = results.pop(timeout: 0.25) else { continue }
            record(processor.handle(result), into: &summary, report: report)
            handled += 1
        }
        pool.wait()
        summary.interrupted = summary.notReached > 0

        if let run = summary.runID {
            try processor.store.finishRun(run, summary: BlobCoding.json([
                "files": summary.files, "analysed": summary.analysed, "up_to_date": summary.upToDate,
                "tagged": summary.tagged, "left_alone": summary.leftAlone, "failed": summary.failed,
                "moved": summary.moved, "unsupported": summary.unsupported, "held": summary.held, "damaged": summary.damaged,
                "not_reached": summary.notReached,
            ]))
        }
        return summary
    }

    private func record(_ r: FileReport, into summary: inout RetagSummary, report: (RetagEvent) -> Void) {
        if r.analysed { summary.analysed += 1 } else if r.error == nil { summary.upToDate += 1 }
        if r.moved { summary.moved += 1 }
        switch r.tagging {
        case .written, .wouldWrite: summary.tagged += 1
        case .leftAlone: summary.leftAlone += 1
        case .held: summary.held += 1
        case .damaged: summary.damaged += 1
        case .unchanged: break
        }
        if let error = r.error { summary.failures.append((r.path, error)) }
        report(.finished(r))
    }
}
