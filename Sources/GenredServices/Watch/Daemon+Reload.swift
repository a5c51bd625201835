import Foundation
import GenredEngine
import GenredLibrary

/// Set-up and SIGHUP: the processor, the roots and the watcher, from the configuration.
extension Daemon {
    func setUpProcessor() throws {
        let bundle = try ModelBundle.load(configuration.model)
        let backup = StoreLocation(options.databasePath).backupDirectory()
        let previousRun = processor?.runID
        processor = try LibraryProcessor(store: store, bundle: bundle, settings: configuration.tags, backupDirectory: backup)
        processor.retryLimit = configuration.watch.maxAttempts
        processor.runID = try previousRun ?? store.beginRun(command: "watch")
    }

    func resolveRoots() throws -> [String] {
        let wanted = options.rootsOverride ?? configuration.roots
        guard !wanted.isEmpty else {
            throw StartError(description: "no folders to watch: give them on the command line or as roots in [library] of the config file")
        }
        var out: [String] = []
        for root in wanted {
            let path = FilePath.normalize(root)
            guard PathIO.isDirectory(path) else {
                // A missing root may be a disk not mounted yet: carry on with the others.
                Log.warning("\(root): not a folder (yet?); it is watched once it appears")
                out.append(path)
                continue
            }
            if let fs = NetworkFileSystem.kind(of: path) {
                Log.warning("\(path) is on a network file system (\(fs)): inotify sees no changes made elsewhere there; relying on rescans every \(formatSeconds(configuration.watch.rescanInterval))")
            }
            out.append(path)
        }
        guard out.contains(where: { PathIO.exists($0) }) else {
            throw StartError(description: "none of the folders to watch exists: \(wanted.joined(separator: ", "))")
        }
        return out
    }

    func startWatcher() {
        watcher?.close()
        watcher = nil
        rootIdentities = [:]
        do {
            watcher = try InotifyWatcher(roots: roots)
        } catch {
            Log.error("\(error); falling back to periodic rescans")
            return
        }
        for root in roots where watcher!.isWatching(root: root) {
            if let info = PathIO.stat(root) {
                rootIdentities[ExactPath(root)] = RootIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            }
        }
        try? store.setDaemonState("watches", String(watcher?.watchCount ?? 0))
    }

    func reload() {
        _ = notifier.reloading()
        guard let path = options.configPath ?? configuration.source else {
            Log.info("SIGHUP: no config file to reload")
            _ = notifier.ready()
            return
        }
        // A reload that fails part-way leaves every setting as it was, not some old and some new.
        let previous = (configuration: configuration, processor: processor, logThreshold: Log.threshold,
                        settleSeconds: settle.settleSeconds)
        do {
            var fresh = try Configuration.load(path: path)
            if let precision = options.precisionOverride { fresh.precision = precision }
            let rootsChanged = options.rootsOverride == nil && fresh.roots != configuration.roots
            if fresh.watch.workers != configuration.watch.workers {
                Log.warning("a change of [watch] workers takes effect at the next restart")
            }
            if fresh.precision != configuration.precision {
                Log.warning("a change of [analysis] precision takes effect at the next restart")
            }
            let before = (processor.bundle.manifest.name, processor.bundle.manifest.version, processor.planKey)
            configuration = fresh
            playlists.planned = false  // the settings may call for other playlists
            Log.threshold = fresh.watch.logLevel
            settle.settleSeconds = fresh.watch.settleSeconds
            try setUpProcessor()
            let modelChanged = before.0 != processor.bundle.manifest.name || before.1 != processor.bundle.manifest.version
            if rootsChanged {
                let resolved = try resolveRoots()
                try store.setDaemonState("roots", BlobCoding.json(resolved))
                roots = resolved
                startWatcher()
            }
            if rootsChanged || modelChanged || before.2 != processor.planKey {
                if modelChanged {
                    Log.info("model is now \(processor.bundle.manifest.name) \(processor.bundle.manifest.version): "
                        + "new files are analysed with it, the others are re-analysed in the background")
                }
                signals.withLock { $0.rescan = true }
            }
            Log.info("reloaded \(path)")
        } catch {
            configuration = previous.configuration
            processor = previous.processor
            Log.threshold = previous.logThreshold
            settle.settleSeconds = previous.settleSeconds
            Log.error("reload failed, keeping the previous settings: \(error)")
        }
        _ = notifier.ready()
    }
}
