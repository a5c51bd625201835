import Foundation
import GenredEngine

/// What genred knows about one track: its file, its scores by both aggregates, the tags it
/// wrote, and a window-by-window timeline. `genred show` prints it; the server sends its JSON.
public struct TrackDetail: Sendable {
    /// One label's scores: the mean probability over the windows, and its share of the windows'
    /// votes within its group.
    public struct RankedLabel: Sendable {
        public var index: Int
        public var label: String
        public var name: String
        public var mean: Float
        public var vote: Double
    }

    /// One window: its start and its strongest genre and mood labels.
    public struct Window: Sendable {
        public var start: Double
        public var top: [(index: Int, p: Float)]
    }

    public var record: TrackRecord
    public var id: Int64
    public var model: String
    public var analysis: AnalysisRecord
    public var labels: [String]
    public var names: [String]
    /// Up to five, strongest mean first.
    public var genres: [RankedLabel]
    public var moods: [RankedLabel]
    /// Newest first, undone ones included.
    public var journal: [JournalEntry]
    public var timeline: [Window]
    /// Every label's mean probability, in label order.
    public var scores: [Float]
    /// What each stored taxonomy whose base model analysed the track says about it.
    public var taxonomies: [TaxonomyQuery.TrackPrediction] = []

    public var hopSeconds: Double { Double(analysis.hopFrames) * analysis.frameSeconds }
    public var windowSeconds: Double { Double(analysis.windowFrames) * analysis.frameSeconds }

    /// The detail of a track given by path or id (`argument`, tried in that order), from the
    /// store. `groups` are the model's label groups (genre, mood); without them the timeline
    /// ranks every label. `top` is how many labels each window lists.
    public static func load(_ argument: String, store: LibraryStore, model: String, groups: [String: [String]],
                            top: Int) throws -> TrackDetail {
        let path = FilePath.normalize(argument)
        let found = try store.track(path: path) ?? Int64(argument).flatMap { try? store.track(id: $0) }
        guard let record = found else { throw QueryError(argument, .unknownTrack) }
        return try load(record: record, store: store, model: model, groups: groups, top: top)
    }

    /// The detail of a track whose record is in hand.
    public static func load(record: TrackRecord, store: LibraryStore, model: String, groups: [String: [String]],
                            top: Int) throws -> TrackDetail {
        guard let id = record.id else { throw QueryError(record.path, .unknownTrack) }
        guard let analysis = try store.analysis(trackID: id, model: model), let modelInfo = try store.model(model) else {
            throw QueryError(record.path, .noAnalysis(model: model, lastError: record.lastError))
        }
        let labels: [String] = BlobCoding.decodeJSON(modelInfo.labels) ?? []
        let names: [String] = BlobCoding.decodeJSON(modelInfo.displayNames) ?? labels
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
        func ranked(_ members: [Int]) -> [RankedLabel] {
            let v = votes(members)
            return members.sorted { mean[$0] > mean[$1] }.prefix(5).map {
                RankedLabel(index: $0, label: labels[$0], name: names[$0], mean: mean[$0], vote: v[$0] ?? 0)
            }
        }
        let genreIdx = group("genre"), moodIdx = group("mood")
        let timelineLabels = genreIdx + moodIdx
        let timeline: [Window] = (0..<windows).map { w in
            let ranked = (timelineLabels.isEmpty ? Array(0..<l) : timelineLabels)
                .sorted { taggram[w * l + $0] > taggram[w * l + $1] }.prefix(top)
            return Window(start: Double(w) * hop, top: ranked.map { ($0, taggram[w * l + $0]) })
        }
        // A taxonomy that cannot be read (one from a newer genred, say) is left out, not fatal.
        let taxonomies = (try? TaxonomyQuery(store: store).predictions(trackID: id)) ?? []
        return TrackDetail(record: record, id: id, model: model, analysis: analysis, labels: labels, names: names,
                           genres: ranked(genreIdx), moods: ranked(moodIdx),
                           journal: try store.journalEntries(path: record.path, track: id, includeUndone: true),
                           timeline: timeline, scores: mean, taxonomies: taxonomies)
    }

    /// The JSON object `genred show --json` prints. `extended` adds what the server's clients
    /// use besides: the identifiers media servers match on, the format, and every label's score.
    public func json(extended: Bool = false) -> String {
        func ranked(_ list: [RankedLabel]) -> JSONLine.Value {
            .array(list.map { r in
                .raw(JSONLine.object([("label", .string(r.label)), ("name", .string(r.name)),
                                      ("mean", .float(r.mean)), ("vote", .number(r.vote))]))
            })
        }
        let iso = ISO8601DateFormatter()
        let writes: [JSONLine.Value] = journal.map { e in
            .raw(JSONLine.object([
                ("run", .int(Int(e.runId))), ("written_at", .string(iso.string(from: e.writtenAt))),
                ("previous", .raw(e.previous)), ("new", .raw(e.new)),
                ("undone_at", e.undoneAt.map { .string(iso.string(from: $0)) } ?? .raw("null")),
            ]))
        }
        var fields: [(String, JSONLine.Value)] = [
            ("id", .int(Int(id))), ("path", .string(record.path)), ("title", JSONLine.string(record.title)),
            ("artist", JSONLine.string(record.artist)), ("album", JSONLine.string(record.album)),
            ("duration_s", record.duration.map { .number($0) } ?? .raw("null")), ("model", .string(model)),
            ("model_version", .string(analysis.modelVersion)),
            ("precision", .string(analysis.precision)), ("windows", .int(analysis.windows)), ("hop_s", .number(hopSeconds)),
            ("padded", .bool(analysis.padded)), ("damaged", JSONLine.string(record.damage)),
            ("genres", ranked(genres)), ("moods", ranked(moods)),
            ("tag_writes", .array(writes)),
            ("taxonomies", .array(taxonomies.map { t in
                .raw(JSONLine.object([
                    ("name", .string(t.taxonomy.name)), ("version", .int(t.taxonomy.version)),
                    ("labels", .array(t.prediction.labels.map { .string($0) })),
                    ("probabilities", .floats(t.prediction.probabilities[...])), ("label", JSONLine.string(t.prediction.label)),
                    ("rule", .string(t.prediction.basis.rawValue)),
                ]))
            })),
            ("timeline", .array(timeline.map { item in
                .raw(JSONLine.object([("start_s", .number(item.start)),
                                      ("top", .array(item.top.map { .raw(JSONLine.object([("label", .string(labels[$0.index])), ("p", .float($0.p))])) }))]))
            })),
        ]
        if extended {
            fields += [
                ("window_s", .number(windowSeconds)), ("format", JSONLine.string(record.format)),
                ("musicbrainz_recording_id", JSONLine.string(record.musicbrainzRecordingId)), ("isrc", JSONLine.string(record.isrc)),
                ("scores", .array(labels.indices.map { i in
                    .raw(JSONLine.object([("label", .string(labels[i])), ("name", .string(names[i])),
                                          ("mean", .float(i < scores.count ? scores[i] : .nan))]))
                })),
            ]
        }
        return JSONLine.object(fields)
    }
}
