import ArgumentParser
import Foundation
import GenredKit

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what genred knows about a track: scores, tags written, and a window-by-window timeline.",
        discussion: """
            Reads the library database. Top genres and moods are listed by both aggregates: the mean \
            probability over the windows, and the share of windows in which the label ranks first among \
            its group (the vote). The timeline lists each window's start time and its strongest labels, \
            so you can see which parts of a song read as which genre. Each taxonomy learned with \
            `genred learn` adds its label (or none, where it abstains) and its top probabilities.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Argument(help: "A file or a track id.")
    var track: String

    @Option(name: .long, help: "Model whose analysis to show (default: from the config, else msd-musicnn).")
    var model: String?

    @Option(name: .long, help: "Labels per window in the timeline.")
    var top = 3

    @Flag(name: .long, help: "One JSON object.")
    var json = false

    func run() throws {
        let config = try library.loadConfiguration()
        let store = try library.openStore(config)
        let modelName = model ?? config.model
        let groups = (try? ModelBundle.load(modelName).manifest.groups) ?? [:]
        let detail: TrackDetail
        do { detail = try TrackDetail.load(track, store: store, model: modelName, groups: groups, top: top) } catch let error as QueryError {
            switch error.reason {
            case .noAnalysis: throw CommandFailure(error, status: 1)
            default: throw CommandFailure(track, "\(track): not in the library database (run `genred retag` on its folder first)")
            }
        }
        if json {
            print(detail.json())
            return
        }

        let record = detail.record, analysis = detail.analysis, names = detail.names
        print(record.path)
        var facts: [String] = []
        if let a = record.artist { facts.append(a) }
        if let t = record.title { facts.append(t) }
        if let al = record.album { facts.append("[\(al)]") }
        if !facts.isEmpty { print("  " + facts.joined(separator: " - ")) }
        let windows = analysis.windows
        print("  \(record.duration.map(formatDuration) ?? "?"), \(record.format ?? "?"), \(windows) window\(windows == 1 ? "" : "s") of \(String(format: "%.1f", detail.windowSeconds)) s, model \(modelName) \(analysis.modelVersion) in \(analysis.precision)" + (analysis.padded ? ", padded (shorter than one window)" : ""))
        if let damage = record.damage { print("  damaged: \(damage) (analysed from what decodes)") }
        for (title, ranked) in [("genres", detail.genres), ("moods", detail.moods)] where !ranked.isEmpty {
            print("  \(title) (mean, vote share):")
            for r in ranked {
                print("    " + r.name.padding(toLength: 18, withPad: " ", startingAt: 0)
                      + String(format: " %.3f  %3.0f%%", r.mean, 100 * r.vote))
            }
        }
        for t in detail.taxonomies {
            let p = t.prediction
            let scores = zip(p.labels, p.probabilities).sorted { $0.1 > $1.1 }.prefix(3)
                .map { String(format: "%@ %.2f", $0.0 as NSString, $0.1) }.joined(separator: ", ")
            print("  taxonomy \(t.taxonomy.name) (version \(t.taxonomy.version)): "
                  + (p.given.isEmpty ? "no label (genred abstains)" : p.given.joined(separator: ", ")) + "  (\(scores))"
                  + " [\(p.basis.description)]")
        }
        if detail.journal.isEmpty {
            print("  tags written: none")
        } else {
            print("  tags written:")
            let f = DateFormatter()
            f.dateFormat = "yyyy-MM-dd HH:mm"
            for e in detail.journal.reversed() {
                let new = e.newValues.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: ", "))" }.joined(separator: "; ")
                print("    \(f.string(from: e.writtenAt)) run \(e.runId): \(new)" + (e.undoneAt != nil ? " (undone)" : ""))
            }
        }
        print("  timeline:")
        for item in detail.timeline {
            let text = item.top.map { String(format: "%@ %.2f", names[$0.index] as NSString, $0.p) }.joined(separator: ", ")
            print("    \(formatDuration(item.start).padding(toLength: 7, withPad: " ", startingAt: 0)) \(text)")
        }
    }
}
