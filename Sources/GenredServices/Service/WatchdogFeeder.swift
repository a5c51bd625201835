import Foundation
import Synchronization
import GenredEngine
import GenredLibrary

/// Feeds systemd's watchdog (`WATCHDOG=1`) from a thread of its own.
///
/// The daemon's loop beats on every turn. A tag write or a rescan holds the loop for as long as
/// it takes (a write decodes the file twice), so such a step is marked `busy`: the feeder keeps
/// pinging through it, up to `busyLimit`. A loop that neither beats nor is in a step stops the
/// pings, and systemd restarts the service as it should.
final class WatchdogFeeder: Sendable {
    private struct State: Sendable {
        var beat = ContinuousClock.now
        var busySince: ContinuousClock.Instant?
        var stopped = false
    }

    private let state = Mutex(State())
    private let notifier: SystemdNotifier
    let busyLimit: Duration

    public init(notifier: SystemdNotifier, busyLimit: Duration = .seconds(3600)) {
        self.notifier = notifier
        self.busyLimit = busyLimit
    }

    /// Starts the feeding thread, when systemd asked for a watchdog.
    public func start() {
        guard let interval = notifier.watchdogPingInterval else { return }
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: interval.seconds)
                let (alive, stopped) = state.withLock { s in
                    let now = ContinuousClock.now
                    let beating = now - s.beat < interval * 2
                    let working = s.busySince.map { now - $0 < busyLimit } ?? false
                    return (beating || working, s.stopped)
                }
                if stopped { return }
                if alive { _ = notifier.watchdog() }
            }
        }
        thread.name = "genred-watchdog"
        thread.start()
    }

    /// The loop is alive.
    package func beat() {
        state.withLock { $0.beat = ContinuousClock.now }
    }

    /// Runs one long step of the loop, during which the watchdog is fed regardless.
    package func busy<T>(_ body: () throws -> T) rethrows -> T {
        state.withLock { $0.busySince = ContinuousClock.now }
        defer {
            state.withLock { s in
                s.busySince = nil
                s.beat = ContinuousClock.now
            }
        }
        return try body()
    }

    public func stop() {
        state.withLock { $0.stopped = true }
    }
}
