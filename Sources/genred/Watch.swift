import ArgumentParser
import Foundation
import GenredKit

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep folders analysed and tagged as files come and go (the daemon).",
        discussion: """
            Runs in the foreground; systemd supervises it (see docs/operations.md). Files copied, moved, \
            renamed or deleted under the roots are noticed through inotify. A new or changed file is \
            analysed once its size and modification time have settled ([watch] settle_seconds), and \
            tagged with the same policy and safety as `genred retag`. Moves and renames keep their \
            analysis. Work waits in the database, so a stop, crash or reboot loses nothing; on start \
            the database is reconciled with the disk, and a periodic rescan ([watch] rescan_interval) \
            backs the watcher up.

            Signals: SIGTERM/SIGINT stop between two files (a tag write is never interrupted); SIGHUP \
            reloads the config file; SIGUSR1 forces a rescan.
            """
    )

    @OptionGroup var library: LibraryOptions

    @OptionGroup var precision: PrecisionOption

    @Argument(help: "Folders to watch; they replace the roots in the config file.")
    var roots: [String] = []

    @Flag(name: .customLong("check-roots"), help: "Only say whether there are folders to watch: exit 0 if so, 1 if not (genred.service's ExecCondition, so that the unit stays inactive until roots are set).")
    var checkRoots = false

    func run() throws {
        var config = try library.loadConfiguration()
        config.precision = try precision.resolve(config)
        if checkRoots {
            guard roots.isEmpty && config.roots.isEmpty else { return }
            throw CommandFailure(config.source ?? "config", "no folders to watch: name them in [library] roots of \(config.source ?? "the config file"), then start the daemon again", status: 1)
        }
        var options = Daemon.Options(
            configuration: config, configPath: library.config ?? config.source,
            rootsOverride: roots.isEmpty ? nil : roots, databasePath: library.databasePath(config))
        options.precisionOverride = self.precision.precision == nil ? nil : config.precision
        let daemon = Daemon(options: options)
        let status: Int32
        status = try daemon.run()
        throw ExitCode(status)
    }
}
