#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File names are bytes; genred carries them in `String`s without losing any.
///
/// A Linux file name may hold any byte but NUL and `/`, and names ripped years ago are often
/// Latin-1. A path `String` holds the bytes that form valid UTF-8 as themselves and carries
/// every other byte `b` as the scalar U+10FF00 + `b` (the top of supplementary private use
/// area B). A name whose UTF-8 really spells a scalar of that range has that scalar's bytes
/// carried the same way, so the mapping is exact in both directions, and a valid UTF-8 name
/// is its own `String`.
///
/// Because `/` is never part of a multi-byte sequence, carrying works component by component:
/// a directory's path is a byte prefix of its files' paths, in the `String`s' UTF-8 as on disk,
/// and SQLite's byte-wise comparisons of the stored text follow the on-disk bytes.
///
/// Swift's `String` equality treats NFC and NFD spellings as equal; file systems do not. Paths
/// are compared with `ExactPath` or `isPathPrefix`, never with `==` on `String`.
public enum FilePath {
    /// The first scalar of the carried range.
    static let carryBase: UInt32 = 0x10FF00

    /// The path for a name's exact bytes.
    public static func string<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let buffer = Array(bytes)
        if let plain = String(validating: buffer, as: UTF8.self), !carriesBytes(plain) { return plain }
        // Decode by hand so that each byte outside valid UTF-8 is carried on its own.
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < buffer.count {
            let (length, scalar) = decodeOne(buffer, at: i)
            if let scalar, scalar.value & 0xFFFF00 != carryBase {
                scalars.append(scalar)
            } else {
                for k in 0..<length { scalars.append(Unicode.Scalar(carryBase + UInt32(buffer[i + k]))!) }
            }
            i += length
        }
        return String(scalars)
    }

    /// One UTF-8 sequence at `i`: its length and scalar, or (1, nil) for an invalid byte.
    private static func decodeOne(_ b: [UInt8], at i: Int) -> (Int, Unicode.Scalar?) {
        let b0 = b[i]
        if b0 < 0x80 { return (1, Unicode.Scalar(b0)) }
        let length: Int, minimum: UInt32
        var value: UInt32
        switch b0 {
        case 0xC2...0xDF: (length, minimum, value) = (2, 0x80, UInt32(b0 & 0x1F))
        case 0xE0...0xEF: (length, minimum, value) = (3, 0x800, UInt32(b0 & 0x0F))
        case 0xF0...0xF4: (length, minimum, value) = (4, 0x10000, UInt32(b0 & 0x07))
        default: return (1, nil)
        }
        guard i + length <= b.count else { return (1, nil) }
        for k in 1..<length {
            let c = b[i + k]
            guard c & 0xC0 == 0x80 else { return (1, nil) }
            value = value << 6 | UInt32(c & 0x3F)
        }
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return (1, nil) }  // overlong, surrogate, > U+10FFFF
        return (length, scalar)
    }

    /// Whether `path` carries any byte (that is, its name is not plain UTF-8).
    package static func carriesBytes(_ path: String) -> Bool {
        path.unicodeScalars.contains { $0.value & 0xFFFF00 == carryBase }
    }

    /// The exact bytes of `path` on disk.
    public static func bytes(_ path: String) -> [UInt8] {
        guard carriesBytes(path) else { return Array(path.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        for scalar in path.unicodeScalars {
            if scalar.value & 0xFFFF00 == carryBase {
                out.append(UInt8(scalar.value & 0xFF))
            } else {
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        return out
    }

    /// Calls `body` with the NUL-terminated bytes of `path`, for the C library.
    package static func withCString<R>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        guard carriesBytes(path) else { return try path.withCString(body) }
        var bytes = Self.bytes(path)
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { buffer in
            try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { try body($0) }
        }
    }

    /// `text` for a person: each carried byte is shown as `\xNN`; everything else is unchanged.
    public static func display(_ text: String) -> String {
        guard carriesBytes(text) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value & 0xFFFF00 == carryBase {
                out.append(contentsOf: hexEscape(UInt8(scalar.value & 0xFF)).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func hexEscape(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "\\x" + (hex.count == 1 ? "0" + hex : hex)
    }

    /// Whether `path` is `directory` itself or lies below it, comparing bytes (case and Unicode
    /// normalisation count).
    public static func isPath(_ path: String, inside directory: String) -> Bool {
        let d = directory.utf8, p = path.utf8
        let trimmed = d.last == UInt8(ascii: "/") ? d.count - 1 : d.count
        guard p.count >= trimmed, p.prefix(trimmed).elementsEqual(d.prefix(trimmed)) else { return false }
        if p.count == trimmed { return true }
        return p[p.index(p.startIndex, offsetBy: trimmed)] == UInt8(ascii: "/")
    }

    /// An absolute path without `.` or `..` components, repeated or trailing slashes; relative
    /// paths are taken from the current directory. Symbolic links are not resolved.
    public static func normalize(_ path: String) -> String {
        var absolute = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                let cwd = buffer.withUnsafeBufferPointer { raw in
                    string(UnsafeRawBufferPointer(start: raw.baseAddress, count: strlen(raw.baseAddress!)))
                }
                absolute = cwd + "/" + path
            }
        }
        var parts: [Substring] = []
        for part in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The last component of `path`.
    package static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// `path` without its last component ("/" for a top-level name).
    package static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// A path that compares, hashes and sorts by its exact bytes.
package struct ExactPath: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }

    public static func == (a: ExactPath, b: ExactPath) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    public func hash(into hasher: inout Hasher) {
        for byte in string.utf8 { hasher.combine(byte) }
    }

    /// Byte order, which is the order of the on-disk bytes (carried bytes sort after all valid text).
    public static func < (a: ExactPath, b: ExactPath) -> Bool { a.string.utf8.lexicographicallyPrecedes(b.string.utf8) }

    public var description: String { FilePath.display(string) }
}

/// System calls on path `String`s, passing the exact bytes.
public enum PathIO {
    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        FilePath.withCString(path) { Glibc.open($0, flags, mode) }
    }

    /// `stat(2)`, following symbolic links; nil with errno set on failure.
    public static func stat(_ path: String) -> Glibc.stat? {
        var info = Glibc.stat()
        return FilePath.withCString(path) { systemStat($0, &info) } == 0 ? info : nil
    }

    /// `lstat(2)`; nil with errno set on failure.
    package static func lstat(_ path: String) -> Glibc.stat? {
        var info = Glibc.stat()
        return FilePath.withCString(path) { systemLstat($0, &info) } == 0 ? info : nil
    }

    public static func access(_ path: String, _ mode: Int32) -> Int32 {
        FilePath.withCString(path) { Glibc.access($0, mode) }
    }

    @discardableResult
    package static func unlink(_ path: String) -> Int32 {
        FilePath.withCString(path) { Glibc.unlink($0) }
    }

    public static func isDirectory(_ path: String) -> Bool {
        guard let info = stat(path) else { return false }
        return info.st_mode & S_IFMT == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool { stat(path) != nil }

    /// Creates `path` and its missing parents with `mode`; true when it exists as a directory afterwards.
    @discardableResult
    package static func makeDirectories(_ path: String, mode: mode_t = 0o755) -> Bool {
        if isDirectory(path) { return true }
        let parent = FilePath.parent(path)
        if parent != path && parent != "." && !isDirectory(parent) { makeDirectories(parent, mode: mode) }
        _ = FilePath.withCString(path) { Glibc.mkdir($0, mode) }
        return isDirectory(path)
    }

    /// One entry of a directory: its name's exact bytes and `d_type`.
    public struct Entry: Sendable {
        public var name: [UInt8]
        public var type: UInt8
    }

    /// The entries of `directory` other than `.` and `..`, in byte order of their names; nil
    /// (errno set) when it cannot be read.
    public static func entries(_ directory: String) -> [Entry]? {
        guard let handle = FilePath.withCString(directory, { opendir($0) }) else { return nil }
        defer { closedir(handle) }
        var found: [Entry] = []
        while let entry = readdir(handle) {
            let name: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            found.append(Entry(name: name, type: entry.pointee.d_type))
        }
        return found.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    /// `directory/name`.
    package static func join(_ directory: String, _ name: String) -> String {
        (directory == "/" ? "/" : directory + "/") + name
    }

    /// `directory/name` for a name's bytes.
    package static func join(_ directory: String, _ name: [UInt8]) -> String {
        (directory == "/" ? "/" : directory + "/") + FilePath.string(name)
    }
}

extension PathIO {
    /// Writes `text` to `file`, replacing it through a rename, with the exact bytes of every path
    /// it holds (see `FilePath`): for playlists and CSV files from which other programs open the
    /// listed files. Returns nil, or why it failed.
    public static func writeText(_ text: String, to file: String) -> String? {
        writeBytes(FilePath.bytes(text), to: file)
    }

    /// Writes `bytes` to `file`, replacing it through a rename. Returns nil, or why it failed.
    static func writeBytes(_ bytes: [UInt8], to file: String) -> String? {
        let temporary = file + ".genred-\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        var done = 0
        var failure: Int32 = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            done += n
        }
        if Glibc.close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 {
            let renamed = FilePath.withCString(temporary) { from in FilePath.withCString(file) { Glibc.rename(from, $0) } }
            if renamed == 0 { return nil }
            failure = errno
        }
        unlink(temporary)
        return String(cString: strerror(failure))
    }
}

// Outside `PathIO`, whose own `stat` and `lstat` would shadow the system calls.
private func systemStat(_ path: UnsafePointer<CChar>, _ info: UnsafeMutablePointer<stat>) -> Int32 { stat(path, info) }
private func systemLstat(_ path: UnsafePointer<CChar>, _ info: UnsafeMutablePointer<stat>) -> Int32 { lstat(path, info) }
