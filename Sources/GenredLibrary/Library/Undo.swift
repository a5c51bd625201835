import Foundation
import GenredEngine

/// `genred undo`: puts back the values genred's tag writes replaced, newest write first.
///
/// Entries are found by track, so an undo follows a file that was moved or renamed since. A
/// write is undone only if the file still holds exactly what genred wrote; a field that
/// changed since (edited by hand, or by another tool) is left alone and reported. Each undo is
/// one journaled write (`JournaledTagWriter`): the restored file, its journal entry, the
/// original entry marked undone and the track's hold are recorded together or not at all. The
/// hold keeps the daemon and `retag` from writing the track's tags again unasked.
public struct Undoer {
    public enum Selection: Sendable {
        case run(Int64)
        case file(String)
        case all
    }

    public struct Outcome: Sendable {
        public var path: String
        /// field -> (current, restored)
        public var restored: [TagField: FileReport.Change] = [:]
        public var skipped: String?
        public var error: String?
    }

    public let journal: JournaledTagWriter
    var store: LibraryStore { journal.store }
    var writer: TagWriter { journal.writer }

    public init(store: LibraryStore, writer: TagWriter) {
        journal = JournaledTagWriter(store: store, writer: writer)
    }

    /// Undoes the selected writes. Unless `dryRun`, writes an earlier process left unfinished
    /// are settled first (reported through `recovered`). `shouldStop` is asked between files.
    public func undo(
        _ selection: Selection, dryRun: Bool, shouldStop: () -> Bool = { false },
        recovered: (JournaledTagWriter.Recovery) -> Void = { _ in }, report: (Outcome) -> Void
    ) throws -> [Outcome] {
        if !dryRun {
            for recovery in try journal.recover() { recovered(recovery) }
        }
        let entries: [JournalEntry]
        switch selection {
        case .run(let id): entries = try store.journalEntries(run: id)
        case .file(let given):
            let path = FilePath.normalize(given)
            if let track = try store.track(path: path), let id = track.id {
                entries = try store.journalEntries(path: path, track: id)
            } else {
                entries = try store.journalEntries(path: path)
            }
        case .all: entries = try store.journalEntries()
        }
        // Undo writes are journaled too, but are not themselves undone by a later undo.
        var undoRuns: [Int64: Bool] = [:]
        let undoable = try entries.filter { e in
            if undoRuns[e.runId] == nil { undoRuns[e.runId] = try store.run(e.runId)?.command == "undo" }
            return !undoRuns[e.runId]!
        }
        guard !undoable.isEmpty else { return [] }
        let runID = dryRun ? nil : try store.beginRun(command: "undo")
        var outcomes: [Outcome] = []
        for entry in undoable {
            if shouldStop() { break }
            let outcome = undoOne(entry, runID: runID)
            report(outcome)
            outcomes.append(outcome)
        }
        if let runID {
            try store.finishRun(runID, summary: BlobCoding.json([
                "restored": outcomes.filter { !$0.restored.isEmpty && $0.error == nil }.count,
                "skipped": outcomes.filter { $0.skipped != nil }.count,
                "failed": outcomes.filter { $0.error != nil }.count,
                "not_reached": undoable.count - outcomes.count,
            ]))
        }
        return outcomes
    }

    private func undoOne(_ entry: JournalEntry, runID: Int64?) -> Outcome {
        // The track's file now, wherever it moved; the entry's own path if the track is gone.
        let track = entry.trackId.flatMap { try? store.track(id: $0) }
        let path = track?.path ?? entry.path
        var outcome = Outcome(path: path)
        let container: AudioContainer
        do {
            guard let sniffed = try AudioDecoding.sniff(path) else {
                outcome.error = "no longer an audio file genred reads"
                return outcome
            }
            container = sniffed
        } catch {
            outcome.error = error.reasonText
            return outcome
        }
        let snapshot: TagSnapshot
        do { snapshot = try writer.read(path, container: container) } catch {
            outcome.error = error.reasonText
            return outcome
        }
        var writes: [TagField: [String]] = [:]
        for (key, written) in entry.newValues {
            guard let field = TagField(rawValue: key) else { continue }
            let current = snapshot.values(field)
            guard current == written else {
                outcome.skipped = "\(key) changed since genred wrote it (now \(current.joined(separator: ", ")))"
                return outcome
            }
            let previous = entry.previousValues[key] ?? []
            writes[field] = previous
            outcome.restored[field] = .init(existing: current, new: previous)
        }
        guard let runID, let entryID = entry.id else { return outcome }
        do {
            _ = try journal.write(JournaledTagWriter.Request(
                path: path, container: container, values: writes, previous: entry.newValues, new: entry.previousValues,
                trackID: track?.id, runID: runID, purpose: .undo(entryID: entryID)))
        } catch let error as TagError {
            outcome.error = error.reasonText
            outcome.restored = [:]
        } catch {
            outcome.error = "\(error)"
            outcome.restored = [:]
        }
        return outcome
    }
}
