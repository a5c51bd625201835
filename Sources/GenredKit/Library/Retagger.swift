import Foundation

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
    public var failures: [(path: String, reason: String)] = []
    public var runID: Int64?

    public var failed: Int { failures.count }
}

public struct RetagOptions: Sendable {
    public var dryRun = false
    /// Files analysed at once (0: one per core).
    public var jobs = 0
    public var settings = TagSettings()
    /// Where the tag writer keeps a file's original bytes until a write is verified.
    public var backupDirectory: URL

    public init(backupDirectory: URL) { self.backupDirectory = backupDirectory }
}

/// Progress events, delivered on the calling thread.
public enum RetagEvent: Sendable {
    /// `pending` files will be reported one by one; the rest are up to date or unsupported.
    case scanned(files: Int, pending: Int, toAnalyse: Int)
    case started(path: String)
    case finished(FileReport)
}

/// `genred retag`: analyse what is new or changed under some folders, store the results and
/// write genre and mood tags as the policy says.
///
/// Decoding and inference run on `jobs` worker threads; everything that touches the database
/// or a file's tags happens on the calling thread, one file at a time.
public final class Retagger {
    let store: LibraryStore
    let bundle: ModelBundle
    let options: RetagOptions
    let planner: TagPlanner
    let writer: TagWriter
    let planKey: String

    public init(store: LibraryStore, bundle: ModelBundle, options: RetagOptions) {
        self.store = store
        self.bundle = bundle
        self.options = options
        planner = TagPlanner(manifest: bundle.manifest, settings: options.settings)
        writer = TagWriter(id3v23Separator: options.settings.id3v23Separator, backupDirectory: options.backupDirectory)
        planKey = planner.planKey(model: bundle.manifest.name, version: bundle.manifest.version)
    }

    /// A file the workers decode: analysed fully, or only fingerprinted when its stored
    /// analysis may still hold (the file changed on disk, perhaps only its tags).
    struct Job: Sendable {
        var path: String
        var stat: FileStat
        var track: TrackRecord?
        var fingerprintFirst: Bool
    }

    enum JobResult: Sendable {
        case analysed(Job, TrackAnalysis, seconds: Double)
        case sameAudio(Job, fingerprint: String, audio: DecodedAudio)
        case failed(Job, String)
    }

    public func run(roots: [String], report: (RetagEvent) -> Void) throws -> RetagSummary {
        var summary = RetagSummary()
        let entries = try LibraryScanner().scan(roots)
        try store.register(model: bundle.manifest)
        if !options.dryRun { summary.runID = try store.beginRun(command: "retag") }

        // Sort the files: up to date, tags to decide from the stored analysis, or decode.
        var jobs: [Job] = []
        var tagOnly: [(track: TrackRecord, moved: Bool)] = []
        for entry in entries {
            summary.files += 1
            guard case .candidate(let path) = entry else {
                summary.unsupported += 1
                continue
            }
            guard let stat = FileStat.of(path) else {
                var r = FileReport(path: path)
                r.error = "file vanished or cannot be read"
                record(r, into: &summary, report: report)
                continue
            }
            var track = try store.track(path: path)
            var moved = false
            if track == nil, let previous = try movedTrack(stat: stat) {
                track = previous
                track!.path = path
                moved = true
                try store.save(&track!)
            }
            if let t = track, t.matches(stat), try currentAnalysis(t) != nil {
                if t.tagPlan == planKey && t.lastError == nil && !moved {
                    summary.upToDate += 1
                    continue
                }
                tagOnly.append((t, moved))
                continue
            }
            let analysable = try track.flatMap { try currentAnalysis($0) } != nil && track?.fingerprint != nil
            jobs.append(Job(path: path, stat: stat, track: track, fingerprintFirst: analysable))
        }
        report(.scanned(files: summary.files, pending: tagOnly.count + jobs.count + summary.failed, toAnalyse: jobs.count))

        for (track, moved) in tagOnly {
            var r = FileReport(path: track.path)
            r.moved = moved
            var t = track
            if let analysis = try currentAnalysis(track) {
                tag(&t, scores: analysis.meanScores, container: AudioContainer(rawValue: track.format ?? ""), report: &r, summary: &summary)
            }
            record(r, into: &summary, report: report)
        }

        let results = BlockingQueue<JobResult>()
        let pending = BlockingQueue<Job>(jobs)
        pending.close()
        let workers = max(1, min(options.jobs > 0 ? options.jobs : ProcessInfo.processInfo.activeProcessorCount, jobs.count))
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let bundle = self.bundle
        let finished = DispatchGroup()
        for _ in 0..<(jobs.isEmpty ? 0 : workers) {
            finished.enter()
            let thread = Thread {
                let analyzer = Analyzer(bundle: bundle, threads: max(1, cores / workers))
                while let job = pending.pop() { results.push(Self.work(job, analyzer: analyzer)) }
                finished.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        for _ in 0..<jobs.count {
            guard let result = results.pop() else { break }
            handle(result, summary: &summary, report: report)
        }
        finished.wait()

        if let run = summary.runID {
            try store.finishRun(run, summary: BlobCoding.json([
                "files": summary.files, "analysed": summary.analysed, "up_to_date": summary.upToDate,
                "tagged": summary.tagged, "left_alone": summary.leftAlone, "failed": summary.failed,
                "moved": summary.moved, "unsupported": summary.unsupported,
            ]))
        }
        return summary
    }

    /// Decoding and inference for one job, on a worker thread.
    static func work(_ job: Job, analyzer: Analyzer) -> JobResult {
        if job.fingerprintFirst, let known = job.track?.fingerprint {
            do {
                let (fingerprint, audio) = try AudioFingerprint.of(job.path)
                if fingerprint == known { return .sameAudio(job, fingerprint: fingerprint, audio: audio) }
            } catch {
                return .failed(job, error.reasonText)
            }
        }
        let start = Date()
        do {
            let analysis = try analyzer.analyze(job.path)
            return .analysed(job, analysis, seconds: Date().timeIntervalSince(start))
        } catch {
            return .failed(job, error.reasonText)
        }
    }

    private func handle(_ result: JobResult, summary: inout RetagSummary, report: (RetagEvent) -> Void) {
        switch result {
        case .failed(let job, let reason):
            var r = FileReport(path: job.path)
            r.error = reason
            var track = job.track ?? TrackRecord(path: job.path, stat: job.stat)
            track.update(from: job.stat)
            track.lastError = reason
            track.errorCount += 1
            track.lastErrorAt = Date()
            try? store.save(&track)
            record(r, into: &summary, report: report)

        case .sameAudio(let job, _, let audio):
            var r = FileReport(path: job.path)
            guard var track = job.track else { return }
            track.update(from: job.stat)
            track.format = audio.container.rawValue
            do {
                try store.save(&track)
                if let analysis = try currentAnalysis(track) {
                    tag(&track, scores: analysis.meanScores, container: audio.container, report: &r, summary: &summary)
                }
            } catch {
                r.error = "\(error)"
            }
            record(r, into: &summary, report: report)

        case .analysed(let job, let analysis, let seconds):
            var r = FileReport(path: job.path)
            r.analysed = true
            do {
                var track = try job.track ?? movedTrack(fingerprint: analysis.fingerprint) ?? TrackRecord(path: job.path, stat: job.stat)
                if track.path != job.path { r.moved = true }
                track.path = job.path
                track.update(from: job.stat)
                track.format = analysis.audio.container.rawValue
                track.duration = analysis.audio.duration
                track.fingerprint = analysis.fingerprint
                track.lastError = nil
                track.errorCount = 0
                track.tagPlan = nil
                try store.save(&track, analysis: analysis, seconds: seconds)
                tag(&track, scores: analysis.mean, container: analysis.audio.container, report: &r, summary: &summary)
            } catch {
                r.error = "\(error)"
            }
            record(r, into: &summary, report: report)
        }
    }

    /// Reads the file's tags, decides what the policy writes, and writes it (unless a dry run).
    private func tag(_ track: inout TrackRecord, scores: [Float], container: AudioContainer?,
                     report r: inout FileReport, summary: inout RetagSummary) {
        guard let container else {
            r.error = "unknown format"
            return
        }
        let snapshot: TagSnapshot
        do { snapshot = try writer.read(track.path, container: container) } catch {
            r.error = error.reasonText
            return
        }
        track.title = snapshot.properties["TITLE"]?.first
        track.artist = snapshot.properties["ARTIST"]?.first
        track.album = snapshot.properties["ALBUM"]?.first

        let proposal = planner.propose(scores: scores)
        var writes: [TagField: [String]] = [:]
        var changes: [TagField: FileReport.Change] = [:]
        var keptByPolicy = false
        for field in TagField.allCases {
            guard let proposed = proposal[field] else { continue }
            let existing = snapshot.values(field)
            if let values = TagPlanner.apply(options.settings.policy, existing: existing, proposed: proposed) {
                writes[field] = values
                changes[field] = .init(existing: existing, new: values)
            } else if !proposed.isEmpty && !existing.isEmpty && existing != proposed {
                keptByPolicy = true
            }
        }
        if writes.isEmpty {
            r.tagging = keptByPolicy ? .leftAlone : .unchanged
            if !options.dryRun {
                track.tagPlan = planKey
                try? store.save(&track)
            }
            return
        }
        if options.dryRun {
            r.tagging = .wouldWrite(changes)
            return
        }
        do {
            let result = try writer.write(track.path, container: container, values: writes)
            let entry = JournalEntry(
                runId: summary.runID!, trackId: track.id, path: track.path,
                previous: Dictionary(uniqueKeysWithValues: changes.map { ($0.key.rawValue, $0.value.existing) }),
                new: Dictionary(uniqueKeysWithValues: changes.map { ($0.key.rawValue, $0.value.new) }))
            track.tagPlan = planKey
            var stored: TrackRecord? = track
            try store.journal(entry, track: &stored,
                              written: FileStat(size: result.size, mtimeNs: result.mtimeNanoseconds, inode: Int64(bitPattern: result.inode)))
            track = stored!
            r.tagging = .written(changes)
        } catch let error as TagError {
            r.error = error.reasonText
        } catch {
            r.error = "\(error)"
        }
    }

    private func record(_ r: FileReport, into summary: inout RetagSummary, report: (RetagEvent) -> Void) {
        if r.analysed { summary.analysed += 1 } else if r.error == nil { summary.upToDate += 1 }
        if r.moved { summary.moved += 1 }
        switch r.tagging {
        case .written, .wouldWrite: summary.tagged += 1
        case .leftAlone: summary.leftAlone += 1
        case .unchanged: break
        }
        if let error = r.error { summary.failures.append((r.path, error)) }
        report(.finished(r))
    }

    /// The stored analysis of `track` by this run's model, if it is of the current version.
    private func currentAnalysis(_ track: TrackRecord) throws -> AnalysisRecord? {
        guard let id = track.id, let a = try store.analysis(trackID: id, model: bundle.manifest.name),
              a.modelVersion == bundle.manifest.version else { return nil }
        return a
    }

    /// A known track whose file is gone and which has this inode and size: the file was moved.
    private func movedTrack(stat: FileStat) throws -> TrackRecord? {
        try store.tracks(inode: stat.inode, size: stat.size).first { $0.mtimeNs == stat.mtimeNs && FileStat.of($0.path) == nil }
    }

    /// A known track whose file is gone and which has the same audio.
    private func movedTrack(fingerprint: String) throws -> TrackRecord? {
        try store.tracks(fingerprint: fingerprint).first { FileStat.of($0.path) == nil }
    }
}
