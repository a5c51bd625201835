import GenredEngine
/// Why a question about the library has no answer. The CLI turns it into a line and an exit
/// status, the server into a status code and a JSON error.
public struct QueryError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// No track with that id or path (HTTP 404).
        case unknownTrack
        /// The track has no analysis by the model; `lastError` says why when a failure is recorded (HTTP 404).
        case noAnalysis(model: String, lastError: String?)
        /// A parameter is missing, malformed or out of range (HTTP 400).
        case badParameter(String)
        /// The track could not be analysed on the fly.
        case analysisFailed(String)
        /// The library holds no analysed tracks for the model.
        case emptyLibrary(model: String)
    }

    /// What was asked about: a track id, a path or a parameter name.
    public let subject: String
    public let reason: Reason

    public init(_ subject: String, _ reason: Reason) {
        self.subject = subject
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .unknownTrack: "\(subject): no such track in the library"
        case .noAnalysis(let model, let lastError):
            "\(subject): no analysis by \(model)" + (lastError.map { " (last error: \($0))" } ?? "")
        case .badParameter(let why): "\(subject): \(why)"
        case .analysisFailed(let why): why
        case .emptyLibrary(let model): "no analysed tracks for model \(model): run `genred retag FOLDER` first"
        }
    }
}

extension QueryError: GenredError {
    public var reasonText: String { description }
}
