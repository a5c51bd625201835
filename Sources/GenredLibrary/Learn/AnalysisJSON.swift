import GenredEngine

/// A track's analysis as one JSON line, with the taxonomy's prediction when one is applied:
/// the output of `genred analyze --json` and of the server.
extension JSONLine {
    public static func analysis(_ r: TrackAnalysis, taggram: Bool, embedding: Bool, taxonomy: Taxonomy? = nil) -> String {
        var fields: [(String, Value)] = [
            ("path", .string(r.path)),
            ("model", .string(r.model)),
            ("model_version", .string(r.modelVersion)),
            ("precision", .string(r.precision.rawValue)),
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
}
