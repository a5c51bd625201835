import Foundation

#if canImport(Glibc)
import Glibc
#endif
import GenredEngine
import GenredLibrary

/// Tells systemd how the service is doing (the `sd_notify` protocol, without libsystemd).
///
/// Each message is one datagram of `KEY=VALUE` lines sent to the `AF_UNIX` socket named by
/// `$NOTIFY_SOCKET`: a file system path, or a name in the abstract namespace when it starts
/// with `@`. Without a socket every call does nothing, so the daemon can call it
/// unconditionally. Sending never throws: it returns whether the datagram went out, which a
/// caller may log and otherwise ignore.
struct SystemdNotifier: Sendable {
    /// The socket address as given (`@` marks the abstract namespace); nil when not under systemd.
    package let socketPath: String?
    /// How often systemd expects `watchdog()`; nil when the watchdog is off or meant for
    /// another process. Ping at least twice per interval (`watchdogPingInterval`).
    let watchdogInterval: Duration?

    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    ///
    /// The watchdog applies to this process only when `WATCHDOG_PID` is unset or equals `pid`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, pid: Int32 = getpid()) {
        let socket = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = socket
        watchdogInterval = Self.watchdogInterval(environment: environment, pid: pid)
    }

    public init(socketPath: String?, watchdogInterval: Duration? = nil) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
    }

    /// Whether messages go anywhere (the service manager gave a socket).
    var isEnabled: Bool { socketPath != nil }

    /// Half the watchdog interval, as the protocol recommends.
    var watchdogPingInterval: Duration? { watchdogInterval.map { $0 / 2 } }

    /// `READY=1`, with an optional `STATUS=` line: start-up is complete.
    @discardableResult
    package func ready(status: String? = nil) -> Bool {
        send(["READY=1"] + (status.map { ["STATUS=\(Self.oneLine($0))"] } ?? []))
    }

    /// `STATUS=`: a free-form line that `systemctl status` shows.
    @discardableResult
    public func status(_ text: String) -> Bool {
        send(["STATUS=\(Self.oneLine(text))"])
    }

    /// `WATCHDOG=1`: the main loop is alive.
    @discardableResult
    func watchdog() -> Bool {
        send(["WATCHDOG=1"])
    }

    /// `STOPPING=1`: shutdown has begun.
    @discardableResult
    public func stopping(status: String? = nil) -> Bool {
        send(["STOPPING=1"] + (status.map { ["STATUS=\(Self.oneLine($0))"] } ?? []))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=`: the configuration is being reloaded; send
    /// `ready()` when done.
    @discardableResult
    func reloading(status: String? = nil) -> Bool {
        send(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())"]
             + (status.map { ["STATUS=\(Self.oneLine($0))"] } ?? []))
    }

    /// `MAINPID=`: the service's main process, when it is not the one that was started.
    @discardableResult
    func mainPID(_ pid: Int32 = getpid()) -> Bool {
        send(["MAINPID=\(pid)"])
    }

    /// Sends the assignments as one datagram; false when there is no socket or sending failed.
    @discardableResult
    public func send(_ assignments: [String]) -> Bool {
        guard let socketPath, !assignments.isEmpty else { return false }
        let message = assignments.joined(separator: "\n") + "\n"
        return Self.sendDatagram(Array(message.utf8), to: socketPath)
    }

    // MARK: Internals

    static func watchdogInterval(environment: [String: String], pid: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"] {
            guard let ownerPID = Int32(owner), ownerPID == pid else { return nil }
        }
        return .microseconds(Int64(clamping: usec))
    }

    /// A `STATUS=` value must not contain a newline: that would start a new assignment.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    static func sendDatagram(_ bytes: [UInt8], to socketPath: String) -> Bool {
        guard var address = UnixSocketAddress(socketPath) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let sent = address.withSockaddr { sockaddr, length in
            bytes.withUnsafeBytes { buffer in
                sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), sockaddr, length)
            }
        }
        return sent == bytes.count
    }
}

/// A `sockaddr_un` for a path, or for an abstract name given with a leading `@`.
struct UnixSocketAddress {
    private var storage = sockaddr_un()
    private let length: socklen_t

    /// Nil when the name is too long for `sun_path`.
    init?(_ name: String) {
        var bytes = Array(name.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        // A path needs room for its terminating NUL; an abstract name is counted by length.
        guard !bytes.isEmpty, bytes.count <= (abstract ? capacity : capacity - 1) else { return nil }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            path.copyBytes(from: bytes)
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        length = socklen_t(offset + bytes.count + (abstract ? 0 : 1))
    }

    mutating func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        let length = length
        return withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
