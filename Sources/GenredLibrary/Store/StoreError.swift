import GenredEngine
/// Why the library database could not be used.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable {
        case cannotOpen(String)
        /// The database was written by a newer genred (it has migrations this binary does not know).
        case newerThanBinary
        /// A statement failed (the engine's words).
        case query(String)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .cannotOpen(let why): "database \(path): cannot open: \(why)"
        case .newerThanBinary: "database \(path) was written by a newer version of genred; upgrade genred to use it"
        case .query(let why): "database \(path): \(why)"
        }
    }
}

extension StoreError: GenredError {
    public var subject: String { path }
    public var reasonText: String {
        switch reason {
        case .cannotOpen(let why): "cannot open: \(why)"
        case .newerThanBinary: "written by a newer version of genred; upgrade genred to use it"
        case .query(let why): why
        }
    }
}
