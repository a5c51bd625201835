import ArgumentParser
import Foundation
import GenredKit

/// MPD's address, password and music directory: the command line over `[mpd]` over the environment.
struct MPDOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("MPD's address: HOST:PORT, HOST, or a unix socket's path (default: [mpd] address in the config, else $MPD_HOST, else $XDG_RUNTIME_DIR/mpd/socket, else localhost:6600).", valueName: "address"))
    var mpd: String?

    @Option(name: .long, help: ArgumentHelp("MPD's password (default: [mpd] password, else the password@ part of $MPD_HOST).", valueName: "password"))
    var password: String?

    @Option(name: .long, help: ArgumentHelp("The folder MPD's paths are relative to, as genred sees it (default: [mpd] music_directory, else asked from MPD over its unix socket).", valueName: "dir"))
    var musicDirectory: String?

    func resolve(_ config: Configuration) throws -> (address: MPDAddress, password: String?, musicDirectory: String?) {
        var password = password ?? config.mpd.password
        let address: MPDAddress
        do {
            if let text = mpd ?? config.mpd.address {
                address = try MPDAddress(parsing: text)
            } else {
                let (a, p) = try MPDAddress.fromEnvironment()
                address = a
                password = password ?? p
            }
        } catch {
            throw CommandFailure(error, status: 2)
        }
        return (address, password, musicDirectory.map { FilePath.normalize($0) } ?? config.mpd.musicDirectory)
    }
}

struct Radio: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep MPD's queue going with tracks that sound like the last ones.",
        discussion: """
            genred radio is an MPD client. It waits on MPD's idle command for the queue or the \
            player to change; whenever fewer than --keep tracks are left after the current one, \
            it appends tracks that sound like the queue's last --seed tracks (the nearest to the \
            mean of their embeddings). It leaves out the artists of the last --artist-gap tracks \
            and the albums of the last --album-gap (unless too few tracks would be left), never \
            appends a track again within --no-repeat-within tracks, and may keep to one genre, \
            mood or taxonomy label. It only ever appends to the queue, and waits a moment after \
            someone else changed it.

            MPD's paths are matched to genred's tracks by their exact bytes below MPD's \
            music_directory, which MPD tells over its unix socket; over TCP give it with \
            --music-directory or [mpd] music_directory. A track genred has not analysed is \
            skipped with one log line. When MPD goes away genred radio reconnects with backoff \
            (0.5 s doubling to 30 s); SIGINT or SIGTERM stop it. --once fills the queue once \
            and exits; --path A B --length N appends a sonic path from A to B and exits.
            """
    )

    @OptionGroup var library: LibraryOptions
    @OptionGroup var mpdOptions: MPDOptions

    @Option(name: .long, help: "Keep at least this many tracks queued after the current one.")
    var keep = 5

    @Option(name: .long, help: "How many of the queue's last tracks the new ones should sound like.")
    var seed = 3

    @Option(name: .long, help: ArgumentHelp("Leave out the artists of the queue's last M tracks.", valueName: "M"))
    var artistGap = 3

    @Option(name: .long, help: ArgumentHelp("Leave out the albums of the queue's last M tracks.", valueName: "M"))
    var albumGap = 5

    @Option(name: .long, help: ArgumentHelp("Never append a track that is among the queue's last W tracks, or the last W this radio appended.", valueName: "W"))
    var noRepeatWithin = 100

    @Option(name: .long, help: ArgumentHelp("Only append tracks genred tags with this genre.", valueName: "genre"))
    var genre: String?

    @Option(name: .long, help: ArgumentHelp("Only append tracks genred finds this mood in.", valueName: "mood"))
    var mood: String?

    @Option(name: .long, help: ArgumentHelp("Only append tracks a taxonomy (genred learn) gives a label, as NAME:LABEL.", valueName: "name:label"))
    var like: String?

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Append a sonic path from track A to track B (files, MPD paths or track ids), A first and B last, then exit.", valueName: "A B"))
    var path: [String] = []

    @Option(name: .long, help: "How many tracks the --path has, A and B included.")
    var length = 10

    @Flag(name: .long, help: "Fill the queue once and exit.")
    var once = false

    @Option(name: .long, help: "Model whose analyses to use (default: from the config, else msd-musicnn).")
    var model: String?

    func validate() throws {
        if keep < 1 { throw ValidationError("--keep must be at least 1") }
        if seed < 1 { throw ValidationError("--seed must be at least 1") }
        if artistGap < 0 || albumGap < 0 || noRepeatWithin < 0 { throw ValidationError("--artist-gap, --album-gap and --no-repeat-within must not be negative") }
        if [genre, mood, like].compactMap({ $0 }).count > 1 { throw ValidationError("give at most one of --genre, --mood and --like") }
        if !path.isEmpty && path.count != 2 { throw ValidationError("--path takes two tracks, A and B") }
        if !path.isEmpty && length < 2 { throw ValidationError("--length must be at least 2 (A and B)") }
    }

    func run() throws {
        let config = try library.loadConfiguration()
        Log.threshold = config.watch.logLevel
        let store = try library.openStore(config)
        let bundle = try loadBundle(model ?? config.model)
        let (address, password, musicDirectory) = try mpdOptions.resolve(config)
        var options = RadioOptions()
        options.keep = keep
        options.seed = seed
        options.artistGap = artistGap
        options.albumGap = albumGap
        options.noRepeatWithin = noRepeatWithin
        if let genre { options.filter = .genre(genre) }
        if let mood { options.filter = .mood(mood) }
        if let like {
            let names = ((try? TaxonomyQuery(store: store).list()) ?? []).map(\.name)
            guard let (name, label) = SimilarTracks.taxonomyLabel(like, taxonomies: names) else {
                throw CommandFailure(like, "--like \(like): not NAME:LABEL of a taxonomy (genred learn list shows them)", status: 2)
            }
            options.filter = .taxonomy(name: name, label: label)
        }
        let radio = GenredKit.Radio(address: address, password: password, musicDirectory: musicDirectory, store: store,
                                    manifest: bundle.manifest, settings: config.tags, options: options)
        do {
            if path.count == 2 {
                let connection = try radio.connect()
                let added = try radio.appendPath(from: path[0], to: path[1], length: length, connection: connection)
                printError("genred radio: appended \(added) tracks from \(path[0]) to \(path[1])")
            } else if once {
                let connection = try radio.connect()
                let added = try radio.fill(connection)
                printError("genred radio: appended \(added) tracks")
            } else {
                let stop = StopRequest { _, _ in }
                defer { stop.cancel() }
                try radio.run { stop.isRequested }
                Log.info("radio: stopped")
            }
        } catch let error as QueryError {
            throw CommandFailure(error, status: 2)
        }
    }
}
