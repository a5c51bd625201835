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
            instead. --like NAME:LABEL lists the tracks a taxonomy learned with `genred learn` gives \
            LABEL, most probable first (never those where it abstains). By default tracks from the \
            query's own album are left out.

            --mpd-paths prints only the tracks' paths relative to MPD's music directory, one a \
            line with their exact bytes, so that `genred similar TRACK --mpd-paths | mpc add` \
            queues them (tracks outside MPD's music directory are left out).
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

    @Option(name: .long, help: ArgumentHelp("Labels to match instead of a track, comma-separated (labels or display names), or one taxonomy label as NAME:LABEL.", valueName: "labels"))
    var like: String?

    @Option(name: .long, help: "Model whose analyses to use (default: from the config, else msd-musicnn).")
    var model: String?

    @Flag(name: .long, help: "One JSON object per result per line.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Also write the results as an M3U playlist.", valueName: "file"))
    var m3u: String?

    @Flag(name: .long, help: "Print only the paths relative to MPD's music directory, for `mpc add`.")
    var mpdPaths = false

    @OptionGroup var mpdOptions: MPDOptions

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
        index = SimilarityIndex(tracks: try store.vectors(model: bundle.name, under: underPath),
                                labels: bundle.labels, displayNames: bundle.manifest.displayNames)
        if index.tracks.count == 0 {
            throw CommandFailure(bundle.name, "no analysed tracks\(underPath.map { " under \($0)" } ?? "") for model \(bundle.name): run `genred retag FOLDER` first")
        }

        if let like, let (name, label) = SimilarTracks.taxonomyLabel(like, taxonomies: ((try? TaxonomyQuery(store: store).list()) ?? []).map(\.name)) {
            return try likeTaxonomyLabel(name, label, store: store, index: index, under: underPath, config: config)
        }
        let matches: [SimilarityIndex.Match]
        var header: String
        if let like {
            let found: [Int]
            do { (found, matches) = try SimilarTracks.like(like, in: index, count: count) } catch {
                throw CommandFailure(error.subject, "unknown label(s): \(error.subject) (labels: \(bundle.manifest.displayNames.joined(separator: ", ")))", status: 2)
            }
            header = "Tracks like: " + found.map { bundle.manifest.displayNames[$0] }.joined(separator: ", ")
        } else {
            let query = try resolve(track!, store: store, bundle: bundle)
            matches = SimilarTracks.nearest(to: query, in: index, count: count, sameAlbum: sameAlbum)
            header = "Similar to: \(query.path)" + describe(artist: query.artist, title: query.title).map { " (\($0))" }.orEmpty
        }

        let t = index.tracks
        if mpdPaths { return try printMPDPaths(matches.map { t.paths[$0.index] }, config: config) }
        if !json { print(header) }
        for (rank, m) in matches.enumerated() {
            let reason = SimilarTracks.reason(m.shared)
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

    /// `--like NAME:LABEL`: the tracks the taxonomy gives that label, most probable first.
    private func likeTaxonomyLabel(_ name: String, _ label: String, store: LibraryStore, index: SimilarityIndex, under: String?, config: Configuration) throws {
        let matches: [SimilarTracks.TaxonomyMatch]
        do {
            let labels = try TaxonomyQuery(store: store).labels(taxonomy: name)
            matches = try SimilarTracks.like(label: label, in: labels, count: count) { _, path in
                under.map { FilePath.isPath(path, inside: $0) } ?? true
            }
        } catch let error as QueryError {
            throw CommandFailure(error, status: 2)
        } catch {
            throw CommandFailure(error, status: 1)
        }
        if mpdPaths { return try printMPDPaths(matches.map(\.path), config: config) }
        // Titles and artists from the similarity index, where the track is in it.
        let t = index.tracks
        var row: [Int64: Int] = [:]
        for (i, id) in t.ids.enumerated() { row[id] = i }
        if !json { print("Tracks taxonomy \(name) labels \(label):") }
        for (rank, m) in matches.enumerated() {
            let r = row[m.id]
            if json {
                var fields: [(String, JSONLine.Value)] = [
                    ("rank", .int(rank + 1)), ("id", .int(Int(m.id))), ("path", .string(m.path)),
                    ("probability", .float(m.probability)), ("reason", .string("\(name): \(label)")),
                ]
                if let r, let title = t.titles[r] { fields.append(("title", .string(title))) }
                if let r, let artist = t.artists[r] { fields.append(("artist", .string(artist))) }
                if let r, let album = t.albums[r] { fields.append(("album", .string(album))) }
                print(JSONLine.object(fields))
            } else {
                let who = r.flatMap { describe(artist: t.artists[$0], title: t.titles[$0]) }.map { "  \($0)" }.orEmpty
                print(String(format: "%3d. p=%.3f  ", rank + 1, m.probability) + m.path + who)
            }
        }
        if matches.isEmpty && !json { print("  (no track has that label: genred abstains where it is unsure)") }
        if let m3u {
            let text = Playlist.m3u(matches.map { m in
                let r = row[m.id]
                return Playlist.Entry(path: m.path, title: r.flatMap { t.titles[$0] }, artist: r.flatMap { t.artists[$0] },
                                      duration: r.flatMap { t.durations[$0] })
            })
            if let failure = PathIO.writeText(text, to: m3u) {
                throw CommandFailure(m3u, "cannot write \(m3u): \(failure)")
            }
        }
    }

    /// The library's track for a file or id, or the file analysed now; errors as the CLI words them.
    private func resolve(_ argument: String, store: LibraryStore, bundle: ModelBundle) throws -> SimilarTracks.Subject {
        do { return try SimilarTracks.subject(argument, store: store, bundle: bundle) } catch let error as QueryError {
            switch error.reason {
            case .unknownTrack:
                throw CommandFailure(argument, "\(argument): no such file, and no track with that id", status: 2)
            default:
                throw CommandFailure(error, status: 1)
            }
        }
    }

    /// `--mpd-paths`: each path relative to MPD's music directory, its exact bytes, one a line.
    private func printMPDPaths(_ paths: [String], config: Configuration) throws {
        let (address, password, configured) = try mpdOptions.resolve(config)
        var root = configured
        if root == nil {
            do {
                guard address.isLocal else { throw MPDError(address.description, .noMusicDirectory) }
                root = try MPDConnection(address: address, password: password).musicDirectory()
                if root == nil { throw MPDError(address.description, .noMusicDirectory) }
            } catch {
                throw CommandFailure(error, status: 1)
            }
        }
        var out: [UInt8] = []
        var outside = 0
        for path in paths {
            guard let relative = GenredKit.Radio.relative(path, to: root!) else {
                outside += 1
                continue
            }
            out += FilePath.bytes(relative) + [UInt8(ascii: "\n")]
        }
        FileHandle.standardOutput.write(Data(out))
        if outside > 0 { printError("genred: \(outside) of the tracks are outside MPD's music directory \(root!), left out") }
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
        let text = Playlist.m3u(matches.map {
            Playlist.Entry(path: t.paths[$0.index], title: t.titles[$0.index], artist: t.artists[$0.index], duration: t.durations[$0.index])
        })
        // The listed paths keep their exact bytes, so a player opens the files.
        if let failure = PathIO.writeText(text, to: file) {
            throw CommandFailure(file, "cannot write \(file): \(failure)")
        }
    }
}

extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}
