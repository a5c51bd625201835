import Foundation
import GenredEngine

/// Which model labels stand for a dataset label ("hiphop" -> Hip-Hop) when genred is evaluated.
///
/// Lookup order: the `--map` file, the built-in map of the model bundle, then a model genre
/// label or display name of the same name. Labels are compared by `key`: lowercase letters
/// and digits only, so "Hip Hop", "hip-hop" and "hiphop" are one label.
public struct EvalLabelMap: Sendable {
    public enum Origin: String, Sendable, Codable {
        case file, builtIn = "built-in", sameName = "same name"
    }

    /// How one dataset label is covered.
    public enum Coverage: Sendable, Equatable {
        /// Model labels (as in the manifest) whose highest score is the label's score.
        case covered(labels: [String], origin: Origin)
        /// No model label stands for it; `note` says why or what would.
        case uncovered(note: String)
    }

    public let manifest: BundleManifest
    private var fileEntries: [String: [String]] = [:]
    private let builtIn: [String: [String]]

    public init(manifest: BundleManifest) {
        self.manifest = manifest
        builtIn = Self.builtInMaps[manifest.name] ?? [:]
    }

    /// Letters and digits, lowercased.
    public static func key(_ label: String) -> String {
        String(label.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.map(Character.init))
    }

    /// The ten classic genre-dataset names (GTZAN's) per shipped bundle; an empty list means
    /// the model has no label for it. "electronic" is added for collections that use it.
    static let builtInMaps: [String: [String: [String]]] = [
        "msd-musicnn": [
            "blues": ["blues"], "classical": [], "country": ["country"], "disco": [],
            "hiphop": ["Hip-Hop"], "jazz": ["jazz"], "metal": ["metal", "heavy metal"], "pop": ["pop"],
            "reggae": [], "rock": ["rock", "classic rock", "hard rock"],
            "electronic": ["electronic", "electronica", "electro"],
        ],
        "mtt-musicnn": [
            "blues": [], "classical": ["classical", "classic"], "country": ["country"], "disco": [],
            "hiphop": [], "jazz": [], "metal": ["metal"], "pop": ["pop"], "reggae": [], "rock": ["rock"],
            "electronic": ["electronic", "techno"],
        ],
    ]

    /// Hints for labels a shipped bundle lacks.
    static let hints: [String: [String: String]] = [
        "msd-musicnn": ["classical": "msd-musicnn has no classical label; --model mtt-musicnn has one"],
        "mtt-musicnn": [
            "blues": "mtt-musicnn has no blues label; msd-musicnn has one",
            "jazz": "mtt-musicnn has no jazz label; msd-musicnn has one",
            "hiphop": "mtt-musicnn has no hip-hop label; msd-musicnn has one",
        ],
    ]

    /// Adds (over the built-in map) one dataset label's model labels; an empty list marks it uncovered.
    public mutating func set(_ datasetLabel: String, to modelLabels: [String]) {
        fileEntries[Self.key(datasetLabel)] = modelLabels
    }

    /// Reads a `--map` file: lines `dataset label = model label[, model label...]`, `#` comments,
    /// optional quotes and brackets (so simple TOML works). Model labels may be given by display name.
    public mutating func load(file path: String) throws(EvalError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            if !FileManager.default.fileExists(atPath: path) { throw EvalError(path: path, reason: .notFound) }
            throw EvalError(path: path, reason: .unreadable(error.localizedDescription))
        }
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Self.stripComment(String(raw)).trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("[") && line.hasSuffix("]") && !line.contains("=") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw EvalError(path: path, reason: .mapSyntax(line: offset + 1, text: line))
            }
            let name = Self.unquote(String(line[..<eq]))
            guard !Self.key(name).isEmpty else { throw EvalError(path: path, reason: .mapSyntax(line: offset + 1, text: line)) }
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("[") && value.hasSuffix("]") { value = String(value.dropFirst().dropLast()) }
            var labels: [String] = []
            for part in value.split(separator: ",") {
                let given = Self.unquote(String(part))
                if given.isEmpty { continue }
                guard let label = modelLabel(named: given) else {
                    throw EvalError(path: path, reason: .unknownModelLabel(line: offset + 1, label: given, model: manifest.name))
                }
                if !labels.contains(label) { labels.append(label) }
            }
            set(name, to: labels)
        }
    }

    /// How `datasetLabel` is covered.
    public func coverage(of datasetLabel: String) -> Coverage {
        let k = Self.key(datasetLabel)
        if let labels = fileEntries[k] {
            return labels.isEmpty ? .uncovered(note: "left out by the --map file") : .covered(labels: labels, origin: .file)
        }
        if let labels = builtIn[k] {
            if !labels.isEmpty { return .covered(labels: labels, origin: .builtIn) }
            let hint = Self.hints[manifest.name]?[k] ?? "\(manifest.name) has no label for it"
            return .uncovered(note: hint + "; map it with --map to cover it")
        }
        for i in manifest.labelIndices(inGroup: "genre")
        where Self.key(manifest.labels[i]) == k || Self.key(manifest.displayNames[i]) == k {
            return .covered(labels: [manifest.labels[i]], origin: .sameName)
        }
        return .uncovered(note: "no genre label of \(manifest.name) has this name; map it with --map to cover it")
    }

    /// The manifest label given by its label or display name (compared by `key`).
    func modelLabel(named name: String) -> String? {
        let k = Self.key(name)
        if let i = manifest.labels.firstIndex(where: { Self.key($0) == k }) { return manifest.labels[i] }
        if let i = manifest.displayNames.firstIndex(where: { Self.key($0) == k }) { return manifest.labels[i] }
        return nil
    }

    private static func stripComment(_ line: String) -> String {
        var inQuote = false
        for (i, c) in zip(line.indices, line) {
            if c == "\"" { inQuote.toggle() }
            if c == "#" && !inQuote { return String(line[..<i]) }
        }
        return line
    }

    private static func unquote(_ s: String) -> String {
        var t = s.trimmingCharacters(in: .whitespaces)
        if t.count >= 2, let f = t.first, f == t.last, f == "\"" || f == "'" { t = String(t.dropFirst().dropLast()) }
        return t.trimmingCharacters(in: .whitespaces)
    }
}
