import GenredEngine
/// A class of an evaluation: a dataset label and the model labels that stand for it.
public struct EvalClass: Sendable, Codable, Equatable {
    public var name: String
    var modelLabels: [String]
    public var origin: EvalLabelMap.Origin
    /// Indices of `modelLabels` in the manifest.
    public var indices: [Int]

    public init(name: String, modelLabels: [String], origin: EvalLabelMap.Origin, indices: [Int]) {
        self.name = name
        self.modelLabels = modelLabels
        self.origin = origin
        self.indices = indices
    }

    enum CodingKeys: String, CodingKey { case name, modelLabels, origin }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        modelLabels = try c.decode([String].self, forKey: .modelLabels)
        origin = try c.decode(EvalLabelMap.Origin.self, forKey: .origin)
        indices = []
    }
}

/// One labelled track's model scores: what the metrics are computed from.
public struct EvalSample: Sendable {
    public var path: String
    /// The label as the dataset gives it.
    public var label: String
    /// Index of the true class.
    var truth: Int
    /// Mean probability per model label.
    public var mean: [Float]
    /// Per-window probabilities, windows x labels.
    public var taggram: [Float]
    public var windows: Int
    public var hopSeconds: Double
    public var windowSeconds: Double
    /// Scores came from the library database rather than a new analysis.
    public var stored: Bool

    public init(path: String, label: String, truth: Int, mean: [Float], taggram: [Float], windows: Int,
                hopSeconds: Double, windowSeconds: Double, stored: Bool = false) {
        self.path = path
        self.label = label
        self.truth = truth
        self.mean = mean
        self.taggram = taggram
        self.windows = windows
        self.hopSeconds = hopSeconds
        self.windowSeconds = windowSeconds
        self.stored = stored
    }
}

/// A run of consecutive windows that voted for the same class.
public struct TimelineRun: Sendable, Codable, Equatable {
    public var start: Double
    public var end: Double
    public var prediction: String
    public var windows: Int
}

/// Predictions among the evaluated classes.
enum EvalScoring {
    /// Each class's score: the highest score of its model labels.
    static func classScores<C: RandomAccessCollection>(_ scores: C, _ classes: [EvalClass]) -> [Float]
    where C.Element == Float, C.Index == Int {
        classes.map { c in c.indices.map { scores[scores.startIndex + $0] }.max() ?? 0 }
    }

    /// The first index of the highest value.
    static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }

    /// Classes by decreasing score (ties: class order).
    public static func ranking(_ values: [Float]) -> [Int] {
        values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
    }

    /// The class each window votes for.
    static func windowVotes(_ sample: EvalSample, _ classes: [EvalClass]) -> [Int] {
        let labels = sample.mean.count
        return (0..<sample.windows).map { w in
            argmax(classScores(sample.taggram[(w * labels)..<((w + 1) * labels)], classes))
        }
    }

    /// Mean aggregation: the class with the highest mean score.
    public static func meanPrediction(_ sample: EvalSample, _ classes: [EvalClass]) -> Int {
        argmax(classScores(sample.mean, classes))
    }

    /// Vote aggregation: the class most windows vote for; a tie goes to the higher mean score.
    public static func votePrediction(votes: [Int], meanScores: [Float]) -> Int {
        var counts = [Int](repeating: 0, count: meanScores.count)
        for v in votes { counts[v] += 1 }
        let top = counts.max() ?? 0
        var best = -1
        for c in counts.indices where counts[c] == top && (best < 0 || meanScores[c] > meanScores[best]) { best = c }
        return max(best, 0)
    }

    /// Consecutive windows with the same vote, with their start and end in seconds.
    public static func timeline(votes: [Int], hopSeconds: Double, windowSeconds: Double, classes: [EvalClass]) -> [TimelineRun] {
        var runs: [TimelineRun] = []
        for (w, v) in votes.enumerated() {
            let start = Double(w) * hopSeconds, end = start + windowSeconds
            if let last = runs.last, last.prediction == classes[v].name, w > 0, votes[w - 1] == v {
                runs[runs.count - 1].end = end
                runs[runs.count - 1].windows += 1
            } else {
                runs.append(TimelineRun(start: start, end: end, prediction: classes[v].name, windows: 1))
            }
        }
        return runs
    }
}

/// Counts of (true class, predicted class) pairs.
public struct ConfusionMatrix: Sendable, Equatable {
    public let classCount: Int
    /// counts[truth][prediction]
    public private(set) var counts: [[Int]]

    public init(classCount: Int) {
        self.classCount = classCount
        counts = Array(repeating: Array(repeating: 0, count: classCount), count: classCount)
    }

    public mutating func add(truth: Int, prediction: Int) { counts[truth][prediction] += 1 }

    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    package var correct: Int { (0..<classCount).reduce(0) { $0 + counts[$1][$1] } }
    public var accuracy: Double? { total > 0 ? Double(correct) / Double(total) : nil }

    package func support(_ c: Int) -> Int { counts[c].reduce(0, +) }
    func predicted(_ c: Int) -> Int { counts.reduce(0) { $0 + $1[c] } }
    /// nil when no track was predicted as `c`.
    public func precision(_ c: Int) -> Double? { predicted(c) > 0 ? Double(counts[c][c]) / Double(predicted(c)) : nil }
    /// nil when no track has label `c`.
    public func recall(_ c: Int) -> Double? { support(c) > 0 ? Double(counts[c][c]) / Double(support(c)) : nil }

    /// Each row divided by its total (rows without tracks stay zero).
    var rowNormalized: [[Double]] {
        counts.map { row in
            let n = row.reduce(0, +)
            return row.map { n > 0 ? Double($0) / Double(n) : 0 }
        }
    }

    /// The mean of the per-class recalls (classes with tracks).
    var meanRecall: Double? {
        let r = (0..<classCount).compactMap(recall)
        return r.isEmpty ? nil : r.reduce(0, +) / Double(r.count)
    }

    /// Off-diagonal cells with counts, largest first (ties: row, then column order).
    public var confusedPairs: [(truth: Int, prediction: Int, count: Int)] {
        var pairs: [(truth: Int, prediction: Int, count: Int)] = []
        for t in 0..<classCount { for p in 0..<classCount where p != t && counts[t][p] > 0 { pairs.append((t, p, counts[t][p])) } }
        return pairs.enumerated().sorted { a, b in a.element.count != b.element.count ? a.element.count > b.element.count : a.offset < b.offset }
            .map(\.element)
    }
}
