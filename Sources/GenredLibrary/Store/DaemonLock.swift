import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif
import GenredEngine

/// Why the daemon could not take its lock.
public enum DaemonLockError: Error, Sendable, CustomStringConvertible {
    /// Another process holds the lock; `pid` is nil when it has not written its pid.
    case alreadyRunning(pid: Int32?, databasePath: String, lockPath: String)
    case cannotLock(lockPath: String, errno: Int32)

    public var description: String {
        switch self {
        case .alreadyRunning(let pid, let database, let lock):
            let who = pid.map { "genred daemon (pid \($0))" } ?? "genred daemon"
            return "another \(who) is already running on database \(database) (lock \(lock))"
        case .cannotLock(let lock, let code):
            return "cannot lock \(lock): \(String(cString: strerror(code)))"
        }
    }
}

/// One daemon per database: an exclusive `flock` on `<database>.lock`, held for the
/// daemon's lifetime, with the holder's pid written in the file.
///
/// The lock belongs to the open file description, so it goes away when the process dies,
/// however it dies. It is released by `release()` or when the value is deinitialised. The
/// file itself stays; only a locked file's pid means anything.
public final class DaemonLock: Sendable {
    public let lockPath: String
    public let databasePath: String
    /// The open descriptor, -1 once released.
    private let descriptor: Mutex<Int32>

    private init(lockPath: String, databasePath: String, descriptor: Int32) {
        self.lockPath = lockPath
        self.databasePath = databasePath
        self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// Beside a SQLite database; for a PostgreSQL store, a file named after its URL in this
    /// machine's data folder (the lock keeps one daemon per store on a machine).
    public static func lockPath(databasePath: String) -> String {
        let location = StoreLocation(databasePath)
        guard location.isPostgres else { return databasePath + ".lock" }
        let name = String(location.description.map { $0.isLetter || $0.isNumber ? $0 : "_" }.prefix(120))
        return location.localDirectory() + "/" + name + ".lock"
    }

    /// Takes the lock, creating the file (and its directory) if needed, and writes this
    /// process's pid into it.
    ///
    /// A busy lock is retried for `patience`, because `holder(databasePath:)` takes a
    /// shared lock for an instant.
    public static func acquire(databasePath: String, patience: Duration = .milliseconds(500)) throws(DaemonLockError) -> DaemonLock {
        let path = lockPath(databasePath: databasePath)
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotLock(lockPath: path, errno: errno) }

        let deadline = ContinuousClock.now + patience
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                close(fd)
                throw .cannotLock(lockPath: path, errno: code)
            }
            if ContinuousClock.now >= deadline {
                let pid = readPID(fd)
                close(fd)
                throw .alreadyRunning(pid: pid, databasePath: databasePath, lockPath: path)
            }
            usleep(20_000)
        }

        let text = Array("\(getpid())\n".utf8)
        let written = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard written == text.count, ftruncate(fd, off_t(text.count)) == 0 else {
            let code = errno
            close(fd)
            throw .cannotLock(lockPath: path, errno: code)
        }
        return DaemonLock(lockPath: path, databasePath: databasePath, descriptor: fd)
    }

    /// The pid of the process holding the lock, or nil when none does; takes no lock that
    /// outlives the call and creates no file.
    ///
    /// A holder that has not yet written its pid is reported as 0.
    public static func holder(databasePath: String) -> Int32? {
        let fd = open(lockPath(databasePath: databasePath), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: Int32
        repeat { result = flock(fd, LOCK_SH | LOCK_NB) } while result != 0 && errno == EINTR
        if result == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        guard errno == EWOULDBLOCK else { return nil }
        // The holder writes its pid right after locking: give it a moment.
        for _ in 0..<10 {
            if let pid = readPID(fd) { return pid }
            usleep(10_000)
        }
        return 0
    }

    /// Gives the lock up; later calls do nothing.
    public func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = ftruncate(fd, 0)
            close(fd)
            fd = -1
        }
    }

    var isHeld: Bool { descriptor.withLock { $0 >= 0 } }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(text), pid > 0 else { return nil }
        return pid
    }
}
