import Foundation
import GenredEngine

/// The `manifest.json` of a taxonomy: what it was learned on and how its outputs are read
/// (see docs/learn.md). The weights sit beside it in a safetensors file.
public struct TaxonomyManifest: Sendable, Codable, Equatable {
    static let formatName = "genred-taxonomy"
    static let currentFormatVersion = 1

    /// The model bundle whose analyses the features come from. A taxonomy is only applied to
    /// analyses by this exact model: another one's embedding means something else.
    public struct BaseModel: Sendable, Codable, Equatable {
        public var name: String
        public var version: String
        var weightsSha256: String
    }

    public struct FeaturePart: Sendable, Codable, Equatable {
        public var name: String
        public var size: Int
    }

    public struct Features: Sendable, Codable, Equatable {
        /// `TaxonomyFeatures.id`.
        public var id: String
        public var size: Int
        public var parts: [FeaturePart]
    }

    public struct Head: Sendable, Codable, Equatable {
        public var kind: HeadSpec.Kind
        public var hidden: Int
        public var l2: Double
        public var output: TaxonomyOutput
    }

    /// How it was learned and how well it did on held-out folds.
    public struct Training: Sendable, Codable, Equatable {
        public var tracks: Int
        public var groups: Int
        /// What the folds were grouped by: "album", "folder" or "album or folder".
        var groupedBy: String
        public var folds: Int
        public var labelSource: String
        public var accuracy: Double?
        public var balancedAccuracy: Double?
        public var createdAt: String
    }

    public struct Weights: Sendable, Codable, Equatable {
        public var file: String
        package var sha256: String
    }

    public var format = formatName
    package var formatVersion = currentFormatVersion
    public var name: String
    /// The classes, in output order, as the labels spelled them.
    public var labels: [String]
    public var baseModel: BaseModel
    public var features: Features
    public var head: Head
    public var calibration: Calibration
    public var decision: DecisionRule
    public var training: Training
    public var weights: Weights
}

/// A taxonomy's calibrated probabilities for one track and the label it gives.
public struct TaxonomyPrediction: Sendable, Equatable, Codable {
    /// The classes, in output order.
    public var labels: [String]
    /// Calibrated, one per class.
    public var probabilities: [Float]
    /// The classes given, most probable first: one at most for a single-label taxonomy; empty
    /// when genred abstains (no class reached its threshold).
    public var given: [String]
    /// Which folds the thresholds that gave (or withheld) the label were chosen on.
    public var basis: DecisionRule.Basis = .grouped

    /// The top class, or nil when genred abstains.
    public var label: String? { given.first }
}

/// A learned taxonomy, ready to apply: the standardisation, the head, the calibration and
/// the thresholds.
public struct Taxonomy: Sendable {
    public let manifest: TaxonomyManifest
    public let standardizer: Standardizer
    public let head: ClassifierHead
    /// Its version in the library database (nil for one read from an exported folder).
    public var version: Int?

    public var name: String { manifest.name }
    public var labels: [String] { manifest.labels }

    static let manifestFile = "manifest.json"
    static let weightsFile = "head.safetensors"

    public init(manifest: TaxonomyManifest, standardizer: Standardizer, head: ClassifierHead, version: Int? = nil) {
        self.manifest = manifest
        self.standardizer = standardizer
        self.head = head
        self.version = version
    }

    // MARK: Applying

    /// Calibrated probabilities and the decision, from a track's features (`TaxonomyFeatures`).
    public func prediction(features: [Float]) -> TaxonomyPrediction {
        predictions(FeatureMatrix(rows: 1, columns: features.count, values: features))[0]
    }

    /// Predictions for many tracks at once (one BLAS product per layer).
    public func predictions(_ features: FeatureMatrix) -> [TaxonomyPrediction] {
        let p = probabilities(features)
        let k = labels.count
        return (0..<features.rows).map { i in
            let row = Array(p[(i * k)..<((i + 1) * k)])
            return TaxonomyPrediction(labels: labels, probabilities: row, given: manifest.decision.decide(row).map { labels[$0] },
                                      basis: manifest.decision.basis ?? .grouped)
        }
    }

    /// Calibrated probabilities, `rows x classes`.
    public func probabilities(_ features: FeatureMatrix) -> [Float] {
        precondition(features.columns == manifest.features.size, "features of \(features.columns) values for a taxonomy of \(manifest.features.size)")
        let z = head.logits(standardizer.apply(features))
        return manifest.calibration.probabilities(logits: z, classes: labels.count)
    }

    /// The prediction for a stored analysis (which must be by the base model: see `check`).
    public func prediction(_ record: AnalysisRecord) -> TaxonomyPrediction {
        prediction(features: TaxonomyFeatures.of(record))
    }

    /// The prediction for a fresh analysis.
    public func prediction(_ analysis: TrackAnalysis) -> TaxonomyPrediction {
        prediction(features: TaxonomyFeatures.of(analysis))
    }

    /// Calibrated probabilities window by window (see `TaxonomyFeatures.windows`).
    public func windowProbabilities(_ analysis: TrackAnalysis) -> [[Float]] {
        let rows = TaxonomyFeatures.windows(analysis)
        guard !rows.isEmpty else { return [] }
        let p = probabilities(FeatureMatrix(rows, columns: manifest.features.size))
        let k = labels.count
        return rows.indices.map { Array(p[($0 * k)..<(($0 + 1) * k)]) }
    }

    /// Throws unless the taxonomy was learned on this model's analyses.
    public func check(model: BundleManifest) throws(TaxonomyError) {
        let base = manifest.baseModel
        guard base.name == model.name, base.version == model.version,
              base.weightsSha256.lowercased() == model.weights.sha256.lowercased() else {
            throw TaxonomyError(name, .wrongModel(learnedOn: "\(base.name) \(base.version)", inUse: "\(model.name) \(model.version)"))
        }
    }

    /// Whether `record` is an analysis by the base model this taxonomy reads.
    public func reads(_ record: AnalysisRecord) -> Bool {
        record.model == manifest.baseModel.name && record.modelVersion == manifest.baseModel.version
    }

    // MARK: Files

    /// The manifest's and the weights' bytes, as stored in the database and exported.
    public func encoded() -> (manifest: Data, weights: Data) {
        var tensors: [String: SafeTensors.Tensor] = [
            "standardize.mean": .init(shape: [standardizer.mean.count], values: standardizer.mean),
            "standardize.scale": .init(shape: [standardizer.scale.count], values: standardizer.scale),
        ]
        let d = head.inputs, k = head.classes, h = head.spec.hidden
        switch head.spec.kind {
        case .logistic:
            tensors["head.0.weight"] = .init(shape: [d, k], values: head.w1)
            tensors["head.0.bias"] = .init(shape: [k], values: head.b1)
        case .mlp:
            tensors["head.0.weight"] = .init(shape: [d, h], values: head.w1)
            tensors["head.0.bias"] = .init(shape: [h], values: head.b1)
            tensors["head.1.weight"] = .init(shape: [h, k], values: head.w2)
            tensors["head.1.bias"] = .init(shape: [k], values: head.b2)
        }
        let weights = SafeTensors(tensors: tensors, metadata: ["format": TaxonomyManifest.formatName]).encoded()
        var m = manifest
        m.weights = .init(file: Self.weightsFile, sha256: SHA256.hex(weights))
        return (Self.encode(m), weights)
    }

    static func encode(_ m: TaxonomyManifest) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        // Encoding plain values cannot fail.
        return (try? encoder.encode(m)).map { $0 + Data("\n".utf8) } ?? Data()
    }

    /// Reads a taxonomy from its manifest and weights, checking the digest and every shape.
    /// `subject` names where they came from, for errors.
    public init(manifest data: Data, weights: Data, subject: String, version: Int? = nil) throws(TaxonomyError) {
        let m: TaxonomyManifest
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            m = try decoder.decode(TaxonomyManifest.self, from: data)
        } catch {
            throw TaxonomyError(subject, .badManifest("\(error)"))
        }
        guard m.format == TaxonomyManifest.formatName else {
            throw TaxonomyError(subject, .badManifest("format is '\(m.format)', expected \(TaxonomyManifest.formatName)"))
        }
        guard m.formatVersion == TaxonomyManifest.currentFormatVersion else {
            throw TaxonomyError(subject, .badManifest("format_version \(m.formatVersion) is not supported (this genred reads \(TaxonomyManifest.currentFormatVersion))"))
        }
        guard m.features.id == TaxonomyFeatures.id else { throw TaxonomyError(subject, .unknownFeatures(m.features.id)) }
        let digest = SHA256.hex(weights)
        guard digest == m.weights.sha256.lowercased() else {
            throw TaxonomyError(subject, .checksumMismatch(expected: m.weights.sha256, actual: digest))
        }
        let k = m.labels.count, d = m.features.size, h = m.head.hidden
        guard k >= 2 else { throw TaxonomyError(subject, .badManifest("\(k) label(s); a taxonomy has at least 2")) }
        guard m.features.parts.reduce(0, { $0 + $1.size }) == d else {
            throw TaxonomyError(subject, .badManifest("feature parts do not add up to \(d)"))
        }
        guard m.decision.thresholds.count == k, m.calibration.bias.count == k,
              m.calibration.scale.count == (m.head.output == .softmax ? 1 : k),
              m.calibration.output == m.head.output, m.decision.output == m.head.output else {
            throw TaxonomyError(subject, .badManifest("calibration or thresholds do not match the \(k) labels"))
        }
        let tensors: SafeTensors
        do { tensors = try SafeTensors(data: weights) } catch { throw TaxonomyError(subject, .badWeights(error.description)) }
        func tensor(_ name: String, _ shape: [Int]) throws(TaxonomyError) -> [Float] {
            guard let t = tensors.tensors[name] else { throw TaxonomyError(subject, .badWeights("tensor \(name) is missing")) }
            guard t.shape == shape else {
                throw TaxonomyError(subject, .badWeights("tensor \(name) has shape \(t.shape), expected \(shape)"))
            }
            return t.values
        }
        var expected = ["standardize.mean", "standardize.scale", "head.0.weight", "head.0.bias"]
        let standardizer = Standardizer(mean: try tensor("standardize.mean", [d]), scale: try tensor("standardize.scale", [d]))
        let spec = HeadSpec(kind: m.head.kind, hidden: h, l2: m.head.l2)
        let head: ClassifierHead
        switch m.head.kind {
        case .logistic:
            head = ClassifierHead(spec: spec, inputs: d, classes: k, output: m.head.output,
                                  w1: try tensor("head.0.weight", [d, k]), b1: try tensor("head.0.bias", [k]))
        case .mlp:
            guard h > 0 else { throw TaxonomyError(subject, .badManifest("an MLP head needs hidden units")) }
            expected += ["head.1.weight", "head.1.bias"]
            head = ClassifierHead(spec: spec, inputs: d, classes: k, output: m.head.output,
                                  w1: try tensor("head.0.weight", [d, h]), b1: try tensor("head.0.bias", [h]),
                                  w2: try tensor("head.1.weight", [h, k]), b2: try tensor("head.1.bias", [k]))
        }
        if let stray = Set(tensors.tensors.keys).subtracting(expected).sorted().first {
            throw TaxonomyError(subject, .badWeights("tensor \(stray) is not part of a \(m.head.kind.rawValue) head"))
        }
        guard standardizer.scale.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw TaxonomyError(subject, .badWeights("standardize.scale must be positive"))
        }
        self.init(manifest: m, standardizer: standardizer, head: head, version: version)
    }

    /// Reads an exported taxonomy: a folder holding `manifest.json` and `head.safetensors`
    /// (or the path of its `manifest.json`).
    public static func load(folder: String) throws(TaxonomyError) -> Taxonomy {
        var dir = FilePath.normalize(folder)
        if dir.hasSuffix("/" + manifestFile) { dir = FilePath.parent(dir) }
        guard let manifest = PathIO.readData(PathIO.join(dir, manifestFile)) else {
            throw TaxonomyError(folder, .unreadable("no \(manifestFile) there (\(String(cString: strerror(errno))))"))
        }
        let file: String
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            file = try decoder.decode(WeightsOnly.self, from: manifest).weights.file
        } catch {
            throw TaxonomyError(folder, .badManifest("\(error)"))
        }
        guard !file.contains("/"), !file.hasPrefix(".") else {
            throw TaxonomyError(folder, .badManifest("weights file '\(file)' must be a plain name beside the manifest"))
        }
        guard let weights = PathIO.readData(PathIO.join(dir, file)) else {
            throw TaxonomyError(PathIO.join(dir, file), .unreadable(String(cString: strerror(errno))))
        }
        return try Taxonomy(manifest: manifest, weights: weights, subject: folder)
    }

    private struct WeightsOnly: Decodable {
        struct W: Decodable { var file: String }
        var weights: W
    }

    /// Writes `manifest.json` and `head.safetensors` into `folder` (created if needed).
    /// Existing files there are replaced only when `replace` is set.
    public func export(to folder: String, replace: Bool = false) throws(TaxonomyError) {
        let dir = FilePath.normalize(folder)
        let (manifest, weights) = encoded()
        if !PathIO.makeDirectories(dir, mode: 0o755) {
            throw TaxonomyError(folder, .cannotWrite(String(cString: strerror(errno))))
        }
        let targets = [(Self.weightsFile, weights), (Self.manifestFile, manifest)]
        if !replace, let existing = targets.first(where: { PathIO.exists(PathIO.join(dir, $0.0)) }) {
            throw TaxonomyError(PathIO.join(dir, existing.0), .cannotWrite("it exists already (--force replaces it)"))
        }
        for (name, data) in targets {
            if let failure = PathIO.writeData(data, to: PathIO.join(dir, name)) {
                throw TaxonomyError(PathIO.join(dir, name), .cannotWrite(failure))
            }
        }
    }
}
