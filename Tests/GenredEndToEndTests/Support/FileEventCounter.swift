import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Counts what happens to one file, through an inotify watch of the test's own: how often
/// genred opens it, and how often it is closed after being opened for writing.
final class FileEventCounter {
    private let fd: Int32
    private(set) var opens = 0
    private(set) var writes = 0

    init(_ path: String) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0, inotify_add_watch(fd, path, UInt32(IN_OPEN) | UInt32(IN_CLOSE_WRITE)) >= 0 else {
            throw POSIXError(.init(rawValue: errno) ?? .EINVAL)
        }
    }

    deinit { close(fd) }

    /// Reads the events that arrived so far and adds them to the counts.
    func update() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            var offset = 0
            while offset < n {
                let event = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: inotify_event.self) }
                if event.mask & UInt32(IN_OPEN) != 0 { opens += 1 }
                if event.mask & UInt32(IN_CLOSE_WRITE) != 0 { writes += 1 }
                offset += MemoryLayout<inotify_event>.size + Int(event.len)
            }
        }
    }
}
