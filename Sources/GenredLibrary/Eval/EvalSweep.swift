import GenredEngine
/// How the genre-writing rule (threshold, max genres) of `retag` would fare on a labelled set.
public struct EvalSweep: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        public var threshold: Double
        var maxGenres: Int
        /// Files that would get at least one genre.
        public var tagged: Int
        /// Tagged files whose written genres include one that stands for the label.
        var agreeing: Int
        public var files: Int
        /// tagged / files
        public var coverage: Double
        /// agreeing / tagged (0 when nothing is tagged)
        var agreement: Double
        /// Genres written per tagged file.
        var meanGenres: Double
    }

    public var coverageTarget: Double
    public var rows: [Row]
    /// The highest agreement among rows with coverage >= the target (ties: fewer genres, then a
    /// higher threshold); nil when no row reaches the target.
    var suggestion: Row?
    /// The rule as configured now.
    public var current: Row

    public static let thresholds: [Float] = (1...10).map { Float($0) / 20 }
    public static let maxCounts = [1, 2, 3]

    /// Runs `TagPlanner` over every sample for each setting. `settings` supplies the label map
    /// and the current setting.
    public static func run(samples: [EvalSample], classes: [EvalClass], manifest: BundleManifest, settings: TagSettings,
                           coverageTarget: Double, thresholds: [Float] = thresholds, maxCounts: [Int] = maxCounts) -> EvalSweep {
        var base = settings
        base.moods = false
        let accepted = acceptedNames(classes: classes, manifest: manifest, settings: base)
        func row(_ threshold: Float, _ maxGenres: Int) -> Row {
            var s = base
            s.genreThreshold = threshold
            s.maxGenres = maxGenres
            let planner = TagPlanner(manifest: manifest, settings: s)
            var tagged = 0, agreeing = 0, written = 0
            for sample in samples {
                let genres = planner.propose(scores: sample.mean)[.genre] ?? []
                guard !genres.isEmpty else { continue }
                tagged += 1
                written += genres.count
                if genres.contains(where: { accepted[sample.truth].contains($0.lowercased()) }) { agreeing += 1 }
            }
            let n = samples.count
            return Row(threshold: Double(threshold), maxGenres: maxGenres, tagged: tagged, agreeing: agreeing, files: n,
                       coverage: n > 0 ? Double(tagged) / Double(n) : 0,
                       agreement: tagged > 0 ? Double(agreeing) / Double(tagged) : 0,
                       meanGenres: tagged > 0 ? Double(written) / Double(tagged) : 0)
        }
        let rows = thresholds.flatMap { t in maxCounts.map { row(t, $0) } }
        let suggestion = rows.filter { $0.coverage >= coverageTarget && $0.files > 0 }.min { a, b in
            if a.agreement != b.agreement { return a.agreement > b.agreement }
            if a.maxGenres != b.maxGenres { return a.maxGenres < b.maxGenres }
            return a.threshold > b.threshold
        }
        return EvalSweep(coverageTarget: coverageTarget, rows: rows, suggestion: suggestion,
                         current: row(settings.genreThreshold, settings.maxGenres))
    }

    /// Per class, the written genre names (lowercased) that stand for it: the names `TagPlanner`
    /// gives the class's model labels under the configured label map.
    static func acceptedNames(classes: [EvalClass], manifest: BundleManifest, settings: TagSettings) -> [Set<String>] {
        var s = settings
        s.genreThreshold = 0.5
        s.maxGenres = 1
        let planner = TagPlanner(manifest: manifest, settings: s)
        return classes.map { c in
            Set(c.indices.flatMap { i -> [String] in
                var onehot = [Float](repeating: 0, count: manifest.labels.count)
                onehot[i] = 1
                return (planner.propose(scores: onehot)[.genre] ?? []).map { $0.lowercased() }
            })
        }
    }
}
