import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Holds files back until their size and mtime stop changing.
///
/// `IN_CLOSE_WRITE` does not prove a copy is finished: a copier may close and reopen. A path
/// is due once its (size, mtime) has stayed the same for `settleSeconds` since it was last
/// noted or last seen to change. Changes are only seen when `due(now:)` stats the files, so
/// the window is measured at the caller's polling granularity.
public final class SettleTracker {
    /// Size and modification time in nanoseconds, or nil when the path does not exist.
    public typealias Stat = (String) -> (size: Int64, mtimeNs: Int64)?

    private struct Snapshot: Equatable {
        var size: Int64
        var mtimeNs: Int64
    }

    private struct Entry {
        var snapshot: Snapshot?
        var since: Date
    }

    public var settleSeconds: Double
    private let stat: Stat
    private var entries: [String: Entry] = [:]

    public init(settleSeconds: Double = 5, stat: @escaping Stat = SettleTracker.fileStat) {
        self.settleSeconds = settleSeconds
        self.stat = stat
    }

    /// Number of paths waiting to settle.
    public var pending: Int { entries.count }

    /// Starts (or restarts) the window for `path`.
    public func note(_ path: String, now: Date) {
        entries[path] = Entry(snapshot: read(path), since: now)
    }

    /// Takes out the paths that have settled, and those that no longer exist.
    ///
    /// A path whose stat changed since the last look starts a new window. Both lists are
    /// sorted.
    public func due(now: Date) -> (ready: [String], vanished: [String]) {
        var ready: [String] = []
        var vanished: [String] = []
        for (path, entry) in entries {
            guard let current = read(path) else {
                vanished.append(path)
                continue
            }
            if current != entry.snapshot {
                entries[path] = Entry(snapshot: current, since: now)
            } else if now.timeIntervalSince(entry.since) >= settleSeconds {
                ready.append(path)
            }
        }
        for path in ready { entries[path] = nil }
        for path in vanished { entries[path] = nil }
        return (ready.sorted(), vanished.sorted())
    }

    public func remove(_ path: String) {
        entries[path] = nil
    }

    /// Follows a file rename; the window keeps running, since a rename changes no content.
    public func rename(from: String, to: String) {
        guard let entry = entries.removeValue(forKey: from) else { return }
        entries[to] = entry
    }

    /// Follows a directory rename for every waiting path under `from`.
    public func renameDirectory(from: String, to: String) {
        let prefix = from.hasSuffix("/") ? from : from + "/"
        let target = to.hasSuffix("/") ? to : to + "/"
        for path in entries.keys where path.hasPrefix(prefix) {
            rename(from: path, to: target + path.dropFirst(prefix.count))
        }
    }

    /// `stat(2)` of `path`, following symbolic links.
    public static func fileStat(_ path: String) -> (size: Int64, mtimeNs: Int64)? {
        statFollowingLinks(path)
    }

    private func read(_ path: String) -> Snapshot? {
        stat(path).map { Snapshot(size: $0.size, mtimeNs: $0.mtimeNs) }
    }
}

private func statFollowingLinks(_ path: String) -> (size: Int64, mtimeNs: Int64)? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return (Int64(info.st_size), Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
}
