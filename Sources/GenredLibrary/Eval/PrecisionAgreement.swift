import Foundation
import GenredEngine

/// How far a reduced-precision analysis is from the fp32 one of the same file, and whether
/// the differences reach what a user sees: the top labels and the tags genred would write.
public struct PrecisionAgreement: Sendable {
    /// What a precision must reach, per track, to be offered (issue targets).
    public enum Target {
        public static let topFiveShare = 0.99
        public static let maxMeanDifference: Float = 0.01
        public static let embeddingCosine: Float = 0.999
        public static let sameTagsShare = 0.99
    }

    public struct Track: Sendable {
        public let path: String
        public let container: String
        /// The five most probable labels, in order, are the same.
        public let sameTopFive: Bool
        /// The five most probable labels are the same five, in any order.
        public let sameTopFiveSet: Bool
        /// The largest |difference| of a label's mean probability.
        public let maxMeanDifference: Float
        public let embeddingCosine: Float
        /// The genre and mood values genred would write (default settings) are the same.
        public let sameTags: Bool
    }

    public private(set) var tracks: [Track] = []
    let planner: TagPlanner

    public init(manifest: BundleManifest, settings: TagSettings = TagSettings()) {
        planner = TagPlanner(manifest: manifest, settings: settings)
    }

    public mutating func add(reference: TrackAnalysis, reduced: TrackAnalysis) {
        func topFive(_ mean: [Float]) -> [Int] {
            Array(mean.indices.sorted { mean[$0] > mean[$1] || (mean[$0] == mean[$1] && $0 < $1) }.prefix(5))
        }
        let difference = zip(reference.mean, reduced.mean).map { abs($0 - $1) }.max() ?? 0
        var dot = 0.0, a = 0.0, b = 0.0
        for (x, y) in zip(reference.embedding, reduced.embedding) {
            dot += Double(x) * Double(y)
            a += Double(x) * Double(x)
            b += Double(y) * Double(y)
        }
        let cosine = a > 0 && b > 0 ? Float(dot / (a * b).squareRoot()) : (a == b ? 1 : 0)
        tracks.append(Track(path: reference.path, container: reference.audio.container.rawValue,
                            sameTopFive: topFive(reference.mean) == topFive(reduced.mean),
                            sameTopFiveSet: Set(topFive(reference.mean)) == Set(topFive(reduced.mean)),
                            maxMeanDifference: difference, embeddingCosine: cosine,
                            sameTags: planner.propose(scores: reference.mean) == planner.propose(scores: reduced.mean)))
    }

    /// The figures over `tracks`.
    public struct Summary: Sendable {
        public let count: Int
        /// Tracks whose top five are the same in the same order (what the targets ask).
        public let topFiveShare: Double
        /// Tracks whose top five are the same five labels in any order.
        public let topFiveSetShare: Double
        public let sameTagsShare: Double
        public let worstMeanDifference: Float
        public let worstCosine: Float
        /// Tracks within the per-track limits on the mean difference and the cosine.
        public let withinMeanLimit: Int
        public let withinCosineLimit: Int

        /// Every target met: the precision may be offered.
        public var meetsTargets: Bool {
            count > 0 && topFiveShare >= Target.topFiveShare && sameTagsShare >= Target.sameTagsShare
                && worstMeanDifference <= Target.maxMeanDifference && worstCosine >= Target.embeddingCosine
        }
    }

    public func summary(_ subset: [Track]? = nil) -> Summary {
        let list = subset ?? tracks
        let n = list.count
        return Summary(count: n,
                       topFiveShare: n == 0 ? 0 : Double(list.filter(\.sameTopFive).count) / Double(n),
                       topFiveSetShare: n == 0 ? 0 : Double(list.filter(\.sameTopFiveSet).count) / Double(n),
                       sameTagsShare: n == 0 ? 0 : Double(list.filter(\.sameTags).count) / Double(n),
                       worstMeanDifference: list.map(\.maxMeanDifference).max() ?? 0,
                       worstCosine: list.map(\.embeddingCosine).min() ?? 1,
                       withinMeanLimit: list.filter { $0.maxMeanDifference <= Target.maxMeanDifference }.count,
                       withinCosineLimit: list.filter { $0.embeddingCosine >= Target.embeddingCosine }.count)
    }

    /// The tracks by container (mp3, flac, ogg, ...), in name order.
    public var byContainer: [(String, [Track])] {
        Dictionary(grouping: tracks, by: \.container).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
