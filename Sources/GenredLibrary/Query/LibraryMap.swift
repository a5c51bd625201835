import Foundation
import GenredEngine

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
    /// The gradient steps taken (the options' iterations).
    public var iterations = 0

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
                          note: result.note, seconds: Date().timeIntervalSince(start), iterations: options.iterations)
    }
}

/// What a map's points are coloured by: one key per point, and a legend of keys by count.
///
/// `taxonomy(NAME)` colours by the label a taxonomy learned with `genred learn` gives each track;
/// a track where it abstains (or one its base model has not analysed) gets the empty key, as a
/// missing tag does.
public enum MapColouring: Sendable, Equatable {
    case genre, album, artist, folder
    case taxonomy(String)

    /// The colourings every library has; `taxonomy:NAME` adds one per stored taxonomy.
    public static let names = ["genre", "album", "artist", "folder"]
    static let taxonomyPrefix = "taxonomy:"

    /// Parses `genre`, `album`, `artist`, `folder` or `taxonomy:NAME` (whether NAME is stored is
    /// known only to the store: see `LibraryQuery.colourKeys`).
    public init(parameter: String) throws(QueryError) {
        if parameter.lowercased().hasPrefix(Self.taxonomyPrefix) {
            let name = String(parameter.dropFirst(Self.taxonomyPrefix.count))
            guard !name.isEmpty else { throw QueryError("colour", .badParameter("taxonomy: needs a taxonomy name")) }
            self = .taxonomy(name)
            return
        }
        switch parameter.lowercased() {
        case "", "genre": self = .genre
        case "album": self = .album
        case "artist": self = .artist
        case "folder": self = .folder
        default:
            throw QueryError("colour", .badParameter("\(parameter) is not one of \(Self.names.joined(separator: ", ")) or taxonomy:NAME"))
        }
    }

    /// The parameter that gives this colouring back.
    public var parameter: String {
        switch self {
        case .genre: "genre"
        case .album: "album"
        case .artist: "artist"
        case .folder: "folder"
        case .taxonomy(let name): Self.taxonomyPrefix + name
        }
    }

    /// Each point's key ("" for a missing tag, or where a taxonomy abstains) and the keys in
    /// order of frequency (ties by name). `labels` holds a taxonomy's label by track id: the
    /// keys of `.taxonomy`.
    public func keys(_ map: LibraryMap, labels: [Int64: String] = [:]) -> (perPoint: [Int], legend: [(key: String, count: Int)]) {
        let raw: [String] = map.points.enumerated().map { i, p in
            switch self {
            case .genre: p.topGenre
            case .album: p.album ?? ""
            case .artist: p.artist ?? ""
            case .folder: FilePath.parent(p.path)
            case .taxonomy: i < map.ids.count ? labels[map.ids[i]] ?? "" : ""
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
