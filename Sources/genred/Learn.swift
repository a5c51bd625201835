import ArgumentParser
import Foundation
import GenredKit

struct Learn: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Learn a taxonomy of your own labels from the analyses genred stores, and manage the taxonomies learned.",
        discussion: """
            Labels come from sub-folder names (--labels folders: FOLDER/Synthwave/..., FOLDER/Post-rock/...) \
            or from the genre tags already in the files (--labels tags; several values make a track \
            multi-label), as `genred eval` reads them. Tracks not yet analysed are analysed first and \
            stored. A small classifier head (logistic regression or a one-layer MLP, chosen by the \
            evaluation) is trained on each track's embedding and taggram summaries.

            The evaluation is k-fold cross-validation with the folds grouped by album (by folder where a \
            track has no album tag), so one album is never in both training and test. It prints, per \
            class, precision, recall and the confusion matrix of the learned head, of a kNN baseline and \
            of the model's own tags mapped as `genred eval` maps them (--map); the album effect; the \
            calibration; and, per class, the probability threshold that reaches the target precision \
            (--precision): below it genred abstains. A label whose tracks are all in one album or folder \
            cannot be judged by those folds: its thresholds then come from folds that split albums, \
            marked optimistic, unless --strict.

            The taxonomy is stored in the library database as the next version of NAME, with its base \
            model and features. Run `genred learn NAME` again (the folders are remembered) after the \
            labels change: it says what changed and which tracks' labels would flip. Use it with \
            `genred analyze --taxonomy NAME`, `retag --taxonomy NAME`, or [tags] taxonomies in the config.

            `genred learn NAME FOLDER...` is `genred learn train NAME FOLDER...`. The older flags \
            (--list, --report NAME, --export NAME FOLDER, --import FOLDER, --remove NAME) still work, as \
            the subcommands of the same names.

            Exit status: 0 when learned; 1 when learned but some files failed; 2 for setup errors or \
            when nothing can be learned. See docs/learn.md.
            """
,
        subcommands: [Train.self, List.self, Report.self, Export.self, Import.self, Remove.self],
        defaultSubcommand: Train.self
    )
}

extension Learn {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn NAME from folders of labelled music, evaluate it, and store it as NAME's next version (the default subcommand)."
        )

        @OptionGroup var library: LibraryOptions

        @Option(name: .long, help: "Where the labels come from: folders (one sub-folder per label) or tags (the files' genre tags).")
        var labels: EvalLabelSource?

        @Option(name: .long, help: ArgumentHelp("Label map for the built-in baseline: lines 'label = model label[, model label...]'.", valueName: "file"))
        var map: String?

        @Option(name: .long, help: "Model bundle name or directory (default: from the config, else msd-musicnn).")
        var model: String?

        @Option(name: .long, help: ArgumentHelp("Precision a label must reach to be given (0.5-1).", valueName: "share"))
        var precision: Double = 0.9

        @Option(name: .long, help: "Cross-validation folds.")
        var folds: Int = 5

        @Option(name: .long, help: ArgumentHelp("Labels with fewer tracks are left out.", valueName: "n"))
        var minTracks: Int = 5

        @Flag(name: .long, help: "Learn and report, but store nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Never give a label that folds keeping albums whole cannot judge (a label with all its tracks in one album or folder): abstain instead of using thresholds from folds that split albums.")
        var strict = false

        @Flag(name: .long, help: "Print the report as JSON.")
        var json = false

        @Option(name: .long, help: "Worker threads (default: all cores).")
        var threads: Int?

        @Flag(name: .long, help: ArgumentHelp("Same as `genred learn list`.", visibility: .hidden))
        var list = false

        @Option(name: .long, help: ArgumentHelp("Same as `genred learn remove NAME`.", valueName: "name", visibility: .hidden))
        var remove: String?

        @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Same as `genred learn export NAME FOLDER`.", valueName: "name folder", visibility: .hidden))
        var export: [String] = []

        @Option(name: .customLong("import"), help: ArgumentHelp("Same as `genred learn import FOLDER`.", valueName: "folder", visibility: .hidden))
        var importFolder: String?

        @Option(name: .long, help: ArgumentHelp("Same as `genred learn report NAME`.", valueName: "name", visibility: .hidden))
        var report: String?

        @Option(name: .long, help: ArgumentHelp("With --export or --report: the version.", visibility: .hidden))
        var version: Int?

        @Flag(name: .long, help: ArgumentHelp("With --export: replace files already in the folder.", visibility: .hidden))
        var force = false

        @Argument(help: "The taxonomy's name.")
        var name: String?

        @Argument(help: "Folders of labelled music (default: those it was last learned from).")
        var folders: [String] = []

        private var managing: Bool { list || remove != nil || !export.isEmpty || importFolder != nil || report != nil }

        func validate() throws {
            let modes = [list, remove != nil, !export.isEmpty, importFolder != nil, report != nil].filter { $0 }.count
            if modes > 1 { throw ValidationError("--list, --remove, --export, --import and --report exclude each other") }
            if managing && (name != nil || !folders.isEmpty) {
                throw ValidationError("--list, --remove, --export, --import and --report take no NAME or FOLDER arguments")
            }
            if !export.isEmpty && export.count != 2 { throw ValidationError("--export takes a taxonomy name and a folder") }
            if !managing && name == nil { throw ValidationError("give the taxonomy's NAME (and its labelled FOLDERs), or --list") }
            if !(0.5...1).contains(precision) { throw ValidationError("--precision must be between 0.5 and 1") }
            if folds < 2 || folds > 20 { throw ValidationError("--folds must be between 2 and 20") }
            if minTracks < 2 { throw ValidationError("--min-tracks must be at least 2") }
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
            if let version, version < 1 { throw ValidationError("--version must be 1 or more") }
        }

        func run() throws {
            var config = try library.loadConfiguration()
            if let model { config.model = model }
            let taxonomies = Taxonomies(library: library, config: config, json: json, version: version, force: force)
            if list { return try taxonomies.list() }
            if let remove { return try taxonomies.remove(remove) }
            if export.count == 2 { return try taxonomies.export(export[0], to: export[1]) }
            if let importFolder { return try taxonomies.importFolder(importFolder) }
            if let report { return try taxonomies.report(report) }
            try learn(name!, config)
        }

        private func fail(_ error: any Error, status: Int32 = 2) -> CommandFailure {
            CommandFailure(error, status: status)
        }

        // MARK: Learning

        private func learn(_ name: String, _ config: Configuration) throws {
            let store = try library.openStore(config)
            // Learning again: the folders, label source and map of the newest version, unless given.
            var sources = LearnSources(folders: folders, labels: labels ?? .folders, map: map)
            if folders.isEmpty {
                guard let previous = try? store.taxonomy(name: name),
                      let stored: LearnSources = previous.sources.flatMap(BlobCoding.decodeJSON) else {
                    throw fail(TaxonomyError(name, .nothingToLearn("no labelled FOLDER given, and no earlier version to take them from")))
                }
                sources = LearnSources(folders: stored.folders, labels: labels ?? stored.labels, map: map ?? stored.map)
                printError("genred: learning \(name) again from \(stored.folders.joined(separator: ", ")) (labels from \(sources.labels.rawValue))")
            } else {
                sources.folders = folders.map(FilePath.normalize)
            }

            let bundle = try loadBundle(config.model)
            var labelMap = EvalLabelMap(manifest: bundle.manifest)
            if let file = sources.map {
                do { try labelMap.load(file: file) } catch { throw fail(error) }
            }
            let runner = LearnRunner(bundle: bundle, store: store, map: labelMap,
                                     threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            runner.options.folds = folds
            runner.options.targetPrecision = precision
            runner.options.strict = strict
            runner.options.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
            runner.minimumTracks = minTracks

            var bar: ProgressBar?
            let terminal = standardErrorIsTerminal
            let outcome: (report: LearnReport, taxonomy: Taxonomy)
            do {
                outcome = try runner.run(name: name, sources: sources, save: !dryRun) { event in
                    switch event {
                    case .collected(let labelled, let used, let toAnalyse, let perLabel):
                        let found = perLabel.map { "\($0.label) \($0.tracks)" }.joined(separator: ", ")
                        printError("genred: \(labelled) labelled track\(labelled == 1 ? "" : "s"), \(toAnalyse) to analyse first (\(found))"
                            + (used < labelled ? "; \(labelled - used) left out, in labels of fewer than \(minTracks) tracks" : ""))
                        if terminal && toAnalyse > 0 { bar = ProgressBar(total: toAnalyse) }
                    case .analysing(_, _, let path):
                        bar?.advance(current: path)
                    case .failed(let path, let reason):
                        bar?.clear()
                        printError("failed  \(path): \(reason)")
                    case .training(let tracks, let classes):
                        bar?.clear()
                        bar = nil
                        printError("genred: learning \(classes) classes from \(tracks) tracks (\(folds)-fold grouped cross-validation)")
                    }
                }
            } catch {
                bar?.clear()
                throw fail(error)
            }
            print(json ? outcome.report.json() : outcome.report.text(), terminator: json ? "\n" : "")
            if !outcome.report.failures.isEmpty { throw ExitCode(1) }
        }
    }
}

/// The taxonomies in the library database: what `learn list`, `report`, `export`, `import` and
/// `remove` do (and the older flags of the same names).
struct Taxonomies {
    let library: LibraryOptions
    let config: Configuration
    var json = false
    var version: Int?
    var force = false

    private func fail(_ error: any Error, status: Int32 = 2) -> CommandFailure {
        CommandFailure(error, status: status)
    }


    func list() throws {
        let path = library.databasePath(config)
        guard StoreLocation(path).exists else {
            if json { print("[]") } else { print("no library database at \(path): no taxonomies") }
            return
        }
        let store: LibraryStore
        do { store = try LibraryStore(path: path, readOnly: true) } catch { throw fail(error) }
        let records: [TaxonomyRecord]
        do { records = try store.taxonomies() } catch { throw fail(error) }
        var rows: [[(String, JSONLine.Value)]] = []
        var lines: [String] = []
        for r in records {
            let versions = (try? store.taxonomyVersions(name: r.name).count) ?? 1
            let taxonomy = try? r.taxonomy()
            let training = taxonomy?.manifest.training
            let labels = taxonomy?.labels ?? []
            rows.append([
                ("name", .string(r.name)), ("version", .int(r.version)), ("versions", .int(versions)),
                ("model", .string(r.model)), ("model_version", .string(r.modelVersion)),
                ("labels", .array(labels.map { .string($0) })), ("tracks", .int(training?.tracks ?? 0)),
                ("accuracy", training?.accuracy.map { .number($0) } ?? .raw("null")),
                ("balanced_accuracy", training?.balancedAccuracy.map { .number($0) } ?? .raw("null")),
                ("head", .string(taxonomy.map { "\($0.head.spec)" } ?? "unreadable")),
                ("origin", .string(r.origin.rawValue)), ("created_at", .string(ISO8601DateFormatter().string(from: r.createdAt))),
            ])
            let accuracy = training?.accuracy.map { String(format: "%.1f%%", 100 * $0) } ?? "-"
            lines.append("\(r.name)  version \(r.version)\(versions > 1 ? " (\(versions) kept)" : "")  \(r.model) \(r.modelVersion)  "
                + "\(labels.count) labels  \(training?.tracks ?? 0) tracks  held-out accuracy \(accuracy)  \(r.origin.rawValue) "
                + ISO8601DateFormatter().string(from: r.createdAt))
            lines.append("    " + labels.joined(separator: ", "))
        }
        if json {
            print("[" + rows.map { JSONLine.object($0) }.joined(separator: ", ") + "]")
        } else {
            print(records.isEmpty ? "no taxonomies (genred learn NAME FOLDER... makes one)" : lines.joined(separator: "\n"))
        }
    }

    func remove(_ name: String) throws {
        let store = try library.openStore(config)
        let removed: Int
        do { removed = try store.removeTaxonomy(name: name) } catch { throw fail(error) }
        guard removed > 0 else { throw fail(TaxonomyError(name, .notFound)) }
        print("removed \(name) (\(removed) version\(removed == 1 ? "" : "s"))")
        if config.tags.taxonomies.contains(name) {
            printError("genred: warning: the config (\(config.source ?? "?")) still lists \(name) under [tags] taxonomies; retag and watch refuse to start until it is removed there")
        }
    }

    private func stored(_ name: String) throws -> TaxonomyRecord {
        let path = library.databasePath(config)
        guard StoreLocation(path).exists else {
            throw fail(TaxonomyError(name, .database("no library database at \(path)")))
        }
        do {
            let store = try LibraryStore(path: path, readOnly: true)
            guard let record = try store.taxonomy(name: name, version: version) else {
                throw TaxonomyError(name + (version.map { " version \($0)" } ?? ""), .notFound)
            }
            return record
        } catch {
            throw fail(error)
        }
    }

    func export(_ name: String, to folder: String) throws {
        let record = try stored(name)
        do { try record.taxonomy().export(to: folder, replace: force) } catch { throw fail(error) }
        print("exported \(name) version \(record.version) to \(FilePath.normalize(folder)) (manifest.json, head.safetensors)")
    }

    func importFolder(_ folder: String) throws {
        let store = try library.openStore(config)
        do {
            let taxonomy = try Taxonomy.load(folder: folder)
            try LearnRunner.validate(name: taxonomy.name)
            var record = TaxonomyRecord(taxonomy: taxonomy, report: nil, sources: nil, origin: .imported)
            try store.saveTaxonomy(&record)
            let base = taxonomy.manifest.baseModel
            print("imported \(taxonomy.name) as version \(record.version) (\(taxonomy.labels.count) labels, learned on \(base.name) \(base.version))")
        } catch {
            throw fail(error)
        }
    }

    func report(_ name: String) throws {
        let record = try stored(name)
        guard let text = record.report, let report = LearnReport.decode(text) else {
            throw fail(TaxonomyError("\(name) version \(record.version)", .unreadable("no stored report (an imported taxonomy has none)")))
        }
        print(json ? report.json() : report.text(), terminator: json ? "\n" : "")
    }
}

extension Learn {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the taxonomies in the library database: labels, tracks, held-out accuracy.")
        @OptionGroup var library: LibraryOptions
        @Flag(name: .long, help: "Print the list as JSON.") var json = false
        func run() throws {
            try Taxonomies(library: library, config: try library.loadConfiguration(), json: json).list()
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the stored report of a taxonomy (its newest version, or --version).")
        @OptionGroup var library: LibraryOptions
        @Flag(name: .long, help: "Print the report as JSON.") var json = false
        @Option(name: .long, help: "The version (default: the newest).") var version: Int?
        @Argument(help: "The taxonomy's name.") var name: String
        func run() throws {
            try Taxonomies(library: library, config: try library.loadConfiguration(), json: json, version: version).report(name)
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a taxonomy (manifest.json, head.safetensors) into a folder, to use elsewhere or to import into another library.")
        @OptionGroup var library: LibraryOptions
        @Option(name: .long, help: "The version (default: the newest).") var version: Int?
        @Flag(name: .long, help: "Replace files already in the folder.") var force = false
        @Argument(help: "The taxonomy's name.") var name: String
        @Argument(help: "The folder to write into.") var folder: String
        func run() throws {
            try Taxonomies(library: library, config: try library.loadConfiguration(), version: version, force: force).export(name, to: folder)
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an exported taxonomy to the library database, as the next version of its name.")
        @OptionGroup var library: LibraryOptions
        @Argument(help: "The folder `genred learn export` wrote.") var folder: String
        func run() throws {
            try Taxonomies(library: library, config: try library.loadConfiguration()).importFolder(folder)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every version of a taxonomy from the library database.")
        @OptionGroup var library: LibraryOptions
        @Argument(help: "The taxonomy's name.") var name: String
        func run() throws {
            try Taxonomies(library: library, config: try library.loadConfiguration()).remove(name)
        }
    }
}
