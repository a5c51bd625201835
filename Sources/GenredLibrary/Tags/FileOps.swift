#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GenredEngine

/// POSIX file operations for safe tag writes; every failure becomes a `TagError` naming the file.
enum FileOps {
    /// What `stat` says about a file, as far as a tag write cares.
    struct Status: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var mode: UInt32
        var accessTime: timespec
        var modificationTime: timespec

        var mtimeNanoseconds: Int64 {
            Int64(modificationTime.tv_sec) * 1_000_000_000 + Int64(modificationTime.tv_nsec)
        }

        /// Same file, same length, same modification time.
        func isUnchanged(comparedTo other: Status) -> Bool {
            device == other.device && inode == other.inode && size == other.size
                && mtimeNanoseconds == other.mtimeNanoseconds
        }

        static func == (a: Status, b: Status) -> Bool {
            a.isUnchanged(comparedTo: b) && a.mode == b.mode
        }
    }

    static let chunkSize = 1 << 20

    static func message(_ what: String, _ code: Int32) -> String {
        "\(what): \(String(cString: strerror(code)))"
    }

    static func closeDescriptor(_ fd: Int32) {
        _ = close(fd)
    }

    /// Status of the regular file at `path` (symbolic links followed).
    static func status(_ path: String) throws(TagError) -> Status {
        guard let info = PathIO.stat(path) else {
            throw TagError(path: path, reason: .io(message("cannot stat file", errno)))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw TagError(path: path, reason: .io("not a regular file"))
        }
        return Status(info)
    }

    /// Throws `.readOnly` unless `path` may be written. The mode bits are checked as well as `access`,
    /// because `access` says yes to root for any file: a file with no write bit at all counts as read-only.
    static func requireWritable(_ path: String, mode: UInt32, label: String, errorPath: String) throws(TagError) {
        if PathIO.access(path, W_OK) != 0 {
            let code = errno
            if code == ENOENT { throw TagError(path: errorPath, reason: .io(message("\(label) vanished", code))) }
            throw TagError(path: errorPath, reason: .readOnly(message("\(label) \(path) is not writable", code)))
        }
        if mode & UInt32(S_IWUSR | S_IWGRP | S_IWOTH) == 0 {
            let octal = String(mode & 0o7777, radix: 8)
            throw TagError(path: errorPath, reason: .readOnly("\(label) \(path) has no write permission (mode \(octal))"))
        }
    }

    /// SHA-256 and length of a file's bytes.
    static func digest(_ path: String) throws(TagError) -> (hex: String, size: Int64) {
        let fd = PathIO.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TagError(path: path, reason: .io(message("cannot open", errno))) }
        defer { closeDescriptor(fd) }
        var hash = SHA256()
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TagError(path: path, reason: .io(message("cannot read", errno)))
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += Int64(n)
        }
        return (hash.finalizeHex(), total)
    }

    /// Writes all of `bytes` at `offset`.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Int32? {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return nil
    }

    /// Flushes a file's data and metadata to disk.
    static func flush(_ path: String) throws(TagError) {
        let fd = PathIO.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw TagError(path: path, reason: .io(message("cannot open to flush", errno))) }
        defer { closeDescriptor(fd) }
        if fsync(fd) != 0 { throw TagError(path: path, reason: .io(message("cannot flush", errno))) }
    }

    /// Flushes a folder's entries (after creating or removing a file in it); failures are ignored.
    static func syncDirectory(_ path: String) {
        let fd = PathIO.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        closeDescriptor(fd)
    }
}

extension FileOps.Status {
    init(_ info: stat) {
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                  mode: UInt32(info.st_mode), accessTime: info.st_atim, modificationTime: info.st_mtim)
    }
}

/// A byte-for-byte copy of a file, kept until a write has been verified and recorded.
public struct TagBackup: Sendable {
    /// The file the backup is of.
    public let original: String
    public let path: String
    public let size: Int64
    /// SHA-256 of the original bytes.
    package let digest: String
    /// The original's status when copied; a restore goes back to the same inode and times.
    let status: FileOps.Status

    /// Backups end in this; the rest of the name is random, so names are unique and short
    /// whatever the file is called.
    static let suffix = ".genred-backup"

    /// Copies `original` into `directory` under a fresh name and flushes it to disk. Fails if the
    /// original changes while being copied (its status must still be `expected`).
    static func make(of original: String, in directory: String, expected: FileOps.Status) throws(TagError) -> TagBackup {
        let source = PathIO.open(original, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw TagError(path: original, reason: .io(FileOps.message("cannot open", errno))) }
        defer { FileOps.closeDescriptor(source) }

        var target: Int32 = -1
        var path = ""
        for _ in 0..<16 {
            let token = String(UInt64.random(in: 0...UInt64.max), radix: 16) + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            path = "\(directory)/\(token)\(suffix)"
            target = PathIO.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if target >= 0 || errno != EEXIST { break }
        }
        guard target >= 0 else {
            throw TagError(path: original, reason: .io(FileOps.message("cannot create backup in \(directory)", errno)))
        }
        func fail(_ why: String) -> TagError {
            FileOps.closeDescriptor(target)
            PathIO.unlink(path)
            return TagError(path: original, reason: .io(why))
        }

        var hash = SHA256()
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: FileOps.chunkSize)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail(FileOps.message("cannot read while backing up", errno))
            }
            if n == 0 { break }
            let failure = buffer.withUnsafeBytes { bytes -> Int32? in
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<n])
                hash.update(chunk)
                return FileOps.writeAll(target, chunk, at: total)
            }
            if let failure { throw fail(FileOps.message("cannot write backup \(path)", failure)) }
            total += Int64(n)
        }
        if fsync(target) != 0 { throw fail(FileOps.message("cannot flush backup \(path)", errno)) }
        var after = stat()
        guard fstat(source, &after) == 0, FileOps.Status(after).isUnchanged(comparedTo: expected), total == expected.size else {
            throw fail("the file changed while it was being backed up; try again once it is settled")
        }
        FileOps.closeDescriptor(target)
        FileOps.syncDirectory(directory)
        return TagBackup(original: original, path: path, size: total, digest: hash.finalizeHex(), status: expected)
    }

    /// Writes the backup's bytes over the original in place (same inode), truncates it to the original
    /// length, restores its times and flushes it, then checks the bytes. Throws `.restoreFailed`, keeping
    /// the backup, when any step fails.
    func restore() throws(TagError) {
        func fail(_ why: String) -> TagError {
            TagError(path: original, reason: .restoreFailed("\(why); the original bytes are kept in \(path)"))
        }
        let fd = PathIO.open(original, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail(FileOps.message("cannot open the file for writing", errno)) }
        var info = stat()
        guard fstat(fd, &info) == 0, UInt64(info.st_ino) == status.inode, UInt64(info.st_dev) == status.device else {
            FileOps.closeDescriptor(fd)
            throw fail("the path no longer names the file that was backed up")
        }
        let source = PathIO.open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else {
            FileOps.closeDescriptor(fd)
            throw fail(FileOps.message("cannot open the backup", errno))
        }
        defer {
            FileOps.closeDescriptor(source)
            FileOps.closeDescriptor(fd)
        }
        var offset: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: FileOps.chunkSize)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail(FileOps.message("cannot read the backup", errno))
            }
            if n == 0 { break }
            if let failure = buffer.withUnsafeBytes({ FileOps.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: offset) }) {
                throw fail(FileOps.message("cannot write the original bytes back", failure))
            }
            offset += Int64(n)
        }
        guard offset == size else { throw fail("the backup is \(offset) bytes, expected \(size)") }
        if ftruncate(fd, off_t(size)) != 0 { throw fail(FileOps.message("cannot truncate", errno)) }
        if fsync(fd) != 0 { throw fail(FileOps.message("cannot flush", errno)) }
        let times = [status.accessTime, status.modificationTime]
        _ = times.withUnsafeBufferPointer { futimens(fd, $0.baseAddress) }

        let check: (hex: String, size: Int64)
        do { check = try FileOps.digest(original) } catch { throw fail(error.reasonText) }
        guard check.hex == digest, check.size == size else {
            throw fail("the restored bytes differ from the backup")
        }
    }

    /// Deletes the backup file and flushes the folder.
    public func remove() {
        PathIO.unlink(path)
        FileOps.syncDirectory(FilePath.parent(path))
    }
}
