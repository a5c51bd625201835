import Foundation
import GenredEngine
import GenredLibrary

/// How `genred radio` chooses what to append.
public struct RadioOptions: Sendable {
    /// Keep at least this many tracks after the current one.
    public var keep = 5
    /// How many of the queue's last tracks the next ones should sound like.
    public var seed = 3
    /// No artist of the queue's last `artistGap` tracks is appended.
    public var artistGap = 3
    /// No album of the queue's last `albumGap` tracks is appended.
    public var albumGap = 5
    /// No track is appended again while it is among the last `noRepeatWithin` tracks of the
    /// queue or of what this radio appended.
    public var noRepeatWithin = 100
    public var filter: TrackFilter?
    /// Seconds to wait after someone else changed the queue before appending.
    public var settle: Double = 2

    public init() {}
}

/// Keeps MPD's queue from running dry: waits on MPD's `idle` for the queue or the player to
/// change, and when fewer than `keep` tracks are left after the current one, appends tracks
/// that sound like the queue's last ones. It only ever appends (`add`), never while the
/// queue changed by someone else less than `settle` seconds ago, and matches MPD's paths to
/// genred's tracks by their exact bytes under MPD's music directory.
public final class Radio {
    public let address: MPDAddress
    let password: String?
    let store: LibraryStore
    let manifest: BundleManifest
    let settings: TagSettings
    let options: RadioOptions
    /// The folder MPD's paths are relative to; nil: asked from MPD on each connection.
    let configuredMusicDirectory: String?
    private var musicDirectory = "/"

    private var library: Library?
    /// Files already named in a log line as unknown to genred, or refused by MPD.
    private var unknown = Set<ExactPath>()
    /// What this radio appended, newest last (for `noRepeatWithin`).
    private var appended: [ExactPath] = []
    /// The queue version after this radio's own last change; another one means someone else's.
    private var ownVersion: UInt64?
    private var foreignChange: Date?
    private var saidNoSeed = false

    struct Library {
        var stamp: LibraryStore.ContentStamp?
        var index: SimilarityIndex
        var row: [ExactPath: Int]
        /// Rows the filter keeps; nil: all.
        var allowed: Set<Int>?
        var allowedOrder: [Int]
    }

    public init(address: MPDAddress, password: String?, musicDirectory: String?, store: LibraryStore,
                manifest: BundleManifest, settings: TagSettings, options: RadioOptions) {
        self.address = address
        self.password = password
        configuredMusicDirectory = musicDirectory.map { FilePath.normalize($0) }
        self.store = store
        self.manifest = manifest
        self.settings = settings
        self.options = options
    }

    // MARK: Connecting

    /// Connects and learns the music directory.
    public func connect() throws(MPDError) -> MPDConnection {
        let connection = try MPDConnection(address: address, password: password)
        if let configuredMusicDirectory {
            musicDirectory = configuredMusicDirectory
        } else if address.isLocal, let asked = try connection.musicDirectory() {
            musicDirectory = asked
        } else {
            throw MPDError(address.description, .noMusicDirectory)
        }
        return connection
    }

    /// Runs until `stop` says so: fills the queue whenever it runs low, reconnecting with
    /// backoff (0.5 s doubling to 30 s) whenever MPD goes away. Each change of state is logged
    /// once. Errors other than losing MPD (a refused password, no music directory) end it.
    public func run(stop: @escaping () -> Bool) throws {
        var backoff = 0.5
        var connected: Bool?
        while !stop() {
            do {
                let connection = try connect()
                if connected != true {
                    Log.info("radio: connected to MPD at \(address) (music directory \(musicDirectory))")
                }
                connected = true
                backoff = 0.5
                try serve(connection, stop: stop)
                return
            } catch let error as MPDError where error.isConnectionProblem {
                if connected == true {
                    Log.warning("radio: lost MPD at \(address) (\(error.detail)); reconnecting")
                } else if connected == nil {
                    Log.warning("radio: cannot reach MPD at \(address) (\(error.detail)); retrying")
                }
                connected = false
                let until = Date().addingTimeInterval(backoff)
                while !stop() && Date() < until { Thread.sleep(forTimeInterval: min(0.1, max(0, until.timeIntervalSinceNow))) }
                backoff = min(backoff * 2, 30)
            }
        }
    }

    /// The idle loop on one connection; returns when `stop` says so.
    private func serve(_ connection: MPDConnection, stop: () -> Bool) throws {
        ownVersion = nil
        foreignChange = nil
        while !stop() {
            var deadline: Date?
            if let changed = foreignChange, Date().timeIntervalSince(changed) < options.settle {
                deadline = changed.addingTimeInterval(options.settle)
            } else {
                foreignChange = nil
                try fill(connection)
            }
            guard let changes = try connection.idle(["playlist", "player"], until: deadline, stop: stop) else { return }
            if changes.contains("playlist") {
                let version = try connection.status().playlistVersion
                if version != ownVersion {
                    foreignChange = Date()
                    ownVersion = version
                }
            }
        }
    }

    // MARK: Filling

    /// Appends what the queue needs now; returns how many tracks were appended.
    @discardableResult
    public func fill(_ connection: MPDConnection) throws -> Int {
        let status = try connection.status()
        let remaining = status.song.map { status.playlistLength - $0 - 1 } ?? status.playlistLength
        guard remaining < options.keep else { return 0 }
        let library = try loadLibrary()
        let t = library.index.tracks
        let need = options.keep - remaining
        let look = max(options.noRepeatWithin, options.artistGap, options.albumGap, options.seed)
        let tail = try connection.queue(from: max(0, status.playlistLength - look))

        // The queue's tail as genred's tracks, where it knows them.
        var recentRows: [Int?] = []
        var recentArtists: [String?] = [], recentAlbums: [String?] = []
        for song in tail {
            let path = absolutePath(song.file)
            let row = library.row[ExactPath(path)]
            if row == nil && unknown.insert(ExactPath(path)).inserted {
                Log.info("radio: skipping \(path): not analysed by genred")
            }
            recentRows.append(row)
            recentArtists.append(row.flatMap { t.artists[$0] } ?? song.artist)
            recentAlbums.append(row.flatMap { t.albums[$0] } ?? song.album)
        }
        var avoid = Set(recentRows.suffix(options.noRepeatWithin).compactMap { $0.map { ExactPath(t.paths[$0]) } })
        avoid.formUnion(appended.suffix(options.noRepeatWithin))
        avoid.formUnion(unknown)
        let seeds = Array(recentRows.compactMap { $0 }.suffix(options.seed))

        var candidates: [Int]
        if seeds.isEmpty {
            guard library.allowed != nil else {
                if !saidNoSeed { Log.info("radio: the queue has no track genred knows; add one to start the radio") }
                saidNoSeed = true
                return 0
            }
            // Kept to a genre, mood or label: start from its tracks, most probable first.
            candidates = library.allowedOrder
        } else {
            let d = t.embeddingSize
            var mean = [Float](repeating: 0, count: d)
            for r in seeds { for j in 0..<d { mean[j] += t.embeddings[r * d + j] / Float(seeds.count) } }
            let wanted = min(t.count, need * 20 + options.noRepeatWithin + 50)
            let allowed = library.allowed
            let root = musicDirectory
            candidates = library.index.nearest(to: mean, scores: nil, count: wanted) { i in
                (allowed?.contains(i) ?? true) && FilePath.isPath(t.paths[i], inside: root)
            }.map(\.index)
        }
        saidNoSeed = false
        candidates = candidates.filter { !avoid.contains(ExactPath(t.paths[$0])) && FilePath.isPath(t.paths[$0], inside: musicDirectory) }

        // Greedy, nearest first, keeping the spacing; if too few fit, the spacing gives way
        // (never the no-repeat window).
        var picked: [Int] = []
        func key(_ s: String?) -> String? { s.map { $0.lowercased() }.flatMap { $0.isEmpty ? nil : $0 } }
        func spaced(_ c: Int) -> Bool {
            let artists = Set((recentArtists + picked.map { t.artists[$0] }).suffix(options.artistGap).compactMap(key))
            let albums = Set((recentAlbums + picked.map { t.albums[$0] }).suffix(options.albumGap).compactMap(key))
            if let a = key(t.artists[c]), artists.contains(a) { return false }
            if let a = key(t.albums[c]), albums.contains(a) { return false }
            return true
        }
        while picked.count < need {
            // The nearest unused candidate that keeps the spacing, else the nearest unused one.
            guard let next = candidates.first(where: { !picked.contains($0) && spaced($0) })
                ?? candidates.first(where: { !picked.contains($0) }) else { break }
            if !spaced(next) { Log.debug("radio: too few tracks keep the artist and album spacing") }
            picked.append(next)
        }
        if picked.isEmpty {
            Log.debug("radio: nothing left to append")
            return 0
        }
        return try append(picked.map { t.paths[$0] }, to: connection)
    }

    /// `genred radio --path`: appends the sonic path from `from` to `to` (both included).
    public func appendPath(from: String, to: String, length: Int, connection: MPDConnection) throws -> Int {
        let library = try loadLibrary()
        guard let a = row(of: from, in: library) else { throw QueryError(from, .unknownTrack) }
        guard let b = row(of: to, in: library) else { throw QueryError(to, .unknownTrack) }
        let steps = try library.index.path(from: a, to: b, count: length)
        return try append(steps.map { library.index.tracks.paths[$0.row] }, to: connection)
    }

    private func append(_ paths: [String], to connection: MPDConnection) throws(MPDError) -> Int {
        var added = 0
        for path in paths {
            guard let file = mpdPath(path) else { continue }
            do {
                try connection.add(file)
                added += 1
                appended.append(ExactPath(path))
                Log.info("radio: appended \(path)")
            } catch let error where !error.isConnectionProblem {
                unknown.insert(ExactPath(path))
                Log.warning("radio: MPD would not add \(path): \(error.reasonText)")
            }
        }
        if appended.count > 4 * options.noRepeatWithin { appended.removeFirst(appended.count - options.noRepeatWithin) }
        ownVersion = try connection.status().playlistVersion
        return added
    }

    // MARK: Paths and library

    /// A track given as a path (absolute, or relative to MPD's music directory) or a track id.
    private func row(of argument: String, in library: Library) -> Int? {
        let candidates = argument.hasPrefix("/") ? [FilePath.normalize(argument)] : [absolutePath(argument), FilePath.normalize(argument)]
        for c in candidates { if let r = library.row[ExactPath(c)] { return r } }
        if let id = Int64(argument) { return library.index.tracks.ids.firstIndex(of: id) }
        return nil
    }

    /// genred's absolute path for one of MPD's.
    public func absolutePath(_ file: String) -> String { PathIO.join(musicDirectory, file) }

    /// MPD's path for one of genred's; nil outside the music directory.
    public func mpdPath(_ path: String) -> String? { Self.relative(path, to: musicDirectory) }

    /// `path` relative to `root`, by bytes; nil when it is not below `root`.
    public static func relative(_ path: String, to root: String) -> String? {
        guard FilePath.isPath(path, inside: root), !ExactPath(path).string.utf8.elementsEqual(root.utf8) else { return nil }
        let drop = root == "/" ? 1 : root.unicodeScalars.count + 1
        return String(String.UnicodeScalarView(path.unicodeScalars.dropFirst(drop)))
    }

    /// The analysed tracks, read again when the store has changed.
    private func loadLibrary() throws -> Library {
        let stamp = try? store.contentStamp()
        if let library, let stamp, library.stamp == stamp { return library }
        let vectors = try store.vectors(model: manifest.name)
        let index = SimilarityIndex(tracks: vectors, labels: manifest.labels, displayNames: manifest.displayNames)
        var rows: [ExactPath: Int] = [:]
        for (i, p) in vectors.paths.enumerated() { rows[ExactPath(p)] = i }
        var allowed: Set<Int>?, order: [Int] = []
        if let filter = options.filter {
            order = try filter.rows(of: index, manifest: manifest, settings: settings, store: store)
            if order.isEmpty { throw QueryError(filter.description, .badParameter("no analysed track has it")) }
            allowed = Set(order)
        }
        let made = Library(stamp: stamp, index: index, row: rows, allowed: allowed, allowedOrder: order)
        library = made
        return made
    }
}
