import CGenredLinux
import Foundation

/// The analysis threads of `retag`, the daemon, `worker` and `bench`: each thread has an
/// 8 MiB stack, as the main thread has, and an `Analyzer` of its own, and runs `body` until
/// it returns; `wait` joins them all.
///
/// What a thread pulls, and where its results go, is the caller's: a closed `BlockingQueue`
/// (retag), the daemon's open queue (it returns once the queue is closed), the shared store
/// (a worker).
public final class AnalysisPool: Sendable {
    /// One thread's analyzer, made on first use and made again when the model changes (a
    /// daemon's jobs name their model, and a reload brings a new one).
    public struct AnalyzerSlot {
        let innerThreads: Int
        let precision: Precision
        let requireFaster: Bool
        private var current: Analyzer?

        init(innerThreads: Int, precision: Precision, requireFaster: Bool) {
            self.innerThreads = innerThreads
            self.precision = precision
            self.requireFaster = requireFaster
        }

        public mutating func analyzer(for bundle: ModelBundle) -> Analyzer {
            if let current, current.bundle.isSameModel(as: bundle) { return current }
            let made = Analyzer(bundle: bundle, threads: innerThreads, precision: precision, requireFaster: requireFaster)
            current = made
            return made
        }
    }

    private let finished = DispatchGroup()
    public let count: Int

    /// Starts `count` threads. Each runs its windows on `innerThreads` inference threads;
    /// `background` lowers their priority (nice 10, batch scheduling) below the caller's;
    /// `precision` is the network's number format (see `Precision.resolve`, and `Analyzer` for
    /// `requireFaster`).
    public init(count: Int, innerThreads: Int, precision: Precision = .fp32, requireFaster: Bool = true,
                background: Bool = false, name: String = "genred-analysis",
                _ body: @escaping @Sendable (_ index: Int, _ slot: inout AnalyzerSlot) -> Void) {
        self.count = count
        let group = finished
        for index in 0..<count {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                if background { _ = genred_background_thread(10) }
                var slot = AnalyzerSlot(innerThreads: max(1, innerThreads), precision: precision, requireFaster: requireFaster)
                body(index, &slot)
            }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Waits until every thread has returned.
    public func wait() { finished.wait() }

    /// Waits at most `seconds`; false if some thread is still running then.
    public func wait(seconds: Double) -> Bool { finished.wait(timeout: .now() + seconds) == .success }

    /// How many threads to run for `jobs` files when `requested` are asked for (0: one per
    /// core), and how many inference threads each gets so that together they fill the cores.
    public static func split(requested: Int, jobs: Int = .max, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> (threads: Int, inner: Int) {
        let threads = max(1, min(requested > 0 ? requested : cores, jobs))
        return (threads, max(1, cores / threads))
    }
}
