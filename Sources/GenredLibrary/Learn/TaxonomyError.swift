import GenredEngine
/// Why a taxonomy could not be learned, loaded, stored or used; `subject` names the taxonomy,
/// file or folder concerned.
public struct TaxonomyError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// No taxonomy of that name in the library database.
        case notFound
        case unreadable(String)
        case badManifest(String)
        case checksumMismatch(expected: String, actual: String)
        case badWeights(String)
        /// Learned on another model (or version) than the one in use.
        case wrongModel(learnedOn: String, inUse: String)
        /// Learned on features this genred does not compute.
        case unknownFeatures(String)
        case cannotWrite(String)
        /// Nothing can be learned from the labels given (the text says why).
        case nothingToLearn(String)
        case invalidName(String)
        case database(String)
    }

    public let subject: String
    public let reason: Reason

    public init(_ subject: String, _ reason: Reason) {
        self.subject = subject
        self.reason = reason
    }

    public var reasonText: String {
        switch reason {
        case .notFound: "no such taxonomy in the library database (genred learn list shows them)"
        case .unreadable(let why): "cannot read: \(why)"
        case .badManifest(let why): "bad taxonomy manifest: \(why)"
        case .checksumMismatch(let expected, let actual):
            "weights sha256 is \(actual), the manifest says \(expected) (file damaged or mismatched)"
        case .badWeights(let why): "bad taxonomy weights: \(why)"
        case .wrongModel(let learned, let used):
            "learned on \(learned), but the model in use is \(used); use that model, or learn the taxonomy again with this one"
        case .unknownFeatures(let id): "learned on features '\(id)', which this genred does not compute"
        case .cannotWrite(let why): "cannot write: \(why)"
        case .nothingToLearn(let why): "nothing to learn: \(why)"
        case .invalidName(let why): "invalid taxonomy name: \(why)"
        case .database(let why): why
        }
    }

    public var description: String { "\(subject): \(reasonText)" }
}

extension TaxonomyError: GenredError {}
