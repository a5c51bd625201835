import Foundation
import GenredEngine
import GenredLibrary

/// What the daemon does with each inotify event: which paths matter, what is queued.
extension Daemon {
    func handle(_ event: WatchEvent) {
        do {
            switch event {
            case .written(let path), .appeared(let path):
                noteIfRelevant(path)
            case .moved(let from, let to):
                settle.remove(from)
                if try store.track(path: from) != nil {
                    if isIgnored(to) {
                        try store.forget(path: from)
                    } else {
                        try store.moveTrack(from: from, to: to)
                        Log.info("moved \(from) -> \(to)")
                    }
                } else {
                    noteIfRelevant(to)
                }
            case .removed(let path):
                settle.remove(path)
                if try store.forget(path: path) { Log.info("removed \(path)") }
            case .directoryAppeared(let path):
                // Files may have landed before the watch existed: look now.
                for entry in (try? LibraryScanner().scan([path])) ?? [] {
                    if case .candidate(let p) = entry { settle.note(p, now: Date()) }
                }
            case .directoryMoved(let from, let to):
                try store.moveTracks(under: from, to: to)
                settle.renameDirectory(from: from, to: to)
                Log.info("moved folder \(from) -> \(to)")
            case .directoryRemoved(let path):
                let n = try store.forget(under: path)
                if n > 0 { Log.info("removed folder \(path) (\(n) tracks)") }
            case .overflow:
                Log.warning("inotify queue overflowed (events were lost): rescanning")
                signals.withLock { $0.rescan = true }
            case .watchLost(let path, let reason):
                if roots.contains(where: { ExactPath($0) == ExactPath(path) }) {
                    // A root that went away is watched again when it comes back (`checkRoots`).
                    Log.warning("watch lost on \(path): \(reason); watching it again once it is back")
                    rootIdentities[ExactPath(path)] = nil
                } else {
                    Log.warning("watch lost on \(path): \(reason); rescanning")
                    signals.withLock { $0.rescan = true }
                }
            }
        } catch {
            Log.error("\(error)")
        }
    }

    func isIgnored(_ path: String) -> Bool {
        path.split(separator: "/").contains { LibraryScanner.isIgnoredName(String($0)) }
    }

    /// Starts the settle window for a file, unless it is hidden, partial, or genred's own write.
    func noteIfRelevant(_ path: String) {
        guard !isIgnored(path) else { return }
        if let track = try? store.track(path: path), let stat = FileStat.of(path),
           track.writtenSize == stat.size, track.writtenMtimeNs == stat.mtimeNs, track.writtenInode == stat.inode {
            return  // the event of genred's own tag write
        }
        settle.note(path, now: Date())
    }

    /// Queues a settled file if it needs anything.
    func consider(_ path: String, reason: String) {
        do {
            switch try processor.decide(path) {
            case .upToDate, .held: return
            case .gaveUp(let track): Log.debug("\(path): left alone after \(track.errorCount) failures (unchanged since)")
            case .failed(let r): Log.debug("\(path): \(r.error ?? "skipped")")
            case .tagOnly, .decode: try store.enqueue(path, reason: reason)
            }
        } catch {
            Log.error("\(error)")
        }
    }
}
