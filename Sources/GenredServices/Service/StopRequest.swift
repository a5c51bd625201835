import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif
import GenredEngine
import GenredLibrary

/// SIGINT and SIGTERM as a request to stop between two files.
///
/// The signals no longer end the process: they are ignored by it and delivered to a dispatch
/// source instead, so a tag write in progress (TagLib rewrites the file in place) always
/// finishes, however many times Ctrl-C is pressed. The work loop asks `isRequested` between
/// files and stops there.
public final class StopRequest: Sendable {
    private let count: Counter
    /// Written once, in `init`, and only read afterwards (by `cancel`): safe to share.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]

    private final class Counter: Sendable {
        let value = Mutex(0)
    }

    /// Starts listening; `notice` runs on a private queue with the signal's number and how many
    /// stop signals have arrived so far (1 for the first).
    public init(notice: @escaping @Sendable (_ signal: Int32, _ count: Int) -> Void = { _, _ in }) {
        let queue = DispatchQueue(label: "genred.stop-request")
        let counter = Counter()
        var made: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                let n = counter.value.withLock { c in
                    c += 1
                    return c
                }
                notice(sig, n)
            }
            source.resume()
            made.append(source)
        }
        count = counter
        sources = made
    }

    /// Whether SIGINT or SIGTERM has arrived.
    public var isRequested: Bool { count.value.withLock { $0 > 0 } }

    /// Stops listening and gives the signals back their default action.
    public func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
