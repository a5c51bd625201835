import ArgumentParser
import Foundation
import GenredKit

struct Similar: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List tracks that sound like a track, or like a few labels.",
        discussion: """
            Nearest neighbours by cosine distance between the tracks' embeddings (the model's \
            200-d penultimate layer averaged over the track), over the tracks in the library \
            database. TRACK is a file (analysed on the fly if it is not in the database) or a \
            track id. Each result names the labels both tracks score highly on.

            --like "jazz, mellow" ranks tracks by how well their probabilities match those labels \
            instead. By default tracks from the query's own album are left out.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Argument(help: "A file or a track id (omit with --like).")
    var track: String?

    @Option(name: .customShort("n"), help: "How many tracks to list.")
    var count = 10

    @Flag(inversion: .prefixedNo, help: "Include tracks from the query's album.")
    var sameAlbum = false

    @Option(name: .long, help: ArgumentHelp("Only consider tracks under this folder.", valueName: "dir"))
    var under: String?

    @Option(name: .long, help: ArgumentHelp("Labels to match instead of a track, comma-separated (labels or display names).", valueName: "labels"))
    var like: String?

    @Option(name: .long, help: "Model whose analyses to use (default: from the config, else msd-musicnn).")
    var model: String?

    @Flag(name: .long, help: "One JSON object per result per line.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Also write the results as an M3U playlist.", valueName: "file"))
    var m3u: String?

    func validate() throws {
        if (track == nil) == (like == nil) { throw ValidationError("give a TRACK or --like LABELS (one of them)") }
        if count < 1 { throw ValidationError("-n must be at least 1") }
    }

    func run() throws {
        let config = try library.loadConfiguration()
        let store = try library.openStore(config)
        let bundle = try loadBundle(model ?? config.model)
        let underPath = under.map { FilePath.normalize($0) }
        let index: SimilarityIndex
        do {
            index = SimilarityIndex(tracks: try store.vectors(model: bundle.name, under: underPath),
                                    labels: bundle.labels, displayNames: bundle.manifest.displayNames)
        } catch {
            printError("genred: \(error)")
            throw ExitCode(2)
        }
        if index.tracks.count == 0 {
            printError("genred: no analysed tracks\(underPath.map { " under \($0)" } ?? "") for model \(bundle.name): run `genred retag FOLDER` first")
            throw ExitCode(1)
        }

        let matches: [SimilarityIndex.Match]
        var header: String
        if let like {
            let (found, unknown) = index.labelIndices(like.split(separator: ",").map(String.init))
            if !unknown.isEmpty {
                printError("genred: unknown label(s): \(unknown.joined(separator: ", ")) (labels: \(bundle.manifest.displayNames.joined(separator: ", ")))")
                throw ExitCode(2)
            }
            matches = index.like(labels: found, count: count)
            header = "Tracks like: " + found.map { bundle.manifest.displayNames[$0] }.joined(separator: ", ")
        } else {
            let query = try resolve(track!, store: store, bundle: bundle)
            let album = sameAlbum ? nil : query.album?.lowercased()
            let tracks = index.tracks
            matches = index.nearest(to: query.embedding, scores: query.scores, count: count) { i in
                tracks.ids[i] != query.id && tracks.paths[i] != query.path
                    && (album == nil || tracks.albums[i]?.lowercased() != album)
            }
            header = "Similar to: \(query.path)" + describe(artist: query.artist, title: query.title).map { " (\($0))" }.orEmpty
        }

        if !json { print(header) }
        let t = index.tracks
        for (rank, m) in matches.enumerated() {
            let reason = m.shared.isEmpty ? "" : "shared: " + m.shared.joined(separator: ", ")
            if json {
                var fields: [(String, JSONLine.Value)] = [
                    ("rank", .int(rank + 1)), ("id", .int(Int(t.ids[m.index]))), ("path", .string(t.paths[m.index])),
                    ("distance", .float(m.distance)), ("reason", .string(reason)),
                    ("shared", .array(m.shared.map { .string($0) })),
                ]
                if let title = t.titles[m.index] { fields.append(("title", .string(title))) }
                if let artist = t.artists[m.index] { fields.append(("artist", .string(artist))) }
                if let album = t.albums[m.index] { fields.append(("album", .string(album))) }
                print(JSONLine.object(fields))
            } else {
                let who = describe(artist: t.artists[m.index], title: t.titles[m.index]).map { "  \($0)" }.orEmpty
                print(String(format: "%3d. %.3f  ", rank + 1, m.distance) + t.paths[m.index] + who + (reason.isEmpty ? "" : "  (\(reason))"))
            }
        }
        if matches.isEmpty && !json { print("  (no other tracks to compare with)") }
        if let m3u { try writePlaylist(m3u, matches: matches, tracks: t) }
    }

    struct Query {
        var id: Int64?
        var path: String
        var title, artist, album: String?
        var embedding: [Float]
        var scores: [Float]
    }

    private func resolve(_ argument: String, store: LibraryStore, bundle: ModelBundle) throws -> Query {
        let fm = FileManager.default
        var record: TrackRecord?
        var path = FilePath.normalize(argument)
        if fm.fileExists(atPath: path) {
            record = try store.track(path: path)
        } else if let id = Int64(argument), let byID = try store.track(id: id) {
            record = byID
            path = byID.path
        } else {
            printError("genred: \(argument): no such file, and no track with that id")
            throw ExitCode(2)
        }
        if let record, let id = record.id, let analysis = try store.analysis(trackID: id, model: bundle.name) {
            return Query(id: id, path: path, title: record.title, artist: record.artist, album: record.album,
                         embedding: analysis.embeddingVector, scores: analysis.meanScores)
        }
        // Not in the database: analyse it now (nothing is stored).
        do {
            let a = try Analyzer(bundle: bundle).analyze(path)
            return Query(id: nil, path: path, embedding: a.embedding, scores: a.mean)
        } catch {
            printError("genred: \(error)")
            throw ExitCode(1)
        }
    }

    private func describe(artist: String?, title: String?) -> String? {
        switch (artist, title) {
        case let (a?, t?): "\(a) - \(t)"
        case let (nil, t?): t
        case let (a?, nil): a
        default: nil
        }
    }

    private func writePlaylist(_ file: String, matches: [SimilarityIndex.Match], tracks t: LibraryStore.TrackVectors) throws {
        var text = "#EXTM3U\n"
        for m in matches {
            let seconds = t.durations[m.index].map { Int($0.rounded()) } ?? -1
            let name = describe(artist: t.artists[m.index], title: t.titles[m.index]) ?? FilePath.display(FilePath.lastComponent(t.paths[m.index]))
            text += "#EXTINF:\(seconds),\(name)\n\(t.paths[m.index])\n"
        }
        // The listed paths keep their exact bytes, so a player opens the files.
        if let failure = PathIO.writeText(text, to: file) {
            printError("genred: cannot write \(file): \(failure)")
            throw ExitCode(1)
        }
    }
}

extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}
