import Foundation
import GenredEngine

/// A file genred knows about: where it is, how to recognise it, and its last error.
public struct TrackRecord: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "track"

    public var id: Int64?
    public var path: String
    public var size: Int64
    public var mtimeNs: Int64
    public var inode: Int64
    public var format: String?
    public var duration: Double?
    /// SHA-256 of the decoded audio (see `AudioFingerprint`); nil until decoded once.
    public var fingerprint: String?
    public var title: String?
    public var artist: String?
    public var album: String?
    var addedAt: Date
    public var updatedAt: Date
    /// The file's stat right after genred's own last tag write.
    package var writtenSize: Int64?
    package var writtenMtimeNs: Int64?
    package var writtenInode: Int64?
    var taggedAt: Date?
    /// `TagPlanner.planKey` of the settings the file's tags were last decided with.
    var tagPlan: String?
    public var lastError: String?
    /// Failures in a row of the file as it is now (analysis or tag writes).
    package var errorCount: Int
    var lastErrorAt: Date?
    /// The file's ctime when the last failure was recorded (see `FileStat.ctimeNs`).
    var errorCtimeNs: Int64?
    /// Set by `genred undo`: genred does not write this track's tags again until asked.
    var tagsHeldAt: Date?
    /// Why the file decodes only in part (its analysis covers what decodes); nil when whole.
    public var damage: String?
    /// The MusicBrainz recording id from the file's tags (`MUSICBRAINZ_TRACKID`), in lower case.
    var musicbrainzRecordingId: String?
    /// The ISRC from the file's tags, upper case without hyphens (see `TrackIdentifier`).
    public var isrc: String?

    public init(path: String, stat: FileStat, now: Date = Date()) {
        self.path = path
        size = stat.size
        mtimeNs = stat.mtimeNs
        inode = stat.inode
        addedAt = now
        updatedAt = now
        errorCount = 0
    }


    /// Whether the file on disk still has the size, mtime and inode recorded here.
    public func matches(_ stat: FileStat) -> Bool {
        size == stat.size && mtimeNs == stat.mtimeNs && inode == stat.inode
    }

    public mutating func update(from stat: FileStat) {
        size = stat.size
        mtimeNs = stat.mtimeNs
        inode = stat.inode
    }

    /// The row after a fresh analysis of the file at `path` with `stat`: what the decode
    /// learned of it, earlier errors cleared, and no tag plan, so its tags are decided again.
    /// (`LibraryStore.completeJob` does the same in SQL, for a worker's result.)
    public mutating func take(_ analysis: TrackAnalysis, path: String, stat: FileStat) {
        self.path = path
        update(from: stat)
        format = analysis.audio.container.rawValue
        duration = analysis.audio.duration
        fingerprint = analysis.fingerprint
        damage = analysis.damage
        lastError = nil
        errorCount = 0
        errorCtimeNs = nil
        tagPlan = nil
    }
}

/// One model's results for one track.
public struct AnalysisRecord: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "analysis"

    var trackId: Int64
    public var model: String
    public var modelVersion: String
    public var windows: Int
    public var windowFrames: Int
    public var hopFrames: Int
    public var frameSeconds: Double
    public var padded: Bool
    /// Little-endian float32 per label.
    public var mean: Data
    public var vote: Data
    /// Little-endian float16, windows x labels.
    public var taggram: Data
    /// Little-endian float32, the averaged penultimate layer.
    public var embedding: Data
    var analyzedAt: Date
    public var seconds: Double
    /// The precision the network ran in: "fp32", or "bf16" where it was asked for and ran.
    public var precision: String

    public init(trackId: Int64, analysis a: TrackAnalysis, seconds: Double, at date: Date = Date()) {
        self.trackId = trackId
        model = a.model
        modelVersion = a.modelVersion
        windows = a.windowCount
        windowFrames = a.windowFrames
        hopFrames = a.hopFrames
        frameSeconds = a.frameSeconds
        padded = a.padded
        mean = BlobCoding.float32(a.mean)
        vote = BlobCoding.float32(a.vote)
        taggram = BlobCoding.float16(a.taggram)
        embedding = BlobCoding.float32(a.embedding)
        analyzedAt = date
        self.seconds = seconds
        precision = a.precision.rawValue
    }

    var meanScores: [Float] { BlobCoding.float32(mean) }
    var voteScores: [Float] { BlobCoding.float32(vote) }
    var embeddingVector: [Float] { BlobCoding.float32(embedding) }
    var taggramScores: [Float] { BlobCoding.float16(taggram) }
}

/// A model whose results the database holds, with what its outputs mean.
public struct ModelRecord: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "model"

    public var name: String
    public var version: String
    /// JSON arrays.
    public var labels: String
    public var displayNames: String

    public init(_ manifest: BundleManifest) {
        name = manifest.name
        version = manifest.version
        labels = BlobCoding.json(manifest.labels)
        displayNames = BlobCoding.json(manifest.displayNames)
    }
}

/// One invocation that changed files (retag, undo, the daemon's session).
public struct RunRecord: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "run"

    public var id: Int64?
    public var command: String
    public var startedAt: Date
    var finishedAt: Date?
    /// JSON object of counts, written when the run ends.
    public var summary: String?

    public init(command: String, startedAt: Date = Date()) {
        self.command = command
        self.startedAt = startedAt
    }

}

/// One tag write: the values of every field genred touched, before and after.
public struct JournalEntry: Codable, Sendable, Equatable, StoredRecord {
    static let tableName = "tag_journal"

    public var id: Int64?
    public var runId: Int64
    var trackId: Int64?
    public var path: String
    /// JSON objects: field name -> array of values.
    public var previous: String
    public var new: String
    public var writtenAt: Date
    /// Set when a later `undo` restored `previous`.
    public var undoneAt: Date?

    public init(runId: Int64, trackId: Int64?, path: String, previous: [String: [String]], new: [String: [String]],
                writtenAt: Date = Date()) {
        self.runId = runId
        self.trackId = trackId
        self.path = path
        self.previous = BlobCoding.json(previous)
        self.new = BlobCoding.json(new)
        self.writtenAt = writtenAt
    }


    var previousValues: [String: [String]] { BlobCoding.decodeJSON(previous) ?? [:] }
    public var newValues: [String: [String]] { BlobCoding.decodeJSON(new) ?? [:] }
}

/// Packing of score vectors into blobs and small JSON values into text columns.
public enum BlobCoding {
    package static func float32(_ values: [Float]) -> Data {
        var data = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    package static func float32(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func float16(_ values: [Float]) -> Data {
        var data = Data(capacity: values.count * 2)
        for v in values { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    static func float16(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 2)).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))) }
        }
    }

    public static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    public static func decodeJSON<T: Decodable>(_ text: String) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
