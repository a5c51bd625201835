import ArgumentParser
import Foundation
import GenredKit

struct Playlists: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write .m3u8 playlists of genres, moods and similar tracks into the music folder.",
        discussion: """
            Writes one playlist per genre and per mood that at least [playlists] min_size tracks \
            have, one per label of each taxonomy learned with `genred learn`, and a "More like" \
            playlist for each track in [playlists] more_like, into the folder [playlists] folder \
            (or --folder). Each holds at most max_size tracks, in a smooth sonic order: from \
            the track farthest from the group's centre, each next track is the one nearest to \
            the track before it. Paths are relative to the folder with each name's exact bytes, \
            so Navidrome and MPD find the files when the folder is inside their music folder \
            (docs/players.md says where Jellyfin and Plex take them from).

            Every file genred writes carries a `# genred:` line; a playlist without it is never \
            rewritten or removed. A file is rewritten only when its content changes, atomically \
            (a temporary file, flushed, renamed over it). genred's own playlists that are no \
            longer called for are removed. With [playlists] enabled = true, `genred watch` keeps \
            them up to date as the library changes.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Option(name: .long, help: ArgumentHelp("The playlists' folder (default: [playlists] folder in the config).", valueName: "dir"))
    var folder: String?

    @Flag(name: .long, help: "Say what would be written or removed, and change nothing.")
    var dryRun = false

    @Option(name: .long, help: "Model whose analyses to use (default: from the config, else msd-musicnn).")
    var model: String?

    func run() throws {
        let config = try library.loadConfiguration()
        guard let dir = folder.map({ FilePath.normalize($0) }) ?? config.playlists.folder else {
            throw CommandFailure("playlists", "no playlists folder: give --folder DIR or set folder in [playlists] of the config", status: 2)
        }
        let store = try library.openStore(config)
        let bundle = try loadBundle(model ?? config.model)
        let plan = try PlaylistPlanner.plan(store: store, manifest: bundle.manifest, tags: config.tags, settings: config.playlists)
        for note in plan.notes { printError("genred: \(note)") }
        let outcome = try PlaylistWriter(folder: dir).update(plan.playlists, dryRun: dryRun)
        let verb = dryRun ? "would write" : "wrote"
        for path in outcome.written { print("\(verb) \(path)") }
        for path in outcome.removed { print("\(dryRun ? "would remove" : "removed") \(path)") }
        for path in outcome.foreign { printError("genred: \(path): not made by genred (no \"\(PlaylistWriter.marker)\" line), left alone") }
        print("\(outcome.written.count) \(verb), \(outcome.unchanged.count) unchanged, \(outcome.removed.count) \(dryRun ? "to remove" : "removed"), \(outcome.foreign.count) left alone")
    }
}
