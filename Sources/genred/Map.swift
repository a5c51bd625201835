import ArgumentParser
import Foundation
import GenredKit

extension MapFeatures: ExpressibleByArgument {}

struct Map: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw the collection as a t-SNE map: near points sound alike.",
        discussion: """
            Places every analysed track (or those under --under) on a plane with t-SNE, using its \
            embedding (the default), its genre probabilities, or all its tag probabilities. Writes a \
            CSV (path, title, artist, album, x, y, top genre, one column per genre), and optionally \
            an SVG and a self-contained HTML page (no network; hover for title, artist and genres; \
            filter by genre). The same seed gives the same map. For small collections the \
            perplexity is lowered to fit, and the output says so.

            --colour taxonomy:NAME colours the SVG and HTML by the label a taxonomy learned with \
            `genred learn` gives each track ("no label" where it abstains) and adds that label as \
            the CSV's last column.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Option(name: .long, help: ArgumentHelp("Only tracks under this folder.", valueName: "dir"))
    var under: String?

    @Option(name: .long, help: "What to place tracks by.")
    var features: MapFeatures = .embedding

    @Option(name: .long, help: "t-SNE perplexity (about the number of neighbours each point keeps close; default: [map] perplexity in the config, else 30).")
    var perplexity: Double?

    @Option(name: .long, help: "t-SNE iterations, early exaggeration included (default: [map] iterations in the config, else 1000).")
    var iterations: Int?

    @Option(name: .long, help: ArgumentHelp("Colour the SVG and HTML by genre (top genre), album, artist, folder or taxonomy:NAME.", valueName: "by"))
    var colour = "genre"

    @Option(name: .long, help: "Random seed (default: [map] seed in the config, else 1).")
    var seed: UInt64?

    @Option(name: .long, help: "Model whose analyses to use (default: from the config, else msd-musicnn).")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Write the CSV here.", valueName: "file"))
    var csv: String?

    @Option(name: .long, help: ArgumentHelp("Also write an SVG drawing.", valueName: "file"))
    var svg: String?

    @Option(name: .long, help: ArgumentHelp("Also write an HTML page.", valueName: "file"))
    var html: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var benchInput: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var out: String?

    // With --bench-input only, for the comparison with reference implementations (docs/map.md).
    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var method: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var learningRate: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var exaggeration: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var exaggerationIterations: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var momentum: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var restarts: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var boxWidth: String?

    @Option(name: .long, help: ArgumentHelp(visibility: .hidden))
    var maximumStep: String?

    func validate() throws {
        if benchInput == nil && csv == nil { throw ValidationError("--csv FILE is required") }
        if let perplexity, !(perplexity > 0) { throw ValidationError("--perplexity must be positive") }
        if let iterations, iterations < 1 { throw ValidationError("--iterations must be at least 1") }
        do { _ = try MapColouring(parameter: colour) } catch { throw ValidationError("--\(error)") }
    }

    func run() throws {
        if let benchInput {
            // Used by tools/tsne_reference.py to compare with a reference implementation.
            let defaults = MapSettings()
            let args = ["--bench-input", benchInput, "--out", out ?? "/dev/null",
                        "--perplexity", String(perplexity ?? defaults.perplexity),
                        "--iterations", String(iterations ?? defaults.iterations), "--seed", String(seed ?? defaults.seed)]
            var extra: [String] = []
            if let threads { extra += ["--threads", String(threads)] }
            if let method { extra += ["--method", method] }
            if let learningRate { extra += ["--learning-rate", learningRate] }
            if let exaggeration { extra += ["--exaggeration", exaggeration] }
            if let exaggerationIterations { extra += ["--exaggeration-iterations", exaggerationIterations] }
            if let momentum { extra += ["--momentum", momentum] }
            if let restarts { extra += ["--restarts", restarts] }
            if let boxWidth { extra += ["--box-width", boxWidth] }
            if let maximumStep { extra += ["--maximum-step", maximumStep] }
            throw ExitCode(TSNE.benchmarkMain(arguments: args + extra))
        }
        let config = try library.loadConfiguration()
        let store = try library.openStore(config)
        let bundle = try loadBundle(model ?? config.model)
        let underPath = under.map { FilePath.normalize($0) }
        let v: LibraryStore.TrackVectors
        v = try store.vectors(model: bundle.name, under: underPath)
        guard v.count > 0 else {
            throw CommandFailure(bundle.name, "no analysed tracks\(underPath.map { " under \($0)" } ?? "") for model \(bundle.name): run `genred retag FOLDER` first")
        }
        var settings = config.map
        if let perplexity { settings.perplexity = perplexity }
        if let iterations { settings.iterations = iterations }
        if let seed { settings.seed = seed }
        let options = settings.options
        let colouring = try MapColouring(parameter: colour)
        var labels: [Int64: String] = [:]
        if case .taxonomy(let name) = colouring {
            labels = try TaxonomyQuery(store: store).labelByTrack(taxonomy: name)
        }
        let map = LibraryMap.compute(v, manifest: bundle.manifest, features: features, options: options)
        if let note = map.note { printError("genred: \(note)") }
        var title = "genred map: \(v.count) tracks by \(features.rawValue)" + (underPath.map { " under \($0)" } ?? "")
        // The pictures colour by the chosen key; the CSV keeps the top genre and, for a
        // taxonomy, adds its label.
        var pictured = map.points
        var extra: (header: String, values: [String])?
        if colouring != .genre {
            let (keys, legend) = colouring.keys(map, labels: labels)
            let none = if case .taxonomy = colouring { "(no label)" } else { "(none)" }
            for i in pictured.indices {
                let key = legend[keys[i]].key
                pictured[i].topGenre = key.isEmpty ? none : key
            }
            title += ", coloured by \(colouring.parameter)"
            if case .taxonomy = colouring {
                extra = (colouring.parameter, map.ids.map { labels[$0] ?? "" })
            }
        }
        // The CSV keeps each path's exact bytes; the pictures show them escaped.
        try write(MapWriter.csv(map.points, genreNames: map.genreNames, extra: extra), to: csv!)
        if let svg { try write(FilePath.display(MapWriter.svg(pictured, genreNames: map.genreNames, title: title)), to: svg) }
        if let html { try write(FilePath.display(MapWriter.html(pictured, genreNames: map.genreNames, title: title)), to: html) }
        print(String(format: "%d tracks mapped by %@ in %.1f s (perplexity %.1f, %d iterations, KL divergence %.3f)",
                     v.count, features.rawValue, map.seconds, map.perplexityUsed, map.iterations, map.klDivergence))
    }

    private func write(_ text: String, to path: String) throws {
        if let failure = PathIO.writeText(text, to: path) {
            throw CommandFailure(path, "cannot write \(path): \(failure)")
        }
    }
}
