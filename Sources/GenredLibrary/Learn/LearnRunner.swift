import Foundation
import GenredEngine

/// What a taxonomy was learned from, kept with it so that `genred learn NAME` can learn it
/// again from the same places once the labels there have changed.
public struct LearnSources: Sendable, Codable, Equatable {
    public var folders: [String]
    public var labels: EvalLabelSource
    /// The `--map` file for the built-in baseline, if one was given.
    public var map: String?

    public init(folders: [String], labels: EvalLabelSource, map: String? = nil) {
        self.folders = folders
        self.labels = labels
        self.map = map
    }
}

/// `genred learn`: collects labelled files as `genred eval` does, analyses those the library
/// database has no current analysis of (storing the results), learns a taxonomy from the
/// stored features, compares it with the previous version and stores it as the next one.
public final class LearnRunner {
    public let bundle: ModelBundle
    public let store: LibraryStore
    public let map: EvalLabelMap
    public var options = LearnOptions()
    /// Labels with fewer tracks are left out (and listed).
    public var minimumTracks = 5
    /// Flips listed in the comparison with the previous version.
    var flipLimit = 1000

    private let analyzer: Analyzer

    public enum Event: Sendable {
        /// The labelled files are known: `used` of the `labelled` have a label with enough
        /// tracks, and `toAnalyse` of those need an analysis first.
        case collected(labelled: Int, used: Int, toAnalyse: Int, perLabel: [LabelCount])
        /// Analysing file `done + 1` of `total`.
        case analysing(done: Int, total: Int, path: String)
        case failed(path: String, reason: String)
        /// Analyses done; cross-validation and training begin.
        case training(tracks: Int, classes: Int)
    }

    public init(bundle: ModelBundle, store: LibraryStore, map: EvalLabelMap,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.bundle = bundle
        self.store = store
        self.map = map
        analyzer = Analyzer(bundle: bundle, threads: threads)
    }

    /// A taxonomy name: what `--taxonomy` and the config accept (no `/`, which marks a folder).
    public static func validate(name: String) throws(TaxonomyError) {
        if name.isEmpty || name.count > 100 { throw TaxonomyError(name, .invalidName("use 1 to 100 characters")) }
        if name.contains("/") { throw TaxonomyError(name, .invalidName("a name may not contain '/' (that marks an exported folder)")) }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || FilePath.carriesBytes(String($0)) }) {
            throw TaxonomyError(name, .invalidName("control characters are not allowed"))
        }
    }

    /// The labelled tracks of `sources`, ready to learn from, and what was found on the way.
    public struct Collected: Sendable {
        public var input: LearnInput
        /// The file of each row of `input`.
        public var paths: [String]
        public var counts: LearnReport.Counts
        public var leftOut: [LearnReport.LeftOut]
        public var failures: [EvalReport.Failure]
    }

    /// Learns `name` from `sources`; stores it as the next version unless `save` is false.
    public func run(name: String, sources: LearnSources, save: Bool = true,
                    progress: (Event) -> Void = { _ in }) throws(TaxonomyError) -> (report: LearnReport, taxonomy: Taxonomy) {
        let collected = try collect(name: name, sources: sources, progress: progress)
        let input = collected.input, paths = collected.paths, groups = input.groups, classNames = input.classes
        progress(.training(tracks: input.features.rows, classes: classNames.count))
        var outcome = try TaxonomyTrainer.learn(input, options: options)
        var counts = collected.counts
        counts.used = input.features.rows
        counts.failed = collected.failures.count
        outcome.report.counts = counts
        outcome.report.leftOut = collected.leftOut
        outcome.report.failures = collected.failures
        outcome.report.sources = sources.folders
        func database(_ e: StoreError) -> TaxonomyError { TaxonomyError(store.path, .database(e.description)) }

        // What changed since the previous version.
        var examples: [TaxonomyExample] = []
        for (i, path) in paths.enumerated() {
            let trackID = (try? store.track(path: path))??.id
            examples.append(TaxonomyExample(trackId: trackID, path: path, labels: input.labels[i].map { classNames[$0] },
                                            groupKey: groups[i], fold: outcome.folds.assignment[i]))
        }
        let previous: TaxonomyRecord?
        do { previous = try store.taxonomy(name: name) } catch { throw database(error) }
        if let previous {
            outcome.report.comparison = compare(previous, with: outcome.taxonomy, report: outcome.report, examples: examples)
        }
        guard save else { return (outcome.report, outcome.taxonomy) }
        outcome.report.version = (previous?.version ?? 0) + 1
        var record = TaxonomyRecord(taxonomy: outcome.taxonomy, report: outcome.report.json(forOutput: false),
                                    sources: BlobCoding.json(sources), origin: .learned)
        do { try store.saveTaxonomy(&record, examples: examples) } catch { throw database(error) }
        var taxonomy = outcome.taxonomy
        taxonomy.version = record.version
        outcome.report.version = record.version
        return (outcome.report, taxonomy)
    }

    /// Collects the labelled files of `sources` as `genred eval` does and their features: stored
    /// when current, analysed (and stored) otherwise.
    public func collect(name: String, sources: LearnSources,
                        progress: (Event) -> Void = { _ in }) throws(TaxonomyError) -> Collected {
        try Self.validate(name: name)
        let manifest = bundle.manifest
        func database(_ e: StoreError) -> TaxonomyError { TaxonomyError(store.path, .database(e.description)) }
        // Labelled files, from every folder.
        var files: [LabelledFile] = []
        var seen = Set<ExactPath>()
        var counts = LearnReport.Counts()
        var failures: [EvalReport.Failure] = []
        for folder in sources.folders {
            let data: EvalDataset
            do { data = try EvalDataset.collect(folder, labels: sources.labels) } catch {
                throw TaxonomyError(error.path, .unreadable(error.reasonText))
            }
            for f in data.files where seen.insert(ExactPath(f.path)).inserted { files.append(f) }
            counts.unlabelled += data.unlabelled.count
            counts.unsupported += data.unsupported.count
            failures += data.unreadable.map { EvalReport.Failure(path: $0.path, reason: $0.reason) }
        }
        files.sort { ExactPath($0.path) < ExactPath($1.path) }
        counts.labelled = files.count
        guard !files.isEmpty else {
            let why = sources.labels == .folders ? "no audio in label sub-folders of \(sources.folders.joined(separator: ", "))"
                : "no audio file under \(sources.folders.joined(separator: ", ")) has a genre tag"
            throw TaxonomyError(name, .nothingToLearn(why))
        }

        // Classes: labels compared as `genred eval` compares them; spelled as first seen.
        var spelling: [String: String] = [:]
        var fileKeys: [[String]] = []
        for f in files {
            var keys: [String] = []
            for label in f.labels {
                let key = EvalLabelMap.key(label)
                guard !key.isEmpty, !keys.contains(key) else { continue }
                if spelling[key] == nil { spelling[key] = label.trimmingCharacters(in: .whitespaces) }
                keys.append(key)
            }
            fileKeys.append(keys)
        }
        var tracksPerKey: [String: Int] = [:]
        for keys in fileKeys { for k in keys { tracksPerKey[k, default: 0] += 1 } }
        var leftOut: [LearnReport.LeftOut] = []
        for (key, n) in tracksPerKey where n < minimumTracks {
            leftOut.append(.init(label: spelling[key]!, tracks: n, reason: "fewer than \(minimumTracks) tracks (--min-tracks)"))
        }
        let small = Set(leftOut.map { EvalLabelMap.key($0.label) })
        let perLabel = tracksPerKey.sorted { spelling[$0.key]!.lowercased() < spelling[$1.key]!.lowercased() }
            .map { LabelCount(label: spelling[$0.key]!, tracks: $0.value) }
        // Two labels with enough tracks are needed; say what was found rather than analyse in vain.
        if tracksPerKey.values.filter({ $0 >= minimumTracks }).count < 2 {
            throw TaxonomyError(name, .nothingToLearn(Self.tooFew(perLabel, minimum: minimumTracks, files: files.count)))
        }

        // Features: stored when current, analysed (and stored) otherwise.
        do { try store.register(model: manifest) } catch { throw database(error) }
        var pending: [(file: LabelledFile, keys: [String], stored: [Float]?)] = []
        for (f, keys) in zip(files, fileKeys) {
            let kept = keys.filter { !small.contains($0) }
            if kept.isEmpty {
                counts.leftOut += 1
                continue
            }
            pending.append((f, kept, storedFeatures(f.path)))
        }
        let toAnalyse = pending.filter { $0.stored == nil }.count
        progress(.collected(labelled: files.count, used: pending.count, toAnalyse: toAnalyse, perLabel: perLabel))
        var rows: [[Float]] = [], labels: [[String]] = [], paths: [String] = [], albums: [String?] = []
        var analysedSoFar = 0
        for item in pending {
            var features = item.stored
            var album = item.file.album
            if features == nil {
                progress(.analysing(done: analysedSoFar, total: toAnalyse, path: item.file.path))
                analysedSoFar += 1
                do {
                    let (f, tags) = try analyse(item.file.path)
                    features = f
                    if sources.labels == .folders { album = tags }
                    counts.analysed += 1
                } catch {
                    failures.append(.init(path: item.file.path, reason: error.reason))
                    progress(.failed(path: item.file.path, reason: error.reason))
                    continue
                }
            } else {
                counts.stored += 1
                if sources.labels == .folders { album = readAlbum(item.file.path) }
            }
            rows.append(features!)
            labels.append(item.keys)
            paths.append(item.file.path)
            albums.append(album)
        }

        // Classes by name; each track's classes in that order.
        let keys = Set(labels.joined()).sorted { spelling[$0]!.lowercased() < spelling[$1]!.lowercased() }
        let index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        let classNames = keys.map { spelling[$0]! }
        let columns = rows.first?.count ?? 0
        guard keys.count >= 2, !rows.isEmpty else {
            let analysed = perLabel.map { found in
                LabelCount(label: found.label, tracks: labels.filter { $0.contains(EvalLabelMap.key(found.label)) }.count)
            }
            throw TaxonomyError(name, .nothingToLearn("after \(failures.count) failed analyses, "
                + Self.tooFew(analysed, minimum: minimumTracks, files: rows.count)))
        }
        let groups = zip(paths, albums).map { path, album in album.map { "album:" + $0.lowercased() } ?? "folder:" + FilePath.parent(path) }
        let builtIn: [EvalClass?] = classNames.map { cls in
            guard case .covered(let modelLabels, let origin) = map.coverage(of: cls) else { return nil }
            return EvalClass(name: cls, modelLabels: modelLabels, origin: origin,
                             indices: modelLabels.compactMap { manifest.labels.firstIndex(of: $0) })
        }
        let input = LearnInput(
            name: name, classes: classNames, features: FeatureMatrix(rows, columns: columns),
            labels: labels.map { $0.map { index[$0]! } }, groups: groups, groupedByAlbum: albums.map { $0 != nil },
            builtIn: builtIn, meanOffset: bundle.network.embeddingSize,
            baseModel: .init(name: manifest.name, version: manifest.version, weightsSha256: manifest.weights.sha256.lowercased()),
            labelSource: sources.labels.rawValue)
        return Collected(input: input, paths: paths, counts: counts,
                         leftOut: leftOut.sorted { $0.label.lowercased() < $1.label.lowercased() }, failures: failures)
    }

    /// Tracks found for one label.
    public struct LabelCount: Sendable, Equatable {
        public var label: String
        public var tracks: Int
    }

    /// Why a set cannot be learned: the tracks found per label against the minimum.
    static func tooFew(_ perLabel: [LabelCount], minimum: Int, files: Int) -> String {
        let found = perLabel.map { "\($0.label) \($0.tracks)" }.joined(separator: ", ")
        let enough = perLabel.filter { $0.tracks >= minimum }.count
        return "\(files) labelled track\(files == 1 ? "" : "s") in \(perLabel.count) label\(perLabel.count == 1 ? "" : "s") (\(found)); "
            + "a taxonomy needs at least 2 labels of \(minimum) or more tracks each (--min-tracks), and \(enough) "
            + (enough == 1 ? "has" : "have") + " that many"
    }

    // MARK: Analyses

    /// Features from the library database, when it holds an analysis of the file as it is now
    /// by this model version with the default windows.
    private func storedFeatures(_ path: String) -> [Float]? {
        let m = bundle.manifest
        guard let stat = FileStat.of(path), let track = try? store.track(path: path), track.matches(stat), let id = track.id,
              let record = try? store.analysis(trackID: id, model: m.name), record.modelVersion == m.version,
              record.windowFrames == m.window.frames, record.hopFrames == m.window.defaultHopFrames, record.windows > 0
        else { return nil }
        return TaxonomyFeatures.of(record)
    }

    struct AnalysisFailure: Error {
        var reason: String
    }

    /// Analyses the file, stores the analysis (and the track's title, artist and album) as
    /// `retag` would, and returns its features and album.
    private func analyse(_ path: String) throws(AnalysisFailure) -> ([Float], String?) {
        guard let stat = FileStat.of(path) else { throw AnalysisFailure(reason: "file vanished or cannot be read") }
        let start = Date()
        let analysis: TrackAnalysis
        do { analysis = try analyzer.analyze(path) } catch { throw AnalysisFailure(reason: error.reasonText) }
        let seconds = Date().timeIntervalSince(start)
        let snapshot = try? TagWriter(backupDirectory: FileManager.default.temporaryDirectory).read(path, container: analysis.audio.container)
        let (title, artist, album) = (snapshot?.properties["TITLE"]?.first, snapshot?.properties["ARTIST"]?.first,
                                      snapshot?.properties["ALBUM"]?.first)
        do {
            let existing = try store.track(path: path)
            _ = try store.saveAnalysis(analysis, seconds: seconds, trackID: existing?.id, new: TrackRecord(path: path, stat: stat)) { t in
                // A new analysis: retag decides the tags again.
                t.take(analysis, path: path, stat: stat)
                (t.title, t.artist, t.album) = (title, artist, album)
            }
        } catch {
            throw AnalysisFailure(reason: error.description)
        }
        return (TaxonomyFeatures.of(analysis), snapshot.flatMap(LabelledFile.album(of:)))
    }

    private func readAlbum(_ path: String) -> String? {
        guard let container = try? AudioDecoding.sniff(path),
              let snapshot = try? TagWriter(backupDirectory: FileManager.default.temporaryDirectory).read(path, container: container)
        else { return nil }
        return LabelledFile.album(of: snapshot)
    }

    // MARK: Relearning

    /// Accuracy then and now, the training labels that changed, and the library's tracks whose
    /// label the new version would change.
    func compare(_ previous: TaxonomyRecord, with taxonomy: Taxonomy, report: LearnReport,
                 examples: [TaxonomyExample]) -> LearnReport.Comparison {
        let then = previous.report.flatMap(LearnReport.decode)
        let head = report.method("head")
        var c = LearnReport.Comparison(
            previousVersion: previous.version, previousTracks: then?.counts.used,
            previousAccuracy: then?.method("head")?.accuracy, previousBalancedAccuracy: then?.method("head")?.balancedAccuracy,
            accuracy: head?.accuracy, balancedAccuracy: head?.balancedAccuracy,
            added: 0, removed: 0, relabelled: 0, tracksCompared: 0, flipCount: 0, flips: [], note: nil)
        if let id = previous.id, let old = try? store.taxonomyExamples(taxonomyID: id) {
            let before = Dictionary(old.map { (ExactPath($0.path), Set($0.labelList.map(EvalLabelMap.key))) }, uniquingKeysWith: { a, _ in a })
            let now = Dictionary(examples.map { (ExactPath($0.path), Set($0.labelList.map(EvalLabelMap.key))) }, uniquingKeysWith: { a, _ in a })
            c.added = now.keys.filter { before[$0] == nil }.count
            c.removed = before.keys.filter { now[$0] == nil }.count
            c.relabelled = now.filter { path, labels in before[path].map { $0 != labels } ?? false }.count
        }
        guard let old = try? previous.taxonomy() else {
            c.note = "the previous version cannot be read"
            return c
        }
        guard old.manifest.baseModel == taxonomy.manifest.baseModel else {
            c.note = "the previous version was learned on \(old.manifest.baseModel.name) \(old.manifest.baseModel.version); its labels are not comparable"
            return c
        }
        let base = taxonomy.manifest.baseModel
        guard let library = try? store.taxonomyFeatures(model: base.name, version: base.version), let features = library.features else {
            c.note = "no analysed tracks to compare"
            return c
        }
        let before = old.predictions(features), after = taxonomy.predictions(features)
        c.tracksCompared = features.rows
        for i in 0..<features.rows where before[i].label != after[i].label {
            c.flipCount += 1
            if c.flips.count < flipLimit { c.flips.append(.init(path: library.paths[i], before: before[i].label, after: after[i].label)) }
        }
        return c
    }
}
