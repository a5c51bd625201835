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
