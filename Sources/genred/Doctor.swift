import ArgumentParser
import Foundation
import GenredKit

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the installation and say what to fix.",
        discussion: """
            Reads, and changes nothing: the config file (every unknown setting named), the model \
            bundles (their weights' SHA-256 verified), the library database (opened read-only: \
            integrity, schema version, free disk), each root (exists, readable, tags writable by \
            this user, other file systems inside it), the inotify limits against the number of \
            folders under the roots (with the sysctl line that raises them), the BLAS kernels \
            chosen for this CPU and why, and the genred.service unit where systemd runs.

            Run it as the user the daemon runs as (for the system service: \
            `sudo -u genred genred doctor --config /etc/genred/genred.toml`), since write access \
            and inotify limits are per user.

            Exit status: 0 when there is nothing to fix, 1 when a problem was found. --json prints \
            one object: ok, problems (a count) and checks, a list of {area, status (ok, note or \
            problem), detail, fix}.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("The systemd unit to report on.", valueName: "unit"))
    var unit = "genred.service"

    func run() throws {
        var doctor = GenredKit.Doctor(configPath: library.config, storeOverride: library.store ?? library.db)
        doctor.unit = unit
        let checks = doctor.run()
        let problems = checks.filter { $0.status == .problem }.count
        if json {
            let object: [String: Any] = ["ok": problems == 0, "problems": problems, "checks": checks.map(\.jsonObject)]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(JSONText.escapingCarriedBytes(String(decoding: data, as: UTF8.self)))
        } else {
            for check in checks {
                let mark = switch check.status {
                case .ok: "ok     "
                case .note: "note   "
                case .problem: "PROBLEM"
                }
                print("\(mark)  \(check.area.padding(toLength: 9, withPad: " ", startingAt: 0))\(check.detail)")
                if let fix = check.fix { print("         \("".padding(toLength: 9, withPad: " ", startingAt: 0))fix: \(fix)") }
            }
            print(problems == 0 ? "nothing to fix" : "\(problems) problem\(problems == 1 ? "" : "s") to fix")
        }
        if problems > 0 { throw ExitCode(1) }
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the library database up to this version's schema.",
        discussion: """
            Any command that writes to the database does this on its way; this command does only \
            that, and says what it did. The Debian package runs it after an upgrade, as the \
            database's owner. A database written by a newer genred is refused and left untouched \
            (exit status 2).
            """
    )

    @OptionGroup var library: LibraryOptions

    func run() throws {
        let config = try library.loadConfiguration()
        let path = library.databasePath(config)
        guard StoreLocation(path).exists else {
            print("\(StoreLocation(path)): no database yet; nothing to migrate")
            return
        }
        let before = try? LibraryStore(path: path, readOnly: true).schemaVersion()
        let store = try LibraryStore(path: path)
        let after = try store.schemaVersion() ?? "none"
        if before == after {
            print("\(store.display): schema \(after), up to date")
        } else {
            print("\(store.display): schema \(before ?? "older") -> \(after)")
        }
    }
}
