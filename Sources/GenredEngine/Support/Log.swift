import Foundation

/// Leveled log lines on standard error. Under systemd (`$JOURNAL_STREAM` set) each line
/// carries a `<N>` syslog priority prefix, which journald turns into the entry's priority.
/// A path's carried bytes (see `FilePath`) show as `\xNN`.
public enum Log {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case error = 3, warning = 4, info = 6, debug = 7

        public init?(name: String) {
            switch name.lowercased() {
            case "error": self = .error
            case "warning", "warn": self = .warning
            case "info": self = .info
            case "debug": self = .debug
            default: return nil
            }
        }

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        var name: String {
            switch self {
            case .error: "error"
            case .warning: "warning"
            case .info: "info"
            case .debug: "debug"
            }
        }
    }

    private struct State: Sendable {
        var threshold: Level = .info
        var journal = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
    }

    private static let state = LockedValue(State())

    public static var threshold: Level {
        get { state.withLock { $0.threshold } }
        set { state.withLock { $0.threshold = newValue } }
    }

    public static func error(_ message: @autoclosure () -> String) { write(.error, message) }
    public static func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    public static func info(_ message: @autoclosure () -> String) { write(.info, message) }
    package static func debug(_ message: @autoclosure () -> String) { write(.debug, message) }

    private static func write(_ level: Level, _ message: () -> String) {
        let (threshold, journal) = state.withLock { ($0.threshold, $0.journal) }
        guard level <= threshold else { return }
        let text = FilePath.display(message()).replacingOccurrences(of: "\n", with: " ")
        let line = journal ? "<\(level.rawValue)>\(text)\n" : "\(level.name): \(text)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// A value behind a lock.
///
/// `@unchecked Sendable`: `value` is only read or written inside `withLock`, under `lock`.
package final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    package func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
