import ArgumentParser
import Foundation
import GenredKit

struct Enqueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Queue folders for analysis by `genred worker`s, analysing nothing here.",
        discussion: """
            Scans the folders and queues every audio file that has no analysis by the model yet, or \
            has changed since it was analysed, in the store's shared queue. Workers on any machine \
            that shares the store (PostgreSQL: --store postgresql://...) and mounts the collection \
            take the jobs, analyse the files and store the results; then `genred retag` (or a \
            running `genred watch`) writes the tags here, from the stored analyses. See \
            docs/workers.md.

            Queueing a file already queued updates its job; a job a worker holds for a file that has \
            since changed is taken back and queued afresh.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Option(name: .long, help: "Model bundle the workers analyse with (default: from the config, else msd-musicnn).")
    var model: String?

    @Option(name: .long, help: "Lower is sooner: jobs of priority 0 are taken before those of 1.")
    var priority = 0

    @Argument(help: "Folders (or files) to queue, as this machine sees them.")
    var folders: [String]

    func run() throws {
        let config = try library.loadConfiguration()
        let bundle = try loadBundle(model ?? config.model)
        let store = try library.openStore(config)
        let terminal = standardErrorIsTerminal
        let summary: JobEnqueuer.Summary
        do {
            summary = try JobEnqueuer.enqueue(folders, store: store, manifest: bundle.manifest, priority: priority) { done, total in
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2Klooking at files: \(done)/\(total)".utf8)) }
            }
        } catch {
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            throw CommandFailure(error, status: 2)
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        var line = "queued \(summary.queued) of \(summary.files) files for \(bundle.manifest.name) \(bundle.manifest.version)"
        line += " (\(summary.upToDate) already analysed"
        if summary.unreadable > 0 { line += ", \(summary.unreadable) unreadable" }
        if summary.unsupported > 0 { line += ", \(summary.unsupported) in formats genred does not decode" }
        print(line + ")")
        if summary.queued > 0 && !store.isShared {
            printError("genred: note: \(store.display) is a SQLite file: only workers on this machine can reach it (see docs/workers.md)")
        }
    }
}

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse files queued in a shared store, on this machine (never writes tags).",
        discussion: """
            Takes jobs from the store's queue (filled by `genred enqueue` or by a `genred watch` with \
            [analysis] analyse = "workers"), reads each file through this machine's mount of the \
            collection (--map rewrites the owner's path prefix to this machine's; [worker] map in the config \
            adds more), analyses it and \
            stores the analysis with the file's fingerprint. Tags are written by the machine that \
            owns the files, when the analyses arrive.

            A job is held under a lease the worker renews while it runs; if the worker dies, its jobs \
            go to other workers once the lease runs out (--lease), and a late result is refused. New \
            jobs wake idle workers at once (PostgreSQL LISTEN/NOTIFY).

            SIGTERM or Ctrl-C: the files in progress are finished and stored, then the worker stops \
            and gives back what it holds (exit status 0). `genred status` lists the workers and what \
            they are doing. Exit status 1 when some files failed (--until-empty), 2 when it could not start.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Option(name: .long, help: "Files analysed at once (default: one per core).")
    var jobs: Int?

    @Option(name: .long, help: ArgumentHelp("Rewrite a path prefix from the owner's view to this machine's, FROM=TO (repeatable; the first match wins), e.g. /srv/music=/mnt/nas/music.", valueName: "from=to"))
    var map: [String] = []

    @Flag(name: .long, help: "Stop once the queue holds no job for this model (default: wait for more).")
    var untilEmpty = false

    @Option(name: .long, help: "Model bundle (default: from the config, else msd-musicnn); the worker takes only jobs queued for its model and version.")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Seconds a job stays this worker's without renewal; a dead worker's jobs wait this long.", valueName: "seconds"))
    var lease: Double = 60

    @OptionGroup var precision: PrecisionOption

    @Option(name: .long, help: "This worker's name in `genred status` (default: host:pid).")
    var name: String?

    @Flag(name: .long, help: "Print only errors and the summary.")
    var quiet = false

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        for m in map where PathMap(m) == nil {
            throw ValidationError("--map \(m): expected FROM=TO with two absolute folders, e.g. /srv/music=/mnt/music")
        }
        if !(lease >= 1) { throw ValidationError("--lease must be at least 1 second") }
    }

    func run() throws {
        let config = try library.loadConfiguration()
        let bundle = try loadBundle(model ?? config.model)
        let store = try library.openStore(config)
        var options = AnalysisWorker.Options(jobs: jobs ?? (config.jobs > 0 ? config.jobs : ProcessInfo.processInfo.activeProcessorCount),
                                             name: name)
        options.maps = (map + config.workerMaps).compactMap(PathMap.init)
        options.untilEmpty = untilEmpty
        options.lease = lease
        options.maxClaims = config.watch.maxAttempts
        options.precision = try precision.resolve(config)
        let stop = StopRequest { _, count in
            printError(count == 1 ? "genred: stopping after the files in progress..." : "genred: still finishing the files in progress")
        }
        let quiet = quiet
        let worker = AnalysisWorker(store: store, bundle: bundle, options: options, stop: { stop.isRequested }) { event in
            switch event {
            case .started(let name, let model, let jobs):
                printError("genred worker \(name): \(model), \(jobs) at once, store \(store.display)")
            case .analysed(let path, let audio, let seconds):
                if !quiet { printError("analysed  \(path) (\(formatDuration(audio)) of audio in \(String(format: "%.1f", seconds)) s)") }
            case .discarded(let path):
                printError("discarded \(path): its lease ran out or the file changed; another worker has it")
            case .failed(let path, let reason):
                printError("failed    \(path): \(reason)")
            case .idle:
                if !quiet { printError("waiting for jobs...") }
            case .stopping:
                break
            }
        }
        let summary: AnalysisWorker.Summary
        summary = try worker.run()
        stop.cancel()
        let perTrack = summary.analysed + summary.failed > 0 ? summary.storeSeconds / Double(summary.analysed + summary.failed) * 1000 : 0
        printError(String(format: "%d analysed, %d failed, %d discarded; %@ of audio in %@ (%.0fx realtime); store %.1f ms per job",
                          summary.analysed, summary.failed, summary.discarded, formatDuration(summary.audioSeconds),
                          formatDuration(summary.seconds), summary.seconds > 0 ? summary.audioSeconds / summary.seconds : 0, perTrack))
        if summary.failed > 0 { throw ExitCode(1) }
    }
}
