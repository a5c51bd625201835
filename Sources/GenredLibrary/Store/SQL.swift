import Foundation
import GenredEngine

/// One value as both database engines bind and return it.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
    case date(Date)
    case bool(Bool)
}

/// The SQL dialect a statement is written for: the store writes each query once, with `?`
/// placeholders, and asks the dialect only where the engines really differ.
enum SQLDialect: Sendable {
    case sqlite, postgres

    /// The smaller of two values in one row (`MIN(a, b)` in SQLite, `LEAST(a, b)` in PostgreSQL).
    func least(_ a: String, _ b: String) -> String {
        self == .sqlite ? "MIN(\(a), \(b))" : "LEAST(\(a), \(b))"
    }
}

/// One result row, by column name.
struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public subscript(_ name: String) -> SQLValue {
        guard let i = columns.firstIndex(of: name) else { return .null }
        return values[i]
    }

    func int64(_ name: String) -> Int64? { Self.int64(self[name]) }
    public func int(_ name: String) -> Int? { int64(name).map(Int.init) }
    public func double(_ name: String) -> Double? {
        switch self[name] {
        case .real(let v): v
        case .integer(let v): Double(v)
        case .text(let s): Double(s)
        default: nil
        }
    }
    public func string(_ name: String) -> String? {
        switch self[name] {
        case .text(let s): s
        case .integer(let v): String(v)
        case .real(let v): String(v)
        default: nil
        }
    }
    public func data(_ name: String) -> Data? {
        switch self[name] {
        case .blob(let d): d
        case .text(let s): Data(s.utf8)
        default: nil
        }
    }
    public func date(_ name: String) -> Date? { Self.date(self[name]) }
    public func bool(_ name: String) -> Bool? {
        switch self[name] {
        case .bool(let b): b
        case .integer(let v): v != 0
        default: nil
        }
    }

    static func int64(_ value: SQLValue) -> Int64? {
        switch value {
        case .integer(let v): v
        case .real(let v): Int64(exactly: v)
        case .bool(let b): b ? 1 : 0
        case .text(let s): Int64(s)
        default: nil
        }
    }

    static func date(_ value: SQLValue) -> Date? {
        switch value {
        case .date(let d): d
        case .text(let s): SQLiteDate.parse(s)
        case .real(let v): Date(timeIntervalSince1970: v)
        case .integer(let v): Date(timeIntervalSince1970: Double(v))
        default: nil
        }
    }
}

/// Dates as SQLite holds them: `YYYY-MM-DD HH:MM:SS.SSS` in UTC, which sorts as text. This is
/// the form databases written by earlier versions of genred hold, so it must not change.
enum SQLiteDate {
    static func format(_ date: Date) -> String {
        // Milliseconds, truncated towards the past, as the stored form always has.
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = ms / 1000, millis = ms % 1000
        if millis < 0 { millis += 1000; seconds -= 1 }
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%03d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(millis))
    }

    /// Reads `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`, `YYYY-MM-DD HH:MM:SS` and `...SS.fff` (a `T` may
    /// stand for the space), all in UTC.
    static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var n = 0
            for c in b[from..<(from + count)] {
                guard c >= 48, c <= 57 else { return nil }
                n = n * 10 + Int(c - 48)
            }
            return n
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2) else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        if b.count > 10 {
            guard let h = number(11, 2), let m = number(14, 2) else { return nil }
            hour = h
            minute = m
            if b.count >= 19, let s = number(17, 2) { second = s }
            if b.count > 20, b[19] == UInt8(ascii: ".") {
                var scale = 0.1
                for c in b[20...] where c >= 48 && c <= 57 {
                    fraction += Double(c - 48) * scale
                    scale /= 10
                }
            }
        }
        var tm = tm()
        tm.tm_year = Int32(year - 1900)
        tm.tm_mon = Int32(month - 1)
        tm.tm_mday = Int32(day)
        tm.tm_hour = Int32(hour)
        tm.tm_min = Int32(minute)
        tm.tm_sec = Int32(second)
        let seconds = timegm(&tm)
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }
}

/// A connection inside one read or one write transaction. Statements use `?` placeholders.
protocol SQLSession {
    var dialect: SQLDialect { get }
    /// Runs a statement; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    /// Runs a query and hands each row to `body`, without holding them all.
    func each(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws
    /// Runs an `INSERT` into a table whose key is `id`; returns the new row's id.
    func insertReturningID(_ sql: String, _ arguments: [SQLValue]) throws -> Int64
}

extension SQLSession {
    @discardableResult
    public func execute(_ sql: String) throws -> Int { try execute(sql, []) }

    public func rows(_ sql: String, _ arguments: [SQLValue] = []) throws -> [SQLRow] {
        var out: [SQLRow] = []
        try each(sql, arguments) { out.append($0) }
        return out
    }

    public func row(_ sql: String, _ arguments: [SQLValue] = []) throws -> SQLRow? {
        try rows(sql, arguments).first
    }

    /// The first column of the first row as an integer (`COUNT(*)`, `MAX(id)`): nil when NULL.
    public func integer(_ sql: String, _ arguments: [SQLValue] = []) throws -> Int64? {
        guard let row = try row(sql, arguments), let first = row.values.first else { return nil }
        return SQLRow.int64(first)
    }

    public func fetch<R: Decodable>(_ type: R.Type, _ sql: String, _ arguments: [SQLValue] = []) throws -> [R] {
        try rows(sql, arguments).map { try SQLRowDecoder.decode(type, from: $0) }
    }

    public func fetchOne<R: Decodable>(_ type: R.Type, _ sql: String, _ arguments: [SQLValue] = []) throws -> R? {
        try row(sql, arguments).map { try SQLRowDecoder.decode(type, from: $0) }
    }
}

/// A database engine the store runs on: SQLite in a file (`SQLiteEngine`), or PostgreSQL
/// (`PostgresEngine`). The store's queries are written once against `SQLSession`.
protocol StoreEngine: Sendable {
    var dialect: SQLDialect { get }
    /// The store's location as shown to people (a PostgreSQL URL without its password).
    var display: String { get }
    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// One transaction: committed when `body` returns, rolled back when it throws.
    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// A check of the database's own structures: "ok", or what is wrong.
    func integrityCheck() throws -> String
    /// Wakes `body` (on a thread of its own) whenever a transaction notifies the channel
    /// (`SQLSession.notify`); nil where the engine has no notifications (then callers poll).
    func listen(_ channel: String, _ body: @escaping @Sendable () -> Void) throws -> (any StoreListener)?
    /// Turns an engine's error into the words of a `StoreError`.
    func describe(_ error: any Error) -> String
}

/// A running `listen`; `stop` ends it.
public protocol StoreListener: Sendable {
    func stop()
}

/// Where a store lives: a SQLite file, or a `postgresql://` URL.
public struct StoreLocation: Sendable, Equatable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) { self.text = text }

    public var isPostgres: Bool { text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") }

    /// Whether there is something to open: a SQLite file that exists, or any server URL (the
    /// server says whether its database exists when it is opened).
    public var exists: Bool { isPostgres || FileManager.default.fileExists(atPath: text) }

    /// The location as shown: a URL's password is replaced by `***`.
    public var description: String {
        guard isPostgres, let scheme = text.range(of: "://"), let at = text.range(of: "@", range: scheme.upperBound..<text.endIndex)
        else { return text }
        let user = text[scheme.upperBound..<at.lowerBound]
        guard let colon = user.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at.lowerBound...])
    }

    /// A local folder for what must stay on this machine (tag-writer backups): beside a SQLite
    /// file, else the default data folder.
    package func localDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let file = isPostgres ? LibraryStore.defaultPath(environment: environment) : text
        let dir = (file as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// Where the tag writer keeps originals until a write is verified: `backup/` in `localDirectory`.
    public func backupDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        URL(fileURLWithPath: localDirectory(environment: environment)).appendingPathComponent("backup")
    }
}
