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
            so you can see which parts of a song read as which genre.
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
        let path = FilePath.normalize(track)
        let found = try store.track(path: path) ?? Int64(track).flatMap { try? store.track(id: $0) }
        guard let record = found, let id = record.id else {
            printError("genred: \(track): not in the library database (run `genred retag` on its folder first)")
            throw ExitCode(1)
        }
        guard let analysis = try store.analysis(trackID: id, model: modelName), let modelInfo = try store.model(modelName) else {
            printError("genred: \(record.path): no analysis by \(modelName)\(record.lastError.map { " (last error: \($0))" }.orEmpty)")
            throw ExitCode(1)
        }
        let labels: [String] = BlobCoding.decodeJSON(modelInfo.labels) ?? []
        let names: [String] = BlobCoding.decodeJSON(modelInfo.displayNames) ?? labels
        let groups = (try? ModelBundle.load(modelName).manifest.groups) ?? [:]
        let mean = analysis.meanScores
        let taggram = analysis.taggramScores
        let windows = analysis.windows, l = labels.count
        let hop = Double(analysis.hopFrames) * analysis.frameSeconds

        // Votes within a group: each window votes for its best label of that group.
        func group(_ name: String) -> [Int] {
            let members = Set(groups[name] ?? [])
            return labels.indices.filter { members.contains(labels[$0]) }
        }
        func votes(_ members: [Int]) -> [Int: Double] {
            var counts: [Int: Double] = [:]
            guard !members.isEmpty, windows > 0 else { return counts }
            for w in 0..<windows {
                let best = members.max { taggram[w * l + $0] < taggram[w * l + $1] }!
                counts[best, default: 0] += 1
            }
            return counts.mapValues { $0 / Double(windows) }
        }
        let genreIdx = group("genre"), moodIdx = group("mood")
        let genreVotes = votes(genreIdx), moodVotes = votes(moodIdx)
        let journal = try store.journalEntries(path: record.path, track: id, includeUndone: true)
        let timelineLabels = genreIdx + moodIdx
        let timeline: [(start: Double, top: [(Int, Float)])] = (0..<windows).map { w in
            let ranked = (timelineLabels.isEmpty ? Array(0..<l) : timelineLabels)
                .sorted { taggram[w * l + $0] > taggram[w * l + $1] }.prefix(top)
            return (Double(w) * hop, ranked.map { ($0, taggram[w * l + $0]) })
        }

        if json {
            func ranked(_ members: [Int], _ v: [Int: Double]) -> JSONLine.Value {
                .array(members.sorted { mean[$0] > mean[$1] }.prefix(5).map { i in
                    .raw(JSONLine.object([("label", .string(labels[i])), ("name", .string(names[i])),
                                          ("mean", .float(mean[i])), ("vote", .number(v[i] ?? 0))]))
                })
            }
            let writes: [JSONLine.Value] = journal.map { e in
                .raw(JSONLine.object([
                    ("run", .int(Int(e.runId))), ("written_at", .string(ISO8601DateFormatter().string(from: e.writtenAt))),
                    ("previous", .raw(e.previous)), ("new", .raw(e.new)),
                    ("undone_at", e.undoneAt.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .raw("null")),
                ]))
            }
            print(JSONLine.object([
                ("id", .int(Int(id))), ("path", .string(record.path)), ("title", record.title.map { .string($0) } ?? .raw("null")),
                ("artist", record.artist.map { .string($0) } ?? .raw("null")), ("album", record.album.map { .string($0) } ?? .raw("null")),
                ("duration_s", record.duration.map { .number($0) } ?? .raw("null")), ("model", .string(modelName)),
                ("model_version", .string(analysis.modelVersion)), ("windows", .int(windows)), ("hop_s", .number(hop)),
                ("padded", .bool(analysis.padded)), ("damaged", record.damage.map { .string($0) } ?? .raw("null")),
                ("genres", ranked(genreIdx, genreVotes)), ("moods", ranked(moodIdx, moodVotes)),
                ("tag_writes", .array(writes)),
                ("timeline", .array(timeline.map { item in
                    .raw(JSONLine.object([("start_s", .number(item.start)),
                                          ("top", .array(item.top.map { .raw(JSONLine.object([("label", .string(labels[$0.0])), ("p", .float($0.1))])) }))]))
                })),
            ]))
            return
        }

        print(record.path)
        var facts: [String] = []
        if let a = record.artist { facts.append(a) }
        if let t = record.title { facts.append(t) }
        if let al = record.album { facts.append("[\(al)]") }
        if !facts.isEmpty { print("  " + facts.joined(separator: " - ")) }
        print("  \(record.duration.map(formatDuration) ?? "?"), \(record.format ?? "?"), \(windows) window\(windows == 1 ? "" : "s") of \(String(format: "%.1f", Double(analysis.windowFrames) * analysis.frameSeconds)) s, model \(modelName) \(analysis.modelVersion)" + (analysis.padded ? ", padded (shorter than one window)" : ""))
        if let damage = record.damage { print("  damaged: \(damage) (analysed from what decodes)") }
        for (title, members, v) in [("genres", genreIdx, genreVotes), ("moods", moodIdx, moodVotes)] where !members.isEmpty {
            print("  \(title) (mean, vote share):")
            for i in members.sorted(by: { mean[$0] > mean[$1] }).prefix(5) {
                print("    " + names[i].padding(toLength: 18, withPad: " ", startingAt: 0)
                      + String(format: " %.3f  %3.0f%%", mean[i], 100 * (v[i] ?? 0)))
            }
        }
        if journal.isEmpty {
            print("  tags written: none")
        } else {
            print("  tags written:")
            let f = DateFormatter()
            f.dateFormat = "yyyy-MM-dd HH:mm"
            for e in journal.reversed() {
                let new = e.newValues.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: ", "))" }.joined(separator: "; ")
                print("    \(f.string(from: e.writtenAt)) run \(e.runId): \(new)" + (e.undoneAt != nil ? " (undone)" : ""))
            }
        }
        print("  timeline:")
        for item in timeline {
            let text = item.top.map { String(format: "%@ %.2f", names[$0.0] as NSString, $0.1) }.joined(separator: ", ")
            print("    \(formatDuration(item.start).padding(toLength: 7, withPad: " ", startingAt: 0)) \(text)")
        }
    }
}
