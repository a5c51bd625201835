import CLibPQ
import Foundation
import GenredEngine

/// What a `postgresql://user:password@host:port/database?host=/socket/dir&sslmode=...` URL says.
struct PostgresURL: Equatable {
    var user: String
    var password: String?
    var host: String?
    /// The folder holding the server's Unix socket, when connecting through one.
    var socketDirectory: String?
    var port: Int
    var database: String
    var sslMode: String

    var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        let shown = StoreLocation(text).description
        func bad(_ why: String) -> StoreError { StoreError(path: shown, reason: .cannotOpen(why)) }
        guard let components = URLComponents(string: text), ["postgresql", "postgres"].contains(components.scheme ?? "") else {
            throw bad("not a postgresql:// URL")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        user = components.percentEncodedUser.flatMap { $0.removingPercentEncoding }.flatMap { $0.isEmpty ? nil : $0 }
            ?? query["user"] ?? environment["PGUSER"] ?? environment["USER"] ?? NSUserName()
        password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding } ?? query["password"] ?? environment["PGPASSWORD"]
        port = components.port ?? query["port"].flatMap(Int.init) ?? 5432
        var path = components.path
        while path.hasPrefix("/") { path.removeFirst() }
        database = path.removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 } ?? query["dbname"] ?? user
        sslMode = query["sslmode"] ?? "disable"
        guard ["disable", "prefer", "require"].contains(sslMode) else {
            throw bad("sslmode \(sslMode) is not supported (disable, prefer or require)")
        }
        // A host that is a folder, in the URL or as ?host=, is where the server's socket lives.
        let hostParameter = query["host"].flatMap { $0.isEmpty ? nil : $0 }
        let urlHost = components.percentEncodedHost.flatMap { $0.removingPercentEncoding }.flatMap { $0.isEmpty ? nil : $0 }
        if let h = hostParameter ?? urlHost, h.hasPrefix("/") {
            socketDirectory = h
        } else if let h = urlHost ?? hostParameter {
            host = h
        } else {
            socketDirectory = "/run/postgresql"
        }
    }
}

/// The PostgreSQL engine of the library store, over libpq, PostgreSQL's own client library.
///
/// The store's API is synchronous (its callers are threads: the daemon's, the worker's, a
/// command's). Two connections, one for reads and one for writes, each used by one caller at a
/// time; a dropped connection is opened again on next use.
final class PostgresEngine: StoreEngine, @unchecked Sendable {
    // @unchecked: `url` and `display` are constants, and each `Link` guards its connection
    // with its own lock.
    let url: PostgresURL
    let display: String
    var dialect: SQLDialect { .postgres }
    private let reader: Link
    private let writer: Link

    init(location: StoreLocation, readOnly: Bool) throws(StoreError) {
        display = location.description
        url = try PostgresURL(location.text)
        reader = Link(url: url)
        writer = Link(url: url)
        do {
            try writer.use { _ in }
        } catch {
            throw StoreError(path: display, reason: .cannotOpen(Self.describe(error)))
        }
        do {
            try PostgresSchema.migrate(self, readOnly: readOnly)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(path: display, reason: .query(Self.describe(error)))
        }
    }

    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try reader.use { connection in try body(PostgresSession(connection: connection)) }
    }

    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try writer.use { connection in
            let session = PostgresSession(connection: connection)
            try session.execute("BEGIN")
            do {
                let result = try body(session)
                try session.execute("COMMIT")
                return result
            } catch {
                _ = try? session.execute("ROLLBACK")
                throw error
            }
        }
    }

    func integrityCheck() throws -> String {
        try read { db in
            let missing = try db.rows("""
                SELECT t FROM unnest(ARRAY['track','analysis','model','run','tag_journal','queue','daemon_state',
                    'write_intent','taxonomy','taxonomy_example','job','worker']) AS t
                WHERE to_regclass(t) IS NULL
                """).compactMap { $0.string("t") }
            return missing.isEmpty ? "ok" : "missing tables: " + missing.joined(separator: ", ")
        }
    }

    func listen(_ channel: String, _ body: @escaping @Sendable () -> Void) throws -> (any StoreListener)? {
        let connection = try PostgresConnection(url)
        try PostgresSession(connection: connection).execute("LISTEN \(channel)")
        return Listener(connection: connection, body: body)
    }

    func describe(_ error: any Error) -> String { Self.describe(error) }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PostgresFailure { return e.description }
        return "\(error)"
    }

    /// A connection of its own that waits on its socket for notifications, on a thread of its own.
    final class Listener: StoreListener, @unchecked Sendable {
        // @unchecked: the connection is used only by the listening thread until `stop` has
        // waited for that thread to end; `stopped` is guarded by `lock`.
        private let connection: PostgresConnection
        private let lock = NSLock()
        private var stopped = false
        private let done = DispatchSemaphore(value: 0)

        init(connection: PostgresConnection, body: @escaping @Sendable () -> Void) {
            self.connection = connection
            let thread = Thread { [self] in
                defer { done.signal() }
                while !lock.withLock({ stopped }) {
                    // A dropped connection ends the listening: the caller's poll still runs.
                    guard connection.waitForNotifications(timeoutMilliseconds: 250) else { return }
                    if connection.takeNotifications() > 0 { body() }
                }
            }
            thread.name = "genred-pg-listen"
            thread.start()
        }

        func stop() {
            let first = lock.withLock { () -> Bool in
                defer { stopped = true }
                return !stopped
            }
            guard first else { return }
            done.wait()
            connection.close()
        }
    }

    /// One connection, opened on first use and again after it drops, used by one caller at a time.
    final class Link: @unchecked Sendable {
        // @unchecked: `connection` is read and replaced only under `lock`, and used only by the
        // caller holding it.
        let url: PostgresURL
        private let lock = NSLock()
        private var connection: PostgresConnection?

        init(url: PostgresURL) { self.url = url }

        func use<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
            lock.lock()
            defer { lock.unlock() }
            if connection == nil || !connection!.isOpen {
                connection?.close()
                connection = try PostgresConnection(url)
            }
            return try body(connection!)
        }
    }
}

/// Why a statement or a connection failed, in the server's or libpq's words.
struct PostgresFailure: Error, CustomStringConvertible {
    let description: String
}

/// One libpq connection.
final class PostgresConnection: @unchecked Sendable {
    // @unchecked: libpq allows one thread at a time on a connection, and each owner serialises
    // its use: a `Link` under its lock, a `Listener` on its own thread until `stop` has waited
    // for that thread.
    private var handle: OpaquePointer?

    /// Dates in and out are UTC, whatever the server's own time zone.
    init(_ url: PostgresURL) throws {
        var settings: [(String, String)] = [
            ("user", url.user), ("dbname", url.database), ("port", String(url.port)),
            ("host", url.socketDirectory ?? url.host ?? "localhost"),
            ("sslmode", url.socketDirectory != nil ? "disable" : url.sslMode),
            ("connect_timeout", "10"), ("client_encoding", "UTF8"), ("application_name", "genred"),
            ("options", "-c TimeZone=UTC -c DateStyle=ISO -c extra_float_digits=3"),
        ]
        if let password = url.password { settings.append(("password", password)) }
        let keys = settings.map { strdup($0.0) }
        let values = settings.map { strdup($0.1) }
        defer { (keys + values).forEach { free($0) } }
        var keyPointers = keys.map { UnsafePointer<CChar>($0) } + [nil]
        var valuePointers = values.map { UnsafePointer<CChar>($0) } + [nil]
        handle = PQconnectdbParams(&keyPointers, &valuePointers, 0)
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { Self.message(PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(handle)
            self.handle = nil
            throw PostgresFailure(description: message.isEmpty ? "cannot connect" : message)
        }
    }

    deinit { close() }

    var isOpen: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    static func message(_ text: UnsafePointer<CChar>?) -> String {
        text.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }

    /// Runs one statement with `$n` parameters; returns its result, which the caller must clear.
    func run(_ sql: String, _ arguments: [SQLValue]) throws -> OpaquePointer {
        guard let handle else { throw PostgresFailure(description: "the connection is closed") }
        // Typed as postgres-nio would bind them, so the server infers the same expression types.
        var types: [Oid] = []
        var formats: [Int32] = []
        var buffers: [Data?] = []
        for value in arguments {
            switch value {
            case .null: types.append(0); formats.append(0); buffers.append(nil)
            case .integer(let v): types.append(20); formats.append(0); buffers.append(Data(String(v).utf8))
            case .real(let v): types.append(701); formats.append(0); buffers.append(Data(Self.text(v).utf8))
            case .text(let s): types.append(25); formats.append(0); buffers.append(Data(s.utf8))
            case .blob(let d): types.append(17); formats.append(1); buffers.append(d)
            case .date(let d): types.append(1184); formats.append(0); buffers.append(Data(Self.text(d).utf8))
            case .bool(let b): types.append(16); formats.append(0); buffers.append(Data((b ? "t" : "f").utf8))
            }
        }
        // Text parameters need a terminating NUL; binary ones are passed with their length.
        let storage: [UnsafeMutablePointer<CChar>?] = buffers.enumerated().map { i, data in
            guard let data else { return nil }
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: data.count + 1)
            data.withUnsafeBytes { raw in
                if let base = raw.baseAddress { memcpy(p, base, data.count) }
            }
            p[data.count] = 0
            return p
        }
        defer { storage.forEach { $0?.deallocate() } }
        let values = storage.map { UnsafePointer<CChar>($0) }
        let lengths = buffers.map { Int32($0?.count ?? 0) }
        let result = PQexecParams(handle, sql, Int32(arguments.count), types, values, lengths, formats, 0)
        guard let result else { throw PostgresFailure(description: Self.message(PQerrorMessage(handle))) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return result
        default:
            let failure = Self.failure(result, connection: handle)
            PQclear(result)
            throw failure
        }
    }

    private static func failure(_ result: OpaquePointer, connection: OpaquePointer) -> PostgresFailure {
        let field = { (code: Character) -> String? in
            guard let p = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: p)
        }
        if let primary = field("M") {
            return PostgresFailure(description: primary + (field("D").map { " (\($0))" } ?? ""))
        }
        let message = Self.message(PQerrorMessage(connection))
        if PQstatus(connection) != CONNECTION_OK {
            return PostgresFailure(description: "the server closed the connection" + (message.isEmpty ? "" : ": \(message)"))
        }
        return PostgresFailure(description: message.isEmpty ? "the statement failed" : message)
    }

    /// Waits up to `timeoutMilliseconds` for the socket to have input and reads it; false when
    /// the connection is gone.
    func waitForNotifications(timeoutMilliseconds: Int32) -> Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
        var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready < 0 { return errno == EINTR }
        if ready == 0 { return true }
        return PQconsumeInput(handle) == 1
    }

    /// Takes the notifications that have arrived; returns how many.
    func takeNotifications() -> Int {
        guard let handle else { return 0 }
        var count = 0
        while let notification = PQnotifies(handle) {
            PQfreemem(notification)
            count += 1
        }
        return count
    }

    static func text(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        return "\(value)"
    }

    /// A date as PostgreSQL reads it, to the microsecond, in UTC.
    static func text(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
        var seconds = micros / 1_000_000, fraction = micros % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(fraction))
    }
}

/// One connection as a `SQLSession`: `?` placeholders become `$1`, `$2`, ...
struct PostgresSession: SQLSession {
    let connection: PostgresConnection
    var dialect: SQLDialect { .postgres }

    static func numbered(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var n = 0
        var quoted = false
        for c in sql {
            if c == "'" { quoted.toggle() }
            if c == "?" && !quoted {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        let result = try connection.run(Self.numbered(sql), arguments)
        defer { PQclear(result) }
        return PQcmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
    }

    func each(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
        let result = try connection.run(Self.numbered(sql), arguments)
        defer { PQclear(result) }
        let columnCount = PQnfields(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        let types = (0..<columnCount).map { PQftype(result, $0) }
        for row in 0..<PQntuples(result) {
            let values = (0..<columnCount).map { column -> SQLValue in
                guard PQgetisnull(result, row, column) == 0, let cell = PQgetvalue(result, row, column) else { return .null }
                return Self.value(cell, length: Int(PQgetlength(result, row, column)), type: types[Int(column)])
            }
            try body(SQLRow(columns: columns, values: values))
        }
    }

    func insertReturningID(_ sql: String, _ arguments: [SQLValue]) throws -> Int64 {
        guard let row = try row(sql + " RETURNING id", arguments), case .integer(let id) = row.values.first ?? .null else {
            throw PostgresFailure(description: "the insert returned no id")
        }
        return id
    }

    /// A value in PostgreSQL's text form, by its column type.
    static func value(_ cell: UnsafePointer<CChar>, length: Int, type: Oid) -> SQLValue {
        let text = { String(decoding: UnsafeRawBufferPointer(start: cell, count: length), as: UTF8.self) }
        switch type {
        case 20, 23, 21: return Int64(text()).map { .integer($0) } ?? .null
        case 700, 701: return Double(text()).map { .real($0) } ?? .null
        case 16: return .bool(cell.pointee == CChar(UInt8(ascii: "t")))
        case 17: return PQBytea.decode(UnsafeRawBufferPointer(start: cell, count: length)).map { .blob($0) } ?? .null
        // With TimeZone=UTC and DateStyle=ISO: `YYYY-MM-DD HH:MM:SS[.ffffff]+00`.
        case 1184, 1114: return SQLiteDate.parse(text()).map { .date($0) } ?? .null
        case 1700:
            let t = text()
            if let i = Int64(t) { return .integer(i) }
            return .real(Double(t) ?? 0)
        default: return .text(text())
        }
    }
}

/// `bytea` in its text form: `\x` and two hex digits a byte.
enum PQBytea {
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Data? {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x"), bytes.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out = Data(count: (bytes.count - 2) / 2)
        let ok = out.withUnsafeMutableBytes { (target: UnsafeMutableRawBufferPointer) -> Bool in
            var i = 2, j = 0
            while i < bytes.count {
                guard let hi = nibble(bytes[i]), let lo = nibble(bytes[i + 1]) else { return false }
                target[j] = hi << 4 | lo
                i += 2
                j += 1
            }
            return true
        }
        return ok ? out : nil
    }
}
