import ArgumentParser
import Foundation
import GenredKit

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the daemon is doing and what the library database holds.",
        discussion: """
            Whether a `genred watch` daemon is running on the database (it holds <database>.lock), \
            its state and the file it is analysing, the queue, the track counts and the last errors. \
            A database that does not exist yet is reported with zero counts and is not created.

            --json prints one object with the keys running, pid, state, current, started_at, roots, \
            watches, last_rescan_at, version, database, database_exists, tracks, analysed, tagged, \
            failed, queue, held, damaged (tracks whose files decode only in part), stuck_writes (a list of {path, note}: interrupted tag writes that \
            could not be settled) and last_errors (a list of {path, error, at}). A missing value is \
            null. Paths that are not UTF-8 carry their bytes as \\udcNN escapes.
            """
    )

    @OptionGroup var library: LibraryOptions

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func run() throws {
        let config = try library.loadConfiguration()
        let path = library.databasePath(config)
        let report: StatusReport
        report = try StatusReport.gather(databasePath: path)
        print(json ? report.json() : report.text(now: Date()))
    }
}

extension StatusReport {
    func text(now: Date) -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) { lines.append(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value) }

        if running {
            var daemonLine = "running" + (pid.map { ", pid \($0)" } ?? "") + ", " + state
            if let started = live("started_at") {
                daemonLine += ", since \(started)"
                if let date = Self.parse(started) { daemonLine += " (up \(formatDuration(max(0, now.timeIntervalSince(date)))))" }
            }
            row("daemon:", daemonLine)
            if let current = live("current") { row("current:", current) }
            if !roots.isEmpty { row("roots:", roots.joined(separator: ", ")) }
            if let watches = live("watches") { row("watches:", "\(watches) directories") }
            if let rescan = live("last_rescan_at") { row("rescanned:", rescan) }
        } else {
            row("daemon:", "not running")
        }
        if databaseExists {
            row("database:", database)
        } else {
            row("database:", "\(database) (not created yet: nothing has been analysed)")
        }
        let queue = counts?.queue ?? 0
        row("queue:", queue == 1 ? "1 file waiting" : "\(queue) files waiting")
        row("tracks:", "\(counts?.tracks ?? 0) (\(counts?.analysed ?? 0) analysed, \(counts?.tagged ?? 0) tagged, \(counts?.failed ?? 0) failed)")
        if let c = counts, c.jobs > 0 || !workers.isEmpty {
            row("jobs:", "\(c.jobs) queued for workers (\(c.jobsRunning) being analysed)")
        }
        for w in workers {
            let state = workerState(w)
            var line = "\(w.name)  \(state)"
            if state == "analysing", let current = w.current { line += " \(current)" }
            let span = max(1, w.seenAt.timeIntervalSince(w.startedAt))
            line += "; \(w.done) done, \(w.failed) failed, \(formatDuration(w.audioSeconds)) of audio"
            if w.audioSeconds > 0 { line += String(format: " (%.0fx realtime)", w.audioSeconds / span) }
            if w.done > 0 { line += String(format: ", store %.1f ms per job", w.storeSeconds / Double(w.done + w.failed) * 1000) }
            if state != "analysing" && state != "idle" { line += "; last heard \(formatDuration(max(0, storeNow.timeIntervalSince(w.seenAt)))) ago" }
            row("worker:", line)
        }
        if let held = counts?.held, held > 0 { row("held:", "\(held) tracks whose tags were undone (genred leaves them alone)") }
        if let damaged = counts?.damaged, damaged > 0 {
            row("damaged:", "\(damaged) tracks decode only in part (analysed from what decodes; `genred show FILE` says why)")
        }
        if !stuck.isEmpty {
            lines.append("")
            lines.append("interrupted writes that need a look (the original bytes are kept):")
            for intent in stuck { lines.append("  \(intent.path): \(intent.note ?? "")") }
        }
        if !errors.isEmpty {
            lines.append("")
            lines.append("last errors:")
            for e in errors {
                lines.append("  " + (e.at.map { Self.timestamp($0) + "  " } ?? "") + "\(e.path): \(e.error)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Reads an ISO 8601 time, or SQLite's `YYYY-MM-DD HH:MM:SS[.SSS]` (UTC).
    static func parse(_ text: String) -> Date? {
        let iso = ISO8601DateFormatter()
        if let date = iso.date(from: text) { return date }
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = iso.date(from: text) { return date }
        let sql = DateFormatter()
        sql.locale = Locale(identifier: "en_US_POSIX")
        sql.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd HH:mm:ss.SSS", "yyyy-MM-dd HH:mm:ss"] {
            sql.dateFormat = format
            if let date = sql.date(from: text) { return date }
        }
        return nil
    }
}
