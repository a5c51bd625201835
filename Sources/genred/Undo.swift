import ArgumentParser
import Foundation
import GenredKit

struct Undo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put back the tag values genred replaced.",
        discussion: """
            Uses the tag journal: each write genred made records the previous values of the fields it \
            touched. Writes are undone newest first, and follow a file that was moved or renamed since. \
            A file whose genred-written fields changed since (edited by hand or by another tool) is \
            left alone and reported.

            Each undo is itself a verified, journaled write. The tracks it restores are then held: \
            `genred watch` and `genred retag` leave their tags alone until `genred retag \
            --rewrite-undone` is run. Ctrl-C or SIGTERM stop after the file in progress.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Option(name: .customLong("run"), help: ArgumentHelp("Undo the writes of one run (its id is printed at the end of `genred retag`).", valueName: "id"))
    var runID: Int64?

    @Option(name: .long, help: "Undo genred's writes to one file.")
    var file: String?

    @Flag(name: .long, help: "Undo every write genred has made.")
    var all = false

    @Flag(name: .long, help: "Show what would be restored; change nothing.")
    var dryRun = false

    func validate() throws {
        if [runID != nil, file != nil, all].filter({ $0 }).count != 1 {
            throw ValidationError("give exactly one of --run ID, --file PATH or --all")
        }
    }

    func run() throws {
        let config = try library.loadConfiguration()
        let store = try library.openStore(config)
        var writer = TagWriter(id3v23Separator: config.tags.id3v23Separator, backupDirectory: library.backupDirectory(config))
        // Undo puts back what genred wrote, damaged files included; the audio must still be unchanged.
        writer.allowsDamagedAudio = true
        let selection: Undoer.Selection = runID.map { .run($0) } ?? file.map { .file($0) } ?? .all
        var failed = 0, restored = 0, skipped = 0
        let stop = stopBetweenFiles()
        _ = try Undoer(store: store, writer: writer).undo(
            selection, dryRun: dryRun, shouldStop: { stop.isRequested }, recovered: printRecovery
        ) { outcome in
            if let error = outcome.error {
                failed += 1
                printError("failed  \(outcome.path): \(error)")
            } else if let why = outcome.skipped {
                skipped += 1
                printError("skipped \(outcome.path): \(why)")
            } else {
                restored += 1
                print(outcome.path)
                for (field, change) in outcome.restored.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                    let back = change.new.isEmpty ? "(empty)" : change.new.joined(separator: ", ")
                    print("  \(field.rawValue): \(change.existing.joined(separator: ", ")) -> \(back)")
                }
            }
        }
        print("\(restored) \(dryRun ? "would be restored" : "restored"), \(skipped) left alone (changed since), \(failed) failed")
        if stop.isRequested {
            printError("genred: interrupted; run the same command again to undo the rest")
            throw ExitCode(130)
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
