import Foundation

/// `genred undo`: puts back the values genred's tag writes replaced, newest write first.
///
/// A write is undone only if the file still holds exactly what genred wrote; a field that
/// changed since (edited by hand, or by another tool) is left alone and reported.
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

    let store: LibraryStore
    let writer: TagWriter

    public init(store: LibraryStore, writer: TagWriter) {
        self.store = store
        self.writer = writer
    }

    public func undo(_ selection: Selection, dryRun: Bool, report: (Outcome) -> Void) throws -> [Outcome] {
        let entries: [JournalEntry]
        switch selection {
        case .run(let id): entries = try store.journalEntries(run: id)
        case .file(let path): entries = try store.journalEntries(path: URL(fileURLWithPath: path).standardizedFileURL.path)
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
            let outcome = undoOne(entry, runID: runID)
            report(outcome)
            outcomes.append(outcome)
        }
        if let runID {
            try store.finishRun(runID, summary: BlobCoding.json([
                "restored": outcomes.filter { !$0.restored.isEmpty && $0.error == nil }.count,
                "skipped": outcomes.filter { $0.skipped != nil }.count,
                "failed": outcomes.filter { $0.error != nil }.count,
            ]))
        }
        return outcomes
    }

    private func undoOne(_ entry: JournalEntry, runID: Int64?) -> Outcome {
        var outcome = Outcome(path: entry.path)
        let container: AudioContainer
        do {
            guard let sniffed = try AudioDecoding.sniff(entry.path) else {
                outcome.error = "no longer an audio file genred reads"
                return outcome
            }
            container = sniffed
        } catch {
            outcome.error = error.reasonText
            return outcome
        }
        let snapshot: TagSnapshot
        do { snapshot = try writer.read(entry.path, container: container) } catch {
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
        guard let runID else { return outcome }
        do {
            let result = try writer.write(entry.path, container: container, values: writes)
            var track = try store.track(path: entry.path)
            let journal = JournalEntry(runId: runID, trackId: track?.id, path: entry.path,
                                       previous: entry.newValues, new: entry.previousValues)
            try store.journal(journal, track: &track,
                              written: FileStat(size: result.size, mtimeNs: result.mtimeNanoseconds, inode: Int64(bitPattern: result.inode)))
            try store.markUndone(entry.id!)
            if var t = track {
                t.tagPlan = nil  // the next retag decides this file's tags again
                try store.save(&t)
            }
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
