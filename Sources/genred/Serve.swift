import ArgumentParser
import Foundation
import GenredKit
import GenredServer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the library over HTTP: a JSON API, sonic similarity for media servers, and a web app.",
        discussion: """
            Opens the library database read-only (a daemon may run beside it) and answers on \
            http://HOST:PORT: the web app at /, the API under /api/ (see docs/serve.md). Listens on \
            127.0.0.1 unless told otherwise; any other address needs a token, which every /api/ \
            request must then carry as `Authorization: Bearer TOKEN`. Prefer GENRED_SERVE_TOKEN to \
            --token, which other users can read in the process list. Port 0 takes a free port; the \
            line `listening on http://...` on standard output says which.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Option(name: .long, help: ArgumentHelp("Address to listen on (default 127.0.0.1:8680).", valueName: "host:port"))
    var listen: String = ListenAddress.default.description

    @Option(name: .long, help: ArgumentHelp("Require this bearer token on /api/ requests (default: $GENRED_SERVE_TOKEN).", valueName: "token"))
    var token: String?

    @Option(name: .long, help: "Model whose analyses to serve (default: from the config, else msd-musicnn).")
    var model: String?

    func validate() throws {
        if ListenAddress(parsing: listen) == nil { throw ValidationError("--listen wants HOST:PORT, such as 127.0.0.1:8680 or [::1]:8680") }
    }

    func run() throws {
        let config = try library.loadConfiguration()
        var settings = LibraryServer.Settings(databasePath: library.databasePath(config))
        settings.address = ListenAddress(parsing: listen)!
        settings.token = token ?? ProcessInfo.processInfo.environment["GENRED_SERVE_TOKEN"]
        let bundle = try loadBundle(model ?? config.model)
        settings.groups = bundle.manifest.groups
        settings.map = config.map
        // Refuse an open address before touching the database.
        if !settings.address.isLoopback && (settings.token ?? "").isEmpty {
            throw CommandFailure(settings.address.description, "refusing to listen on \(settings.address): an address other machines can reach needs a token (--token or GENRED_SERVE_TOKEN)", status: 2)
        }
        let store: LibraryStore
        store = try LibraryStore(path: settings.databasePath, readOnly: true)
        let query = LibraryQuery(store: store, manifest: bundle.manifest, settings: config.tags)
        let tracks: Int
        tracks = try query.snapshot().count
        let server: LibraryServer
        server = try LibraryServer(settings: settings, query: query)
        let facts = "\(tracks) analysed tracks, model \(bundle.name), store \(FilePath.display(StoreLocation(settings.databasePath).description))"
            + (settings.token == nil ? "" : ", token required")
        do {
            try server.runBlocking { address in
                // Unbuffered: whoever started the server may be waiting for this line on a pipe.
                FileHandle.standardOutput.write(Data("listening on http://\(address) (\(facts))\n".utf8))
            }
        } catch {
            throw CommandFailure(settings.address.description, "cannot serve on \(settings.address): \(error)", status: 1)
        }
    }
}
