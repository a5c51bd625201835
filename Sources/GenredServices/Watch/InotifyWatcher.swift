import CInotifyTools
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif
import GenredEngine
import GenredLibrary

/// Whether an `InotifyWatcher` is open in this process.
///
/// libinotifytools keeps its whole state (the inotify descriptor, the watch tables, the read
/// buffer) in process globals, so only one watcher can exist at a time.
private let watcherOpen = Mutex<Bool>(false)

/// Recursive inotify watches on a set of roots, through libinotifytools.
///
/// One per process, used from one thread (the library returns events in static storage and
/// keeps every table in globals). Hidden directories (name starting with `.`) and symbolic
/// links to directories inside the roots are not watched. The library's table names each
/// watch by its path with a trailing `/`; a directory moved away and not yet paired is
/// parked under a name that is not a path, and events from it are dropped meanwhile.
final class InotifyWatcher {
    public let roots: [String]
    let moveTimeout: Double

    private static let baseMask: UInt32 = UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_FROM) | UInt32(IN_MOVED_TO)
        | UInt32(IN_DELETE) | UInt32(IN_CREATE) | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)
        | UInt32(IN_ONLYDIR)

    /// Raw events handled per `next` call at most, so a flood cannot starve the caller.
    private static let batchLimit = 8192

    private struct Departure {
        var path: [UInt8]
        var isDirectory: Bool
        /// The name its watches were parked under; nil when it had none (hidden).
        var parkedPrefix: [UInt8]?
    }

    private let rootPaths: [[UInt8]]
    private var live: Set<Int32> = []
    private var descriptor: Int32 = -1
    private var pairer: MovePairer<Departure>
    private var ready: [WatchEvent] = []
    private var serial = 0
    private var isOpen = false
    private var holdsSlot = false
    private var overflows = 0

    /// Starts watching `roots` recursively.
    ///
    /// Throws if another watcher is open in this process, if inotify cannot be initialised,
    /// or if no root can be watched at all. A root, or a directory below one, that cannot be
    /// watched is reported by the first `next` as `.watchLost`.
    public init(roots: [String], moveTimeout: Double = 1.0) throws(WatchError) {
        let normalized = roots.map(Self.normalize)
        self.roots = normalized
        self.rootPaths = normalized.map(FilePath.bytes)
        self.moveTimeout = moveTimeout
        self.pairer = MovePairer(timeout: moveTimeout)

        let claimed = watcherOpen.withLock { open in
            if open { return false }
            open = true
            return true
        }
        guard claimed else {
            throw WatchError(path: normalized.first ?? "", reason: "another inotify watcher is open in this process (libinotifytools allows one); close it first")
        }
        holdsSlot = true
        do {
            try start(rootsMustWatch: true)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Number of watches in place.
    var watchCount: Int { live.count }

    /// Waits up to `timeout` seconds for events and returns those that are ready.
    ///
    /// Returns as soon as there is something to report. A `MOVED_FROM` without a partner
    /// after `moveTimeout` is reported here as a removal.
    public func next(timeout: Double) -> [WatchEvent] {
        let deadline = Self.now() + max(0, timeout)
        while true {
            if isOpen { readAvailable() }
            expireDepartures(now: Self.now())
            if !ready.isEmpty {
                defer { ready.removeAll() }
                return ready
            }
            let now = Self.now()
            guard now < deadline else { return [] }
            var wait = deadline - now
            if let due = pairer.nextDeadline { wait = min(wait, max(0, due - now)) }
            waitForInput(seconds: wait)
        }
    }

    /// Whether `root`'s own directory has a watch now (false after it was unmounted, deleted or
    /// moved away).
    func isWatching(root: String) -> Bool {
        isOpen && isWatched(FilePath.bytes(Self.normalize(root)))
    }

    /// Watches `root` anew, with everything below it: for a root that came back (a disk mounted
    /// again, a folder made again). Watches left under its name, such as one on the directory a
    /// mount now covers, are removed first.
    func rewatch(root: String) throws(WatchError) {
        guard isOpen else { throw WatchError(path: root, reason: "the inotify instance is closed") }
        let directory = FilePath.bytes(Self.normalize(root))
        removeWatches(under: directory + [UInt8(ascii: "/")])
        try watchTree(directory, isRoot: true)
    }

    /// Removes every watch and closes the inotify instance; later `next` calls return nothing.
    public func close() {
        stop()
        ready.removeAll()
        pairer.reset()
        if holdsSlot {
            watcherOpen.withLock { $0 = false }
            holdsSlot = false
        }
    }

    // MARK: Setting up

    private func start(rootsMustWatch: Bool) throws(WatchError) {
        let before = Self.inotifyDescriptors()
        guard inotifytools_initialize() != 0 else {
            throw WatchError.system(inotifytools_error(), path: roots.first ?? "")
        }
        isOpen = true
        let added = Self.inotifyDescriptors().subtracting(before)
        descriptor = added.count == 1 ? added.first ?? -1 : -1

        var failures: [WatchError] = []
        for (index, root) in rootPaths.enumerated() {
            do throws(WatchError) {
                try watchTree(root, isRoot: true)
            } catch {
                failures.append(error)
                ready.append(.watchLost(roots[index], reason: error.reason))
            }
        }
        // One root that cannot be watched (an unmounted disk) must not stop the others.
        if rootsMustWatch, failures.count == rootPaths.count, let first = failures.first { throw first }
    }

    /// Closes the instance after emptying the library's read buffer.
    ///
    /// The buffer is a static inside `inotifytools_next_events` that `inotifytools_cleanup`
    /// does not reset: events left there would be handed to the next instance.
    private func stop() {
        guard isOpen else { return }
        var guardCount = 0
        while inotifytools_next_events(0, 1) != nil, guardCount < 10_000_000 { guardCount += 1 }
        inotifytools_cleanup()
        isOpen = false
        descriptor = -1
        live.removeAll()
    }

    /// Watches `top` and every directory below it that is not hidden and not watched yet.
    ///
    /// Throws only when `top` itself cannot be watched. Below it, directories that vanish
    /// or cannot be read are skipped; other failures are queued as `.watchLost` and, for the
    /// watch limit, end the walk.
    private func watchTree(_ top: [UInt8], isRoot: Bool) throws(WatchError) {
        var stack = [top]
        while let directory = stack.popLast() {
            let isTop = directory == top
            if isWatched(directory) {
                if isTop && !isRoot { return }
                continue
            }
            let code = addWatch(directory, follow: isTop && isRoot)
            if code != 0 {
                let error = WatchError.system(code, path: Self.string(directory))
                if isTop { throw error }
                if [ENOENT, ENOTDIR, EACCES, ELOOP].contains(code) { continue }
                ready.append(.watchLost(error.path, reason: error.reason))
                if code == ENOSPC { return }
                continue
            }
            stack.append(contentsOf: Self.subdirectories(of: directory).reversed())
        }
    }

    /// Adds one watch; returns 0 or the errno.
    private func addWatch(_ directory: [UInt8], follow: Bool) -> Int32 {
        let name = directory + [UInt8(ascii: "/")]
        var mask = Self.baseMask
        if !follow { mask |= UInt32(IN_DONT_FOLLOW) }
        let ok = Self.withCString(name) { inotifytools_watch_file($0, Int32(bitPattern: mask)) }
        guard ok != 0 else {
            let code = inotifytools_error()
            return code != 0 ? code : EIO
        }
        let wd = Self.withCString(name) { inotifytools_wd_from_filename($0) }
        guard wd >= 0 else { return EIO }
        // The kernel hands back the existing descriptor for an inode already watched (a
        // directory that came back while parked): give that watch the new name.
        let stored = filename(wd)
        if stored != name, !stored.isEmpty {
            renameWatches(stored, to: name)
        }
        live.insert(wd)
        return 0
    }

    private func isWatched(_ directory: [UInt8]) -> Bool {
        let wd = Self.withCString(directory + [UInt8(ascii: "/")]) { inotifytools_wd_from_filename($0) }
        return wd >= 0 && live.contains(wd)
    }

    /// Removes the watches whose names start with `prefix`.
    private func removeWatches(under prefix: [UInt8]) {
        for wd in live where filename(wd).starts(with: prefix) {
            if inotifytools_remove_watch_by_wd(wd) == 0 {
                // Already gone in the kernel; its IN_IGNORED is on the way.
                bury(filename(wd))
            }
            live.remove(wd)
        }
    }

    /// Renames a dead watch's table entry out of the way.
    ///
    /// libinotifytools drops an entry only after a successful `inotify_rm_watch`, which fails
    /// once the kernel has dropped the watch itself (`IN_IGNORED`). The stale name would then
    /// shadow a new directory created under the same name.
    private func bury(_ name: [UInt8]) {
        guard !name.isEmpty else { return }
        let tombstone = nextPlaceholder("gone")
        Self.withCString(name) { o in Self.withCString(tombstone) { inotifytools_replace_filename(o, $0) } }
    }

    private func nextPlaceholder(_ kind: String) -> [UInt8] {
        serial += 1
        return Array("\(kind):\(serial)/".utf8)
    }

    /// Gives every watch named under `old` the same name under `new`.
    ///
    /// `inotifytools_replace_filename` deletes and reinserts entries of the red-black tree it
    /// is walking, so one call can skip entries when several match. It is called once per
    /// watch, deepest first, so that each call has exactly one entry left to rename.
    private func renameWatches(_ old: [UInt8], to new: [UInt8]) {
        let affected = live.map(filename).filter { $0.starts(with: old) }.sorted { $0.count > $1.count }
        for name in affected {
            let renamed = new + name.dropFirst(old.count)
            Self.withCString(name) { o in Self.withCString(renamed) { inotifytools_replace_filename(o, $0) } }
        }
    }

    // MARK: Reading

    private struct RawEvent {
        var wd: Int32
        var mask: UInt32
        var cookie: UInt32
        var name: [UInt8]
    }

    private func readAvailable() {
        var count = 0
        while count < Self.batchLimit, isOpen, let pointer = inotifytools_next_events(0, 1) {
            count += 1
            // The event lives in the library's static buffer: copy it before anything else.
            let event = pointer.pointee
            let namePointer = genred_inotify_event_name(pointer)!
            let length = strnlen(namePointer, Int(event.len))
            let name = namePointer.withMemoryRebound(to: UInt8.self, capacity: length) {
                Array(UnsafeBufferPointer(start: $0, count: length))
            }
            handle(RawEvent(wd: event.wd, mask: event.mask, cookie: event.cookie, name: name))
        }
    }

    private func waitForInput(seconds: Double) {
        guard seconds > 0 else { return }
        if isOpen, descriptor >= 0 {
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min((seconds * 1000).rounded(.up), Double(Int32.max)))
            _ = poll(&entry, 1, milliseconds)
        } else {
            // No descriptor to wait on: look again in short steps.
            usleep(UInt32(min(seconds, 0.05) * 1_000_000))
        }
    }

    private func has(_ mask: UInt32, _ flag: Int32) -> Bool { mask & UInt32(bitPattern: flag) != 0 }
    private func has(_ mask: UInt32, _ flag: UInt32) -> Bool { mask & flag != 0 }

    private func handle(_ event: RawEvent) {
        let mask = event.mask
        if has(mask, IN_Q_OVERFLOW) {
            recoverFromOverflow()
            return
        }
        let directoryName = filename(event.wd)
        guard !directoryName.isEmpty else { return }  // a watch already removed
        if has(mask, IN_IGNORED) {
            if live.remove(event.wd) != nil { bury(directoryName) }
            return
        }
        guard directoryName.first == UInt8(ascii: "/") else { return }  // parked or buried
        let directory = Array(directoryName.dropLast())  // without the trailing "/"

        if has(mask, IN_UNMOUNT) {
            ready.append(.watchLost(Self.string(directory), reason: "the file system was unmounted"))
            return
        }
        if has(mask, IN_DELETE_SELF) || has(mask, IN_MOVE_SELF) {
            // Below a root the parent's event says it; a root has no watched parent.
            guard rootPaths.contains(directory) else { return }
            if has(mask, IN_MOVE_SELF) {
                removeWatches(under: directoryName)
                ready.append(.watchLost(Self.string(directory), reason: "the root directory was moved or renamed"))
            } else {
                ready.append(.watchLost(Self.string(directory), reason: "the root directory was deleted"))
            }
            return
        }
        guard !event.name.isEmpty else { return }

        let path = directory + [UInt8(ascii: "/")] + event.name
        let isDirectory = has(mask, IN_ISDIR)
        let hidden = event.name.first == UInt8(ascii: ".")

        if has(mask, IN_MOVED_FROM) {
            var departure = Departure(path: path, isDirectory: isDirectory, parkedPrefix: nil)
            if isDirectory, isWatched(path) {
                let parked = nextPlaceholder("moving")
                renameWatches(path + [UInt8(ascii: "/")], to: parked)
                departure.parkedPrefix = parked
            }
            pairer.movedFrom(cookie: event.cookie, departure, now: Self.now())
            return
        }

        let source = has(mask, IN_MOVED_TO) ? pairer.movedTo(cookie: event.cookie) : nil
        // Something new under this name: whatever left it is not coming back as it.
        if has(mask, IN_MOVED_TO) || has(mask, IN_CREATE) || has(mask, IN_CLOSE_WRITE) {
            finishDepartures(pairer.removeAll { $0.path == path })
        }

        if has(mask, IN_MOVED_TO) {
            if let source {
                arrive(from: source, at: path, isDirectory: isDirectory, hidden: hidden)
            } else if isDirectory {
                appear(directory: path, hidden: hidden)
            } else {
                ready.append(.appeared(Self.string(path)))
            }
        } else if has(mask, IN_CREATE) {
            if isDirectory {
                appear(directory: path, hidden: hidden)
            } else if Self.isHardLinkedRegularFile(path) {
                ready.append(.appeared(Self.string(path)))
            }
        } else if has(mask, IN_CLOSE_WRITE) {
            if !isDirectory { ready.append(.written(Self.string(path))) }
        } else if has(mask, IN_DELETE) {
            ready.append(isDirectory ? .directoryRemoved(Self.string(path)) : .removed(Self.string(path)))
        }
    }

    /// The second half of a move within the tree.
    private func arrive(from source: Departure, at path: [UInt8], isDirectory: Bool, hidden: Bool) {
        guard isDirectory else {
            ready.append(.moved(from: Self.string(source.path), to: Self.string(path)))
            return
        }
        switch (source.parkedPrefix, hidden) {
        case (let parked?, false):
            renameWatches(parked, to: path + [UInt8(ascii: "/")])
            ready.append(.directoryMoved(from: Self.string(source.path), to: Self.string(path)))
        case (let parked?, true):
            removeWatches(under: parked)
            ready.append(.directoryRemoved(Self.string(source.path)))
        case (nil, false):
            appear(directory: path, hidden: false)
        case (nil, true):
            ready.append(.directoryMoved(from: Self.string(source.path), to: Self.string(path)))
        }
    }

    private func appear(directory path: [UInt8], hidden: Bool) {
        if hidden {
            ready.append(.directoryAppeared(Self.string(path)))
            return
        }
        if isWatched(path) { return }  // found while watching its parent: the parent's report covers it
        do throws(WatchError) {
            try watchTree(path, isRoot: false)
            ready.append(.directoryAppeared(Self.string(path)))
        } catch {
            if error.code == ENOENT || error.code == ENOTDIR { return }  // already gone
            ready.append(.directoryAppeared(Self.string(path)))
            ready.append(.watchLost(error.path, reason: error.reason))
        }
    }

    private func expireDepartures(now: Double) {
        finishDepartures(pairer.expired(now: now))
    }

    /// Reports departures that found no partner: moved out of the tree.
    private func finishDepartures(_ departures: [Departure]) {
        for departure in departures {
            if departure.isDirectory {
                if let parked = departure.parkedPrefix { removeWatches(under: parked) }
                ready.append(.directoryRemoved(Self.string(departure.path)))
            } else {
                ready.append(.removed(Self.string(departure.path)))
            }
        }
    }

    /// Starts over with a fresh instance: after lost events the watch names cannot be trusted.
    private func recoverFromOverflow() {
        overflows += 1
        stop()
        pairer.reset()
        ready.removeAll()
        do {
            try start(rootsMustWatch: false)
        } catch {
            for root in roots { ready.append(.watchLost(root, reason: error.reason)) }
        }
        ready.insert(.overflow, at: 0)
    }

    // MARK: Helpers

    /// The library's name for a watch, with its trailing "/"; empty when unknown.
    private func filename(_ wd: Int32) -> [UInt8] {
        guard let name = inotifytools_filename_from_wd(wd) else { return [] }
        return Array(UnsafeBufferPointer(start: UnsafeRawPointer(name).assumingMemoryBound(to: UInt8.self), count: strlen(name)))
    }

    private static func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { body($0) }
        }
    }

    /// The path `String` for a name's exact bytes (see `FilePath`).
    static func string(_ bytes: [UInt8]) -> String {
        FilePath.string(bytes)
    }

    /// The subdirectories of `directory` worth watching: not hidden, not symbolic links.
    private static func subdirectories(of directory: [UInt8]) -> [[UInt8]] {
        guard let handle = withCString(directory, { opendir($0) }) else { return [] }
        defer { closedir(handle) }
        var found: [[UInt8]] = []
        while let entry = readdir(handle) {
            let name: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if name.first == UInt8(ascii: ".") { continue }  // ".", ".." and hidden
            let path = directory + [UInt8(ascii: "/")] + name
            switch Int32(entry.pointee.d_type) {
            case Int32(DT_DIR):
                found.append(path)
            case Int32(DT_UNKNOWN):
                var info = stat()
                if withCString(path, { lstat($0, &info) }) == 0, info.st_mode & S_IFMT == S_IFDIR {
                    found.append(path)
                }
            default:
                break
            }
        }
        return found.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Whether `path` is a regular file with more than one link: a hard link was just made.
    private static func isHardLinkedRegularFile(_ path: [UInt8]) -> Bool {
        var info = stat()
        guard withCString(path, { lstat($0, &info) }) == 0 else { return false }
        return info.st_mode & S_IFMT == S_IFREG && info.st_nlink > 1
    }

    /// The descriptors of this process that are inotify instances.
    private static func inotifyDescriptors() -> Set<Int32> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return [] }
        var found: Set<Int32> = []
        for name in names {
            guard let fd = Int32(name),
                  let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + name),
                  target == "anon_inode:inotify" else { continue }
            found.insert(fd)
        }
        return found
    }

    /// An absolute path without "." or ".." components or trailing slashes.
    private static func normalize(_ path: String) -> String {
        FilePath.normalize(path)
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    // MARK: Testing

    /// Number of queue overflows seen.
    var overflowCount: Int { overflows }

    /// The library's names of the watches in place, sorted.
    var watchNamesForTesting: [String] { live.map { Self.string(filename($0)) }.sorted() }

    /// Behaves as if the kernel had reported `IN_Q_OVERFLOW`.
    func injectOverflowForTesting() {
        handle(RawEvent(wd: -1, mask: UInt32(IN_Q_OVERFLOW), cookie: 0, name: []))
    }
}

/// Used from one thread only: libinotifytools keeps its state in process globals.
@available(*, unavailable)
extension InotifyWatcher: Sendable {}
