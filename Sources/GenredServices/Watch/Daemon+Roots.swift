import Foundation
import GenredEngine
import GenredLibrary

/// Rescans, the roots coming and going, and taxonomies changed in the store.
extension Daemon {
    /// Brings the database in line with the disk: new and changed files are queued, files
    /// that are gone are forgotten. Runs at start, periodically, on overflow and on SIGUSR1.
    func rescan(reason: String) {
        lastRescan = Date()
        try? setState("scanning")
        _ = notifier.status("scanning (\(reason))")
        Log.info("rescanning \(roots.count) root(s) (\(reason))")
        var seen = Set<ExactPath>()
        var queued = 0
        var scannedRoots: [String] = []
        watchdog.busy {
            for root in roots {
                guard let entries = scan(root: root) else { continue }
                scannedRoots.append(root)
                for (i, entry) in entries.enumerated() {
                    if i % 500 == 0 { watchdog.beat() }
                    guard case .candidate(let path) = entry else { continue }
                    seen.insert(ExactPath(path))
                    if queueIfNeeded(path) { queued += 1 }
                }
            }
        }
        var forgotten = 0
        for root in scannedRoots {
            for track in (try? store.tracks(under: root)) ?? [] where !seen.contains(ExactPath(track.path)) && FileStat.of(track.path) == nil {
                if (try? store.forget(path: track.path)) == true { forgotten += 1 }
            }
        }
        try? store.setDaemonState("last_rescan_at", ISO8601DateFormatter().string(from: Date()))
        Log.info("rescan done: \(seen.count) files, \(queued) queued, \(forgotten) gone")
        lastStatus = ""
    }

    /// The files under one root, or nil when it cannot be scanned or looks unmounted.
    func scan(root: String) -> [LibraryScanner.Entry]? {
        let entries: [LibraryScanner.Entry]
        do { entries = try LibraryScanner().scan([root]) } catch {
            Log.error("cannot scan \(root): \(error)")
            return nil
        }
        // An empty root that used to hold tracks is more likely an unmounted disk than a
        // deleted collection: keep its tracks until files show up again.
        if entries.isEmpty, let known = try? store.tracks(under: root), !known.isEmpty {
            Log.warning("\(root) is empty but \(known.count) tracks were there: not forgetting them (unmounted?)")
            return nil
        }
        return entries
    }

    /// Queues `path` if it needs work; re-analysis of an unchanged file (a model change) waits
    /// behind new and changed files. Returns whether it was queued.
    func queueIfNeeded(_ path: String) -> Bool {
        do {
            switch try processor.decide(path) {
            case .upToDate, .held, .failed, .gaveUp:
                return false
            case .tagOnly:
                try store.enqueue(path, reason: "rescan")
            case .decode(let job):
                let unchanged = job.track.map { t in job.stat.size == t.size && job.stat.mtimeNs == t.mtimeNs } ?? false
                try store.enqueue(path, reason: unchanged ? "re-analysis" : "rescan", priority: unchanged ? 1 : 0)
            }
            return true
        } catch {
            Log.error("\(error)")
            return false
        }
    }

    /// Watches again, and scans, each root that came back or was replaced since it was
    /// watched (a disk unmounted and mounted again, a folder deleted and made again).
    func checkRoots() {
        if watcher == nil { startWatcher() }
        guard let watcher else { return }
        for root in roots {
            let key = ExactPath(root)
            guard let info = PathIO.stat(root), info.st_mode & S_IFMT == S_IFDIR else {
                if missingRoots.insert(key).inserted { Log.warning("\(root) is missing; it is watched again once it is back") }
                continue
            }
            let identity = RootIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            if watcher.isWatching(root: root) && rootIdentities[key] == identity { continue }
            do {
                try watcher.rewatch(root: root)
            } catch {
                if missingRoots.insert(key).inserted { Log.warning("\(error)") }
                continue
            }
            rootIdentities[key] = identity
            missingRoots.remove(key)
            Log.info("\(root) is back: watching it again (\(watcher.watchCount) watches)")
            var queued = 0
            watchdog.busy {
                for case .candidate(let path) in scan(root: root) ?? [] where queueIfNeeded(path) { queued += 1 }
            }
            Log.info("\(root): \(queued) file(s) queued")
        }
    }

    /// Follows `genred learn` and `learn import`: when a taxonomy the tags use has a newer
    /// version in the database, the daemon takes it up as a reload would (the tracks whose tags
    /// it changes are decided again from their stored scores). A taxonomy removed or made
    /// unusable leaves the loaded version in use, with one error in the log.
    func checkTaxonomies() {
        guard !processor.taxonomies.isEmpty else { return }
        var changed = false
        for applied in processor.taxonomies {
            let latest: TaxonomyRecord?
            do { latest = try store.taxonomy(name: applied.taxonomy.name) } catch { continue }
            if latest?.version != applied.taxonomy.version { changed = true }
        }
        guard changed else {
            taxonomyProblem = nil
            return
        }
        let planBefore = processor.planKey
        let previous = processor
        do {
            try setUpProcessor()
            taxonomyProblem = nil
            let versions = processor.taxonomies.map { "\($0.taxonomy.name) version \($0.taxonomy.version ?? 0)" }
            Log.info("taxonomies now in use: \(versions.joined(separator: ", "))")
            if processor.planKey != planBefore { signals.withLock { $0.rescan = true } }
        } catch {
            processor = previous
            let problem = "\(error)"
            if taxonomyProblem != problem {
                taxonomyProblem = problem
                Log.error("a taxonomy changed in the library database and cannot be used: \(problem); "
                    + "keeping the version loaded (fix [tags] taxonomies and reload)")
            }
        }
    }
}
