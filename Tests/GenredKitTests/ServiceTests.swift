import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

#if canImport(Glibc)
import Glibc
#endif

/// The systemd notification protocol and the one-daemon-per-database lock.
final class ServiceTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-service-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    // MARK: SystemdNotifier

    /// A datagram socket standing in for systemd's notification socket.
    private final class Listener {
        let fd: Int32

        init(name: String) throws {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = try XCTUnwrap(UnixSocketAddress(name))
            let bound = address.withSockaddr { bind(fd, $0, $1) }
            guard bound == 0 else { throw POSIXError(.init(rawValue: errno)!) }
        }

        deinit { close(fd) }

        /// The next datagram's text, or nil when none came within the timeout.
        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return count >= 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
        }
    }

    /// Datagrams that arrive within `seconds`.
    private func drain(_ listener: Listener, for seconds: Double) -> [String] {
        var got: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, let message = listener.receive() { got.append(message) }
        return got
    }

    func testWatchdogIsFedThroughALongStepAndStarvedWhenTheLoopHangs() throws {
        let path = dir.appendingPathComponent("notify").path
        let listener = try Listener(name: path)
        var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
        setsockopt(listener.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // WATCHDOG_USEC 0.4 s: a ping every 0.2 s while the loop is alive.
        let feeder = WatchdogFeeder(notifier: SystemdNotifier(socketPath: path, watchdogInterval: .milliseconds(400)),
                                    busyLimit: .seconds(3))
        feeder.start()
        defer { feeder.stop() }

        // A long step (a big file's tag write) holds the loop well past the interval.
        let during = feeder.busy { drain(listener, for: 1.5) }
        XCTAssertGreaterThanOrEqual(during.filter { $0 == "WATCHDOG=1\n" }.count, 4, "\(during)")

        // Then the loop stops beating altogether: the pings stop, so systemd would restart it.
        Thread.sleep(forTimeInterval: 0.6)
        _ = drain(listener, for: 0.1)
        XCTAssertEqual(drain(listener, for: 1.0), [], "no pings for a loop that hangs outside a step")

        feeder.beat()
        XCTAssertEqual(drain(listener, for: 0.5).first, "WATCHDOG=1\n", "a beat brings them back")
    }

    func testMessagesArriveAsOneDatagramEach() throws {
        let path = dir.appendingPathComponent("notify").path
        let listener = try Listener(name: path)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        XCTAssertTrue(notifier.isEnabled)

        XCTAssertTrue(notifier.ready(status: "watching 2 roots"))
        XCTAssertEqual(listener.receive(), "READY=1\nSTATUS=watching 2 roots\n")
        XCTAssertTrue(notifier.status("analysing\nsomething"))
        XCTAssertEqual(listener.receive(), "STATUS=analysing something\n")
        XCTAssertTrue(notifier.watchdog())
        XCTAssertEqual(listener.receive(), "WATCHDOG=1\n")
        XCTAssertTrue(notifier.stopping())
        XCTAssertEqual(listener.receive(), "STOPPING=1\n")
        XCTAssertTrue(notifier.mainPID(4242))
        XCTAssertEqual(listener.receive(), "MAINPID=4242\n")
    }

    func testReloadingCarriesTheMonotonicClock() throws {
        let path = dir.appendingPathComponent("notify").path
        let listener = try Listener(name: path)
        let before = SystemdNotifier.monotonicMicroseconds()
        XCTAssertTrue(SystemdNotifier(socketPath: path).reloading())
        let after = SystemdNotifier.monotonicMicroseconds()
        let lines = try XCTUnwrap(listener.receive()).split(separator: "\n")
        XCTAssertEqual(lines.first, "RELOADING=1")
        let stamp = try XCTUnwrap(lines.last.flatMap { $0.hasPrefix("MONOTONIC_USEC=") ? UInt64($0.dropFirst(15)) : nil })
        XCTAssertTrue((before...after).contains(stamp), "\(before) <= \(stamp) <= \(after)")
    }

    func testAbstractNamespaceSocket() throws {
        let name = "@genred-test-\(UUID().uuidString)"
        let listener = try Listener(name: name)
        XCTAssertTrue(SystemdNotifier(environment: ["NOTIFY_SOCKET": name]).ready())
        XCTAssertEqual(listener.receive(), "READY=1\n")
    }

    func testWithoutSocketNothingIsSentAndNothingFails() {
        let notifier = SystemdNotifier(environment: [:])
        XCTAssertFalse(notifier.isEnabled)
        XCTAssertFalse(notifier.ready())
        XCTAssertFalse(notifier.watchdog())
        XCTAssertNil(notifier.watchdogInterval)
        // A socket nobody listens on, or a name too long for sun_path: false, no throw.
        XCTAssertFalse(SystemdNotifier(socketPath: dir.appendingPathComponent("absent").path).ready())
        XCTAssertFalse(SystemdNotifier(socketPath: "/" + String(repeating: "x", count: 200)).ready())
    }

    func testWatchdogIntervalHonoursWatchdogPID() {
        let usec = ["WATCHDOG_USEC": "120000000"]
        XCTAssertEqual(SystemdNotifier(environment: usec, pid: 77).watchdogInterval, .seconds(120))
        XCTAssertEqual(SystemdNotifier(environment: usec, pid: 77).watchdogPingInterval, .seconds(60))
        XCTAssertEqual(SystemdNotifier(environment: usec.merging(["WATCHDOG_PID": "77"]) { $1 }, pid: 77).watchdogInterval,
                       .seconds(120))
        XCTAssertNil(SystemdNotifier(environment: usec.merging(["WATCHDOG_PID": "78"]) { $1 }, pid: 77).watchdogInterval)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "0"], pid: 77).watchdogInterval)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "soon"], pid: 77).watchdogInterval)
    }

    // MARK: DaemonLock

    func testSecondAcquireFailsAndNamesTheHolder() throws {
        let database = dir.appendingPathComponent("state/library.sqlite").path
        XCTAssertNil(DaemonLock.holder(databasePath: database), "no lock file yet")
        XCTAssertFalse(FileManager.default.fileExists(atPath: database + ".lock"), "holder() creates nothing")

        let lock = try DaemonLock.acquire(databasePath: database)
        XCTAssertEqual(lock.lockPath, database + ".lock")
        XCTAssertEqual(DaemonLock.holder(databasePath: database), getpid())
        XCTAssertEqual(try String(contentsOfFile: lock.lockPath, encoding: .utf8), "\(getpid())\n")

        // flock belongs to the open file description: a second open in this process conflicts.
        do throws(DaemonLockError) {
            _ = try DaemonLock.acquire(databasePath: database, patience: .milliseconds(50))
            XCTFail("a second daemon got the lock")
        } catch {
            guard case .alreadyRunning(let pid, let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(pid, getpid())
            XCTAssertEqual(path, database)
            XCTAssertTrue(error.description.contains("pid \(getpid())"), error.description)
        }
        // The failed attempt did not disturb the holder.
        XCTAssertEqual(DaemonLock.holder(databasePath: database), getpid())

        lock.release()
        XCTAssertFalse(lock.isHeld)
        XCTAssertNil(DaemonLock.holder(databasePath: database))
        lock.release()
        let again = try DaemonLock.acquire(databasePath: database)
        XCTAssertTrue(again.isHeld)
    }

    func testLockIsReleasedWhenTheValueGoesAway() throws {
        let database = dir.appendingPathComponent("library.sqlite").path
        do {
            let lock = try DaemonLock.acquire(databasePath: database)
            XCTAssertNotNil(DaemonLock.holder(databasePath: database))
            withExtendedLifetime(lock) {}
        }
        XCTAssertNil(DaemonLock.holder(databasePath: database))
        XCTAssertNoThrow(try DaemonLock.acquire(databasePath: database))
    }

    func testAcquireWaitsOutABriefSharedLook() throws {
        let database = dir.appendingPathComponent("library.sqlite").path
        let lockPath = database + ".lock"
        XCTAssertTrue(FileManager.default.createFile(atPath: lockPath, contents: nil))
        // A reader's shared lock, held for 100 ms, as `holder()` takes for an instant.
        let fd = open(lockPath, O_RDONLY | O_CLOEXEC)
        XCTAssertEqual(flock(fd, LOCK_SH | LOCK_NB), 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { close(fd) }
        let lock = try DaemonLock.acquire(databasePath: database, patience: .seconds(2))
        XCTAssertTrue(lock.isHeld)
    }

    func testUnwritableLockPlaceIsACleanError() throws {
        let file = dir.appendingPathComponent("plain-file")
        try Data().write(to: file)
        XCTAssertThrowsError(try DaemonLock.acquire(databasePath: file.path + "/library.sqlite")) { error in
            guard case .cannotLock(let path, _)? = error as? DaemonLockError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, file.path + "/library.sqlite.lock")
        }
    }
}
