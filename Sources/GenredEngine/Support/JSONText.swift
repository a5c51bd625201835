/// JSON string literals.
public enum JSONText {
    /// `s` as a JSON string literal. With `htmlSafe`, `<`, `>`, `&`, U+2028 and U+2029 are
    /// \u-escaped too, so the literal can sit inside an HTML `<script>` element.
    ///
    /// A byte a path carries (see `FilePath`) is written as the lone surrogate `\udcNN`, the
    /// convention of Python's `surrogateescape`: `os.fsencode(json.loads(line)["path"])` gives
    /// the name's exact bytes back.
    /// JSON text made by Foundation's encoders with each carried byte (see `FilePath`) written
    /// as `\udcNN`, as `quote` writes it. Carried bytes only ever sit inside string literals.
    public static func escapingCarriedBytes(_ json: String) -> String {
        guard FilePath.carriesBytes(json) else { return json }
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if scalar.value & 0xFFFF00 == FilePath.carryBase {
                out.append(contentsOf: ("\\udc" + String(scalar.value & 0xFF, radix: 16)).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    package static func quote(_ s: String, htmlSafe: Bool = false) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<" where htmlSafe: out += "\\u003c"
            case ">" where htmlSafe: out += "\\u003e"
            case "&" where htmlSafe: out += "\\u0026"
            case "\u{2028}" where htmlSafe: out += "\\u2028"
            case "\u{2029}" where htmlSafe: out += "\\u2029"
            case let c where c.value & 0xFFFF00 == FilePath.carryBase:
                out += "\\udc" + String(c.value & 0xFF, radix: 16)
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
