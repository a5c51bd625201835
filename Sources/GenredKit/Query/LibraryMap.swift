import Foundation

/// What a map places tracks by.
public enum MapFeatures: String, CaseIterable, Sendable {
    /// The 200-d embedding.
    case embedding
    /// The genre group's mean probabilities.
    case genres
    /// Every label's mean probability.
    case tags
}

/// A t-SNE map of analysed tracks (see docs/map.md), with what `genred map` reports of it.
public struct LibraryMap: Sendable {
    public var features: MapFeatures
    /// Aligned with `points`.
    public var ids: [Int64]
    public var points: [MapPoint]
    public var genreNames: [String]
    public var klDivergence: Double
    public var perplexityUsed: Double
    /// Set when the perplexity had to be lowered for a small collection.
    public var note: String?
    public var seconds: Double

    /// Places the tracks of `vectors` by `features` with t-SNE.
    public static func compute(_ v: LibraryStore.TrackVectors, manifest: BundleManifest, features: MapFeatures,
                               options: TSNEOptions) -> LibraryMap {
        let genreIndices = manifest.labelIndices(inGroup: "genre")
        let genreNames = genreIndices.map { manifest.displayNames[$0] }
        var data: [Float] = []
        var dims = 0
        switch features {
        case .embedding:
            dims = v.embeddingSize
            data = v.embeddings
        case .genres:
            dims = genreIndices.count
            data.reserveCapacity(v.count * dims)
            for i in 0..<v.count { for j in genreIndices { data.append(v.scores[i * v.labelCount + j]) } }
        case .tags:
            dims = v.labelCount
            data = v.scores
        }
        let start = Date()
        let result = TSNE.embed(data, count: v.count, dimensions: dims, options: options)
        let points: [MapPoint] = (0..<v.count).map { i in
            let scores = genreIndices.map { v.scores[i * v.labelCount + $0] }
            let best = scores.indices.max { scores[$0] < scores[$1] }
            return MapPoint(path: v.paths[i], title: v.titles[i], artist: v.artists[i], album: v.albums[i],
                            x: result.points[2 * i], y: result.points[2 * i + 1],
                            topGenre: best.map { genreNames[$0] } ?? "", genreScores: scores)
        }
        return LibraryMap(features: features, ids: v.ids, points: points, genreNames: genreNames,
                          klDivergence: Double(result.klDivergence), perplexityUsed: Double(result.perplexityUsed),
                          note: result.note, seconds: Date().timeIntervalSince(start))
    }
}

/// What a map's points are coloured by: one key per point, and a legend of keys by count.
///
/// `taxonomy:NAME` is reserved for the user's own genre vocabularies; `init(parameter:)` names
/// it as unknown until the library holds taxonomies.
public enum MapColouring: Sendable, Equatable {
    case genre, album, artist, folder

    public static let names = ["genre", "album", "artist", "folder"]

    public init(parameter: String) throws(QueryError) {
        switch parameter.lowercased() {
        case "", "genre": self = .genre
        case "album": self = .album
        case "artist": self = .artist
        case "folder": self = .folder
        case let p where p.hasPrefix("taxonomy:"):
            throw QueryError("colour", .badParameter("no taxonomy named \(parameter.dropFirst("taxonomy:".count)) in this library"))
        default:
            throw QueryError("colour", .badParameter("\(parameter) is not one of \(Self.names.joined(separator: ", "))"))
        }
    }

    /// Each point's key ("" for a missing tag) and the keys in order of frequency (ties by name).
    public func keys(_ map: LibraryMap) -> (perPoint: [Int], legend: [(key: String, count: Int)]) {
        let raw: [String] = map.points.map { p in
            switch self {
            case .genre: p.topGenre
            case .album: p.album ?? ""
            case .artist: p.artist ?? ""
            case .folder: FilePath.parent(p.path)
            }
        }
        // Keys compare by bytes: folders (and tags) spelled in NFC and NFD stay apart.
        var counts: [ExactPath: Int] = [:]
        for k in raw { counts[ExactPath(k), default: 0] += 1 }
        let legend = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { (key: $0.key.string, count: $0.value) }
        var position: [ExactPath: Int] = [:]
        for (i, entry) in legend.enumerated() { position[ExactPath(entry.key)] = i }
        return (raw.map { position[ExactPath($0)]! }, legend)
    }
}
