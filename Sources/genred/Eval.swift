import ArgumentParser
import Foundation
import GenredKit

enum EvalAggregateChoice: String, ExpressibleByArgument, CaseIterable {
    case mean, vote, both
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure how well genred's genres agree with labels a person trusts.",
        discussion: """
            SOURCE is a folder with one sub-folder per label (--labels folders: blues/, jazz/, ...), or \
            a collection whose GENRE tags are the labels (--labels tags; files without a genre are \
            skipped and counted). Each dataset label is mapped to model labels: built-in names for the \
            classic genre-dataset labels, a model label of the same name, or a --map file. Labels no \
            model label covers are reported, not guessed.

            A track's prediction is the evaluated class whose model labels score highest: by mean score \
            over the windows (mean), or by majority of the windows, ties going to the higher mean (vote). \
            The report gives confusion matrices, per-class precision and recall, accuracy, top-3 \
            accuracy, the most confused pairs, the misclassified tracks window by window, and a sweep of \
            retag's genre rule (threshold x max genres) with the setting that agrees best at the \
            --coverage target. Analyses in the library database are used when the file is unchanged; \
            nothing is written to the database or to any file's tags.

            Exit status: 0 when done, 1 if some files failed, 2 if nothing could be evaluated or the \
            setup (model, map file, source, database) is wrong. See docs/eval.md.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Option(name: .long, help: "Where the labels come from: folders (one sub-folder per label) or tags (the files' genre tags).")
    var labels: EvalLabelSource = .folders

    @Option(name: .long, help: ArgumentHelp("Label map: lines 'dataset label = model label[, model label...]'.", valueName: "file"))
    var map: String?

    @Option(name: .long, help: "Model bundle name or directory (default: from the config, else msd-musicnn).")
    var model: String?

    @Option(name: .long, help: "Aggregations shown in the plain-text report.")
    var aggregate: EvalAggregateChoice = .both

    @Option(name: .long, help: ArgumentHelp("Coverage the suggested genre rule must reach (0-1).", valueName: "share"))
    var coverage: Double = 0.9

    @Option(name: .long, help: ArgumentHelp("Misclassified tracks detailed in the plain-text report.", valueName: "n"))
    var misclassified: Int = 20

    @Flag(name: .long, help: "Print the report as one JSON object.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Also write one CSV row per track to this file.", valueName: "file"))
    var csv: String?

    @Flag(name: .long, help: "Analyse every file, ignoring the library database.")
    var noDb = false

    @Option(name: .long, help: "Worker threads for inference (default: all cores).")
    var threads: Int?

    @Argument(help: "A folder of label sub-folders, or (with --labels tags) a tagged collection.")
    var source: String

    func validate() throws {
        if !(0...1).contains(coverage) { throw ValidationError("--coverage must be between 0 and 1") }
        if misclassified < 0 { throw ValidationError("--misclassified must be 0 or more") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if noDb && library.db != nil { throw ValidationError("--db and --no-db exclude each other") }
    }

    func run() throws {
        var config = try library.loadConfiguration()
        if let model { config.model = model }
        let bundle = try loadBundle(config.model)

        var labelMap = EvalLabelMap(manifest: bundle.manifest)
        if let map {
            try labelMap.load(file: map)
        }

        // The database is read when named, or when the default one exists; never created here.
        var store: LibraryStore?
        let dbPath = library.databasePath(config)
        if !noDb && (library.named || StoreLocation(dbPath).exists) {
            if library.named && !StoreLocation(dbPath).exists {
                throw CommandFailure(dbPath, "database \(dbPath): no such file", status: 2)
            }
            store = try library.openStore(config)
        }

        let runner = EvalRunner(bundle: bundle, map: labelMap, store: store,
                                threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        runner.settings = config.tags
        runner.coverageTarget = coverage

        var bar: ProgressBar?
        let terminal = standardErrorIsTerminal
        let report: EvalReport
        do {
            report = try runner.run(source: source, labels: labels) { done, total, path in
                guard terminal else { return }
                if bar == nil { bar = ProgressBar(total: total) }
                bar?.advance(current: path)
                _ = done
            }
        } catch {
            bar?.clear()
            throw CommandFailure(error, status: 2)
        }
        bar?.clear()

        if let csv {
            if let failure = PathIO.writeText(report.csv(), to: csv) {
                throw EvalError(path: csv, reason: .cannotWrite(failure))
            }
        }
        if json {
            print(report.json())
        } else {
            let shown = aggregate == .both ? ["mean", "vote"] : [aggregate.rawValue]
            print(report.text(aggregates: shown, misclassifiedLimit: misclassified), terminator: "")
            for f in report.failures { printError("genred: \(f.path): \(f.reason)") }
        }
        if report.counts.evaluated == 0 {
            throw CommandFailure(source, "\(source): nothing to evaluate: no labelled file could be scored", status: 2)
        }
        if !report.failures.isEmpty { throw ExitCode(1) }
    }
}

extension EvalLabelSource: ExpressibleByArgument {}
