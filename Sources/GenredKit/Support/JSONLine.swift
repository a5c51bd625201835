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

    public static func analysis(_ r: TrackAnalysis, taggram: Bool, embedding: Bool, taxonomy: Taxonomy? = nil) -> String {
        var fields: [(String, Value)] = [
            ("path", .string(r.path)),
            ("model", .string(r.model)),
            ("model_version", .string(r.modelVersion)),
            ("format", .string(r.audio.container.rawValue)),
            ("duration_s", .number(r.audio.duration)),
            ("windows", .int(r.windowCount)),
            ("hop_s", .number(r.hopSeconds)),
            ("padded", .bool(r.padded)),
        ]
        // Present only for a damaged file, so the output for whole files is unchanged.
        if let damage = r.damage { fields.append(("damaged", .string(damage))) }
        fields += [
            ("labels", .array(r.labels.map { .string($0) })),
            ("mean", .floats(r.mean[...])),
            ("vote", .floats(r.vote[...])),
        ]
        if taggram {
            fields.append(("taggram", .array((0..<r.windowCount).map { .floats(r.window($0)) })))
        }
        if embedding { fields.append(("embedding", .floats(r.embedding[...]))) }
        if let taxonomy { fields.append(("taxonomy", .raw(self.taxonomy(taxonomy, r, taggram: taggram)))) }
        return object(fields)
    }

    /// `{"name", "version", "labels", "probabilities", "label", "given", "rule"}`: calibrated
    /// probabilities per class, the top class or null when genred abstains, every class given
    /// (one at most unless the taxonomy is multi-label), and the folds its thresholds were chosen
    /// on (`grouped` or `album-split`); with the taggram, `taggram` holds
    /// the probabilities window by window.
    public static func taxonomy(_ t: Taxonomy, _ r: TrackAnalysis, taggram: Bool) -> String {
        let p = t.prediction(r)
        var fields: [(String, Value)] = [
            ("name", .string(t.name)),
            ("version", t.version.map { .int($0) } ?? .raw("null")),
            ("labels", .array(p.labels.map { .string($0) })),
            ("probabilities", .floats(p.probabilities[...])),
            ("label", p.label.map { .string($0) } ?? .raw("null")),
            ("given", .array(p.given.map { .string($0) })),
            ("rule", .string(p.basis.rawValue)),
        ]
        if taggram { fields.append(("taggram", .array(t.windowProbabilities(r).map { .floats($0[...]) }))) }
        return object(fields)
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

    public static func quote(_ s: String) -> String { JSONText.quote(s) }
}
