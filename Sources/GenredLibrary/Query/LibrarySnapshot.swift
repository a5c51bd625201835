import Foundation
import GenredEngine

/// Everything a long-running front end answers from, loaded once from the store: each analysed
/// track's vectors, tags and identifiers, the similarity index over them, and the genres genred
/// tags each with. Immutable; `LibraryQuery` replaces it when the library changes.
public final class LibrarySnapshot: Sendable {
    public let model: String
    public let index: SimilarityIndex
    /// Per row: the genres `TagPlanner` proposes under the current settings.
    public let genres: [[String]]
    /// When the store last changed before this snapshot was read.
    public let stamp: LibraryStore.ContentStamp?
    private let rowByID: [Int64: Int]
    /// Per row: title, artist, album and the displayed path, folded for search.
    private let searchText: [String]

    public var tracks: LibraryStore.TrackVectors { index.tracks }
    public var count: Int { index.tracks.count }

    public init(vectors: LibraryStore.TrackVectors, manifest: BundleManifest, settings: TagSettings,
                stamp: LibraryStore.ContentStamp? = nil) {
        model = manifest.name
        index = SimilarityIndex(tracks: vectors, labels: manifest.labels, displayNames: manifest.displayNames)
        let planner = TagPlanner(manifest: manifest, settings: settings)
        let l = vectors.labelCount
        genres = (0..<vectors.count).map { i in
            planner.propose(scores: Array(vectors.scores[(i * l)..<((i + 1) * l)]))[.genre] ?? []
        }
        var byID: [Int64: Int] = [:]
        byID.reserveCapacity(vectors.count)
        for (row, id) in vectors.ids.enumerated() { byID[id] = row }
        rowByID = byID
        searchText = (0..<vectors.count).map { i in
            Self.fold([vectors.titles[i], vectors.artists[i], vectors.albums[i], FilePath.display(vectors.paths[i])]
                .compactMap { $0 }.joined(separator: "\n"))
        }
        self.stamp = stamp
    }

    /// Reads the analysed tracks of `manifest`'s model from the store.
    public static func load(store: LibraryStore, manifest: BundleManifest, settings: TagSettings) throws(StoreError) -> LibrarySnapshot {
        let stamp = try store.contentStamp()
        let vectors = try store.vectors(model: manifest.name)
        return LibrarySnapshot(vectors: vectors, manifest: manifest, settings: settings, stamp: stamp)
    }

    public func row(id: Int64) -> Int? { rowByID[id] }

    public func summary(row i: Int) -> TrackSummary {
        let t = index.tracks
        return TrackSummary(id: t.ids[i], path: t.paths[i], title: t.titles[i], artist: t.artists[i], album: t.albums[i],
                            duration: t.durations[i], genres: genres[i],
                            musicbrainzRecordingId: t.recordingIDs[i], isrc: t.isrcs[i])
    }

    public func playlistEntry(row i: Int) -> Playlist.Entry {
        let t = index.tracks
        return Playlist.Entry(path: t.paths[i], title: t.titles[i], artist: t.artists[i], duration: t.durations[i])
    }

    // MARK: Search

    /// Rows (in path order) whose title, artist, album or path contains `text` (ignoring case and
    /// accents) and that are tagged `genre` (a genre name or model label, ignoring case).
    public func search(text: String?, genre: String?) -> [Int] {
        let needle = text.map(Self.fold).flatMap { $0.isEmpty ? nil : $0 }
        let wanted = genre.map(Self.fold).flatMap { $0.isEmpty ? nil : $0 }
        let genreNames: Set<String>? = wanted.map { w in
            // A model label ("electronic") or a display name, as well as a mapped tag value.
            var names: Set<String> = [w]
            for (label, name) in zip(index.labels, index.displayNames) where Self.fold(label) == w || Self.fold(name) == w {
                names.insert(Self.fold(name))
            }
            return names
        }
        return (0..<count).filter { i in
            if let needle, !searchText[i].contains(needle) { return false }
            if let genreNames, !genres[i].contains(where: { genreNames.contains(Self.fold($0)) }) { return false }
            return true
        }
    }

    // MARK: Lookup, for media servers

    /// How a lookup found its tracks.
    public enum LookupKey: String, Sendable {
        case path, mbid, isrc, title
    }

    /// Tracks for a media server's song, tried as a server matches: the exact path (or, for a
    /// relative path, a library path that ends with it), the MusicBrainz recording id, the ISRC,
    /// then title and artist ignoring case, accents and punctuation. The first key that finds any
    /// track decides; with `duration`, nearer durations come first.
    public func lookup(path: String?, mbid: String?, isrc: String?, title: String?, artist: String?,
                       duration: Double?) -> (key: LookupKey, rows: [Int])? {
        let t = index.tracks
        var found: [(LookupKey, [Int])] = []
        if let path, !path.isEmpty {
            if path.hasPrefix("/") {
                let wanted = ExactPath(path)
                found.append((.path, (0..<count).filter { ExactPath(t.paths[$0]) == wanted }))
            } else {
                let tail = Array(("/" + path).utf8)
                found.append((.path, (0..<count).filter { Array(t.paths[$0].utf8).reversed().starts(with: tail.reversed()) }))
            }
        }
        if let mbid = TrackIdentifier.musicBrainz(mbid) {
            found.append((.mbid, (0..<count).filter { t.recordingIDs[$0] == mbid }))
        }
        if let isrc = TrackIdentifier.isrc(isrc) {
            found.append((.isrc, (0..<count).filter { t.isrcs[$0] == isrc }))
        }
        if let title = title.map(Self.fold), !title.isEmpty {
            let artist = artist.map(Self.fold).flatMap { $0.isEmpty ? nil : $0 }
            found.append((.title, (0..<count).filter { i in
                t.titles[i].map(Self.fold) == title && (artist == nil || t.artists[i].map(Self.fold) == artist)
            }))
        }
        guard let (key, rows) = found.first(where: { !$0.1.isEmpty }) else { return nil }
        guard let duration else { return (key, rows) }
        return (key, rows.sorted { abs((t.durations[$0] ?? .infinity) - duration) < abs((t.durations[$1] ?? .infinity) - duration) })
    }

    /// Lower case without accents; runs of anything but letters and digits become one space.
    static func fold(_ text: String) -> String {
        let plain = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
        var out = ""
        var space = false
        for c in plain {
            if c.isLetter || c.isNumber {
                if space && !out.isEmpty { out.append(" ") }
                out.append(c)
                space = false
            } else {
                space = true
            }
        }
        return out
    }
}
