import ArgumentParser
import Foundation
import GenredKit

/// Options every command that uses the library database shares.
struct LibraryOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Config file (default: $XDG_CONFIG_HOME/genred/genred.toml, then /etc/genred/genred.toml).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Library database (default: $XDG_DATA_HOME/genred/library.sqlite; $STATE_DIRECTORY under systemd).", valueName: "path"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("The store: a SQLite file like --db, or a PostgreSQL server shared with `genred worker`s, postgresql://user@host/db or postgresql://user@/db?host=/run/postgresql (default: [library] store in the config, else --db's default).", valueName: "path|url"))
    var store: String?

    func validate() throws {
        if db != nil && store != nil { throw ValidationError("give --store or --db, not both") }
    }

    func loadConfiguration() throws -> Configuration {
        return try Configuration.load(explicit: config)
    }

    func databasePath(_ configuration: Configuration) -> String {
        store ?? db ?? configuration.database ?? LibraryStore.defaultPath()
    }

    func openStore(_ configuration: Configuration) throws -> LibraryStore {
        return try LibraryStore(path: databasePath(configuration))
    }

    /// Whether a store was named on the command line.
    var named: Bool { db != nil || store != nil }

    /// Where the tag writer keeps originals until a write is verified: beside a SQLite database;
    /// for a PostgreSQL store, in this machine's data folder (backups never leave the machine).
    func backupDirectory(_ configuration: Configuration) -> URL {
        StoreLocation(databasePath(configuration)).backupDirectory()
    }
}

/// `--precision` of the commands that analyse (analyze, retag, watch, worker).
struct PrecisionOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The network's number format: fp32 (the reference, bit for bit) or bf16 (split bfloat16: agrees with fp32 on real music, and runs only where the CPU has native bf16 and it is faster than fp32 there; elsewhere fp32 runs and a log line says why). Default: [analysis] precision in the config, else fp32.", valueName: "fp32|bf16"))
    var precision: String?

    func validate() throws {
        if let precision { _ = try Configuration.precision(precision) { ValidationError("--precision: \($0)") } }
    }

    /// The precision asked for: the option, else the config's (read only when there is no option).
    func resolve(_ configuration: @autoclosure () throws -> Configuration) throws -> Precision {
        guard let precision else { return try configuration().precision }
        return try Configuration.precision(precision) { ValidationError("--precision: \($0)") }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM stop a command that writes tags between two files: the write
/// in progress always finishes, however often they come.
func stopBetweenFiles() -> StopRequest {
    StopRequest { _, count in
        if count == 1 {
            printError("\ngenred: stopping after the file in progress (a tag write is never cut short)...")
        } else {
            printError("genred: still finishing the file in progress; stopping right after it")
        }
    }
}

/// One line about a write an earlier, interrupted run left unfinished.
func printRecovery(_ r: JournaledTagWriter.Recovery) {
    let verb = switch r.action {
    case .untouched, .journaled: "settled "
    case .restored: "restored"
    case .stuck: "stuck   "
    }
    printError("\(verb) \(r.path): \(r.summary)")
}

func loadBundle(_ name: String) throws -> ModelBundle {
    return try ModelBundle.load(name)
}

/// A one-line progress bar on a terminal, redrawn in place on standard error.
struct ProgressBar {
    let total: Int
    let start = Date()
    var done = 0
    let width = 24

    mutating func advance(current: String) {
        done += 1
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var name = (current as NSString).lastPathComponent
        if name.count > 40 { name = String(name.prefix(37)) + "..." }
        let line = String(format: "[%@] %d/%d  %.1f files/s  ETA %@  %@", bar, done, total, rate, formatDuration(remaining), name)
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
    }

    func clear() {
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}

var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

extension Precision: ExpressibleByArgument {}

