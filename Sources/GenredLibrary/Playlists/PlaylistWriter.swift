import Foundation
import GenredEngine

#if canImport(Glibc)
import Glibc
#endif

/// Why a playlist could not be written or read.
public struct PlaylistError: Error, Sendable, CustomStringConvertible {
    /// The file or folder.
    public let subject: String
    public let reason: String

    public init(_ subject: String, _ reason: String) {
        self.subject = subject
        self.reason = reason
    }

    public var description: String { "\(subject): \(reason)" }
}

extension PlaylistError: GenredError {
    public var reasonText: String { description }
}

/// Keeps genred's `.m3u8` playlists in one folder.
///
/// Each file genred writes starts with `#EXTM3U` and a marker line, `# genred: …`; a playlist
/// without it is never rewritten or removed, whatever its name. Paths are relative to the
/// folder, with each name's exact bytes. A file is rewritten only when its bytes change, and
/// atomically: a temporary file in the same folder is written and flushed, renamed over the
/// old one, and the folder flushed, so a reader (or a crash) sees the old or the new playlist,
/// never part of one. A playlist of genred's that is no longer planned is removed.
public struct PlaylistWriter: Sendable {
    public let folder: String

    public static let marker = "# genred:"
    static let temporarySuffix = ".genred-tmp"

    public init(folder: String) {
        self.folder = FilePath.normalize(folder)
    }

    public struct Outcome: Sendable, Equatable {
        public var written: [String] = []
        public var unchanged: [String] = []
        public var removed: [String] = []
        /// Files in the way that genred did not make, left alone.
        public var foreign: [String] = []
    }

    /// The file's bytes for a playlist.
    public func render(_ playlist: PlannedPlaylist) -> [UInt8] {
        var text = "#EXTM3U\n\(Self.marker) \(playlist.title); kept by genred playlists and genred watch, rewritten as the library changes. Remove this line to keep the file as it is.\n"
        text += "#PLAYLIST:\(playlist.title)\n"
        for e in playlist.entries {
            let seconds = e.duration.map { Int($0.rounded()) } ?? -1
            let name = Playlist.displayName(path: e.path, title: e.title, artist: e.artist)
            text += "#EXTINF:\(seconds),\(name.replacingOccurrences(of: "\n", with: " "))\n\(Self.relative(e.path, from: folder))\n"
        }
        return FilePath.bytes(text)
    }

    /// Writes the playlists that changed and removes genred's playlists that are no longer
    /// planned; with `dryRun`, only says what it would do.
    public func update(_ playlists: [PlannedPlaylist], dryRun: Bool = false) throws(PlaylistError) -> Outcome {
        var outcome = Outcome()
        if !dryRun {
            guard PathIO.makeDirectories(folder) else { throw PlaylistError(folder, "cannot create the folder: \(String(cString: strerror(errno)))") }
            removeLeftovers()
        }
        var planned = Set<ExactPath>()
        for p in playlists {
            let path = PathIO.join(folder, p.fileName)
            planned.insert(ExactPath(p.fileName))
            let bytes = render(p)
            if let old = Self.read(path) {
                guard Self.hasMarker(old) else {
                    outcome.foreign.append(path)
                    continue
                }
                if old == bytes {
                    outcome.unchanged.append(path)
                    continue
                }
            }
            if !dryRun { try Self.writeAtomically(bytes, to: path) }
            outcome.written.append(path)
        }
        for entry in PathIO.entries(folder) ?? [] where entry.name.count > 5 && Array(entry.name.suffix(5)) == Array(".m3u8".utf8) {
            let name = FilePath.string(entry.name)
            guard !planned.contains(ExactPath(name)) else { continue }
            let path = PathIO.join(folder, entry.name)
            guard let old = Self.read(path), Self.hasMarker(old) else { continue }
            if !dryRun {
                guard PathIO.unlink(path) == 0 else { throw PlaylistError(path, "cannot remove: \(String(cString: strerror(errno)))") }
            }
            outcome.removed.append(path)
        }
        if !dryRun && !outcome.removed.isEmpty { Self.syncDirectory(folder) }
        return outcome
    }

    /// Whether a playlist's bytes carry genred's marker (as its first or second line).
    public static func hasMarker(_ bytes: [UInt8]) -> Bool {
        let lines = bytes.prefix(4096).split(separator: UInt8(ascii: "\n"), maxSplits: 2, omittingEmptySubsequences: false).prefix(2)
        return lines.contains { $0.starts(with: Array(marker.utf8)) }
    }

    /// `path` relative to `folder`, through `..` where needed, by components' bytes.
    public static func relative(_ path: String, from folder: String) -> String {
        let p = path.split(separator: "/").map(String.init), f = folder.split(separator: "/").map(String.init)
        var common = 0
        while common < min(p.count - 1, f.count), ExactPath(p[common]) == ExactPath(f[common]) { common += 1 }
        return (Array(repeating: "..", count: f.count - common) + p[common...]).joined(separator: "/")
    }

    // MARK: Files

    /// Temporary files of a write that was cut short (a crash, SIGKILL).
    private func removeLeftovers() {
        for entry in PathIO.entries(folder) ?? [] where entry.name.first == UInt8(ascii: ".")
            && entry.name.count > Self.temporarySuffix.utf8.count && Array(entry.name.suffix(Self.temporarySuffix.utf8.count)) == Array(Self.temporarySuffix.utf8) {
            PathIO.unlink(PathIO.join(folder, entry.name))
        }
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = PathIO.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += chunk[..<n]
        }
        return out
    }

    /// Temporary file beside `path`, written, flushed, renamed over `path`; then the folder flushed.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(PlaylistError) {
        let folder = FilePath.parent(path)
        let temporary = PathIO.join(folder, "." + FilePath.lastComponent(path) + ".\(getpid())" + temporarySuffix)
        func fail(_ what: String) -> PlaylistError {
            let why = String(cString: strerror(errno))
            PathIO.unlink(temporary)
            return PlaylistError(path, "\(what): \(why)")
        }
        let fd = PathIO.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("cannot create a temporary file") }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                Glibc.close(fd)
                throw fail("cannot write")
            }
            done += n
        }
        guard fsync(fd) == 0 else {
            Glibc.close(fd)
            throw fail("cannot flush")
        }
        guard Glibc.close(fd) == 0 else { throw fail("cannot write") }
        let renamed = FilePath.withCString(temporary) { from in FilePath.withCString(path) { Glibc.rename(from, $0) } }
        guard renamed == 0 else { throw fail("cannot rename the temporary file into place") }
        syncDirectory(folder)
    }

    static func syncDirectory(_ path: String) {
        let fd = PathIO.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        Glibc.close(fd)
    }
}
