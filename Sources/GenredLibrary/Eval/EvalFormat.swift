import Foundation
import GenredEngine

/// Plain-text tables for people and per-track CSV for scripts.
extension EvalReport {
    /// The human report; `aggregates` picks "mean", "vote" or both; at most `misclassifiedLimit` tracks are detailed.
    public func text(aggregates: [String] = ["mean", "vote"], misclassifiedLimit: Int = 20) -> String {
        var out: [String] = []
        let shown = aggregations.filter { aggregates.contains($0.aggregate) }
        let names = classes.map(\.name)
        let nameWidth = max(10, (names + uncovered.map(\.label)).map(\.count).max() ?? 0) + 2
        let c = counts

        out.append("genred eval: model \(model) \(modelVersion), labels from \(labelSource) of \(source)")
        var summary = "  \(c.labelled) labelled file\(c.labelled == 1 ? "" : "s"): \(c.evaluated) evaluated"
        summary += " (\(c.analysed) analysed, \(c.stored) from the library database)"
        if c.uncovered > 0 { summary += ", \(c.uncovered) with a label the model does not cover" }
        if c.failed > 0 { summary += ", \(c.failed) failed" }
        out.append(summary)
        var skipped: [String] = []
        if c.unlabelled > 0 { skipped.append("\(c.unlabelled) without a label" + (labelSource == "tags" ? " (no genre tag)" : " (outside the label folders)")) }
        if c.unsupported > 0 { skipped.append("\(c.unsupported) in formats genred does not decode") }
        if !skipped.isEmpty { out.append("  skipped: " + skipped.joined(separator: ", ")) }

        out.append("")
        out.append("Label map")
        for cls in classes {
            let n = tracks.filter { $0.className == cls.name }.count
            out.append("  " + pad(cls.name, nameWidth) + "  " + pad("\(n)", 4, right: true) + (n == 1 ? " file   -> " : " files  -> ")
                       + cls.modelLabels.joined(separator: ", ") + "  (\(cls.origin.rawValue))")
        }
        for u in uncovered {
            out.append("  " + pad(u.label, nameWidth) + "  " + pad("\(u.files)", 4, right: true) + (u.files == 1 ? " file   " : " files  ") + "not covered: \(u.note)")
        }

        out.append("")
        let lw = max(nameWidth + 2, 18)
        out.append(pad("Accuracy", lw) + shown.map { pad($0.aggregate, 12, right: true) }.joined())
        out.append(pad("  overall", lw) + shown.map { pad(percent($0.accuracy), 12, right: true) }.joined())
        out.append(pad("  correct", lw) + shown.map { pad("\($0.correct)/\($0.total)", 12, right: true) }.joined())
        out.append(pad("  mean recall", lw) + shown.map { pad(percent($0.meanRecall), 12, right: true) }.joined())
        out.append(pad("  top-3 (by mean)", lw) + pad(percent(top3Accuracy), 12, right: true)
                   + (classes.count <= 3 ? "  (3 or fewer classes: always 100%)" : ""))

        out.append("")
        out.append(pad("Per class", nameWidth + 8) + shown.map { pad($0.aggregate, 20, right: true) }.joined())
        out.append(pad("", nameWidth + 2) + pad("n", 6, right: true) + shown.map { _ in pad("precision", 11, right: true) + pad("recall", 9, right: true) }.joined())
        for (i, name) in names.enumerated() {
            var line = "  " + pad(name, nameWidth) + pad("\(shown.first?.perClass[i].support ?? 0)", 6, right: true)
            for a in shown { line += pad(percent(a.perClass[i].precision), 11, right: true) + pad(percent(a.perClass[i].recall), 9, right: true) }
            out.append(line)
        }

        let cell = max(8, (names.map(\.count).max() ?? 0) + 2)
        for a in shown {
            out.append("")
            out.append("Confusion matrix, \(a.aggregate) aggregation (rows: label, columns: prediction; counts | row %)")
            out.append(pad("", nameWidth + 2) + names.map { pad($0, cell, right: true) }.joined() + "  |"
                       + names.map { pad($0, cell, right: true) }.joined())
            for (i, name) in names.enumerated() {
                out.append("  " + pad(name, nameWidth) + a.counts[i].map { pad("\($0)", cell, right: true) }.joined() + "  |"
                           + a.rowNormalized[i].map { pad(percent($0), cell, right: true) }.joined())
            }
        }

        // Most confused pairs, over the shown aggregations.
        var pairs: [String: [String: Int]] = [:]
        var pairOrder: [String] = []
        for a in shown {
            for p in a.confusedPairs {
                let key = "\(p.label) -> \(p.predicted)"
                if pairs[key] == nil { pairs[key] = [:]; pairOrder.append(key) }
                pairs[key]![a.aggregate] = p.count
            }
        }
        out.append("")
        if pairOrder.isEmpty {
            out.append("Most confused pairs: none")
        } else {
            let sortedPairs = pairOrder.enumerated().sorted { x, y in
                let a = pairs[x.element]!.values.max()!, b = pairs[y.element]!.values.max()!
                return a != b ? a > b : x.offset < y.offset
            }.map(\.element).prefix(10)
            let title = "Most confused (label -> prediction)"
            let w = max(title.count - 2, sortedPairs.map(\.count).max()! + 2)
            out.append(pad(title, w + 2) + shown.map { pad($0.aggregate, 8, right: true) }.joined())
            for key in sortedPairs {
                out.append("  " + pad(key, w) + shown.map { pad("\(pairs[key]![$0.aggregate] ?? 0)", 8, right: true) }.joined())
            }
        }

        let wrong = tracks.filter { t in shown.contains { $0.aggregate == "mean" ? !t.meanCorrect : !t.voteCorrect } }
        out.append("")
        out.append(wrong.isEmpty ? "Misclassified tracks: none" : "Misclassified tracks (\(wrong.count))")
        for t in wrong.prefix(misclassifiedLimit) {
            out.append("  \(displayPath(t.path))  label \(t.className)")
            let ranked = classes.indices.sorted { t.classScores[$0] > t.classScores[$1] }.prefix(3)
            var parts: [String] = []
            if shown.contains(where: { $0.aggregate == "mean" }) {
                parts.append("mean: \(t.meanPrediction) (" + ranked.map { "\(names[$0]) " + String(format: "%.3f", t.classScores[$0]) }.joined(separator: ", ") + ")")
            }
            if shown.contains(where: { $0.aggregate == "vote" }) {
                let v = classes.indices.filter { t.votes[$0] > 0 }.sorted { t.votes[$0] > t.votes[$1] }
                parts.append("vote: \(t.votePrediction) (" + v.map { "\(names[$0]) \(t.votes[$0])" }.joined(separator: ", ") + " of \(t.windows) windows)")
            }
            out.append("    " + parts.joined(separator: "   "))
            out.append("    windows: " + t.timeline.map { "\(clock($0.start))-\(clock($0.end)) \($0.prediction) x\($0.windows)" }.joined(separator: ", "))
        }
        if wrong.count > misclassifiedLimit { out.append("  ... and \(wrong.count - misclassifiedLimit) more (--json or --csv lists all)") }

        out.append("")
        out.append("Genre-writing rule of retag (threshold x max genres), over the \(sweep.current.files) evaluated files:")
        out.append("  coverage: files given at least one genre; agreement: tagged files whose genres include the label")
        out.append("  threshold  coverage   agreement: max 1    max 2    max 3   genres/file at max 3")
        let thresholds = sweep.rows.map(\.threshold).reduce(into: [Double]()) { if !$0.contains($1) { $0.append($1) } }
        for t in thresholds {
            let rows = sweep.rows.filter { $0.threshold == t }
            guard let first = rows.first else { continue }
            var line = "  " + pad(String(format: "%.2f", t), 9, right: true) + pad(percent(first.coverage), 10, right: true) + "  "
            for k in EvalSweep.maxCounts {
                let r = rows.first { $0.maxGenres == k }
                line += pad(r.map { $0.tagged > 0 ? percent($0.agreement) : "-" } ?? "", k == 1 ? 16 : 9, right: true)
            }
            line += pad(rows.last.map { String(format: "%.2f", $0.meanGenres) } ?? "", 12, right: true)
            out.append(line)
        }
        let cur = sweep.current
        out.append("  current setting (\(String(format: "%.2f", cur.threshold)) x \(cur.maxGenres)): coverage \(percent(cur.coverage)), agreement \(percent(cur.agreement))")
        if let s = sweep.suggestion {
            out.append("  suggested for coverage >= \(percent(sweep.coverageTarget)): genre_threshold = \(String(format: "%.2f", s.threshold)), "
                       + "max_genres = \(s.maxGenres) (coverage \(percent(s.coverage)), agreement \(percent(s.agreement)))")
        } else {
            out.append("  no setting reaches coverage \(percent(sweep.coverageTarget)); lower --coverage to get a suggestion")
        }

        if !failures.isEmpty {
            out.append("")
            out.append("Failed files (\(failures.count))")
            for f in failures { out.append("  \(f.path): \(f.reason)") }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// One CSV row per evaluated track, with a header: predictions, class scores and window votes.
    public func csv() -> String {
        var header = ["path", "label", "class", "source", "windows", "mean_prediction", "mean_correct",
                      "vote_prediction", "vote_correct", "top3_correct"]
        header += classes.map { "score:\($0.name)" } + classes.map { "votes:\($0.name)" }
        var lines = [header.map(Self.csvField).joined(separator: ",")]
        for t in tracks {
            var row = [t.path, t.label, t.className, t.source, "\(t.windows)", t.meanPrediction, "\(t.meanCorrect)",
                       t.votePrediction, "\(t.voteCorrect)", "\(t.top3.contains(t.className))"]
            row += t.classScores.map { String(format: "%.6f", $0) } + t.votes.map { "\($0)" }
            lines.append(row.map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report as one JSON object (keys in snake_case, sorted).
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return JSONText.escapingCarriedBytes(String(decoding: data, as: UTF8.self))
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    private func displayPath(_ path: String) -> String {
        let root = FilePath.normalize(source)
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }
}

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let n = s.count
    guard n < width else { return right ? " " + s : s }
    let fill = String(repeating: " ", count: width - n)
    return right ? fill + s : s + fill
}

func percent(_ v: Double?) -> String {
    guard let v else { return "-" }
    return String(format: "%.1f%%", v * 100)
}

private func clock(_ seconds: Double) -> String {
    let t = Int(seconds.rounded())
    return String(format: "%d:%02d", t / 60, t % 60)
}
