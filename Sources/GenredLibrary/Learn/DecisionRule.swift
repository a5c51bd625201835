import GenredEngine
/// When a taxonomy gives a track a label, and when it abstains.
///
/// Each class has a threshold on its calibrated probability, chosen on held-out predictions as
/// the lowest at which the tracks given that class were right at least `targetPrecision` of
/// the time. A class that never reached the target has no threshold and is never given: genred
/// abstains rather than guesses.
public struct DecisionRule: Sendable, Equatable, Codable {
    /// Which held-out predictions the thresholds were chosen on.
    public enum Basis: String, Sendable, Codable {
        /// Folds that keep each album whole: the honest estimate.
        case grouped
        /// Folds that split albums, taken when grouped folds cannot estimate a class (one
        /// album or folder holds all its tracks): optimistic, since album-mates were in training.
        case albumSplit = "album-split"

        /// In words, for `show` and `analyze`.
        public var description: String {
            switch self {
            case .grouped: "thresholds from album-grouped folds"
            case .albumSplit: "thresholds from album-split folds (optimistic)"
            }
        }
    }

    public var output: TaxonomyOutput
    public var targetPrecision: Double
    /// Per class; nil: never given.
    public var thresholds: [Double?]
    /// Nil in taxonomies made before the choice existed: grouped.
    public var basis: Basis?

    public init(output: TaxonomyOutput, targetPrecision: Double, thresholds: [Double?], basis: Basis? = .grouped) {
        self.output = output
        self.targetPrecision = targetPrecision
        self.thresholds = thresholds
        self.basis = basis
    }

    /// The classes given to a track with these probabilities, most probable first: at most one
    /// for a softmax taxonomy (its top class, when it reaches its threshold), any number for a
    /// sigmoid one. Empty: abstain.
    public func decide<C: RandomAccessCollection>(_ p: C) -> [Int] where C.Element == Float, C.Index == Int {
        let base = p.startIndex
        switch output {
        case .softmax:
            var top = 0
            for c in 0..<p.count where p[base + c] > p[base + top] { top = c }
            guard top < thresholds.count, let t = thresholds[top], Double(p[base + top]) >= t else { return [] }
            return [top]
        case .sigmoid:
            return (0..<min(p.count, thresholds.count))
                .filter { c in thresholds[c].map { Double(p[base + c]) >= $0 } ?? false }
                .sorted { p[base + $0] != p[base + $1] ? p[base + $0] > p[base + $1] : $0 < $1 }
        }
    }

    /// Chooses each class's threshold from held-out calibrated probabilities and targets
    /// (`rows x classes`, row-major).
    static func choose(probabilities p: [Float], targets t: [Float], classes k: Int, output: TaxonomyOutput,
                              targetPrecision: Double) -> DecisionRule {
        let n = k > 0 ? p.count / k : 0
        var thresholds: [Double?] = []
        for c in 0..<k {
            // Precision means nothing where no track could be wrong: a class that every track
            // (or none) has here gets no threshold. This happens when cross-fitting on folds
            // that hold one album per class.
            let positives = (0..<n).filter { t[$0 * k + c] > 0.5 }.count
            guard positives > 0, positives < n else {
                thresholds.append(nil)
                continue
            }
            // Softmax: a class can only be given where it is the top class.
            var candidates: [(p: Float, right: Bool)] = []
            for i in 0..<n {
                if output == .softmax {
                    var top = 0
                    for j in 0..<k where p[i * k + j] > p[i * k + top] { top = j }
                    guard top == c else { continue }
                }
                candidates.append((p[i * k + c], t[i * k + c] > 0.5))
            }
            candidates.sort { $0.p > $1.p }
            var right = 0
            var best: Double?
            var j = 0
            while j < candidates.count {
                // Tracks with equal probabilities are taken or left together.
                let value = candidates[j].p
                while j < candidates.count && candidates[j].p == value {
                    if candidates[j].right { right += 1 }
                    j += 1
                }
                if Double(right) / Double(j) >= targetPrecision { best = Double(value) }
            }
            thresholds.append(best)
        }
        return DecisionRule(output: output, targetPrecision: targetPrecision, thresholds: thresholds)
    }
}
