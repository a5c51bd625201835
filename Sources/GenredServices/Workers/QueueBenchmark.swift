import Foundation
import GenredEngine
import GenredLibrary

/// The shared queue's own cost, without analysis: `workers` threads, each with a connection
/// of its own, take `jobs` made-up jobs and store one real analysis for each, as workers do
/// (`genred bench queue`). What it measures is store time per job: queueing it, and the one
/// transaction that stores a result and takes the next job.
public enum QueueBenchmark {
    public struct Result: Sendable {
        public var workers: Int
        public var jobs: Int
        /// Wall time of the claims and results, all workers together.
        public var seconds: Double
        /// Per job: `enqueueJob`, and the claim-and-store calls one worker makes.
        public var enqueueMs: Double
        public var storeMedianMs: Double
        public var storeP99Ms: Double
        public var storeMeanMs: Double
    }

    public static func run(store location: String, jobs: Int, workers: Int, analysis: TrackAnalysis,
                           manifest: BundleManifest) throws -> Result {
        let store = try LibraryStore(path: location)
        try store.register(model: manifest)
        let run = UUID().uuidString.prefix(8)
        let stat = FileStat(size: 1, mtimeNs: 1, inode: 1)
        let enqueueStart = Date()
        for i in 0..<jobs {
            try store.enqueueJob(JobRecord(path: "/queue-benchmark/\(run)/\(i).wav", stat: stat,
                                           model: manifest.name, modelVersion: manifest.version))
        }
        let enqueueMs = Date().timeIntervalSince(enqueueStart) * 1000 / Double(max(1, jobs))

        let times = LockedValue([Double]())
        let failure = LockedValue<String?>(nil)
        let start = Date()
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            do {
                let own = try LibraryStore(path: location)
                let claim = LibraryStore.Claim(worker: "queue-benchmark-\(run)-\(w)", model: manifest.name,
                                               modelVersion: manifest.version, lease: 60, maxClaims: 3)
                var mine: [Double] = []
                var t = Date()
                var job = try own.claimJob(claim)
                var claimed = Date().timeIntervalSince(t)
                while let current = job {
                    t = Date()
                    job = try own.completeJob(current, worker: claim.worker, analysis: analysis, seconds: 0, thenClaim: claim).next
                    mine.append((claimed + Date().timeIntervalSince(t)) * 1000)
                    claimed = 0
                }
                times.withLock { $0 += mine }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        if let problem = failure.withLock({ $0 }) { throw QueueBenchmarkError(description: problem) }
        let sorted = times.withLock { $0 }.sorted()
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        return Result(workers: workers, jobs: sorted.count, seconds: seconds, enqueueMs: enqueueMs,
                      storeMedianMs: percentile(0.5), storeP99Ms: percentile(0.99),
                      storeMeanMs: sorted.reduce(0, +) / Double(max(1, sorted.count)))
    }

    struct QueueBenchmarkError: Error, CustomStringConvertible {
        public let description: String
    }
}
