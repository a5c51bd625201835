import Foundation
import GenredEngine

/// Where the labels of an evaluation come from.
public enum EvalLabelSource: String, Sendable, Codable, CaseIterable {
    /// One sub-folder per label under the source folder.
    case folders
    /// The GENRE values already in the files.
    case tags
}

/// One audio file and the labels a person gave it.
struct LabelledFile: Sendable, Equatable {
    public var path: String
    /// The sub-folder name, or the file's genre values in tag order.
    public var labels: [String]
    /// The album the file's tags name (with its album artist, when set), read along with tag
    /// labels; nil when the tags were not read or name none.
    public var album: String?

    public init(path: String, labels: [String], album: String? = nil) {
        self.path = path
        self.labels = labels
        self.album = album
    }

    /// The album of a file's tags, "album artist / album" when both are set; nil without an album.
    public static func album(of snapshot: TagSnapshot) -> String? {
        func first(_ key: String) -> String? {
            snapshot.properties[key]?.first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let album = first("ALBUM") else { return nil }
        return first("ALBUMARTIST").map { "\($0) / \(album)" } ?? album
    }
}

/// The labelled files under a source, and those that could not be used.
struct EvalDataset: Sendable {
    public var files: [LabelledFile] = []
    /// Files with no label: outside the label folders, or without a genre tag.
    var unlabelled: [String] = []
    /// Audio in formats genred does not decode.
    public var unsupported: [String] = []
    /// Files whose tags could not be read, with the reason.
    public var unreadable: [(path: String, reason: String)] = []

    public init() {}

    /// Collects the labelled files under `source`. Nothing is written.
    public static func collect(_ source: String, labels: EvalLabelSource) throws(EvalError) -> EvalDataset {
        let root = FilePath.normalize(source)
        guard let info = PathIO.stat(root) else {
            throw EvalError(path: source, reason: .notFound)
        }
        switch labels {
        case .folders:
            guard info.st_mode & S_IFMT == S_IFDIR else { throw EvalError(path: source, reason: .notAFolder) }
            return try folders(root)
        case .tags:
            return try tags(root)
        }
    }

    private static func scan(_ roots: [String]) throws(EvalError) -> [LibraryScanner.Entry] {
        do { return try LibraryScanner().scan(roots) } catch {
            throw EvalError(path: error.path, reason: .unreadable(error.message))
        }
    }

    private static func folders(_ root: String) throws(EvalError) -> EvalDataset {
        guard let entries = PathIO.entries(root) else {
            throw EvalError(path: root, reason: .unreadable(String(cString: strerror(errno))))
        }
        let names = entries.map { FilePath.string($0.name) }
        var data = EvalDataset()
        var labelFolders: [String] = []
        for name in names where !LibraryScanner.isIgnoredName(name) {
            if PathIO.isDirectory(root + "/" + name) { labelFolders.append(name) }
        }
        for name in labelFolders {
            for entry in try scan([root + "/" + name]) {
                switch entry {
                case .candidate(let p): data.files.append(LabelledFile(path: p, labels: [name]))
                case .unsupported(let p): data.unsupported.append(p)
                }
            }
        }
        // Audio directly in the source folder has no label folder.
        for name in names where !LibraryScanner.isIgnoredName(name) && !labelFolders.contains(name) {
            for case .candidate(let p) in try scan([root + "/" + name]) { data.unlabelled.append(p) }
        }
        return data
    }

    private static func tags(_ root: String) throws(EvalError) -> EvalDataset {
        var data = EvalDataset()
        let reader = TagWriter(backupDirectory: FileManager.default.temporaryDirectory)
        for entry in try scan([root]) {
            guard case .candidate(let path) = entry else {
                data.unsupported.append(entry.path)
                continue
            }
            do {
                guard let container = try AudioDecoding.sniff(path) else {
                    data.unreadable.append((path, "not audio"))
                    continue
                }
                let snapshot = try reader.read(path, container: container)
                let genres = snapshot.values(.genre)
                    .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
                if genres.isEmpty {
                    data.unlabelled.append(path)
                } else {
                    data.files.append(LabelledFile(path: path, labels: genres, album: LabelledFile.album(of: snapshot)))
                }
            } catch let error as DecodeError {
                data.unreadable.append((path, error.reasonText))
            } catch let error as TagError {
                data.unreadable.append((path, error.reasonText))
            } catch {
                data.unreadable.append((path, "\(error)"))
            }
        }
        return data
    }
}
