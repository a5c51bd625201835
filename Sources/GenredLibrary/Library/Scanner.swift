import Foundation

#if canImport(Glibc)
import Glibc
#endif
import GenredEngine

/// Finds the audio files under a set of folders.
package struct LibraryScanner: Sendable {
    /// Extensions of formats genred decodes; such a file that is not audio is reported.
    package static let decodableExtensions: Set<String> = ["mp3", "flac", "ogg", "oga", "opus", "wav", "wave", "aif", "aiff", "aifc"]
    /// Audio formats genred cannot decode yet; counted, not analysed.
    static let otherAudioExtensions: Set<String> = ["m4a", "mp4", "aac", "alac", "wma", "ape", "wv", "mpc", "dsf", "dff"]
    /// Names of files still being written by downloaders and copiers.
    static let partialSuffixes = [".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", "~", ".!qb", ".!ut"]

    public enum Entry: Sendable, Equatable {
        /// A file to analyse (its container is sniffed later, by content).
        case candidate(String)
        /// An audio file in a format genred does not decode.
        case unsupported(String)

        public var path: String {
            switch self {
            case .candidate(let p), .unsupported(let p): p
            }
        }
    }

    public init() {}

    /// Hidden names (leading dot, which covers rsync's temporary files) and partial downloads.
    package static func isIgnoredName(_ name: String) -> Bool {
        if name.hasPrefix(".") { return true }
        let lower = name.lowercased()
        return partialSuffixes.contains { lower.hasSuffix($0) }
    }

    /// Every file under `roots` worth a look, in byte order of their paths; a root may also be a
    /// single file. Files with other extensions are included only if `sniffUnknown` and they sniff
    /// as audio. Names are read as bytes, so a name that is not UTF-8 is found like any other.
    public func scan(_ roots: [String], sniffUnknown: Bool = true) throws(ScanError) -> [Entry] {
        var entries: [Entry] = []
        for root in roots {
            let rootPath = FilePath.normalize(root)
            guard let info = PathIO.stat(rootPath) else {
                throw ScanError(path: root, message: "no such file or folder")
            }
            if info.st_mode & S_IFMT != S_IFDIR {
                entries.append(classify(rootPath, sniffUnknown: true))
                continue
            }
            guard PathIO.access(rootPath, R_OK | X_OK) == 0 else { throw ScanError(path: root, message: "folder not readable") }
            walk(rootPath, into: &entries, sniffUnknown: sniffUnknown)
        }
        var seen = Set<ExactPath>()
        return entries.filter { seen.insert(ExactPath($0.path)).inserted }.sorted { ExactPath($0.path) < ExactPath($1.path) }
    }

    private func walk(_ directory: String, into entries: inout [Entry], sniffUnknown: Bool) {
        guard let children = PathIO.entries(directory) else { return }
        for child in children {
            let name = FilePath.string(child.name)
            if Self.isIgnoredName(name) { continue }
            let path = PathIO.join(directory, child.name)
            guard let st = PathIO.lstat(path) else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: walk(path, into: &entries, sniffUnknown: sniffUnknown)
            case S_IFREG: if let e = classifyIfRelevant(path, sniffUnknown: sniffUnknown) { entries.append(e) }
            default: continue  // symlinks are not followed (no loops, no files counted twice)
            }
        }
    }

    private func classify(_ path: String, sniffUnknown: Bool) -> Entry {
        classifyIfRelevant(path, sniffUnknown: sniffUnknown) ?? .candidate(path)
    }

    /// The lowercased extension of the last component, or "" when it has none.
    package static func pathExtension(_ path: String) -> String {
        let name = FilePath.lastComponent(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return name[name.index(after: dot)...].lowercased()
    }

    private func classifyIfRelevant(_ path: String, sniffUnknown: Bool) -> Entry? {
        let ext = Self.pathExtension(path)
        if Self.decodableExtensions.contains(ext) { return .candidate(path) }
        if Self.otherAudioExtensions.contains(ext) { return .unsupported(path) }
        guard sniffUnknown, (try? AudioDecoding.sniff(path)) != nil else { return nil }
        return .candidate(path)
    }
}

public struct ScanError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

extension ScanError: GenredError {
    public var subject: String { path }
    public var reasonText: String { message }
}
