import Foundation

/// Size, modification time and inode of a file, as `stat(2)` gives them.
public struct FileStat: Sendable, Equatable {
    public var size: Int64
    public var mtimeNs: Int64
    public var inode: Int64
    package var device: Int64
    /// The inode change time: it moves with any change, to content, tags or permissions (a
    /// `chmod` included), and cannot be set back.
    package var ctimeNs: Int64

    public init(size: Int64, mtimeNs: Int64, inode: Int64, device: Int64 = 0, ctimeNs: Int64 = 0) {
        self.size = size
        self.mtimeNs = mtimeNs
        self.inode = inode
        self.device = device
        self.ctimeNs = ctimeNs
    }

    /// The stat of `path` (following symlinks), or nil when it cannot be read.
    public static func of(_ path: String) -> FileStat? {
        guard let st = PathIO.stat(path) else { return nil }
        return FileStat(size: Int64(st.st_size), mtimeNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                        inode: Int64(bitPattern: UInt64(st.st_ino)), device: Int64(bitPattern: UInt64(st.st_dev)),
                        ctimeNs: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
    }
}
