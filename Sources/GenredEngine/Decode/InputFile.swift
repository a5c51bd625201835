#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file opened read-only; the decoders read through its descriptor.
final class InputFile {
    let path: String
    let size: Int
    private(set) var descriptor: Int32

    /// Opens `path`, refusing directories and other non-regular files.
    init(_ path: String) throws(DecodeError) {
        self.path = path
        // O_NONBLOCK keeps a FIFO from hanging the open; it has no effect on regular files.
        let fd = PathIO.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw DecodeError(path: path, reason: .unreadable(Self.systemMessage(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            closeDescriptor(fd)
            throw DecodeError(path: path, reason: .unreadable(Self.systemMessage(code)))
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG else {
            closeDescriptor(fd)
            let why = kind == S_IFDIR ? Self.systemMessage(EISDIR) : "not a regular file"
            throw DecodeError(path: path, reason: .unreadable(why))
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        descriptor = fd
        size = Int(info.st_size)
    }

    deinit { close() }

    func close() {
        if descriptor >= 0 { closeDescriptor(descriptor) }
        descriptor = -1
    }

    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    func bytes(at offset: Int, count: Int) throws(DecodeError) -> [UInt8] {
        guard offset < size else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + filled, count - filled, off_t(offset + filled))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw DecodeError(path: path, reason: .unreadable(Self.systemMessage(errno)))
            }
            if n == 0 { break }
            filled += n
        }
        return Array(buffer.prefix(filled))
    }

    static func systemMessage(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
