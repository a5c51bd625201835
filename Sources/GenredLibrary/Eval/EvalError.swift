import GenredEngine
/// Why `genred eval` could not run, naming the file or folder and the reason.
public struct EvalError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case notFound
        case notAFolder
        case unreadable(String)
        /// A line of a `--map` file that does not parse.
        case mapSyntax(line: Int, text: String)
        /// A `--map` line names a label the model does not have.
        case unknownModelLabel(line: Int, label: String, model: String)
        /// No labelled track has a label the model covers.
        case nothingToEvaluate(String)
        case cannotWrite(String)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var reasonText: String {
        switch reason {
        case .notFound: "no such file or folder"
        case .notAFolder: "not a folder (--labels folders needs one sub-folder per label)"
        case .unreadable(let why): "cannot read: \(why)"
        case .mapSyntax(let line, let text): "line \(line): expected 'dataset label = model label[, model label...]', got '\(text)'"
        case .unknownModelLabel(let line, let label, let model): "line \(line): model \(model) has no label '\(label)'"
        case .nothingToEvaluate(let why): "nothing to evaluate: \(why)"
        case .cannotWrite(let why): "cannot write: \(why)"
        }
    }

    public var description: String { "\(path): \(reasonText)" }
}

extension EvalError: GenredError {
    public var subject: String { path }
}
