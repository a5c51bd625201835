import GenredEngine
/// Everything `genred eval` found; encodes as the `--json` output.
public struct EvalReport: Sendable, Codable {
    public struct Uncovered: Sendable, Codable, Equatable {
        public var label: String
        public var files: Int
        public var note: String
    }

    public struct ClassMetrics: Sendable, Codable, Equatable {
        public var name: String
        package var support: Int
        var predicted: Int
        public var precision: Double?
        public var recall: Double?
    }

    public struct Pair: Sendable, Codable, Equatable {
        public var label: String
        var predicted: String
        public var count: Int
        /// count / tracks with this label
        public var share: Double
    }

    /// The results of one aggregation (mean or vote).
    public struct Aggregation: Sendable, Codable {
        public var aggregate: String
        package var correct: Int
        public var total: Int
        public var accuracy: Double?
        /// Mean of the per-class recalls (balanced accuracy).
        var meanRecall: Double?
        /// counts[label][prediction], in class order.
        public var counts: [[Int]]
        var rowNormalized: [[Double]]
        public var perClass: [ClassMetrics]
        public var confusedPairs: [Pair]
    }

    public struct Track: Sendable, Codable {
        public var path: String
        public var label: String
        public var className: String
        /// "stored" (from the library database) or "analysed".
        public var source: String
        public var windows: Int
        public var meanPrediction: String
        public var votePrediction: String
        /// Mean score per class, in class order.
        var classScores: [Double]
        /// Windows voting for each class, in class order.
        var votes: [Int]
        /// The three best classes by mean score.
        var top3: [String]
        public var timeline: [TimelineRun]

        public var meanCorrect: Bool { meanPrediction == className }
        public var voteCorrect: Bool { votePrediction == className }
    }

    public struct Counts: Sendable, Codable, Equatable {
        /// Audio files with a label.
        public var labelled = 0
        /// Labelled files whose label the model covers.
        public var covered = 0
        /// Covered files with scores: the tracks the metrics count.
        public var evaluated = 0
        public var stored = 0
        public var analysed = 0
        /// Files with a label no model label stands for.
        public var uncovered = 0
        /// Files without a label (no genre tag, or outside the label folders).
        var unlabelled = 0
        public var unsupported = 0
        /// Files whose tags or audio could not be read.
        public var failed = 0
    }

    public struct Failure: Sendable, Codable, Equatable {
        public var path: String
        public var reason: String
    }

    public var model: String
    public var modelVersion: String
    public var source: String
    public var labelSource: String
    public var classes: [EvalClass]
    public var uncovered: [Uncovered]
    public var counts: Counts
    public var aggregations: [Aggregation]
    /// Share of tracks whose label is among the three best classes by mean score.
    public var top3Accuracy: Double?
    public var tracks: [Track]
    public var sweep: EvalSweep
    public var failures: [Failure]

    public func aggregation(_ name: String) -> Aggregation? { aggregations.first { $0.aggregate == name } }
    public var misclassified: [Track] { tracks.filter { !$0.meanCorrect || !$0.voteCorrect } }

    /// Computes the metrics of `samples`; the caller fills in the counts, failures and uncovered labels.
    public static func build(samples: [EvalSample], classes: [EvalClass], manifest: BundleManifest, settings: TagSettings,
                             coverageTarget: Double, source: String = "", labelSource: EvalLabelSource = .folders) -> EvalReport {
        var meanMatrix = ConfusionMatrix(classCount: classes.count), voteMatrix = meanMatrix
        var tracks: [Track] = []
        var inTop3 = 0
        for s in samples {
            let scores = EvalScoring.classScores(s.mean, classes)
            let votes = EvalScoring.windowVotes(s, classes)
            let m = EvalScoring.argmax(scores)
            let v = EvalScoring.votePrediction(votes: votes, meanScores: scores)
            meanMatrix.add(truth: s.truth, prediction: m)
            voteMatrix.add(truth: s.truth, prediction: v)
            let top3 = Array(EvalScoring.ranking(scores).prefix(3))
            if top3.contains(s.truth) { inTop3 += 1 }
            var voteCounts = [Int](repeating: 0, count: classes.count)
            for w in votes { voteCounts[w] += 1 }
            tracks.append(Track(
                path: s.path, label: s.label, className: classes[s.truth].name, source: s.stored ? "stored" : "analysed",
                windows: s.windows, meanPrediction: classes[m].name, votePrediction: classes[v].name,
                classScores: scores.map(Double.init), votes: voteCounts, top3: top3.map { classes[$0].name },
                timeline: EvalScoring.timeline(votes: votes, hopSeconds: s.hopSeconds, windowSeconds: s.windowSeconds, classes: classes)))
        }
        func aggregation(_ name: String, _ matrix: ConfusionMatrix) -> Aggregation {
            Aggregation(
                aggregate: name, correct: matrix.correct, total: matrix.total, accuracy: matrix.accuracy, meanRecall: matrix.meanRecall,
                counts: matrix.counts, rowNormalized: matrix.rowNormalized,
                perClass: classes.indices.map {
                    ClassMetrics(name: classes[$0].name, support: matrix.support($0), predicted: matrix.predicted($0),
                                 precision: matrix.precision($0), recall: matrix.recall($0))
                },
                confusedPairs: matrix.confusedPairs.map {
                    Pair(label: classes[$0.truth].name, predicted: classes[$0.prediction].name, count: $0.count,
                         share: Double($0.count) / Double(matrix.support($0.truth)))
                })
        }
        var counts = Counts()
        counts.evaluated = samples.count
        counts.stored = samples.filter(\.stored).count
        counts.analysed = samples.count - counts.stored
        return EvalReport(
            model: manifest.name, modelVersion: manifest.version, source: source, labelSource: labelSource.rawValue,
            classes: classes, uncovered: [], counts: counts,
            aggregations: [aggregation("mean", meanMatrix), aggregation("vote", voteMatrix)],
            top3Accuracy: samples.isEmpty ? nil : Double(inTop3) / Double(samples.count), tracks: tracks,
            sweep: EvalSweep.run(samples: samples, classes: classes, manifest: manifest, settings: settings, coverageTarget: coverageTarget),
            failures: [])
    }
}
