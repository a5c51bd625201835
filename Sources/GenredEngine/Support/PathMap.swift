import Foundation

/// One `FROM=TO` folder mapping: a path as another machine (the store's owner) names it, and
/// the same file here (`genred worker --map`, `[worker] map`).
public struct PathMap: Sendable, Equatable {
    public var from: String
    public var to: String

    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }

    /// Parses `FROM=TO`; both must be absolute folders.
    public init?(_ text: String) {
        guard let eq = text.firstIndex(of: "="), text[..<eq].hasPrefix("/"), text[text.index(after: eq)...].hasPrefix("/") else {
            return nil
        }
        from = String(text[..<eq])
        to = String(text[text.index(after: eq)...])
    }

    /// `path` on this machine, when it lies under `from` (compared by bytes, a whole folder at a time).
    public func apply(_ path: String) -> String? {
        var prefix = Array(from.utf8)
        while prefix.count > 1 && prefix.last == UInt8(ascii: "/") { prefix.removeLast() }
        let bytes = Array(path.utf8)
        guard bytes.starts(with: prefix), bytes.count == prefix.count || bytes[prefix.count] == UInt8(ascii: "/") || prefix == [UInt8(ascii: "/")]
        else { return nil }
        var target = Array(to.utf8)
        while target.count > 1 && target.last == UInt8(ascii: "/") { target.removeLast() }
        var rest = Array(bytes[prefix.count...])
        if prefix == [UInt8(ascii: "/")] { rest.insert(UInt8(ascii: "/"), at: 0) }
        if target == [UInt8(ascii: "/")] && rest.first == UInt8(ascii: "/") { target = [] }
        return String(decoding: target + rest, as: UTF8.self)
    }
}
