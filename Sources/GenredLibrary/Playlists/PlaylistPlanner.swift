import Foundation
import GenredEngine

/// One playlist genred keeps: its title, its file's name and its tracks in playing order.
public struct PlannedPlaylist: Sendable {
    public var title: String
    /// The file's name in the playlists' folder (no `/`, ends in `.m3u8`).
    public var fileName: String
    public var entries: [Playlist.Entry]
}

/// Which playlists `[playlists]` calls for, from the analysed tracks: one per genre and per
/// mood that at least `minSize` tracks have, one per label of each taxonomy, and one "More
/// like" for each listed track. Each holds at most `maxSize` tracks (those the value fits
/// best) in a smooth sonic order (`SimilarityIndex.smoothOrder`).
public enum PlaylistPlanner {
    public struct Plan: Sendable {
        public var playlists: [PlannedPlaylist]
        /// Why a listed "More like" track has no playlist.
        public var notes: [String]
    }

    public static func plan(store: LibraryStore, manifest: BundleManifest, tags: TagSettings,
                            settings: PlaylistSettings) throws -> Plan {
        let vectors = try store.vectors(model: manifest.name)
        let index = SimilarityIndex(tracks: vectors, labels: manifest.labels, displayNames: manifest.displayNames)
        let t = index.tracks
        var out: [PlannedPlaylist] = []
        var notes: [String] = []
        func entries(_ rows: [Int]) -> [Playlist.Entry] {
            rows.map { Playlist.Entry(path: t.paths[$0], title: t.titles[$0], artist: t.artists[$0], duration: t.durations[$0]) }
        }
        func add(_ title: String, _ rows: [Int]) {
            guard rows.count >= settings.minSize else { return }
            out.append(PlannedPlaylist(title: title, fileName: fileName(title),
                                       entries: entries(index.smoothOrder(Array(rows.prefix(settings.maxSize))))))
        }

        let groups = TrackGroups(index: index, manifest: manifest, settings: tags)
        for (field, kind) in [(TagField.genre, "Genre"), (.mood, "Mood")] {
            let members = groups.members[field] ?? [:]
            for key in members.keys.sorted() {
                add("\(kind) - \(groups.names[field]?[key] ?? key)", members[key]!)
            }
        }

        let query = TaxonomyQuery(store: store)
        var row: [Int64: Int] = [:]
        for (i, id) in t.ids.enumerated() { row[id] = i }
        for taxonomy in (try? query.list()) ?? [] {
            guard let labels = try? query.labels(taxonomy: taxonomy.name) else { continue }
            for label in labels.taxonomy.labels {
                add("\(taxonomy.name) - \(label)", labels.tracks(labelled: label).compactMap { row[labels.trackIDs[$0]] })
            }
        }

        var byPath: [ExactPath: Int] = [:]
        for (i, p) in t.paths.enumerated() { byPath[ExactPath(p)] = i }
        for listed in settings.moreLike {
            guard let r = byPath[ExactPath(FilePath.normalize(listed))] else {
                notes.append("\(listed): not an analysed track, no \"More like\" playlist")
                continue
            }
            let subject = SimilarTracks.subject(row: r, of: index)
            let near = SimilarTracks.nearest(to: subject, in: index, count: max(1, settings.maxSize - 1), sameAlbum: true).map(\.index)
            let name = Playlist.displayName(path: t.paths[r], title: t.titles[r], artist: t.artists[r])
            let title = "More like \(name)"
            out.append(PlannedPlaylist(title: title, fileName: fileName(title), entries: entries(index.smoothOrder([r] + near, from: r))))
        }
        // Two titles may make one file name ("Genre - Rock" from a taxonomy named Genre, say):
        // the later ones are numbered, so no file is written twice in a run.
        var taken = Set<ExactPath>()
        for i in out.indices {
            var name = out[i].fileName, n = 2
            while !taken.insert(ExactPath(name.lowercased())).inserted {
                name = fileName("\(out[i].title) (\(n))")
                n += 1
            }
            out[i].fileName = name
        }
        return Plan(playlists: out, notes: notes)
    }

    /// A file name for a title: `/` and control characters become `-`, a leading `.` is dropped.
    static func fileName(_ title: String) -> String {
        var name = String(title.unicodeScalars.map { $0 == "/" || $0.value < 0x20 ? "-" : Character($0) })
        while name.hasPrefix(".") { name.removeFirst() }
        return (name.isEmpty ? "playlist" : name) + ".m3u8"
    }
}
