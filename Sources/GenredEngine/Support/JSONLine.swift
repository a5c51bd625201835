import Foundation

/// Builds one-line JSON objects with keys in a fixed order: the one JSON writer of the CLI's
/// `--json` output and of the server's answers. Strings go through `JSONText.quote`, so a
/// path's carried bytes come out as `\udcNN`.
public enum JSONLine {
    public indirect enum Value {
        case string(String)
        case number(Double)
        case float(Float)
        case int(Int)
        case bool(Bool)
        case array([Value])
        case floats(ArraySlice<Float>)
        /// Already-encoded JSON.
        case raw(String)
    }

    public static func object(_ fields: [(String, Value)]) -> String {
        var out = "{"
        for (i, (key, value)) in fields.enumerated() {
            if i > 0 { out += ", " }
            out += quote(key) + ": "
            write(value, to: &out)
        }
        return out + "}"
    }

    /// One value on its own (an array of objects, say).
    public static func value(_ value: Value) -> String {
        var out = ""
        write(value, to: &out)
        return out
    }

    /// A string, or null.
    public static func string(_ s: String?) -> Value { s.map { .string($0) } ?? .raw("null") }

    private static func write(_ value: Value, to out: inout String) {
        switch value {
        case .string(let s): out += quote(s)
        case .raw(let json): out += json
        case .number(let d): out += d.isFinite ? "\(d)" : "null"
        case .float(let f): out += f.isFinite ? "\(f)" : "null"
        case .int(let i): out += String(i)
        case .bool(let b): out += b ? "true" : "false"
        case .array(let values):
            out += "["
            for (i, v) in values.enumerated() {
                if i > 0 { out += ", " }
                write(v, to: &out)
            }
            out += "]"
        case .floats(let values):
            out += "["
            var first = true
            for f in values {
                if !first { out += ", " }
                first = false
                out += f.isFinite ? "\(f)" : "null"
            }
            out += "]"
        }
    }

    package static func quote(_ s: String) -> String { JSONText.quote(s) }
}
