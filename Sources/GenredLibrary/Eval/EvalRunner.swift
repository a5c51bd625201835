import Foundation
import GenredEngine

/// Runs an evaluation: collects labelled files, gets their scores (from the library database
/// when it holds a current analysis, else by analysing) and builds the report. Writes nothing.
public final class EvalRunner {
    public let bundle: ModelBundle
    public let map: EvalLabelMap
    public let store: LibraryStore?
    public var settings = TagSettings()
    public var coverageTarget = 0.9

    private let analyzer: Analyzer

    public init(bundle: ModelBundle, map: EvalLabelMap, store: LibraryStore? = nil,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.bundle = bundle
        self.map = map
        self.store = store
        analyzer = Analyzer(bundle: bundle, threads: threads)
    }

    /// `progress(done, total, path)` is called before each file is scored.
    public func run(source: String, labels: EvalLabelSource,
                    progress: (Int, Int, String) -> Void = { _, _, _ in }) throws(EvalError) -> EvalReport {
        let data = try EvalDataset.collect(source, labels: labels)
        let manifest = bundle.manifest

        // Resolve labels to classes: a file's label is its first label the model covers.
        var classes: [EvalClass] = []
        var classByKey: [String: Int] = [:]
        var uncovered: [String: EvalReport.Uncovered] = [:]
        var uncoveredOrder: [String] = []
        var pending: [(file: LabelledFile, label: String, key: String)] = []
        for file in data.files {
            var chosen: (String, String)?
            for label in file.labels {
                let key = EvalLabelMap.key(label)
                if classByKey[key] != nil { chosen = (label, key); break }
                if case .covered(let modelLabels, let origin) = map.coverage(of: label) {
                    let indices = modelLabels.compactMap { manifest.labels.firstIndex(of: $0) }
                    classByKey[key] = classes.count
                    classes.append(EvalClass(name: label, modelLabels: modelLabels, origin: origin, indices: indices))
                    chosen = (label, key)
                    break
                }
            }
            if let (label, key) = chosen {
                pending.append((file, label, key))
            } else {
                let label = file.labels[0], key = EvalLabelMap.key(label)
                if uncovered[key] == nil {
                    guard case .uncovered(let note) = map.coverage(of: label) else { continue }
                    uncovered[key] = EvalReport.Uncovered(label: label, files: 0, note: note)
                    uncoveredOrder.append(key)
                }
                uncovered[key]!.files += 1
            }
        }
        guard !classes.isEmpty else {
            let why = data.files.isEmpty
                ? (labels == .folders ? "no audio in label sub-folders" : "no audio file has a genre tag")
                : "no label is covered by \(manifest.name) (" + uncoveredOrder.map { uncovered[$0]!.label }.joined(separator: ", ") + ")"
            throw EvalError(path: source, reason: .nothingToEvaluate(why))
        }

        // Class order: by name; remap truths accordingly.
        let order = classes.indices.sorted { classes[$0].name.lowercased() < classes[$1].name.lowercased() }
        var newIndex = [Int](repeating: 0, count: classes.count)
        for (n, old) in order.enumerated() { newIndex[old] = n }
        let sortedClasses = order.map { classes[$0] }

        var samples: [EvalSample] = []
        var failures = data.unreadable.map { EvalReport.Failure(path: $0.path, reason: $0.reason) }
        for (n, item) in pending.enumerated() {
            progress(n, pending.count, item.file.path)
            let truth = newIndex[classByKey[item.key]!]
            if let sample = storedSample(item.file.path, label: item.label, truth: truth) {
                samples.append(sample)
                continue
            }
            do {
                let a = try analyzer.analyze(item.file.path)
                samples.append(EvalSample(path: item.file.path, label: item.label, truth: truth, mean: a.mean, taggram: a.taggram,
                                          windows: a.windowCount, hopSeconds: a.hopSeconds, windowSeconds: a.windowSeconds))
            } catch {
                failures.append(EvalReport.Failure(path: item.file.path, reason: error.reasonText))
            }
        }

        var report = EvalReport.build(samples: samples, classes: sortedClasses, manifest: manifest, settings: settings,
                                      coverageTarget: coverageTarget, source: source, labelSource: labels)
        report.uncovered = uncoveredOrder.map { uncovered[$0]! }.sorted { $0.label.lowercased() < $1.label.lowercased() }
        report.failures = failures
        report.counts.labelled = data.files.count
        report.counts.covered = pending.count
        report.counts.uncovered = report.uncovered.reduce(0) { $0 + $1.files }
        report.counts.unlabelled = data.unlabelled.count
        report.counts.unsupported = data.unsupported.count
        report.counts.failed = failures.count
        return report
    }

    /// The stored analysis of `path` by this model version and window layout, if the file is unchanged.
    private func storedSample(_ path: String, label: String, truth: Int) -> EvalSample? {
        let m = bundle.manifest
        guard let store, let stat = FileStat.of(path),
              let track = try? store.track(path: path), track.matches(stat), let id = track.id,
              let record = try? store.analysis(trackID: id, model: m.name),
              record.modelVersion == m.version, record.windowFrames == m.window.frames,
              record.hopFrames == m.window.defaultHopFrames, record.windows > 0
        else { return nil }
        let mean = record.meanScores, taggram = record.taggramScores
        guard mean.count == m.labels.count, taggram.count == record.windows * m.labels.count else { return nil }
        return EvalSample(path: path, label: label, truth: truth, mean: mean, taggram: taggram, windows: record.windows,
                          hopSeconds: Double(record.hopFrames) * record.frameSeconds,
                          windowSeconds: Double(record.windowFrames) * record.frameSeconds, stored: true)
    }
}
