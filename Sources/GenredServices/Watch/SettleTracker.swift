import Foundation

#if canImport(Glibc)
import Glibc
#endif
import GenredEngine
import GenredLibrary

/// Holds files back until their size and mtime stop changing.
///
/// `IN_CLOSE_WRITE` does not prove a copy is finished: a copier may close and reopen. A path
/// is due once its (size, mtime) has stayed the same for `settleSeconds` since it was last
/// noted or last seen to change. Changes are only seen when `due(now:)` stats the files, so
/// the window is measured at the caller's polling granularity.
final class SettleTracker {
    /// Size and modification time in nanoseconds, or nil when the path does not exist.
    typealias Stat = (String) -> (size: Int64, mtimeNs: Int64)?

    private struct Snapshot: Equatable {
        var size: Int64
        var mtimeNs: Int64
    }

    private struct Entry {
        var snapshot: Snapshot?
        var since: Date
    }

    package var settleSeconds: Double
    private let stat: Stat
    /// Keyed by exact bytes: NFC and NFD spellings of a name are different files.
    private var entries: [ExactPath: Entry] = [:]

    public init(settleSeconds: Double = 5, stat: @escaping Stat = SettleTracker.fileStat) {
        self.settleSeconds = settleSeconds
        self.stat = stat
    }

    /// Number of paths waiting to settle.
    public var pending: Int { entries.count }

    /// Starts (or restarts) the window for `path`.
    public func note(_ path: String, now: Date) {
        entries[ExactPath(path)] = Entry(snapshot: read(path), since: now)
    }

    /// Takes out the paths that have settled, and those that no longer exist.
    ///
    /// A path whose stat changed since the last look starts a new window. Both lists are
    /// sorted.
    public func due(now: Date) -> (ready: [String], vanished: [String]) {
        var ready: [ExactPath] = []
        var vanished: [ExactPath] = []
        for (key, entry) in entries {
            guard let current = read(key.string) else {
                vanished.append(key)
                continue
            }
            if current != entry.snapshot {
                entries[key] = Entry(snapshot: current, since: now)
            } else if now.timeIntervalSince(entry.since) >= settleSeconds {
                ready.append(key)
            }
        }
        for key in ready { entries[key] = nil }
        for key in vanished { entries[key] = nil }
        return (ready.sorted().map(\.string), vanished.sorted().map(\.string))
    }

    public func remove(_ path: String) {
        entries[ExactPath(path)] = nil
    }

    /// Follows a file rename; the window keeps running, since a rename changes no content.
    package func rename(from: String, to: String) {
        guard let entry = entries.removeValue(forKey: ExactPath(from)) else { return }
        entries[ExactPath(to)] = entry
    }

    /// Follows a directory rename for every waiting path under `from`.
    func renameDirectory(from: String, to: String) {
        let prefix = from.hasSuffix("/") ? from : from + "/"
        let target = to.hasSuffix("/") ? to : to + "/"
        for key in entries.keys where FilePath.isPath(key.string, inside: from) && key.string.utf8.count > prefix.utf8.count {
            let rest = key.string.utf8.dropFirst(prefix.utf8.count)
            rename(from: key.string, to: target + String(decoding: rest, as: UTF8.self))
        }
    }

    /// `stat(2)` of `path`, following symbolic links.
    static func fileStat(_ path: String) -> (size: Int64, mtimeNs: Int64)? {
        statFollowingLinks(path)
    }

    private func read(_ path: String) -> Snapshot? {
        stat(path).map { Snapshot(size: $0.size, mtimeNs: $0.mtimeNs) }
    }
}

private func statFollowingLinks(_ path: String) -> (size: Int64, mtimeNs: Int64)? {
    guard let info = PathIO.stat(path) else { return nil }
    return (Int64(info.st_size), Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
}
