import Foundation

/// Finds the audio files under a set of folders.
public struct LibraryScanner: Sendable {
    /// Extensions of formats genred decodes; such a file that is not audio is reported.
    public static let decodableExtensions: Set<String> = ["mp3", "flac", "ogg", "oga", "opus", "wav", "wave", "aif", "aiff", "aifc"]
    /// Audio formats genred cannot decode yet; counted, not analysed.
    public static let otherAudioExtensions: Set<String> = ["m4a", "mp4", "aac", "alac", "wma", "ape", "wv", "mpc", "dsf", "dff"]
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
    public static func isIgnoredName(_ name: String) -> Bool {
        if name.hasPrefix(".") { return true }
        let lower = name.lowercased()
        return partialSuffixes.contains { lower.hasSuffix($0) }
    }

    /// Every file under `roots` worth a look, sorted by path; a root may also be a single file.
    /// Files with other extensions are included only if `sniffUnknown` and they sniff as audio.
    public func scan(_ roots: [String], sniffUnknown: Bool = true) throws(ScanError) -> [Entry] {
        var entries: [Entry] = []
        let fm = FileManager.default
        for root in roots {
            let rootPath = URL(fileURLWithPath: root).standardizedFileURL.path
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: rootPath, isDirectory: &isDirectory) else {
                throw ScanError(path: root, message: "no such file or folder")
            }
            if !isDirectory.boolValue {
                entries.append(classify(rootPath, sniffUnknown: true))
                continue
            }
            guard fm.isReadableFile(atPath: rootPath) else { throw ScanError(path: root, message: "folder not readable") }
            walk(rootPath, into: &entries, sniffUnknown: sniffUnknown)
        }
        var seen = Set<String>()
        return entries.filter { seen.insert($0.path).inserted }.sorted { $0.path < $1.path }
    }

    private func walk(_ directory: String, into entries: inout [Entry], sniffUnknown: Bool) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names.sorted() where !Self.isIgnoredName(name) {
            let path = directory == "/" ? "/" + name : directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
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

    private func classifyIfRelevant(_ path: String, sniffUnknown: Bool) -> Entry? {
        let ext = (path as NSString).pathExtension.lowercased()
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
