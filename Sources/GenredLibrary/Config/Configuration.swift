import Foundation
import TOMLKit
import GenredEngine

/// What to do with a field that already has values.
public enum TagPolicy: String, Sendable, Equatable, CaseIterable {
    /// Write only fields that are empty (the default: hand-set tags are left alone).
    case fill
    /// Add genred's values to those already there.
    case merge
    /// Replace what is there.
    case overwrite
}

/// Which tags genred writes and how it names them.
public struct TagSettings: Sendable, Equatable {
    public var policy: TagPolicy = .fill
    public var moods = true
    /// A genre is written when its mean probability reaches this (docs/tag-defaults.md).
    public var genreThreshold: Float = 0.15
    var maxGenres = 3
    var moodThreshold: Float = 0.1
    var maxMoods = 2
    /// Joins several values in ID3v2.3 tags, which have no multi-value text frames.
    public var id3v23Separator = "/"
    /// Model label or display name (lowercased) -> the name to write; an empty name drops the label.
    /// Starts from `defaultGenreMap`; the config file's entries are added over it.
    var genreMap: [String: String] = TagSettings.defaultGenreMap
    var moodMap: [String: String] = [:]
    /// Write tags into files that decode only in part (docs/damaged-files.md). Off by default:
    /// such a file is analysed, and its tags are left alone.
    var writeDamaged = false
    /// Taxonomies learned with `genred learn` whose labels are written beside the built-in
    /// tags (docs/learn.md), by name; each needs the model it was learned on.
    public var taxonomies: [String] = []
    /// The field taxonomy labels go to, unless `taxonomyFields` names another for a taxonomy.
    var taxonomyField: TagField = .genre
    /// Taxonomy name -> the field its labels go to.
    var taxonomyFields: [String: TagField] = [:]

    public init() {}

    /// The field `taxonomy`'s labels are written to.
    public func field(forTaxonomy taxonomy: String) -> TagField { taxonomyFields[taxonomy] ?? taxonomyField }

    /// Near-synonyms of the MSD model that fire together (track-score correlations 0.77-0.98 on
    /// the calibration set, docs/tag-defaults.md), merged so one track does not get all of them.
    static let defaultGenreMap: [String: String] = [
        "electronica": "Electronic", "electro": "Electronic", "heavy metal": "Metal",
        "indie": "Alternative", "indie rock": "Alternative", "alternative rock": "Alternative",
    ]
}

/// Where the daemon has files analysed.
public enum AnalyseMode: String, Sendable {
    /// On this machine's cores.
    case local
    /// By `genred worker` processes on any machine sharing the (PostgreSQL) store; this machine
    /// only queues jobs and writes tags when analyses arrive.
    case workers
}

/// How the daemon watches and works.
public struct WatchSettings: Sendable, Equatable {
    /// Seconds a file's size and mtime must stay unchanged before it is analysed.
    package var settleSeconds: Double = 5
    /// Seconds between full rescans that back up the watcher.
    package var rescanInterval: Double = 24 * 3600
    /// Analysis workers; 0 means one per core.
    public var workers = 0
    /// Attempts at a failing file before it is listed as failed and left alone until it changes.
    public var maxAttempts = 3
    /// Seconds before the first retry of a failed file; each further retry waits twice as long.
    package var retryBackoff: Double = 60
    /// Seconds between checks that each root is still the directory being watched, so a root
    /// that comes back (a disk mounted again) is watched and scanned again.
    package var rootCheckInterval: Double = 30
    public var logLevel: Log.Level = .info

    public init() {}
}

/// Where `genred radio` (and `genred similar --mpd-paths`) finds MPD.
public struct MPDSettings: Sendable, Equatable {
    /// `HOST:PORT`, `HOST` (port 6600) or a unix socket's path; nil: $MPD_HOST, else
    /// `$XDG_RUNTIME_DIR/mpd/socket` when it exists, else localhost:6600.
    public var address: String?
    public var password: String?
    /// The folder MPD's paths are relative to, as genred sees it; nil: asked from MPD (only
    /// possible over a unix socket).
    public var musicDirectory: String?

    public init() {}
}

/// The `.m3u8` playlists genred keeps in the music folder (`genred playlists`, and the daemon).
public struct PlaylistSettings: Sendable, Equatable {
    public var enabled = false
    /// Where the playlists go (inside the library, so media servers find them).
    public var folder: String?
    /// A genre, mood or taxonomy label gets a playlist once this many tracks have it.
    public var minSize = 10
    /// The most tracks in one playlist (the most probable ones).
    public var maxSize = 200
    /// Tracks (paths) that get a "More like" playlist each.
    public var moreLike: [String] = []

    public init() {}
}

/// The t-SNE map's settings, for `genred map` (whose options override them) and the server's
/// `/api/map` and map page (see docs/map.md).
public struct MapSettings: Sendable, Equatable {
    /// About the number of neighbours each point keeps close (lowered for small collections).
    public var perplexity: Double = 30
    /// Gradient steps, early exaggeration included; time grows with them (docs/map.md).
    public var iterations = 1000
    /// Seeds the start and the restarts: the same library and seed give the same map.
    public var seed: UInt64 = 1

    public init() {}

    /// The t-SNE options these settings give (the rest at their defaults).
    public var options: TSNEOptions {
        var o = TSNEOptions()
        o.perplexity = perplexity
        o.iterations = iterations
        o.seed = seed
        return o
    }
}

/// genred's settings, from a TOML file (see config/genred.toml) and the command line.
public struct Configuration: Sendable, Equatable {
    public var roots: [String] = []
    /// nil: `LibraryStore.defaultPath()`.
    public var database: String?
    public var model = ModelBundle.defaultName
    /// Files analysed at once; 0 means one per core.
    public var jobs = 0
    /// Where the daemon's analyses run: on this machine, or by `genred worker`s sharing the store.
    public var analyse: AnalyseMode = .local
    /// The network's number format (`Precision`); a reduced one runs only where it is native
    /// and faster than fp32, else fp32 runs and the log says why.
    public var precision: Precision = .fp32
    /// `genred worker`'s path rewrites (`FROM=TO`), before those of `--map`.
    public var workerMaps: [String] = []
    public var tags = TagSettings()
    public var watch = WatchSettings()
    public var mpd = MPDSettings()
    public var playlists = PlaylistSettings()
    public var map = MapSettings()
    /// The file the settings came from, if any.
    public var source: String?

    public init() {}

    /// The precision `name` names, if analysis may run in it; else `failure`'s error, with why.
    public static func precision<E: Error>(_ name: String, failure: (String) -> E) throws(E) -> Precision {
        guard let p = Precision(rawValue: name) else {
            throw failure("must be one of \(Precision.offeredNames) (got \"\(name)\")")
        }
        guard p.offered else {
            throw failure("\(name) is measured by genred bench but not offered for analysis: it misses the agreement targets with fp32 (docs/speed.md); use \(Precision.offeredNames)")
        }
        return p
    }

    /// Config files looked for when none is named, in order; the first that exists is used.
    public static func searchPaths(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        let configHome = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        return [configHome + "/genred/genred.toml", "/etc/genred/genred.toml"]
    }

    /// The named file, else the first of `searchPaths()` that exists, else the defaults.
    public static func load(explicit path: String?) throws(ConfigError) -> Configuration {
        if let path { return try load(path: path) }
        for candidate in searchPaths() where FileManager.default.fileExists(atPath: candidate) {
            return try load(path: candidate)
        }
        return Configuration()
    }

    public static func load(path: String) throws(ConfigError) -> Configuration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(path: path, line: nil, key: nil, message: "cannot read: \(error.localizedDescription)")
        }
        var config = try parse(text, path: path)
        config.source = path
        return config
    }

    public static func parse(_ text: String, path: String) throws(ConfigError) -> Configuration {
        try parse(text, path: path, unknown: nil)
    }

    /// Like `parse`, but an unknown setting is collected rather than thrown, so that every one
    /// is named at once (for `genred doctor`); the other settings are read as usual.
    public static func parseNamingUnknown(_ text: String, path: String) throws(ConfigError) -> (Configuration, unknown: [ConfigError]) {
        let collector = UnknownSettings()
        var config = try parse(text, path: path, unknown: collector)
        config.source = path
        return (config, collector.found)
    }

    private static func parse(_ text: String, path: String, unknown: UnknownSettings?) throws(ConfigError) -> Configuration {
        let root: TOMLTable
        do { root = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ConfigError(path: path, line: error.source.begin.line, key: nil, message: error.description)
        } catch {
            throw ConfigError(path: path, line: nil, key: nil, message: "\(error)")
        }
        let reader = Reader(text: text, path: path, unknown: unknown)
        var c = Configuration()
        try reader.allow(root, ["library", "analysis", "tags", "watch", "worker", "mpd", "playlists", "map"], in: nil)

        if let library = try reader.table(root, "library", in: nil) {
            try reader.allow(library, ["roots", "database", "store"], in: "library")
            if let roots = try reader.strings(library, "roots", in: "library") { c.roots = roots }
            let database = try reader.string(library, "database", in: "library")
            let store = try reader.string(library, "store", in: "library")
            if database != nil && store != nil {
                throw reader.error("library", "store", "give either store or database, not both (store takes a path or a postgresql:// URL)")
            }
            c.database = store ?? database
        }
        if let analysis = try reader.table(root, "analysis", in: nil) {
            try reader.allow(analysis, ["model", "jobs", "analyse", "precision"], in: "analysis")
            if let name = try reader.string(analysis, "precision", in: "analysis") {
                c.precision = try Self.precision(name) { reader.error("analysis", "precision", $0) }
            }
            if let mode = try reader.string(analysis, "analyse", in: "analysis") {
                guard let m = AnalyseMode(rawValue: mode) else {
                    throw reader.error("analysis", "analyse", "must be local or workers (got \"\(mode)\")")
                }
                c.analyse = m
            }
            if let model = try reader.string(analysis, "model", in: "analysis") { c.model = model }
            if let jobs = try reader.int(analysis, "jobs", in: "analysis", range: 0...256) { c.jobs = jobs }
        }
        if let tags = try reader.table(root, "tags", in: nil) {
            try reader.allow(tags, ["policy", "moods", "genre_threshold", "max_genres", "mood_threshold", "max_moods",
                                    "id3v23_separator", "genre_map", "mood_map", "write_damaged", "taxonomies",
                                    "taxonomy_field", "taxonomy_fields"], in: "tags")
            if let policy = try reader.string(tags, "policy", in: "tags") {
                guard let p = TagPolicy(rawValue: policy) else {
                    throw reader.error("tags", "policy", "must be one of fill, merge, overwrite (got \"\(policy)\")")
                }
                c.tags.policy = p
            }
            if let moods = try reader.bool(tags, "moods", in: "tags") { c.tags.moods = moods }
            if let damaged = try reader.bool(tags, "write_damaged", in: "tags") { c.tags.writeDamaged = damaged }
            if let t = try reader.probability(tags, "genre_threshold", in: "tags") { c.tags.genreThreshold = t }
            if let t = try reader.probability(tags, "mood_threshold", in: "tags") { c.tags.moodThreshold = t }
            if let n = try reader.int(tags, "max_genres", in: "tags", range: 0...50) { c.tags.maxGenres = n }
            if let n = try reader.int(tags, "max_moods", in: "tags", range: 0...50) { c.tags.maxMoods = n }
            if let s = try reader.string(tags, "id3v23_separator", in: "tags") {
                guard !s.isEmpty else { throw reader.error("tags", "id3v23_separator", "must not be empty") }
                c.tags.id3v23Separator = s
            }
            if let map = try reader.table(tags, "genre_map", in: "tags") {
                c.tags.genreMap.merge(try reader.nameMap(map, in: "tags.genre_map")) { $1 }
            }
            if let map = try reader.table(tags, "mood_map", in: "tags") { c.tags.moodMap = try reader.nameMap(map, in: "tags.mood_map") }
            if let names = try reader.strings(tags, "taxonomies", in: "tags") {
                for name in names where name.isEmpty || name.contains("/") {
                    throw reader.error("tags", "taxonomies", "\"\(name)\" is not a taxonomy name (genred learn list shows them)")
                }
                c.tags.taxonomies = names
            }
            if let f = try reader.string(tags, "taxonomy_field", in: "tags") {
                c.tags.taxonomyField = try reader.field(f, "tags", "taxonomy_field")
            }
            if let fields = try reader.table(tags, "taxonomy_fields", in: "tags") {
                for name in fields.keys {
                    guard let f = try reader.string(fields, name, in: "tags.taxonomy_fields") else { continue }
                    c.tags.taxonomyFields[name] = try reader.field(f, "tags.taxonomy_fields", name)
                }
            }
        }
        if let worker = try reader.table(root, "worker", in: nil) {
            try reader.allow(worker, ["map"], in: "worker")
            if let maps = try reader.strings(worker, "map", in: "worker") {
                for m in maps where PathMap(m) == nil {
                    throw reader.error("worker", "map", "\"\(m)\" is not FROM=TO with two absolute folders")
                }
                c.workerMaps = maps
            }
        }
        if let mpd = try reader.table(root, "mpd", in: nil) {
            try reader.allow(mpd, ["address", "password", "music_directory"], in: "mpd")
            if let a = try reader.string(mpd, "address", in: "mpd") {
                guard !a.isEmpty else { throw reader.error("mpd", "address", "must be HOST:PORT or a socket's path, not empty") }
                c.mpd.address = a
            }
            c.mpd.password = try reader.string(mpd, "password", in: "mpd")
            if let d = try reader.string(mpd, "music_directory", in: "mpd") {
                guard d.hasPrefix("/") else { throw reader.error("mpd", "music_directory", "must be an absolute folder (got \"\(d)\")") }
                c.mpd.musicDirectory = d
            }
        }
        if let playlists = try reader.table(root, "playlists", in: nil) {
            try reader.allow(playlists, ["enabled", "folder", "min_size", "max_size", "more_like"], in: "playlists")
            if let e = try reader.bool(playlists, "enabled", in: "playlists") { c.playlists.enabled = e }
            if let f = try reader.string(playlists, "folder", in: "playlists") {
                guard f.hasPrefix("/") else { throw reader.error("playlists", "folder", "must be an absolute folder (got \"\(f)\")") }
                c.playlists.folder = f
            }
            if let n = try reader.int(playlists, "min_size", in: "playlists", range: 1...100_000) { c.playlists.minSize = n }
            if let n = try reader.int(playlists, "max_size", in: "playlists", range: 1...100_000) { c.playlists.maxSize = n }
            if let m = try reader.strings(playlists, "more_like", in: "playlists") { c.playlists.moreLike = m }
            if c.playlists.enabled && c.playlists.folder == nil {
                throw reader.error("playlists", "enabled", "needs folder, the playlists' folder inside the library")
            }
        }
        if let map = try reader.table(root, "map", in: nil) {
            try reader.allow(map, ["perplexity", "iterations", "seed"], in: "map")
            if let p = try reader.double(map, "perplexity", in: "map") {
                guard p >= 1 && p <= 1000 else { throw reader.error("map", "perplexity", "must be between 1 and 1000 (got \(p))") }
                c.map.perplexity = p
            }
            if let n = try reader.int(map, "iterations", in: "map", range: 1...100_000) { c.map.iterations = n }
            if let n = try reader.int(map, "seed", in: "map", range: 0...Int.max) { c.map.seed = UInt64(n) }
        }
        if let watch = try reader.table(root, "watch", in: nil) {
            try reader.allow(watch, ["settle_seconds", "rescan_interval", "workers", "max_attempts", "retry_backoff",
                                     "root_check_interval", "log_level"], in: "watch")
            if let s = try reader.double(watch, "settle_seconds", in: "watch") {
                guard (0...3600).contains(s) else { throw reader.error("watch", "settle_seconds", "must be between 0 and 3600") }
                c.watch.settleSeconds = s
            }
            if let r = try reader.duration(watch, "rescan_interval", in: "watch") { c.watch.rescanInterval = r }
            if let w = try reader.int(watch, "workers", in: "watch", range: 0...256) { c.watch.workers = w }
            if let a = try reader.int(watch, "max_attempts", in: "watch", range: 1...100) { c.watch.maxAttempts = a }
            if let b = try reader.duration(watch, "retry_backoff", in: "watch") {
                guard b > 0 else { throw reader.error("watch", "retry_backoff", "must be more than 0") }
                c.watch.retryBackoff = b
            }
            if let r = try reader.duration(watch, "root_check_interval", in: "watch") {
                guard r > 0 && r <= 3600 else { throw reader.error("watch", "root_check_interval", "must be between 1s and 1h") }
                c.watch.rootCheckInterval = r
            }
            if let level = try reader.string(watch, "log_level", in: "watch") {
                guard let l = Log.Level(name: level) else {
                    throw reader.error("watch", "log_level", "must be one of error, warning, info, debug (got \"\(level)\")")
                }
                c.watch.logLevel = l
            }
        }
        return c
    }

    /// Parses a duration: a number of seconds, or a string such as "90s", "30m", "6h", "1d"; "0" or "off" disables.
    static func parseDuration(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "off" || t == "never" { return 0 }
        let units: [(String, Double)] = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let n = Double(t.dropLast(suffix.count)), n >= 0 else { return nil }
            return n * factor
        }
        guard let n = Double(t), n >= 0 else { return nil }
        return n
    }
}

/// A configuration problem, with the file, and the line and key where known.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let line: Int?
    public let key: String?
    public let message: String

    public var description: String {
        var s = path
        if let line { s += ":\(line)" }
        s += ": "
        if let key { s += "\(key): " }
        return s + message
    }
}

/// The unknown settings of one lenient parse.
private final class UnknownSettings {
    var found: [ConfigError] = []
}

/// Typed access to TOML values, with errors that name the key and its line.
private struct Reader {
    let lines: [Substring]
    let path: String
    /// Where unknown settings go in a lenient parse; nil: they are errors.
    let unknown: UnknownSettings?

    init(text: String, path: String, unknown: UnknownSettings? = nil) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        self.path = path
        self.unknown = unknown
    }

    /// The line where `key` is assigned (or its table header), searched in the file's text.
    func line(of key: String, in table: String?) -> Int? {
        let last = key
        for (i, line) in lines.enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix(last + " ") || t.hasPrefix(last + "=") || t.hasPrefix("\"\(last)\"")
                || t == "[\(table.map { $0 + "." } ?? "")\(key)]" {
                return i + 1
            }
        }
        return nil
    }

    func error(_ table: String?, _ key: String, _ message: String) -> ConfigError {
        let full = table.map { "\($0).\(key)" } ?? key
        return ConfigError(path: path, line: line(of: key, in: table), key: full, message: message)
    }

    func allow(_ t: TOMLTable, _ keys: [String], in table: String?) throws(ConfigError) {
        for key in t.keys.sorted() where !keys.contains(key) {
            let problem = error(table, key, "unknown setting (known here: \(keys.joined(separator: ", ")))")
            guard let unknown else { throw problem }
            unknown.found.append(problem)
        }
    }

    func table(_ t: TOMLTable, _ key: String, in table: String?) throws(ConfigError) -> TOMLTable? {
        guard let v = t[key] else { return nil }
        guard let sub = v.table else { throw error(table, key, "must be a table") }
        return sub
    }

    func string(_ t: TOMLTable, _ key: String, in table: String?) throws(ConfigError) -> String? {
        guard let v = t[key] else { return nil }
        guard let s = v.string else { throw error(table, key, "must be a string") }
        return s
    }

    func bool(_ t: TOMLTable, _ key: String, in table: String?) throws(ConfigError) -> Bool? {
        guard let v = t[key] else { return nil }
        guard let b = v.bool else { throw error(table, key, "must be true or false") }
        return b
    }

    func int(_ t: TOMLTable, _ key: String, in table: String?, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let v = t[key] else { return nil }
        guard let i = v.int else { throw error(table, key, "must be a whole number") }
        guard range.contains(i) else { throw error(table, key, "must be between \(range.lowerBound) and \(range.upperBound)") }
        return i
    }

    func double(_ t: TOMLTable, _ key: String, in table: String?) throws(ConfigError) -> Double? {
        guard let v = t[key] else { return nil }
        if let d = v.double { return d }
        if let i = v.int { return Double(i) }
        throw error(table, key, "must be a number")
    }

    func duration(_ t: TOMLTable, _ key: String, in table: String?) throws(ConfigError) -> Double? {
        guard let v = t[key] else { return nil }
        if let i = v.int, i >= 0 { return Double(i) }
        if let d = v.double, d >= 0 { return d }
        if let s = v.string, let d = Configuration.parseDuration(s) { return d }
        throw error(table, key, "must be a duration such as \"90s\", \"30m\", \"6h\", \"1d\" (or seconds, or \"off\")")
    }

    func probability(_ t: TOMLTable, _ key: String, in table: String?) throws(ConfigError) -> Float? {
        guard let d = try double(t, key, in: table) else { return nil }
        guard (0...1).contains(d) else { throw error(table, key, "must be between 0 and 1") }
        return Float(d)
    }

    func strings(_ t: TOMLTable, _ key: String, in table: String?) throws(ConfigError) -> [String]? {
        guard let v = t[key] else { return nil }
        guard let array = v.array else { throw error(table, key, "must be an array of strings") }
        var out: [String] = []
        for item in array {
            guard let s = item.string else { throw error(table, key, "must be an array of strings") }
            out.append(s)
        }
        return out
    }

    /// A tag field name for taxonomy labels: a valid property key that does not identify the track.
    func field(_ name: String, _ table: String, _ key: String) throws(ConfigError) -> TagField {
        guard let field = TagField(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
            throw error(table, key, "\"\(name)\" is not a tag field name (letters, digits and _, such as GENRE or GROUPING)")
        }
        guard field.isWritable else {
            throw error(table, key, "genred does not write \(field.rawValue): it identifies or orders the track")
        }
        return field
    }

    func nameMap(_ t: TOMLTable, in table: String) throws(ConfigError) -> [String: String] {
        var map: [String: String] = [:]
        for key in t.keys {
            guard let s = try string(t, key, in: table) else { continue }
            map[key.lowercased()] = s.trimmingCharacters(in: .whitespaces)
        }
        return map
    }
}

extension ConfigError: GenredError {
    public var subject: String { path }
    public var reasonText: String { message }
}
