import Foundation
import GenredEngine

/// The plain-text report of `genred learn`.
extension LearnReport {
    /// `flipLimit`: tracks listed whose label the new version changes.
    public func text(flipLimit: Int = 20) -> String {
        var out: [String] = []
        let names = classes.map(\.name)
        let nameWidth = max(12, names.map(\.count).max() ?? 0) + 2
        let c = counts

        out.append("genred learn: taxonomy \"\(name)\"" + (version.map { " version \($0)" } ?? " (not stored: --dry-run)")
                   + ", model \(model) \(modelVersion), labels from \(labelSource) of " + sources.joined(separator: ", "))
        var summary = "  \(c.labelled) labelled file\(c.labelled == 1 ? "" : "s"): \(c.used) learned from"
        summary += " (\(c.stored) from the library database, \(c.analysed) analysed now)"
        if c.failed > 0 { summary += ", \(c.failed) failed" }
        if c.leftOut > 0 { summary += ", \(c.leftOut) only in labels too small to learn" }
        out.append(summary)
        var skipped: [String] = []
        if c.unlabelled > 0 { skipped.append("\(c.unlabelled) without a label") }
        if c.unsupported > 0 { skipped.append("\(c.unsupported) in formats genred does not decode") }
        if !skipped.isEmpty { out.append("  skipped: " + skipped.joined(separator: ", ")) }

        out.append("")
        out.append("Classes (\(output == .softmax ? "one label per track" : "several labels per track: multi-label"))")
        out.append("  " + pad("class", nameWidth) + pad("tracks", 8, right: true) + pad("albums/folders", 16, right: true))
        for cls in classes {
            out.append("  " + pad(cls.name, nameWidth) + pad("\(cls.tracks)", 8, right: true) + pad("\(cls.groups)", 16, right: true)
                       + (cls.warning.map { "   ! \($0)" } ?? ""))
        }
        for l in leftOut {
            out.append("  " + pad(l.label, nameWidth) + pad("\(l.tracks)", 8, right: true) + "   left out: \(l.reason)")
        }

        out.append("")
        let byFolder = c.used - folds.tracksByAlbum
        out.append("Folds: \(folds.count), grouped by \(folds.groupedBy) (\(folds.groups) groups: \(folds.tracksByAlbum) tracks by album tag, "
                   + "\(byFolder) by folder); no album is in both training and test")

        out.append("")
        out.append("Heads tried (held-out accuracy, balanced accuracy = mean recall)")
        let headWidth = max(34, (candidates.map(\.head.count).max() ?? 0) + 2)
        for cand in candidates {
            out.append("  " + pad(cand.head, headWidth) + pad(percent(cand.accuracy), 9, right: true)
                       + pad(percent(cand.balancedAccuracy), 9, right: true) + (cand.chosen ? "   <- chosen" : ""))
        }

        out.append("")
        let titles = methods.map { m -> String in
            switch m.name {
            case "head": "learned head"
            case "knn": "kNN baseline"
            default: "built-in tags"
            }
        }
        out.append(pad("Per class, held out", nameWidth + 8) + titles.map { pad($0, 20, right: true) }.joined())
        out.append(pad("", nameWidth + 2) + pad("n", 6, right: true)
                   + methods.map { _ in pad("precision", 11, right: true) + pad("recall", 9, right: true) }.joined())
        for (i, name) in names.enumerated() {
            var line = "  " + pad(name, nameWidth) + pad("\(classes[i].tracks)", 6, right: true)
            for m in methods {
                if let j = m.classes.firstIndex(of: name) {
                    line += pad(percent(m.perClass[j].precision), 11, right: true) + pad(percent(m.perClass[j].recall), 9, right: true)
                } else {
                    line += pad("not covered", 20, right: true)
                }
            }
            out.append(line)
        }
        out.append(pad("  accuracy", nameWidth + 8) + methods.map { pad(percent($0.accuracy), 20, right: true) }.joined())
        out.append(pad("  balanced accuracy", nameWidth + 8) + methods.map { pad(percent($0.balancedAccuracy), 20, right: true) }.joined())
        out.append(pad("  tracks", nameWidth + 8) + methods.map { pad("\($0.tracks)", 20, right: true) }.joined())
        for m in methods { out.append("  \(titles[methods.firstIndex { $0.name == m.name }!]): \(m.description)") }
        if !notCoveredByBuiltIn.isEmpty {
            out.append("  not covered by the built-in tags: " + notCoveredByBuiltIn.map { "\($0.label) (\($0.files))" }.joined(separator: ", "))
        }

        for (m, title) in zip(methods, titles) {
            let cell = max(8, (m.classes.map(\.count).max() ?? 0) + 2)
            out.append("")
            out.append("Confusion matrix, \(title) (rows: label, columns: top prediction)")
            out.append(pad("", nameWidth + 2) + m.classes.map { pad($0, cell, right: true) }.joined())
            for (i, row) in m.counts.enumerated() {
                out.append("  " + pad(m.classes[i], nameWidth) + row.map { pad("\($0)", cell, right: true) }.joined())
            }
        }

        if let a = albumEffect {
            out.append("")
            out.append("Album effect: the learned head with folds that split albums scores \(percent(a.ungroupedAccuracy)); "
                       + "with albums kept whole, \(percent(a.groupedAccuracy))"
                       + (a.difference.map { String(format: " (%+.1f points)", 100 * $0) } ?? ""))
            if let w = a.warning { out.append("  ! \(w)") }
        }

        out.append("")
        let cal = calibration
        out.append("Calibration (\(cal.method)\(cal.method.hasPrefix("none") ? "" : ", fitted on the other folds")): log loss "
                   + String(format: "%.3f -> %.3f", cal.logLossBefore, cal.logLossAfter) + ", calibration error "
                   + "\(percent(cal.calibrationErrorBefore)) -> \(percent(cal.calibrationErrorAfter))")

        out.append("")
        let d = decisions
        out.append("Decisions at precision >= \(percent(d.targetPrecision)) (below its threshold a class is not given: genred abstains)")
        if let note = d.basisNote { out.append("  ! \(note)") }
        out.append("  " + pad("class", nameWidth) + pad("threshold", 10, right: true) + pad("precision", 11, right: true)
                   + pad("recall", 9, right: true) + pad("given", 8, right: true))
        for p in d.perClass {
            out.append("  " + pad(p.name, nameWidth) + pad(p.threshold.map { String(format: "%.3f", $0) } ?? "never", 10, right: true)
                       + pad(percent(p.precision), 11, right: true) + pad(percent(p.recall), 9, right: true)
                       + pad("\(p.given)/\(p.support)", 8, right: true))
        }
        out.append("  held out (thresholds chosen on the other folds): \(percent(d.coverage)) of tracks get a label, "
                   + "\(percent(d.accuracyWhenGiven)) of those right")

        if let cmp = comparison {
            out.append("")
            out.append("Compared with version \(cmp.previousVersion)")
            out.append("  accuracy \(percent(cmp.previousAccuracy)) -> \(percent(cmp.accuracy)), balanced \(percent(cmp.previousBalancedAccuracy)) -> "
                       + "\(percent(cmp.balancedAccuracy)); tracks \(cmp.previousTracks.map(String.init) ?? "-") -> \(c.used)")
            out.append("  training labels: \(cmp.added) tracks added, \(cmp.removed) removed, \(cmp.relabelled) relabelled")
            if let note = cmp.note {
                out.append("  library: \(note)")
            } else {
                out.append("  library: \(cmp.tracksCompared) analysed tracks read by both; \(cmp.flipCount) would change label"
                           + (cmp.flipCount > 0 ? ":" : ""))
                for f in cmp.flips.prefix(flipLimit) {
                    out.append("    \(f.path): \(f.before ?? "(none)") -> \(f.after ?? "(none)")")
                }
                if cmp.flipCount > flipLimit { out.append("    ... and \(cmp.flipCount - flipLimit) more (--json lists them)") }
            }
        }

        if !warnings.isEmpty {
            out.append("")
            out.append("Warnings")
            for w in warnings { out.append("  ! \(w)") }
        }

        if !failures.isEmpty {
            out.append("")
            out.append("Failed files (\(failures.count))")
            for f in failures { out.append("  \(f.path): \(f.reason)") }
        }
        out.append("")
        out.append(String(format: "Cross-validation and training: %.2f s.", trainingSeconds)
                   + (version.map { " Stored as version \($0): genred learn list shows it; [tags] taxonomies = [\"\(name)\"] in the config writes its labels." } ?? ""))
        return out.joined(separator: "\n") + "\n"
    }
}
