import ArgumentParser
import Foundation
import GenredKit

enum Aggregate: String, ExpressibleByArgument, CaseIterable {
    case mean, vote
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score audio files and print their top tags.",
        discussion: """
            Each file is decoded (MP3, FLAC, Ogg Vorbis, Opus, WAV, AIFF; recognised by content), \
            resampled to 16 kHz mono and scored in 3-second windows. The track's scores are the mean \
            of the windows' probabilities (--aggregate mean) or each label's share of the windows in \
            which it ranks first (--aggregate vote). Tracks shorter than one window are padded by \
            repetition and marked as such.

            A file that cannot be read is reported with the reason and the run goes on; the exit \
            status is 1 if any file failed.

            A damaged file (cut short, or with corrupt data in the middle) is analysed from the audio \
            that decodes and marked as damaged: a "damaged: <reason>" line under its header and a \
            warning naming it on standard error, or a "damaged" key in its JSON object (absent for \
            files that decoded whole). Damage is a warning, not a failure: it does not change the \
            exit status. Files with no decodable audio at all (empty, not audio, headers only) fail.
            """
    )

    @Option(name: .long, help: "Model bundle: a name (msd-musicnn, mtt-musicnn) or a bundle directory (default: the taxonomy's, else msd-musicnn).")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Also apply a taxonomy learned with genred learn: its name in the library database, or an exported folder.", valueName: "name|folder"))
    var taxonomy: String?

    @OptionGroup var library: LibraryOptions

    @Option(name: .long, help: ArgumentHelp("Hop between windows in seconds (default: the window length, 3 s; smaller overlaps windows).", valueName: "seconds"))
    var hop: Double?

    @Option(name: .long, help: "Which aggregate ranks the printed tags.")
    var aggregate: Aggregate = .mean

    @Option(name: .long, help: "Tags printed per file in the human output.")
    var top: Int = 5

    @Flag(name: .long, help: "One JSON object per file per line.")
    var json = false

    @Flag(name: .long, help: "Include the per-window probabilities (the taggram).")
    var taggram = false

    @Flag(name: .long, help: "Include the 200-d embedding (penultimate layer, averaged over windows).")
    var embedding = false

    @Option(name: .long, help: "Worker threads for inference (default: all cores).")
    var threads: Int?

    @OptionGroup var precision: PrecisionOption

    @Argument(help: "Audio files to analyse.")
    var files: [String]

    func validate() throws {
        if let hop, !(hop > 0) { throw ValidationError("--hop must be a positive number of seconds") }
        if top < 1 { throw ValidationError("--top must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let taxonomy = try loadTaxonomy()
        let bundle: ModelBundle
        bundle = try ModelBundle.load(model ?? taxonomy?.manifest.baseModel.name ?? ModelBundle.defaultName)
        try taxonomy?.check(model: bundle.manifest)
        let asked = try precision.resolve(library.loadConfiguration())
        let analyzer = Analyzer(bundle: bundle, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, precision: asked)
        let hopFrames = hop.map { analyzer.hopFrames(seconds: $0) }
        var failures = 0
        for path in files {
            do {
                let result = try analyzer.analyze(path, hopFrames: hopFrames)
                if json {
                    print(JSONLine.analysis(result, taggram: taggram, embedding: embedding, taxonomy: taxonomy))
                } else {
                    printHuman(result, bundle: bundle)
                    if let taxonomy { printTaxonomy(taxonomy, result) }
                    if let damage = result.damage {
                        printError("genred: warning: \(path): damaged (\(damage)); analysed the audio that decodes")
                    }
                }
            } catch {
                failures += 1
                if json {
                    print(JSONLine.object([("path", .string(path)), ("error", .string(error.reasonText))]))
                } else {
                    printError("genred: \(error)")
                }
            }
        }
        if failures > 0 {
            if !json { printError("genred: \(failures) of \(files.count) file(s) failed") }
            throw ExitCode(1)
        }
    }

    /// The taxonomy named by --taxonomy: a folder when the value holds a `/`, else a name in
    /// the library database (opened read-only; analyze writes nothing).
    private func loadTaxonomy() throws -> Taxonomy? {
        guard let taxonomy else { return nil }
        do {
            if taxonomy.contains("/") { return try Taxonomy.load(folder: taxonomy) }
            let config = try library.loadConfiguration()
            let path = library.databasePath(config)
            guard StoreLocation(path).exists else {
                throw TaxonomyError(taxonomy, .database("no library database at \(path) (--db names another)"))
            }
            guard let record = try LibraryStore(path: path, readOnly: true).taxonomy(name: taxonomy) else {
                throw TaxonomyError(taxonomy, .notFound)
            }
            return try record.taxonomy()
        } catch {
            throw CommandFailure(error, status: 2)
        }
    }

    private func printTaxonomy(_ taxonomy: Taxonomy, _ r: TrackAnalysis) {
        let p = taxonomy.prediction(r)
        let ranked = p.probabilities.indices.sorted { p.probabilities[$0] > p.probabilities[$1] }
        let scores = ranked.prefix(3).map { String(format: "%@ %.3f", p.labels[$0], p.probabilities[$0]) }.joined(separator: ", ")
        let rule = p.basis.description
        if p.given.isEmpty {
            print("  taxonomy \(taxonomy.name): abstains (no class reaches its threshold; \(scores)) [\(rule)]")
        } else {
            print("  taxonomy \(taxonomy.name): \(p.given.joined(separator: ", "))  (\(scores)) [\(rule)]")
        }
        if taggram {
            let windows = taxonomy.windowProbabilities(r)
            for (w, row) in windows.enumerated() {
                let top = row.indices.max { row[$0] < row[$1] } ?? 0
                print(String(format: "    %@  %@ %.3f", formatDuration(Double(w) * r.hopSeconds), p.labels[top], row[top]))
            }
        }
    }

    private func printHuman(_ r: TrackAnalysis, bundle: ModelBundle) {
        let scores = aggregate == .mean ? r.mean : r.vote
        var header = "\(r.path)\n  \(formatDuration(r.audio.duration)), \(r.audio.container.rawValue), "
        header += "\(r.windowCount) window\(r.windowCount == 1 ? "" : "s")"
        header += String(format: " (hop %.2f s)", r.hopSeconds)
        if r.padded { header += ", shorter than one window: padded by repetition" }
        header += ", model \(r.model)"
        if let damage = r.damage { header += "\n  damaged: \(damage)" }
        print(header)
        let names = bundle.manifest.displayNames
        let width = names.map(\.count).max() ?? 10
        for index in TrackAnalysis.ranking(scores).prefix(top) {
            let name = names[index].padding(toLength: width, withPad: " ", startingAt: 0)
            let detail = aggregate == .mean ? "" : String(format: "  (mean %.3f)", r.mean[index])
            print(String(format: "  %@  %.3f", name, scores[index]) + detail)
        }
    }
}

func formatDuration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    return total >= 3600
        ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
        : String(format: "%d:%02d", total / 60, total % 60)
}
