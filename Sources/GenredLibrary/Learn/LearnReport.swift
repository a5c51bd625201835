import Foundation
import GenredEngine

/// Everything `genred learn` found; encodes as its `--json` output and is stored with the
/// taxonomy version it describes.
public struct LearnReport: Sendable, Codable {
    public struct ClassInfo: Sendable, Codable, Equatable {
        public var name: String
        public var tracks: Int
        /// Albums or folders its tracks come from.
        public var groups: Int
        /// Why its figures deserve little trust (few tracks, one album), if they do.
        public var warning: String?
    }

    /// A label with too few tracks to learn, left out of the taxonomy.
    public struct LeftOut: Sendable, Codable, Equatable {
        public var label: String
        public var tracks: Int
        public var reason: String
    }

    /// One way of predicting the classes, judged on the same held-out folds.
    public struct Method: Sendable, Codable {
        /// "head", "knn" or "built-in".
        public var name: String
        public var description: String
        /// The classes it was judged on, in `counts` order (the built-in tags cover only some).
        public var classes: [String]
        public var tracks: Int
        public var accuracy: Double?
        /// The mean of the per-class recalls.
        public var balancedAccuracy: Double?
        public var perClass: [EvalReport.ClassMetrics]
        /// counts[label][prediction] of the top class.
        public var counts: [[Int]]
    }

    /// A head that was tried, with its held-out figures.
    public struct Candidate: Sendable, Codable, Equatable {
        public var head: String
        public var accuracy: Double?
        public var balancedAccuracy: Double?
        public var chosen: Bool
    }

    /// The same head scored with folds that ignore albums, beside the grouped folds.
    struct AlbumEffect: Sendable, Codable, Equatable {
        var groupedAccuracy: Double?
        var ungroupedAccuracy: Double?
        /// Ungrouped minus grouped: what tracks of a held-out album in training give away.
        public var difference: Double?
        public var warning: String?
    }

    public struct CalibrationSummary: Sendable, Codable, Equatable {
        public var method: String
        /// Held-out log loss and expected calibration error of the head's raw outputs and of
        /// the calibrated ones (calibration fitted on the other folds).
        var logLossBefore: Double
        var logLossAfter: Double
        var calibrationErrorBefore: Double
        var calibrationErrorAfter: Double
    }

    public struct ClassDecision: Sendable, Codable, Equatable {
        public var name: String
        /// The calibrated probability the class needs; nil: the target is out of reach, never given.
        public var threshold: Double?
        /// Held out (thresholds chosen on the other folds): of the tracks given the class, the
        /// share that had it; of the tracks that had it, the share given it.
        public var precision: Double?
        public var recall: Double?
        public var given: Int
        package var support: Int
    }

    public struct Decisions: Sendable, Codable, Equatable {
        public var targetPrecision: Double
        public var perClass: [ClassDecision]
        /// Held out: the share of tracks given a label, and the share of those given a right one.
        public var coverage: Double?
        public var accuracyWhenGiven: Double?
        /// The folds the head, calibration and thresholds were chosen on (nil in older reports: grouped).
        public var basis: DecisionRule.Basis?
        /// Why, when it is not the grouped folds.
        public var basisNote: String?
    }

    struct Flip: Sendable, Codable, Equatable {
        public var path: String
        /// nil: abstains.
        public var before: String?
        public var after: String?
    }

    /// What changed from the previous version of the same name.
    struct Comparison: Sendable, Codable, Equatable {
        var previousVersion: Int
        var previousTracks: Int?
        var previousAccuracy: Double?
        var previousBalancedAccuracy: Double?
        public var accuracy: Double?
        public var balancedAccuracy: Double?
        /// Training tracks new in this version, gone since the previous one, or labelled differently.
        package var added: Int
        public var removed: Int
        var relabelled: Int
        /// Tracks of the library (analysed by the base model) read by both versions.
        var tracksCompared: Int
        var flipCount: Int
        /// The first flips, by path.
        var flips: [Flip]
        /// Why no tracks were compared, when none were (another base model, say).
        public var note: String?
    }

    public struct Counts: Sendable, Codable, Equatable {
        /// Audio files with a label.
        public var labelled = 0
        /// Tracks the taxonomy was learned from.
        public var used = 0
        /// Of those, scores read from the library database and tracks analysed now.
        public var stored = 0
        public var analysed = 0
        /// Files without a label.
        var unlabelled = 0
        /// Files whose only labels were left out as too small.
        public var leftOut = 0
        public var unsupported = 0
        public var failed = 0
    }

    public struct Folds: Sendable, Codable, Equatable {
        public var count: Int
        /// "album", "folder" or "album or folder".
        var groupedBy: String
        public var groups: Int
        /// Tracks grouped by their album tag; the others by their folder.
        var tracksByAlbum: Int
    }

    public var name: String
    /// The version it was stored as (nil with --dry-run).
    public var version: Int?
    public var model: String
    public var modelVersion: String
    public var features: String
    public var labelSource: String
    public var sources: [String]
    public var output: TaxonomyOutput
    public var classes: [ClassInfo]
    public var leftOut: [LeftOut]
    public var counts: Counts
    public var folds: Folds
    public var candidates: [Candidate]
    public var chosen: String
    /// head, knn, then built-in when the model's tags cover some of the classes.
    public var methods: [Method]
    /// Classes the built-in tags do not cover, with the reason.
    var notCoveredByBuiltIn: [EvalReport.Uncovered]
    var albumEffect: AlbumEffect?
    public var calibration: CalibrationSummary
    public var decisions: Decisions
    public var warnings: [String]
    /// Wall-clock seconds of the cross-validation and the final fit (analysis excluded).
    public var trainingSeconds: Double
    public var failures: [EvalReport.Failure]
    var comparison: Comparison?

    public func method(_ name: String) -> Method? { methods.first { $0.name == name } }

    /// The report as one JSON object, snake_case keys. For output (the default) a path's
    /// carried bytes are written as `\udcNN` (see `JSONText`); the database keeps them as they
    /// are, so that `decode` gives the paths back exactly.
    public func json(forOutput: Bool = true) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let text = String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
        return forOutput ? JSONText.escapingCarriedBytes(text) : text
    }

    public static func decode(_ json: String) -> LearnReport? {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try? decoder.decode(LearnReport.self, from: Data(json.utf8))
    }
}
