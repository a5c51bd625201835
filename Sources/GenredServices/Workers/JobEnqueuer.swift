import Foundation
import GenredEngine
import GenredLibrary

/// `genred enqueue`: queues a collection's new and changed files for `genred worker`s,
/// analysing nothing here.
public enum JobEnqueuer {
    public struct Summary: Sendable, Equatable {
        /// Audio files found.
        public var files = 0
        /// Queued for the workers.
        public var queued = 0
        /// Already analysed with this model version, and unchanged since.
        public var upToDate = 0
        /// In a format genred does not decode.
        public var unsupported = 0
        /// Gone or unreadable by the time they were looked at.
        public var unreadable = 0
    }

    /// Scans `roots` and queues each file that has no analysis by `manifest`'s model and version,
    /// or has changed since it was analysed. `progress` gets (looked at, total) now and then.
    public static func enqueue(_ roots: [String], store: LibraryStore, manifest: BundleManifest, priority: Int = 0,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
        let entries = try LibraryScanner().scan(roots)
        try store.register(model: manifest)
        var summary = Summary()
        for (i, entry) in entries.enumerated() {
            if i % 200 == 0 { progress(i, entries.count) }
            guard case .candidate(let path) = entry else {
                summary.unsupported += 1
                continue
            }
            summary.files += 1
            guard let stat = FileStat.of(path) else {
                summary.unreadable += 1
                continue
            }
            if let track = try store.track(path: path), track.matches(stat), let id = track.id,
               try store.analysis(trackID: id, model: manifest.name)?.modelVersion == manifest.version {
                summary.upToDate += 1
                continue
            }
            try store.enqueueJob(JobRecord(path: path, stat: stat, model: manifest.name, modelVersion: manifest.version, priority: priority))
            summary.queued += 1
        }
        progress(entries.count, entries.count)
        return summary
    }
}
