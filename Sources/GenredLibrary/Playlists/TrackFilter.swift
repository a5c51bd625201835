import COpenBLAS
import Foundation
import GenredEngine

/// A genre, a mood or a taxonomy's label that tracks may be kept to (`genred radio --genre`,
/// the playlists of `[playlists]`).
public enum TrackFilter: Sendable, Equatable, CustomStringConvertible {
    case genre(String)
    case mood(String)
    case taxonomy(name: String, label: String)

    public var description: String {
        switch self {
        case .genre(let g): "genre \(g)"
        case .mood(let m): "mood \(m)"
        case .taxonomy(let name, let label): "\(name): \(label)"
        }
    }

    /// The rows of `index` the filter keeps, most probable first. Genres and moods are those
    /// genred tags a track with (`TagPlanner` under `settings`, moods counted even when they
    /// are not written); a taxonomy label is one the taxonomy gives (never where it abstains).
    public func rows(of index: SimilarityIndex, manifest: BundleManifest, settings: TagSettings, store: LibraryStore) throws -> [Int] {
        switch self {
        case .genre(let name), .mood(let name):
            let field: TagField
            if case .genre = self { field = .genre } else { field = .mood }
            let groups = TrackGroups(index: index, manifest: manifest, settings: settings)
            return groups.members[field]?[name.lowercased()] ?? []
        case .taxonomy(let name, let label):
            let labels = try TaxonomyQuery(store: store).labels(taxonomy: name)
            var row: [Int64: Int] = [:]
            for (i, id) in index.tracks.ids.enumerated() { row[id] = i }
            return labels.tracks(labelled: label).compactMap { row[labels.trackIDs[$0]] }
        }
    }
}

/// Which tracks genred tags with each genre and each mood.
public struct TrackGroups: Sendable {
    /// Field -> lowercased name -> rows, most probable first.
    public let members: [TagField: [String: [Int]]]
    /// Field -> lowercased name -> the name as genred writes it.
    public let names: [TagField: [String: String]]

    public init(index: SimilarityIndex, manifest: BundleManifest, settings: TagSettings) {
        var s = settings
        s.moods = true
        let planner = TagPlanner(manifest: manifest, settings: s)
        let t = index.tracks, l = t.labelCount
        var members: [TagField: [String: [(row: Int, score: Float)]]] = [:]
        var names: [TagField: [String: String]] = [:]
        for i in 0..<t.count {
            for (field, values) in planner.proposeScored(scores: Array(t.scores[(i * l)..<((i + 1) * l)])) {
                for value in values {
                    let key = value.name.lowercased()
                    members[field, default: [:]][key, default: []].append((i, value.score))
                    names[field, default: [:]][key] = names[field]?[key] ?? value.name
                }
            }
        }
        // Most probable first; ties in the library's order.
        self.members = members.mapValues { byName in
            byName.mapValues { entries in entries.sorted { $0.score != $1.score ? $0.score > $1.score : $0.row < $1.row }.map(\.row) }
        }
        self.names = names
    }
}

extension SimilarityIndex {
    /// `rows` as a smooth sonic sequence: from `start` (else the track farthest from the
    /// group's centre), each next track is the nearest unused one to the track before it
    /// (cosine in the index's centred space), so that neighbours in the list sound alike. One
    /// BLAS `sgemm` gives the cosines; the walk is quadratic in `rows.count`.
    public func smoothOrder(_ rows: [Int], from start: Int? = nil) -> [Int] {
        let n = rows.count, d = dimension
        guard n > 2 else { return start.map { s in [s] + rows.filter { $0 != s } } ?? rows }
        var matrix = [Float](repeating: 0, count: n * d)
        for (k, r) in rows.enumerated() {
            for j in 0..<d { matrix[k * d + j] = normalized[r * d + j] }
        }
        var gram = [Float](repeating: 0, count: n * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d), 1,
                    matrix, Int32(d), matrix, Int32(d), 0, &gram, Int32(n))
        var first = 0
        if let start, let k = rows.firstIndex(of: start) {
            first = k
        } else {
            // Farthest from the centre: the lowest sum of cosines to the others.
            var lowest = Float.infinity
            for k in 0..<n {
                var sum: Float = 0
                for m in 0..<n { sum += gram[k * n + m] }
                if sum < lowest { (first, lowest) = (k, sum) }
            }
        }
        var used = [Bool](repeating: false, count: n)
        var order = [first]
        used[first] = true
        gram.withUnsafeBufferPointer { g in
            for _ in 1..<n {
                let last = order[order.count - 1]
                var best = -1, bestScore = -Float.infinity
                for m in 0..<n where !used[m] && g[last * n + m] > bestScore { (best, bestScore) = (m, g[last * n + m]) }
                used[best] = true
                order.append(best)
            }
        }
        return order.map { rows[$0] }
    }
}
