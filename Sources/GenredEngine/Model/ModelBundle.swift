import Foundation

/// Why a model bundle could not be used.
public struct BundleError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable {
        case notFound(searched: [String])
        case unreadable(String)
        case badManifest(String)
        case checksumMismatch(expected: String, actual: String)
        case badWeights(String)
    }

    public let bundle: String
    public let reason: Reason

    public var description: String {
        switch reason {
        case .notFound(let searched):
            "model bundle '\(bundle)' not found (looked in: \(searched.joined(separator: ", ")))"
        case .unreadable(let why): "model bundle \(bundle): cannot read: \(why)"
        case .badManifest(let why): "model bundle \(bundle): bad manifest: \(why)"
        case .checksumMismatch(let expected, let actual):
            "model bundle \(bundle): weights sha256 is \(actual), manifest says \(expected) (file damaged or mismatched)"
        case .badWeights(let why): "model bundle \(bundle): bad weights: \(why)"
        }
    }
}

/// The `manifest.json` of a model bundle (see docs/model-bundle.md).
public struct BundleManifest: Sendable, Codable, Equatable {
    public struct Source: Sendable, Codable, Equatable {
        public var package: String
        var packageVersion: String
        package var checkpoint: String
        var authors: String
        var license: String
        public var url: String
    }

    public struct Audio: Sendable, Codable, Equatable {
        public var sampleRate: Int
        var nFft: Int
        public var hopLength: Int
        public var window: String
        package var center: Bool
        var nMels: Int
        var fmin: Double
        var fmax: Double
        var melScale: String
        var melNorm: String
        package var power: Double
        var compression: String
    }

    public struct Window: Sendable, Codable, Equatable {
        public var frames: Int
        public var defaultHopFrames: Int
    }

    public struct Weights: Sendable, Codable, Equatable {
        public var file: String
        package var sha256: String
        public var parameters: Int
        var dtype: String
    }

    public var format: String
    package var formatVersion: Int
    public var name: String
    public var version: String
    var architecture: String
    public var description: String
    public var source: Source
    public var audio: Audio
    public var window: Window
    var batchNormEpsilon: Double
    public var labels: [String]
    public var displayNames: [String]
    public var groups: [String: [String]]
    public var weights: Weights

    var featureParameters: FeatureParameters {
        FeatureParameters(sampleRate: audio.sampleRate, fftSize: audio.nFft, hopLength: audio.hopLength,
                          bands: audio.nMels, fmin: audio.fmin, fmax: audio.fmax)
    }

    /// The indices of the labels in `group`, in label order.
    package func labelIndices(inGroup group: String) -> [Int] {
        let members = Set(groups[group] ?? [])
        return labels.indices.filter { members.contains(labels[$0]) }
    }
}

/// A model bundle: a manifest and the weights of one pretrained network.
public struct ModelBundle: Sendable {
    public let directory: URL
    public let manifest: BundleManifest
    public let network: MusicnnNetwork

    public var name: String { manifest.name }

    /// Whether `other` is the same model: same name, version and weights.
    func isSameModel(as other: ModelBundle) -> Bool {
        manifest.name == other.manifest.name && manifest.version == other.manifest.version
            && manifest.weights.sha256 == other.manifest.weights.sha256
    }
    public var labels: [String] { manifest.labels }

    /// The bundles shipped with genred.
    package static let builtInNames = ["msd-musicnn", "mtt-musicnn"]
    public static let defaultName = "msd-musicnn"

    /// Loads a bundle by name (searched in the usual places) or by directory path.
    public static func load(_ nameOrPath: String) throws(BundleError) -> ModelBundle {
        try load(directory: locate(nameOrPath), as: nameOrPath)
    }

    /// Where bundles are looked for, in order: `$GENRED_MODELS` (colon-separated), the
    /// install prefix next to the executable (`../share/genred/models`), a `models/` folder
    /// above the executable (a source checkout), then the system data directories.
    static func searchDirectories() -> [URL] {
        var dirs: [URL] = []
        if let env = ProcessInfo.processInfo.environment["GENRED_MODELS"] {
            dirs += env.split(separator: ":").map { URL(fileURLWithPath: String($0), isDirectory: true) }
        }
        let exe = URL(fileURLWithPath: executablePath()).deletingLastPathComponent()
        dirs.append(exe.appendingPathComponent("../share/genred/models").standardized)
        var ancestor = exe
        for _ in 0..<5 {
            ancestor = ancestor.deletingLastPathComponent()
            dirs.append(ancestor.appendingPathComponent("models"))
        }
        dirs.append(URL(fileURLWithPath: "/usr/local/share/genred/models"))
        dirs.append(URL(fileURLWithPath: "/usr/share/genred/models"))
        return dirs
    }

    /// The running executable's real path (through `/proc/self/exe`), or argv[0] where that fails.
    private static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    }

    static func locate(_ nameOrPath: String) throws(BundleError) -> URL {
        let fm = FileManager.default
        if nameOrPath.contains("/") {
            return URL(fileURLWithPath: nameOrPath, isDirectory: true)
        }
        let dirs = searchDirectories()
        for dir in dirs {
            let candidate = dir.appendingPathComponent(nameOrPath, isDirectory: true)
            if fm.fileExists(atPath: candidate.appendingPathComponent("manifest.json").path) { return candidate }
        }
        throw BundleError(bundle: nameOrPath, reason: .notFound(searched: dirs.map(\.path)))
    }

    public static func load(directory: URL, as label: String? = nil) throws(BundleError) -> ModelBundle {
        let label = label ?? directory.path
        func fail(_ reason: BundleError.Reason) -> BundleError { BundleError(bundle: label, reason: reason) }

        let manifestData: Data
        do { manifestData = try Data(contentsOf: directory.appendingPathComponent("manifest.json")) } catch {
            throw fail(.unreadable("\(directory.path)/manifest.json: \(error.localizedDescription)"))
        }
        let manifest: BundleManifest
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            manifest = try decoder.decode(BundleManifest.self, from: manifestData)
        } catch {
            throw fail(.badManifest(describe(error)))
        }
        try validate(manifest, fail: fail)

        let weightsURL = directory.appendingPathComponent(manifest.weights.file)
        let weightsData: Data
        do { weightsData = try Data(contentsOf: weightsURL) } catch {
            throw fail(.unreadable("\(weightsURL.path): \(error.localizedDescription)"))
        }
        let digest = SHA256.hex(weightsData)
        guard digest == manifest.weights.sha256.lowercased() else {
            throw fail(.checksumMismatch(expected: manifest.weights.sha256, actual: digest))
        }
        let tensors: SafeTensors
        do { tensors = try SafeTensors(data: weightsData) } catch { throw fail(.badWeights(error.description)) }
        let network: MusicnnNetwork
        do {
            network = try MusicnnNetwork(tensors: tensors, epsilon: Float(manifest.batchNormEpsilon),
                                         bands: manifest.audio.nMels, windowFrames: manifest.window.frames)
        } catch { throw fail(.badWeights(error.description)) }
        guard network.labelCount == manifest.labels.count else {
            throw fail(.badWeights("network has \(network.labelCount) outputs, manifest lists \(manifest.labels.count) labels"))
        }
        guard network.parameterCount == manifest.weights.parameters else {
            throw fail(.badWeights("network has \(network.parameterCount) parameters, manifest says \(manifest.weights.parameters)"))
        }
        return ModelBundle(directory: directory, manifest: manifest, network: network)
    }

    private static func validate(_ m: BundleManifest, fail: (BundleError.Reason) -> BundleError) throws(BundleError) {
        guard m.format == "genred-model-bundle" else { throw fail(.badManifest("format is '\(m.format)', expected genred-model-bundle")) }
        guard m.formatVersion == 1 else { throw fail(.badManifest("format_version \(m.formatVersion) is not supported (this genred reads 1)")) }
        guard m.architecture == "musicnn" else { throw fail(.badManifest("architecture '\(m.architecture)' is not supported")) }
        let a = m.audio
        guard a.window == "hann", a.center, a.melScale == "slaney", a.melNorm == "slaney", a.power == 2,
              a.compression == "log10(10000*x+1)", a.nFft > 0, a.hopLength > 0, a.nMels > 0, a.sampleRate > 0
        else { throw fail(.badManifest("audio parameters describe features genred does not compute")) }
        guard m.window.frames > 0, m.window.defaultHopFrames > 0 else { throw fail(.badManifest("window frames must be positive")) }
        guard m.displayNames.count == m.labels.count else {
            throw fail(.badManifest("\(m.displayNames.count) display names for \(m.labels.count) labels"))
        }
        let known = Set(m.labels)
        for (group, members) in m.groups {
            if let stray = members.first(where: { !known.contains($0) }) {
                throw fail(.badManifest("group '\(group)' names unknown label '\(stray)'"))
            }
        }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            "missing key '\(key.stringValue)'\(path(context))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type\(path(context)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            "not valid JSON\(path(context))"
        default: "\(error)"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.isEmpty ? "" : " at " + context.codingPath.map(\.stringValue).joined(separator: ".")
    }
}
