import ArgumentParser
import Foundation
import GenredKit

struct Retag: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse a folder and write genre and mood tags into its files.",
        discussion: """
            Scans the folders for audio (recognised by content; hidden files and partial downloads are \
            skipped), analyses what is new or changed since the last run, keeps the results in the \
            library database, and writes genre and mood tags as separate values.

            By default only empty fields are filled: a genre somebody set by hand is left alone. \
            --merge adds genred's values to those already there; --overwrite replaces them. Every \
            write is verified (other tags and the audio unchanged; otherwise the original bytes are \
            restored) and journaled, so `genred undo` can put the previous values back.

            Which genres are written is set in the config file ([tags]: thresholds, counts, and a \
            map that renames, merges or drops labels). Taxonomies learned with `genred learn` \
            ([tags] taxonomies, or --taxonomy) add their label, or nothing where they abstain, to the \
            genre field or to the field [tags] taxonomy_field names.

            Safety: each write is recorded before the file is touched, so a crash or a kill at any \
            moment is settled by the next command that writes (the file is journaled if the write \
            finished, put back from its backup otherwise). Ctrl-C or SIGTERM stop after the file in \
            progress; run the command again to continue. Tracks whose tags `genred undo` put back \
            are left alone unless --rewrite-undone is given.

            Exit status: 0 when every file is fine, 1 when some failed (listed at the end), 2 when \
            the run could not start, 130 when interrupted.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Flag(name: .long, help: "Analyse and show 'existing -> proposed' per file; change no file and no journal.")
    var dryRun = false

    @Flag(name: .long, help: "Add genred's values to fields that already have values.")
    var merge = false

    @Flag(name: .long, help: "Replace existing values.")
    var overwrite = false

    @Flag(name: .long, help: "Do not write moods.")
    var noMoods = false

    @Option(name: .long, help: "Model bundle name or directory (default: from the config, else msd-musicnn).")
    var model: String?

    @Option(name: .long, help: "Files analysed at once (default: one per core).")
    var jobs: Int?

    @OptionGroup var precision: PrecisionOption

    @Option(name: .long, help: ArgumentHelp("Also write the labels of this taxonomy (learned with genred learn), beside [tags] taxonomies of the config; repeatable.", valueName: "name"))
    var taxonomy: [String] = []

    @Flag(name: .long, help: "Also write tags on tracks whose genred tags were put back by `genred undo` (left alone otherwise).")
    var rewriteUndone = false

    @Argument(help: "Folders (or files) to retag.")
    var folders: [String]

    func validate() throws {
        if merge && overwrite { throw ValidationError("--merge and --overwrite exclude each other") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        var config = try library.loadConfiguration()
        if merge { config.tags.policy = .merge }
        if overwrite { config.tags.policy = .overwrite }
        if noMoods { config.tags.moods = false }
        if let model { config.model = model }
        if let jobs { config.jobs = jobs }
        config.precision = try precision.resolve(config)
        for name in taxonomy where !config.tags.taxonomies.contains(name) { config.tags.taxonomies.append(name) }

        let bundle = try loadBundle(config.model)
        let store = try library.openStore(config)
        var options = RetagOptions(backupDirectory: library.backupDirectory(config))
        options.dryRun = dryRun
        options.jobs = config.jobs
        options.precision = config.precision
        options.settings = config.tags
        options.rewriteHeld = rewriteUndone
        let stop = stopBetweenFiles()
        options.shouldStop = { stop.isRequested }
        let retagger: Retagger
        retagger = try Retagger(store: store, bundle: bundle, options: options)

        var bar: ProgressBar?
        let terminal = standardErrorIsTerminal
        let summary: RetagSummary
        do {
            summary = try retagger.run(roots: folders) { event in
                switch event {
                case .scanned(_, let pending, _):
                    if terminal { bar = ProgressBar(total: pending) }
                case .started:
                    break
                case .recovered(let recovery):
                    printRecovery(recovery)
                case .finished(let report):
                    bar?.clear()
                    describe(report, toTerminal: terminal)
                    bar?.advance(current: report.path)
                }
            }
        } catch {
            bar?.clear()
            throw CommandFailure(error, status: 2)
        }
        bar?.clear()
        printSummary(summary)
        if summary.interrupted {
            printError("genred: interrupted; \(summary.notReached) file(s) not reached. Run the same command again to continue.")
            throw ExitCode(130)
        }
        if summary.failed > 0 { throw ExitCode(1) }
    }

    private func describe(_ r: FileReport, toTerminal terminal: Bool) {
        if let error = r.error {
            printError("failed  \(r.path): \(error)")
            return
        }
        switch r.tagging {
        case .wouldWrite(let changes):
            print(r.path)
            for (field, change) in changes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                let existing = change.existing.isEmpty ? "(empty)" : change.existing.joined(separator: ", ")
                print("  \(field.rawValue): \(existing) -> \(change.new.joined(separator: ", "))")
            }
        case .written(let changes) where !terminal:
            let values = changes.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key.rawValue)=\($0.value.new.joined(separator: ", "))" }.joined(separator: "; ")
            printError("tagged  \(r.path): \(values)")
        case .leftAlone where !terminal:
            printError("kept    \(r.path): already tagged")
        case .damaged(let why):
            printError("damaged \(r.path): \(why); analysed from what decodes, tags left alone")
        default:
            if !terminal { printError("\(r.analysed ? "analysed" : "checked ") \(r.path)") }
        }
    }

    private func printSummary(_ s: RetagSummary) {
        var parts = ["\(s.analysed) analysed", "\(s.upToDate) up to date"]
        parts.append(dryRun ? "\(s.tagged) would be tagged" : "\(s.tagged) tagged")
        parts.append("\(s.leftAlone) left alone (already tagged)")
        if s.held > 0 { parts.append("\(s.held) kept as undone (--rewrite-undone writes them)") }
        if s.damaged > 0 { parts.append("\(s.damaged) damaged, tags left alone ([tags] write_damaged)") }
        if s.moved > 0 { parts.append("\(s.moved) moved") }
        if s.unsupported > 0 { parts.append("\(s.unsupported) in formats genred does not read") }
        parts.append("\(s.failed) failed")
        print("\(s.files) files: " + parts.joined(separator: ", ") + (s.runID.map { " (run \($0))" } ?? ""))
        if !s.failures.isEmpty {
            print("failed:")
            for f in s.failures { print("  \(f.path): \(f.reason)") }
        }
    }
}
