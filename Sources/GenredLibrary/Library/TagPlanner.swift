import GenredEngine
/// Decides which genre and mood values a track's scores call for, and what a policy makes
/// of them next to the values a file already has.
public struct TagPlanner: Sendable {
    public let settings: TagSettings
    private let genreCandidates: [(index: Int, name: String)]
    private let moodCandidates: [(index: Int, name: String)]

    public init(manifest: BundleManifest, settings: TagSettings) {
        self.settings = settings
        func candidates(_ group: String, _ map: [String: String]) -> [(Int, String)] {
            manifest.labelIndices(inGroup: group).compactMap { i in
                let label = manifest.labels[i], display = manifest.displayNames[i]
                let name = map[label.lowercased()] ?? map[display.lowercased()] ?? display
                return name.isEmpty ? nil : (i, name)
            }
        }
        genreCandidates = candidates("genre", settings.genreMap)
        moodCandidates = candidates("mood", settings.moodMap)
    }

    /// A fingerprint of everything that shapes the proposal, so a change of settings is noticed.
    package func planKey(model: String, version: String) -> String {
        let s = settings
        let maps = [s.genreMap, s.moodMap].map { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
        return "\(model)@\(version);\(s.policy.rawValue);moods=\(s.moods);g=\(s.genreThreshold)x\(s.maxGenres);"
            + "m=\(s.moodThreshold)x\(s.maxMoods);sep=\(s.id3v23Separator);\(maps.joined(separator: ";"))"
    }

    /// The values genred would write for these scores (mean probabilities, in label order).
    /// Labels mapped to the same name count once, with the higher score.
    func propose(scores: [Float]) -> [TagField: [String]] {
        proposeScored(scores: scores).mapValues { $0.map(\.name) }
    }

    /// `propose`, with the score of each value (the highest of the labels that map to it).
    public func proposeScored(scores: [Float]) -> [TagField: [(name: String, score: Float)]] {
        var out: [TagField: [(name: String, score: Float)]] = [.genre: pick(genreCandidates, scores, settings.genreThreshold, settings.maxGenres)]
        if settings.moods {
            out[.mood] = pick(moodCandidates, scores, settings.moodThreshold, settings.maxMoods)
        }
        return out
    }

    private func pick(_ candidates: [(index: Int, name: String)], _ scores: [Float], _ threshold: Float, _ limit: Int) -> [(name: String, score: Float)] {
        var best: [String: Float] = [:]
        var order: [String] = []
        for c in candidates where c.index < scores.count {
            let key = c.name.lowercased()
            if best[key] == nil { order.append(c.name) }
            best[key] = max(best[key] ?? 0, scores[c.index])
        }
        return order
            .filter { best[$0.lowercased()]! >= threshold }
            .sorted { best[$0.lowercased()]! > best[$1.lowercased()]! }
            .prefix(limit)
            .map { ($0, best[$0.lowercased()]!) }
    }

    /// The values to write for one field under `policy`, or nil to leave the field alone.
    public static func apply(_ policy: TagPolicy, existing: [String], proposed: [String]) -> [String]? {
        let present = existing.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !proposed.isEmpty else { return nil }
        let result: [String]
        switch policy {
        case .fill:
            guard present.isEmpty else { return nil }
            result = proposed
        case .merge:
            let known = Set(present.map { $0.lowercased() })
            result = present + proposed.filter { !known.contains($0.lowercased()) }
        case .overwrite:
            result = proposed
        }
        return result == existing ? nil : result
    }
}
