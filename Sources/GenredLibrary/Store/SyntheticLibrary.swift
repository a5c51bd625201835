import Foundation
import GenredEngine

extension LibraryStore {
    /// Fills the store with `count` made-up analysed tracks, for benchmarks of the readers
    /// (`genred serve`) at sizes no test collection reaches: random 200-d embeddings and
    /// probabilities from a seeded generator, titles, artists and albums by number, and a
    /// one-window taggram. All in one transaction; the tracks' paths do not exist.
    public func fillSynthetic(count: Int, manifest: BundleManifest, seed: UInt64 = 42) throws(StoreError) {
        try register(model: manifest)
        let labels = manifest.labels.count
        let name = manifest.name, version = manifest.version
        _ = try write { db in
            var rng = SeededGenerator(seed: seed)
            let now = Date()
            let track = """
                INSERT INTO track (path, size, mtime_ns, inode, format, duration, title, artist, album, added_at, updated_at)
                VALUES (?, 0, 0, 0, 'flac', ?, ?, ?, ?, ?, ?)
                """
            let analysis = """
                INSERT INTO analysis (track_id, model, model_version, windows, window_frames, hop_frames, frame_seconds, padded,
                                      mean, vote, taggram, embedding, analyzed_at, seconds)
                VALUES (?, ?, ?, 1, 187, 187, 0.016, ?, ?, ?, ?, ?, ?, 0)
                """
            for i in 0..<count {
                let artist = i / 120, album = i / 12
                let id = try db.insertReturningID(track, [
                    .text("/music/artist \(artist)/album \(album)/track \(i).flac"), .real(Double(120 + i % 240)),
                    .text("Track \(i)"), .text("Artist \(artist)"), .text("Album \(album)"), .date(now), .date(now),
                ])
                let embedding = (0..<200).map { _ in Float(rng.gaussian()) }
                let mean = (0..<labels).map { _ in Float(rng.unit()) * 0.5 }
                try db.execute(analysis, [
                    .integer(id), .text(name), .text(version), .bool(false), .blob(BlobCoding.float32(mean)),
                    .blob(BlobCoding.float32(mean)), .blob(BlobCoding.float16(mean)), .blob(BlobCoding.float32(embedding)), .date(now),
                ])
            }
        }
    }
}

/// A made-up analysed track: a file's path and tags with the embedding and mean
/// probabilities to store for it, for tests that need known neighbours.
public struct SyntheticTrack: Sendable {
    public var path: String
    public var title, artist, album: String?
    public var duration: Double
    /// The model's embedding size (200 for msd-musicnn).
    public var embedding: [Float]
    /// One probability per label of the model.
    public var scores: [Float]

    public init(path: String, title: String? = nil, artist: String? = nil, album: String? = nil, duration: Double = 1,
                embedding: [Float], scores: [Float]) {
        self.path = path
        self.title = title
        self.artist = artist
        self.album = album
        self.duration = duration
        self.embedding = embedding
        self.scores = scores
    }
}

extension LibraryStore {
    /// Stores `tracks` as analysed by `manifest`'s model, in one transaction; the paths need not
    /// exist (their size, mtime and inode are stored as 0).
    public func insertSynthetic(_ tracks: [SyntheticTrack], manifest: BundleManifest) throws(StoreError) {
        try register(model: manifest)
        let name = manifest.name, version = manifest.version
        _ = try write { db in
            let now = Date()
            for t in tracks {
                let id = try db.insertReturningID("""
                    INSERT INTO track (path, size, mtime_ns, inode, format, duration, title, artist, album, added_at, updated_at)
                    VALUES (?, 0, 0, 0, 'flac', ?, ?, ?, ?, ?, ?)
                    """, [.text(t.path), .real(t.duration), t.title.map { .text($0) } ?? .null, t.artist.map { .text($0) } ?? .null,
                          t.album.map { .text($0) } ?? .null, .date(now), .date(now)])
                try db.execute("""
                    INSERT INTO analysis (track_id, model, model_version, windows, window_frames, hop_frames, frame_seconds, padded,
                                          mean, vote, taggram, embedding, analyzed_at, seconds)
                    VALUES (?, ?, ?, 1, 187, 187, 0.016, ?, ?, ?, ?, ?, ?, 0)
                    """, [.integer(id), .text(name), .text(version), .bool(false), .blob(BlobCoding.float32(t.scores)),
                          .blob(BlobCoding.float32(t.scores)), .blob(BlobCoding.float16(t.scores)),
                          .blob(BlobCoding.float32(t.embedding)), .date(now)])
            }
        }
    }
}
