import Foundation
import GenredKit
import Logging
import PostgresNIO

/// The PostgreSQL engine of the library store, over postgres-nio.
///
/// The store's API is synchronous (its callers are threads: the daemon's, the worker's, a
/// command's), so each statement waits for its future. Two connections, one for reads and one
/// for writes, each used by one caller at a time; a dropped connection is opened again on next use.
public enum PostgresStore {
    /// Lets `LibraryStore(path:)` open `postgresql://` URLs. Call once at start-up.
    public static func register() {
        StoreEngines.postgres = { location, readOnly throws(StoreError) in
            try PostgresEngine(location: location, readOnly: readOnly)
        }
    }
}

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

final class PostgresEngine: StoreEngine, @unchecked Sendable {
    let url: PostgresURL
    let display: String
    var dialect: SQLDialect { .postgres }
    private let reader: Link
    private let writer: Link
    /// postgres-nio's own log is not wanted: errors reach the caller as `StoreError`s.
    static let logger = Logger(label: "genred.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

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
        let connection = try Link.connect(url)
        connection.addListener(channel: channel) { _, _ in body() }
        _ = try connection.query(PostgresQuery(unsafeSQL: "LISTEN \(channel)"), logger: Self.logger).wait()
        return Listener(connection: connection)
    }

    func describe(_ error: any Error) -> String { Self.describe(error) }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] {
                let detail = e.serverInfo?[.detail].map { " (\($0))" } ?? ""
                return message + detail
            }
            // Client-side failures (a lost connection, say) carry a code and perhaps a cause.
            let code = "\(e.code)" == "serverClosedConnection" ? "the server closed the connection" : "PostgreSQL client error \(e.code)"
            if let underlying = e.underlying { return code + ": " + describe(underlying) }
            return code
        }
        return "\(error)"
    }

    struct Listener: StoreListener {
        let connection: PostgresConnection
        func stop() { _ = try? connection.close().wait() }
    }

    /// One connection, opened on first use and again after it drops, used by one caller at a time.
    final class Link: @unchecked Sendable {
        let url: PostgresURL
        private let lock = NSLock()
        private var connection: PostgresConnection?
        /// Connection numbers for postgres-nio's own bookkeeping, unique in the process.
        private static let nextID = LockedCounter()

        init(url: PostgresURL) { self.url = url }

        deinit { _ = try? connection?.close().wait() }

        func use<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
            lock.lock()
            defer { lock.unlock() }
            if connection == nil || connection!.isClosed {
                connection = try Self.connect(url)
            }
            return try body(connection!)
        }

        static func connect(_ url: PostgresURL) throws -> PostgresConnection {
            var configuration: PostgresConnection.Configuration
            if let socket = url.socketPath {
                configuration = .init(unixSocketPath: socket, username: url.user, password: url.password, database: url.database)
            } else {
                let tls: PostgresConnection.Configuration.TLS
                switch url.sslMode {
                case "require": tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case "prefer": tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                default: tls = .disable
                }
                configuration = .init(host: url.host ?? "localhost", port: url.port, username: url.user, password: url.password,
                                      database: url.database, tls: tls)
            }
            configuration.options.connectTimeout = .seconds(10)
            let id = nextID.next()
            return try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                  id: id, logger: PostgresEngine.logger).wait()
        }
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

    func query(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for value in arguments {
            switch value {
            case .null: binds.appendNull()
            case .integer(let v): binds.append(v)
            case .real(let v): binds.append(v)
            case .text(let s): binds.append(s)
            case .blob(let d): binds.append(ByteBuffer(bytes: d))
            case .date(let d): binds.append(d)
            case .bool(let b): binds.append(b)
            }
        }
        return try connection.query(PostgresQuery(unsafeSQL: Self.numbered(sql), binds: binds), logger: PostgresEngine.logger).wait()
    }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try query(sql, arguments).metadata.rows ?? 0
    }

    func each(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
        let result = try query(sql, arguments)
        var columns: [String]?
        for row in result.rows {
            if columns == nil { columns = row.map(\.columnName) }
            try body(SQLRow(columns: columns!, values: row.map(Self.value)))
        }
    }

    func insertReturningID(_ sql: String, _ arguments: [SQLValue]) throws -> Int64 {
        let result = try query(sql + " RETURNING id", arguments)
        guard let cell = result.rows.first?.first, case .integer(let id) = Self.value(cell) else {
            throw PostgresSchema.Failure(description: "the insert returned no id")
        }
        return id
    }

    static func value(_ cell: PostgresCell) -> SQLValue {
        guard cell.bytes != nil else { return .null }
        do {
            switch cell.dataType {
            case .int8: return .integer(try cell.decode(Int64.self))
            case .int4: return .integer(Int64(try cell.decode(Int32.self)))
            case .int2: return .integer(Int64(try cell.decode(Int16.self)))
            case .float8: return .real(try cell.decode(Double.self))
            case .float4: return .real(Double(try cell.decode(Float.self)))
            case .bool: return .bool(try cell.decode(Bool.self))
            case .bytea: return .blob(try cell.decode(Data.self))
            case .timestamptz, .timestamp: return .date(try cell.decode(Date.self))
            case .numeric:
                let text = try cell.decode(String.self)
                if let i = Int64(text) { return .integer(i) }
                return .real(Double(text) ?? 0)
            default: return .text(try cell.decode(String.self))
            }
        } catch {
            return .null
        }
    }
}

/// A counter several threads may draw from.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
}
