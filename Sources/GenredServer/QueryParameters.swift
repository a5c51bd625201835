import GenredKit

/// A request's query string, percent-decoded by hand so that a `path=` keeps bytes that are not
/// UTF-8 (carried as `FilePath` does) and `+` reads as a space.
struct QueryParameters: Sendable {
    private var values: [String: String] = [:]

    init(_ query: String?) {
        guard let query else { return }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decode(parts[0])
            if values[key] == nil { values[key] = parts.count > 1 ? Self.decode(parts[1]) : "" }
        }
    }

    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let b = utf8.popFirst() {
            if b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%"), utf8.count >= 2,
                      let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return FilePath.string(bytes)
    }

    /// The value, or nil when absent or empty.
    func string(_ name: String) -> String? {
        guard let v = values[name], !v.isEmpty else { return nil }
        return v
    }

    func int(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let text = string(name) else { return value }
        guard let n = Int(text) else { throw .badParameter(name, "\(text) is not an integer") }
        guard range.contains(n) else { throw .badParameter(name, "must be between \(range.lowerBound) and \(range.upperBound)") }
        return n
    }

    func id(_ name: String) throws(APIError) -> Int64 {
        guard let text = string(name) else { throw .badParameter(name, "missing (a track id)") }
        guard let id = Int64(text) else { throw .badParameter(name, "\(text) is not a track id") }
        return id
    }

    func double(_ name: String) throws(APIError) -> Double? {
        guard let text = string(name) else { return nil }
        guard let d = Double(text), d.isFinite else { throw .badParameter(name, "\(text) is not a number") }
        return d
    }

    func bool(_ name: String, default value: Bool) throws(APIError) -> Bool {
        guard let text = string(name)?.lowercased() else { return value }
        switch text {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw .badParameter(name, "\(text) is not true or false")
        }
    }
}
