import Foundation

#if canImport(Glibc)
import Glibc
#endif
import GenredEngine
import GenredLibrary

/// A change in the watched tree, already interpreted for the daemon.
///
/// Paths are absolute, built from the root as given plus the names the kernel reports, with
/// their exact bytes (see `FilePath`). Hidden and partial names are reported like any other;
/// the caller filters them.
enum WatchEvent: Sendable, Hashable {
    /// A regular file was closed after being opened for writing.
    case written(String)
    /// A file moved into the tree from outside, or a hard link was made to a regular file.
    case appeared(String)
    /// A file was renamed or moved within the watched tree.
    case moved(from: String, to: String)
    /// A file was deleted, or moved out of the tree (seen once the pairing timeout passed).
    case removed(String)
    /// A directory was created or moved in; it is already watched, recursively.
    ///
    /// Files can land in it before its watch exists, so the caller scans it. A hidden
    /// directory (name starting with `.`) is reported but never watched; a directory renamed
    /// from a hidden name to a visible one is reported here too, since nothing under it
    /// was known.
    case directoryAppeared(String)
    /// A directory was renamed or moved within the tree; its watches follow it.
    ///
    /// Nothing is reported for the files under it: the caller renames what it knows under
    /// `from`. A directory renamed to a hidden name is reported as `directoryRemoved`.
    case directoryMoved(from: String, to: String)
    /// A directory was deleted, moved out of the tree, or renamed to a hidden name.
    case directoryRemoved(String)
    /// The kernel queue overflowed and events were lost; the watches have been rebuilt and
    /// the caller should rescan everything.
    case overflow
    /// A directory could not be watched (for example the watch limit is reached) or a root
    /// went away; the caller should rescan, and log `reason`.
    case watchLost(String, reason: String)
}

/// Why a directory could not be watched.
struct WatchError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    /// The `errno` behind it, where there is one.
    public let code: Int32?

    public init(path: String, reason: String, code: Int32? = nil) {
        self.path = path
        self.reason = reason
        self.code = code
    }

    public var description: String { "cannot watch \(path): \(reason)" }

    /// The error for an `errno` from `inotify_init` or `inotify_add_watch`, naming the
    /// kernel limit and how to raise it where a limit is the cause.
    static func system(_ code: Int32, path: String, limits: InotifyLimits = .current) -> WatchError {
        WatchError(path: path, reason: reason(for: code, limits: limits), code: code)
    }

    static func reason(for code: Int32, limits: InotifyLimits) -> String {
        switch code {
        case ENOSPC:
            let current = limits.maxUserWatches.map { "fs.inotify.max_user_watches = \($0)" }
                ?? "the limit could not be read"
            let proposed = max(524_288, (limits.maxUserWatches ?? 0) * 2)
            return "the inotify watch limit is reached (\(current), in /proc/sys/fs/inotify/max_user_watches; "
                + "each watched directory takes one watch, shared with every other program of this user); "
                + "raise it with `sysctl fs.inotify.max_user_watches=\(proposed)` and keep it across reboots "
                + "with the line `fs.inotify.max_user_watches=\(proposed)` in /etc/sysctl.d/90-genred-inotify.conf"
        case EMFILE:
            let current = limits.maxUserInstances.map { "fs.inotify.max_user_instances = \($0)" }
                ?? "the limit could not be read"
            return "too many inotify instances for this user, or too many open files in this process "
                + "(\(current), in /proc/sys/fs/inotify/max_user_instances); "
                + "raise it with `sysctl fs.inotify.max_user_instances=1024` and keep it across reboots "
                + "with the line `fs.inotify.max_user_instances=1024` in /etc/sysctl.d/90-genred-inotify.conf"
        case ENFILE:
            return "the system-wide limit on open files is reached (fs.file-max)"
        case ENOMEM:
            return "the kernel is out of memory for inotify"
        case EACCES:
            return "permission denied: the directory must be readable by the daemon's user"
        case ENOENT:
            return "no such directory"
        case ENOTDIR:
            return "not a directory"
        case ELOOP:
            return "too many levels of symbolic links"
        default:
            return "\(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// The per-user inotify limits from `/proc/sys/fs/inotify`; nil where unreadable.
public struct InotifyLimits: Sendable, Equatable {
    var maxUserWatches: Int?
    var maxUserInstances: Int?
    var maxQueuedEvents: Int?

    public init(maxUserWatches: Int? = nil, maxUserInstances: Int? = nil, maxQueuedEvents: Int? = nil) {
        self.maxUserWatches = maxUserWatches
        self.maxUserInstances = maxUserInstances
        self.maxQueuedEvents = maxQueuedEvents
    }

    /// The inotify instances open in this user's processes (their descriptors that are
    /// `anon_inode:inotify`); nil when `/proc` cannot be read.
    static func instancesInUse() -> Int? {
        guard let processes = PathIO.entries("/proc") else { return nil }
        let uid = getuid()
        var count = 0
        for process in processes {
            guard process.name.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { continue }
            let dir = "/proc/" + FilePath.string(process.name)
            guard let info = PathIO.stat(dir), info.st_uid == uid else { continue }
            for fd in PathIO.entries(dir + "/fd") ?? [] {
                let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/fd/" + FilePath.string(fd.name))) ?? ""
                if link == "anon_inode:inotify" { count += 1 }
            }
        }
        return count
    }

    public static var current: InotifyLimits {
        InotifyLimits(
            maxUserWatches: read("max_user_watches"),
            maxUserInstances: read("max_user_instances"),
            maxQueuedEvents: read("max_queued_events")
        )
    }

    private static func read(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/sys/fs/inotify/" + name, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

extension WatchError: GenredError {
    public var subject: String { path }
    public var reasonText: String { reason }
}
