import Foundation
import GenredEngine

/// The work on one file that `retag` and the daemon share: decide what a file needs, decode
/// and analyse it (on a worker thread), store the results and write its tags.
///
/// Everything but `work` runs on one coordinating thread: database writes and tag writes
/// happen one file at a time.
package final class LibraryProcessor {
    public let store: LibraryStore
    public let bundle: ModelBundle
    public let settings: TagSettings
    public let dryRun: Bool
    let planner: TagPlanner
    public let journal: JournaledTagWriter
    package let planKey: String
    /// The run tag writes are journaled under (nil in a dry run).
    public var runID: Int64?
    /// Failures after which an unchanged file is no longer tried (the daemon); nil tries every
    /// time (`retag`, which a person runs on purpose).
    package var retryLimit: Int?
    /// Writes the tags of tracks a person's `undo` put back (`retag --rewrite-undone`).
    public var rewriteHeld = false

    /// The taxonomies (`[tags] taxonomies`) whose labels are written beside the built-in tags.
    public let taxonomies: [AppliedTaxonomy]

    /// A learned taxonomy and the field its labels go to.
    public struct AppliedTaxonomy: Sendable {
        public var taxonomy: Taxonomy
        public var field: TagField
    }

    /// Throws `TaxonomyError` when a configured taxonomy is not in the database or was learned
    /// on another model than `bundle`.
    public init(store: LibraryStore, bundle: ModelBundle, settings: TagSettings, backupDirectory: URL, dryRun: Bool = false) throws {
        self.store = store
        self.bundle = bundle
        self.settings = settings
        self.dryRun = dryRun
        planner = TagPlanner(manifest: bundle.manifest, settings: settings)
        var writer = TagWriter(id3v23Separator: settings.id3v23Separator, backupDirectory: backupDirectory)
        writer.allowsDamagedAudio = settings.writeDamaged
        journal = JournaledTagWriter(store: store, writer: writer)
        var applied: [AppliedTaxonomy] = []
        for name in settings.taxonomies {
            guard let record = try store.taxonomy(name: name) else { throw TaxonomyError(name, .notFound) }
            let taxonomy = try record.taxonomy()
            try taxonomy.check(model: bundle.manifest)
            applied.append(AppliedTaxonomy(taxonomy: taxonomy, field: settings.field(forTaxonomy: name)))
        }
        taxonomies = applied
        // A new version of a taxonomy changes the plan, so tags are decided again from the
        // stored scores (the digest tells a version apart from one learned after a --remove).
        planKey = planner.planKey(model: bundle.manifest.name, version: bundle.manifest.version)
            + applied.map { a in
                let digest = a.taxonomy.manifest.weights.sha256.prefix(12)
                return ";taxonomy=\(a.taxonomy.name)@\(a.taxonomy.version ?? 0)#\(digest)>\(a.field.rawValue)"
            }.joined()
        try store.register(model: bundle.manifest)
    }

    /// A file the workers decode: analysed fully, or only fingerprinted when its stored
    /// analysis may still hold (the file changed on disk, perhaps only its tags).
    public struct Job: Sendable {
        public var path: String
        public var stat: FileStat
        package var track: TrackRecord?
        var fingerprintFirst: Bool
        /// The model to analyse with: the processor's when the job was made, so a worker never
        /// analyses with a model a reload has since replaced.
        public var bundle: ModelBundle
    }

    package enum JobResult: Sendable {
        /// `known`: the decode's audio hash, when the file kept one stat throughout the decode.
        case analysed(Job, TrackAnalysis, seconds: Double, known: KnownAudio?, timings: StageTimings)
        case sameAudio(Job, fingerprint: String, audio: DecodedAudio, known: KnownAudio?)
        case failed(Job, String)
    }

    public enum Decision {
        /// Analysed with this model and tagged with these settings; the file is unchanged.
        case upToDate
        /// The stored analysis holds; the tags are decided (again) from it.
        case tagOnly(TrackRecord, moved: Bool)
        case decode(Job)
        case failed(FileReport)
        /// It failed `retryLimit` times and has not changed since (its ctime says so).
        case gaveUp(TrackRecord)
        /// Analysed and unchanged, and a person's undo holds its tags: nothing to do.
        case held
    }

    /// What `path` needs, from its stat and the database alone (nothing is decoded).
    public func decide(_ path: String) throws -> Decision {
        guard let stat = FileStat.of(path) else {
            var r = FileReport(path: path)
            r.error = "file vanished or cannot be read"
            return .failed(r)
        }
        var track = try store.track(path: path)
        var moved = false
        if track == nil, let previous = try movedTrack(stat: stat) {
            track = previous
            track!.path = path
            moved = true
            try store.save(&track!)
        }
        if let t = track, let limit = retryLimit, t.errorCount >= limit, t.errorCtimeNs == stat.ctimeNs {
            return .gaveUp(t)
        }
        if let t = track, t.matches(stat), try currentAnalysis(t) != nil {
            if t.tagsHeldAt != nil && !rewriteHeld && t.lastError == nil && !moved { return .held }
            // A damaged file's tags are left alone: reported when it was analysed, not again.
            if t.damage != nil && !settings.writeDamaged && t.lastError == nil && !moved { return .upToDate }
            if t.tagPlan == planKey && t.lastError == nil && !moved { return .upToDate }
            return .tagOnly(t, moved: moved)
        }
        let analysable = try track.flatMap { try currentAnalysis($0) } != nil && track?.fingerprint != nil
        return .decode(Job(path: path, stat: stat, track: track, fingerprintFirst: analysable, bundle: bundle))
    }

    /// Decides the tags of a track whose stored analysis holds, and writes them.
    package func tagFromStoredAnalysis(_ track: TrackRecord, moved: Bool) -> FileReport {
        var r = FileReport(path: track.path)
        r.moved = moved
        var t = track
        do {
            if let analysis = try currentAnalysis(track) {
                tag(&t, analysis: analysis, container: AudioContainer(rawValue: track.format ?? ""), report: &r)
            }
        } catch {
            r.error = "\(error)"
        }
        return r
    }

    /// Decoding and inference for one job, on a worker thread.
    /// `analyzer` must be of `job.bundle` (see `Analyzer.bundle`).
    public static func work(_ job: Job, analyzer: Analyzer) -> JobResult {
        /// The decode's audio hash, if the file did not change while it was decoded.
        func known(_ audio: DecodedAudio, before: FileStat?) -> KnownAudio? {
            guard let before, let digest = audio.sourceDigest, FileStat.of(job.path) == before else { return nil }
            return KnownAudio(digest: digest, stat: before)
        }
        if job.fingerprintFirst, let stored = job.track?.fingerprint {
            do {
                let before = FileStat.of(job.path)
                let (fingerprint, audio) = try AudioFingerprint.of(job.path)
                if fingerprint == stored {
                    return .sameAudio(job, fingerprint: fingerprint, audio: audio, known: known(audio, before: before))
                }
            } catch {
                return .failed(job, error.reasonText)
            }
        }
        let start = Date()
        do {
            let before = FileStat.of(job.path)
            let analysis = try analyzer.analyze(job.path)
            return .analysed(job, analysis, seconds: Date().timeIntervalSince(start), known: known(analysis.audio, before: before),
                             timings: analyzer.lastTimings)
        } catch {
            return .failed(job, error.reasonText)
        }
    }

    public func handle(_ result: JobResult) -> FileReport {
        switch result {
        case .failed(let job, let reason):
            var r = FileReport(path: job.path)
            r.error = reason
            var track = (try? store.track(path: job.path)) ?? job.track ?? TrackRecord(path: job.path, stat: job.stat)
            if track.id == nil { try? store.save(&track) }
            let stat = job.stat
            recordFailure(reason, on: &track) { $0.update(from: stat) }
            return r

        case .sameAudio(let job, _, let audio, let knownAudio):
            var r = FileReport(path: job.path)
            guard let id = job.track?.id else { return r }
            let (stat, format, damage) = (job.stat, audio.container.rawValue, audio.damage)
            do {
                guard var track = try store.updateTrack(id: id, { t in
                    t.update(from: stat)
                    t.format = format
                    t.damage = damage
                }) else { return r }
                if let analysis = try currentAnalysis(track) {
                    tag(&track, analysis: analysis, container: audio.container, knownAudio: knownAudio, report: &r)
                }
            } catch {
                r.error = "\(error)"
            }
            return r

        case .analysed(let job, let analysis, let seconds, let knownAudio, let timings):
            var r = FileReport(path: job.path)
            r.analysed = true
            r.timings = timings
            do {
                let storeStart = DispatchTime.now()
                let known = try job.track ?? movedTrack(fingerprint: analysis.fingerprint)
                if let known, ExactPath(known.path) != ExactPath(job.path) { r.moved = true }
                let (path, stat) = (job.path, job.stat)
                var track = try store.saveAnalysis(analysis, seconds: seconds, trackID: known?.id,
                                                   new: TrackRecord(path: path, stat: stat)) { t in
                    t.take(analysis, path: path, stat: stat)
                }
                r.timings.store = GenredEngine.seconds(since: storeStart)
                // A job made before a reload carries the old model: its results are kept, but
                // tags come only from the current model's scores (the file is queued again).
                guard let current = try currentAnalysis(track) else {
                    r.stale = true
                    return r
                }
                let tagStart = DispatchTime.now()
                tag(&track, analysis: current, container: analysis.audio.container, knownAudio: knownAudio, report: &r)
                r.timings.tagWrite = GenredEngine.seconds(since: tagStart)
            } catch {
                r.error = "\(error)"
            }
            return r
        }
    }

    /// Reads the file's tags, decides what the policy writes, and writes it (unless a dry run).
    ///
    /// The scores are this processor's model's (`analysis` must be `currentAnalysis`), so labels
    /// are never read through another model's indices.
    private func tag(_ track: inout TrackRecord, analysis: AnalysisRecord, container: AudioContainer?,
                     knownAudio: KnownAudio? = nil, report r: inout FileReport) {
        guard let container else {
            r.error = "unknown format"
            return
        }
        let scores = analysis.meanScores
        guard analysis.model == bundle.manifest.name, analysis.modelVersion == bundle.manifest.version,
              scores.count == bundle.manifest.labels.count else {
            r.error = "stored scores are not of \(bundle.manifest.name) \(bundle.manifest.version); not tagged"
            return
        }
        if track.tagsHeldAt != nil && !rewriteHeld {
            r.tagging = .held
            return
        }
        if let damage = track.damage, !settings.writeDamaged {
            r.tagging = .damaged(damage)
            return
        }
        let snapshot: TagSnapshot
        do { snapshot = try journal.writer.read(track.path, container: container) } catch {
            r.error = error.reasonText
            recordFailure(error.reasonText, on: &track)
            return
        }
        let (title, artist, album) = (snapshot.properties["TITLE"]?.first, snapshot.properties["ARTIST"]?.first,
                                      snapshot.properties["ALBUM"]?.first)
        let recording = TrackIdentifier.musicBrainz(snapshot.properties["MUSICBRAINZ_TRACKID"]?.first)
        let isrc = TrackIdentifier.isrc(snapshot.properties["ISRC"]?.first)

        var proposal = planner.propose(scores: scores)
        // A taxonomy's label comes first in its field, before the built-in tags; when it
        // abstains it adds nothing.
        for applied in taxonomies where applied.taxonomy.reads(analysis) {
            var values = applied.taxonomy.prediction(analysis).given
            for v in proposal[applied.field] ?? [] where !values.contains(where: { $0.lowercased() == v.lowercased() }) {
                values.append(v)
            }
            proposal[applied.field] = values
        }
        var writes: [TagField: [String]] = [:]
        var changes: [TagField: FileReport.Change] = [:]
        var keptByPolicy = false
        for field in proposal.keys.sorted() {
            guard let proposed = proposal[field] else { continue }
            let existing = snapshot.values(field)
            if let values = TagPlanner.apply(settings.policy, existing: existing, proposed: proposed) {
                writes[field] = values
                changes[field] = .init(existing: existing, new: values)
            } else if !proposed.isEmpty && !existing.isEmpty && existing != proposed {
                keptByPolicy = true
            }
        }
        if dryRun {
            r.tagging = writes.isEmpty ? (keptByPolicy ? .leftAlone : .unchanged) : .wouldWrite(changes)
            return
        }
        if let id = track.id, let updated = try? store.updateTrack(id: id, { t in
            (t.title, t.artist, t.album) = (title, artist, album)
            (t.musicbrainzRecordingId, t.isrc) = (recording, isrc)
        }) {
            track = updated
        }
        if writes.isEmpty {
            r.tagging = keptByPolicy ? .leftAlone : .unchanged
            if let id = track.id, let updated = try? store.updateTrack(id: id, { [planKey] t in
                t.tagPlan = planKey
                t.tagsHeldAt = nil
                t.lastError = nil
                t.errorCount = 0
                t.errorCtimeNs = nil
            }) {
                track = updated
            }
            return
        }
        do {
            var request = JournaledTagWriter.Request(
                path: track.path, container: container, values: writes,
                previous: Dictionary(uniqueKeysWithValues: changes.map { ($0.key.rawValue, $0.value.existing) }),
                new: Dictionary(uniqueKeysWithValues: changes.map { ($0.key.rawValue, $0.value.new) }),
                trackID: track.id, runID: runID ?? 0, purpose: .tag(planKey: planKey), knownAudio: knownAudio)
            request.decidedOn = snapshot
            request.overrideHold = rewriteHeld
            let outcome = try journal.write(request)
            if let saved = outcome.track { track = saved }
            r.tagging = .written(changes)
        } catch let error as TagError where error.reason == .held {
            r.tagging = .held
        } catch let error as TagError {
            r.error = error.reasonText
            recordFailure(error.reasonText, on: &track)
        } catch {
            r.error = "\(error)"
            recordFailure("\(error)", on: &track)
        }
    }

    /// Counts a failed attempt on the track (with `also` applied in the same update), with the
    /// file's ctime, so the daemon can stop trying a file that keeps failing until something
    /// about it changes.
    private func recordFailure(_ reason: String, on track: inout TrackRecord,
                               also: @escaping @Sendable (inout TrackRecord) -> Void = { _ in }) {
        guard let id = track.id else { return }
        let ctime = FileStat.of(track.path)?.ctimeNs
        if let updated = try? store.updateTrack(id: id, { t in
            also(&t)
            t.lastError = reason
            t.errorCount += 1
            t.lastErrorAt = Date()
            t.errorCtimeNs = ctime
        }) {
            track = updated
        }
    }

    /// The stored analysis of `track` by this run's model, if it is of the current version.
    func currentAnalysis(_ track: TrackRecord) throws -> AnalysisRecord? {
        guard let id = track.id, let a = try store.analysis(trackID: id, model: bundle.manifest.name),
              a.modelVersion == bundle.manifest.version else { return nil }
        return a
    }

    /// A known track whose file is gone and which has this inode and size: the file was moved.
    func movedTrack(stat: FileStat) throws -> TrackRecord? {
        try store.tracks(inode: stat.inode, size: stat.size).first { $0.mtimeNs == stat.mtimeNs && FileStat.of($0.path) == nil }
    }

    /// A known track whose file is gone and which has the same audio.
    private func movedTrack(fingerprint: String) throws -> TrackRecord? {
        try store.tracks(fingerprint: fingerprint).first { FileStat.of($0.path) == nil }
    }
}
