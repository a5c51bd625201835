import Foundation
import GenredEngine

#if canImport(Glibc)
import Glibc
#endif

/// Where MPD listens: a unix socket (a path, or `@name` for an abstract one) or a TCP host and port.
public enum MPDAddress: Sendable, Equatable, CustomStringConvertible {
    case socket(String)
    case tcp(host: String, port: UInt16)

    /// `HOST:PORT`, `HOST` (port 6600), `[IPV6]:PORT`, or a socket's path (starting with `/`,
    /// or `@` for an abstract socket).
    public init(parsing text: String) throws(MPDError) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("/") || t.hasPrefix("@") {
            self = .socket(t)
            return
        }
        var host = t, port: UInt16 = 6600
        if t.hasPrefix("["), let close = t.firstIndex(of: "]") {
            host = String(t[t.index(after: t.startIndex)..<close])
            let rest = t[t.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let p = UInt16(rest.dropFirst()) else { throw MPDError(text, .badAddress) }
                port = p
            } else if !rest.isEmpty {
                throw MPDError(text, .badAddress)
            }
        } else if let colon = t.lastIndex(of: ":") {
            host = String(t[..<colon])
            guard let p = UInt16(t[t.index(after: colon)...]) else { throw MPDError(text, .badAddress) }
            port = p
        }
        guard !host.isEmpty else { throw MPDError(text, .badAddress) }
        self = .tcp(host: host, port: port)
    }

    /// The address to use when none is given: `$MPD_HOST` (with `$MPD_PORT`; a `password@`
    /// prefix is returned apart), else `$XDG_RUNTIME_DIR/mpd/socket` when it exists, else
    /// localhost:6600.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(MPDError) -> (MPDAddress, password: String?) {
        if var host = environment["MPD_HOST"], !host.isEmpty {
            var password: String?
            if !host.hasPrefix("/") && !host.hasPrefix("@"), let at = host.firstIndex(of: "@") {
                password = String(host[..<at])
                host = String(host[host.index(after: at)...])
            }
            if !host.hasPrefix("/") && !host.hasPrefix("@"), let port = environment["MPD_PORT"], !host.contains(":") {
                host += ":" + port
            }
            return (try MPDAddress(parsing: host), password)
        }
        if let runtime = environment["XDG_RUNTIME_DIR"], PathIO.exists(runtime + "/mpd/socket") {
            return (.socket(runtime + "/mpd/socket"), nil)
        }
        return (.tcp(host: "localhost", port: 6600), nil)
    }

    /// Only a unix socket lets MPD tell its music directory (its `config` command).
    public var isLocal: Bool { if case .socket = self { true } else { false } }

    public var description: String {
        switch self {
        case .socket(let path): path
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// A failure talking to MPD, naming the address.
public struct MPDError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// Not `HOST:PORT`, `HOST` or a socket's path.
        case badAddress
        /// The connection could not be made or was lost; the system's words.
        case unreachable(String)
        /// MPD answered something that is not its protocol.
        case garbled(String)
        /// MPD refused a command: `ACK [error@index] {command} message`.
        case refused(code: Int, command: String, message: String)
        /// Over TCP MPD cannot tell its music directory, and none is configured.
        case noMusicDirectory
    }

    public let subject: String
    public let reason: Reason

    public init(_ subject: String, _ reason: Reason) {
        self.subject = subject
        self.reason = reason
    }

    /// Whether trying again later may help (MPD down, restarting or slow).
    public var isConnectionProblem: Bool {
        switch reason {
        case .unreachable, .garbled: true
        default: false
        }
    }

    /// Why, without the address (for a line that names it already).
    public var detail: String {
        if case .unreachable(let why) = reason { return why }
        return description
    }

    public var description: String {
        switch reason {
        case .badAddress: "\(subject): not an MPD address (give HOST:PORT, HOST, or a unix socket's path)"
        case .unreachable(let why): "MPD at \(subject): \(why)"
        case .garbled(let what): "MPD at \(subject): unexpected answer \"\(what)\""
        case .refused(let code, let command, let message):
            "MPD at \(subject) refused \(command.isEmpty ? "a command" : command): \(message) (error \(code))"
        case .noMusicDirectory:
            "MPD at \(subject): over TCP MPD does not tell its music_directory; set music_directory in [mpd] of the config, or connect through MPD's unix socket"
        }
    }
}

extension MPDError: GenredError {
    public var reasonText: String { description }
}

/// One entry of MPD's queue.
public struct MPDSong: Sendable {
    /// The path relative to MPD's music directory, with its exact bytes (see `FilePath`).
    public var file: String
    public var position: Int?
    public var id: Int?
    public var artist: String?
    public var album: String?
}

/// The parts of MPD's `status` the radio reads.
public struct MPDStatus: Sendable {
    public var playlistLength: Int
    /// Changes with every change to the queue.
    public var playlistVersion: UInt64
    /// The current song's position, if there is one.
    public var song: Int?
    /// play, pause or stop.
    public var state: String
}

/// A connection to MPD speaking its text protocol (one command per line, answers of
/// `key: value` lines ending in `OK`, or one `ACK` line). Arguments are quoted with `"` and `\`
/// escaped, from their exact bytes, so any file name MPD has can be sent back to it.
///
/// Not thread-safe: one owner at a time.
public final class MPDConnection {
    public let address: MPDAddress
    /// The protocol version MPD greeted with.
    public let protocolVersion: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    /// How long an ordinary command may take before the connection counts as lost.
    private let timeout: Double

    public init(address: MPDAddress, password: String? = nil, timeout: Double = 15) throws(MPDError) {
        self.address = address
        self.timeout = timeout
        fd = try Self.connect(address)
        do throws(MPDError) {
            guard let greeting = try Self.readLine(fd: fd, buffer: &buffer, deadline: Date().addingTimeInterval(timeout), address: address) else {
                throw MPDError(address.description, .unreachable("closed the connection before greeting"))
            }
            let text = String(decoding: greeting, as: UTF8.self)
            guard text.hasPrefix("OK MPD ") else { throw MPDError(address.description, .garbled(text)) }
            protocolVersion = String(text.dropFirst(7))
        } catch {
            Glibc.close(fd)
            throw error
        }
        if let password {
            _ = try command("password", [password])
        }
    }

    deinit { Glibc.close(fd) }

    // MARK: Commands

    /// Sends one command and returns its answer's `key: value` pairs (values keep their bytes).
    @discardableResult
    public func command(_ name: String, _ arguments: [String] = []) throws(MPDError) -> [(key: String, value: String)] {
        try send(Self.line(name, arguments))
        return try readAnswer(deadline: Date().addingTimeInterval(timeout))
    }

    public func status() throws(MPDError) -> MPDStatus {
        let pairs = try command("status")
        var s = MPDStatus(playlistLength: 0, playlistVersion: 0, song: nil, state: "stop")
        for (key, value) in pairs {
            switch key {
            case "playlistlength": s.playlistLength = Int(value) ?? 0
            case "playlist": s.playlistVersion = UInt64(value) ?? 0
            case "song": s.song = Int(value)
            case "state": s.state = value
            default: break
            }
        }
        return s
    }

    /// The queue from position `start` on.
    public func queue(from start: Int) throws(MPDError) -> [MPDSong] {
        var songs: [MPDSong] = []
        for (key, value) in try command("playlistinfo", ["\(start):"]) {
            if key == "file" {
                songs.append(MPDSong(file: value))
                continue
            }
            guard !songs.isEmpty else { continue }
            switch key {
            case "Pos": songs[songs.count - 1].position = Int(value)
            case "Id": songs[songs.count - 1].id = Int(value)
            case "Artist": if songs[songs.count - 1].artist == nil { songs[songs.count - 1].artist = value }
            case "Album": if songs[songs.count - 1].album == nil { songs[songs.count - 1].album = value }
            default: break
            }
        }
        return songs
    }

    /// Appends a file (relative to MPD's music directory) to the end of the queue.
    public func add(_ file: String) throws(MPDError) {
        try command("add", [file])
    }

    /// MPD's `music_directory`, which it tells only over a unix socket.
    public func musicDirectory() throws(MPDError) -> String? {
        try command("config").first { $0.key == "music_directory" }.map { FilePath.normalize($0.value) }
    }

    /// Waits for a change to one of `subsystems` and returns the changed ones; `[]` when
    /// `deadline` passes first (the wait is then cancelled with `noidle`), nil when `stop`
    /// says so (the connection is then no longer usable). Checks `stop` twice a second while
    /// it waits; nothing is sent to MPD meanwhile.
    public func idle(_ subsystems: [String], until deadline: Date? = nil, stop: () -> Bool = { false }) throws(MPDError) -> [String]? {
        try send(Self.line("idle", subsystems))
        while true {
            if stop() { return nil }
            let slice = deadline.map { min(0.5, max(0, $0.timeIntervalSinceNow)) } ?? 0.5
            if try waitReadable(seconds: slice) { break }
            if let deadline, deadline.timeIntervalSinceNow <= 0 {
                try send(Self.line("noidle", []))
                break
            }
        }
        return try readAnswer(deadline: Date().addingTimeInterval(timeout)).filter { $0.key == "changed" }.map(\.value)
    }

    // MARK: Wire

    /// A command line: the name, then each argument quoted, from its exact bytes.
    static func line(_ name: String, _ arguments: [String]) -> [UInt8] {
        var out = Array(name.utf8)
        for argument in arguments {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: quote(argument))
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// `"…"` with `"` and `\` escaped by a backslash; every other byte as it is.
    public static func quote(_ argument: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in FilePath.bytes(argument) {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
        return out
    }

    /// `ACK [code@index] {command} message`, parsed.
    static func parseACK(_ line: String) -> (code: Int, command: String, message: String)? {
        guard line.hasPrefix("ACK ["), let at = line.firstIndex(of: "@"), let close = line.firstIndex(of: "]") else { return nil }
        let code = Int(line[line.index(line.startIndex, offsetBy: 5)..<at]) ?? 0
        var rest = line[line.index(after: close)...].drop { $0 == " " }
        var command = ""
        if rest.hasPrefix("{"), let end = rest.firstIndex(of: "}") {
            command = String(rest[rest.index(after: rest.startIndex)..<end])
            rest = rest[rest.index(after: end)...].drop { $0 == " " }
        }
        return (code, command, String(rest))
    }

    private func readAnswer(deadline: Date) throws(MPDError) -> [(key: String, value: String)] {
        var pairs: [(key: String, value: String)] = []
        while true {
            guard let line = try Self.readLine(fd: fd, buffer: &buffer, deadline: deadline, address: address) else {
                throw MPDError(address.description, .unreachable("connection closed"))
            }
            if line == Array("OK".utf8) { return pairs }
            if line.starts(with: Array("ACK ".utf8)) {
                let text = String(decoding: line, as: UTF8.self)
                guard let ack = Self.parseACK(text) else { throw MPDError(address.description, .garbled(text)) }
                throw MPDError(address.description, .refused(code: ack.code, command: ack.command, message: ack.message))
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw MPDError(address.description, .garbled(FilePath.string(line)))
            }
            var valueStart = colon + 1
            if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            pairs.append((String(decoding: line[..<colon], as: UTF8.self), FilePath.string(line[valueStart...])))
        }
    }

    private func send(_ bytes: [UInt8]) throws(MPDError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MPDError(address.description, .unreachable(String(cString: strerror(errno))))
            }
            done += n
        }
    }

    /// Whether the socket has something to read (or was closed) within `seconds`.
    private func waitReadable(seconds: Double) throws(MPDError) -> Bool {
        if !buffer.isEmpty { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = Glibc.poll(&p, 1, Int32(seconds * 1000))
        if r < 0 && errno != EINTR { throw MPDError(address.description, .unreachable(String(cString: strerror(errno)))) }
        return r > 0
    }

    /// One line without its `\n`; nil at the end of the stream.
    private static func readLine(fd: Int32, buffer: inout [UInt8], deadline: Date, address: MPDAddress) throws(MPDError) -> [UInt8]? {
        var scanned = 0
        while true {
            if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                return line
            }
            scanned = buffer.count
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw MPDError(address.description, .unreachable("no answer within the time allowed")) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = Glibc.poll(&p, 1, Int32(min(left, 3600) * 1000) + 1)
            if r < 0 {
                if errno == EINTR { continue }
                throw MPDError(address.description, .unreachable(String(cString: strerror(errno))))
            }
            if r == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw MPDError(address.description, .unreachable(String(cString: strerror(errno))))
            }
            if n == 0 { return nil }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    private static func connect(_ address: MPDAddress) throws(MPDError) -> Int32 {
        func failure(_ what: String) -> MPDError {
            MPDError(address.description, .unreachable("\(what): \(String(cString: strerror(errno)))"))
        }
        switch address {
        case .socket(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw failure("socket") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            var bytes = FilePath.bytes(path)
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
            let capacity = MemoryLayout.size(ofValue: addr.sun_path)
            guard bytes.count < capacity else {
                Glibc.close(fd)
                throw MPDError(address.description, .unreachable("socket path longer than \(capacity - 1) bytes"))
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
            }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
            let r = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
            }
            guard r == 0 else {
                let error = failure("connect")
                Glibc.close(fd)
                throw error
            }
            return fd
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var list: UnsafeMutablePointer<addrinfo>?
            let g = getaddrinfo(host, String(port), &hints, &list)
            guard g == 0, let first = list else {
                throw MPDError(address.description, .unreachable("cannot resolve \(host): \(String(cString: gai_strerror(g)))"))
            }
            defer { freeaddrinfo(list) }
            var lastError = "no address"
            var next: UnsafeMutablePointer<addrinfo>? = first
            while let ai = next {
                next = ai.pointee.ai_next
                let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
                if fd < 0 { continue }
                if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
                lastError = String(cString: strerror(errno))
                Glibc.close(fd)
            }
            throw MPDError(address.description, .unreachable("connect: \(lastError)"))
        }
    }
}
