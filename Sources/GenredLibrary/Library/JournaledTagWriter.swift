import Foundation

#if canImport(Glibc)
import Glibc
#endif
import GenredEngine

/// Tag writes that a crash cannot take out of the journal.
///
/// Each write runs under the library's write lock, in this order:
/// 1. prepare (checks, the tags before, the audio hash) and make a flushed backup;
/// 2. record a write intent (`IntentRecord`): the file, its original digest, the backup, the
///    values before and after, committed with `synchronous = FULL`;
/// 3. save, verify and flush the file (`TagWriter.commit`);
/// 4. in one transaction: the journal entry, the track's post-write stat and `tagged_at`, and
///    the intent's deletion;
/// 5. remove the backup.
///
/// A process killed anywhere leaves at most a pending intent and its backup. `recover()`, which
/// every command that writes runs first, settles them: a file that still holds its original
/// bytes is left as it is; one that holds exactly the intended result is journaled; anything
/// else is put back from the backup over the same inode (a copy of what was found is kept
/// beside the backups). Backups with no intent are removed.
public final class JournaledTagWriter {
    public let store: LibraryStore
    public let writer: TagWriter
    private let lock: WriteLock

    /// What a write is for, so the journal and the track can record it.
    public enum Purpose: Sendable {
        /// genred's tags; the track takes this tag plan once written.
        case tag(planKey: String)
        /// `genred undo` of this journal entry; the track's tags are then held.
        case undo(entryID: Int64)
    }

    public struct Request: Sendable {
        public var path: String
        public var container: AudioContainer
        public var values: [TagField: [String]]
        /// The journal entry's before and after, field by field.
        public var previous: [String: [String]]
        public var new: [String: [String]]
        public var trackID: Int64?
        public var runID: Int64
        public var purpose: Purpose
        /// The audio hash from a decode of the file as it is now, if the caller has one.
        public var knownAudio: KnownAudio?
        /// The tags the values were decided from: the write is refused if the file no longer
        /// holds them once the lock is taken.
        var decidedOn: TagSnapshot?
        /// Write even when a person's undo holds the track's tags.
        var overrideHold = false

        public init(path: String, container: AudioContainer, values: [TagField: [String]], previous: [String: [String]],
                    new: [String: [String]], trackID: Int64?, runID: Int64, purpose: Purpose, knownAudio: KnownAudio? = nil) {
            self.path = path
            self.container = container
            self.values = values
            self.previous = previous
            self.new = new
            self.trackID = trackID
            self.runID = runID
            self.purpose = purpose
            self.knownAudio = knownAudio
        }
    }

    public struct Outcome: Sendable {
        public var result: TagWriteResult
        public var entry: JournalEntry
        public var track: TrackRecord?
    }

    /// `writer.backupDirectory` holds the backups and the lock file.
    public init(store: LibraryStore, writer: TagWriter) {
        self.store = store
        self.writer = writer
        lock = WriteLock(directory: writer.backupDirectory.path)
    }

    /// Writes, verifies and journals one file; throws `TagError` (nothing written, or written
    /// and restored) or `StoreError`.
    public func write(_ request: Request) throws -> Outcome {
        try lock.hold { () throws -> Outcome in
            // Under the lock, so an undo by another process cannot slip in between.
            if case .tag = request.purpose, !request.overrideHold, let id = request.trackID,
               try store.track(id: id)?.tagsHeldAt != nil {
                throw TagError(path: request.path, reason: .held)
            }
            let prepared = try writer.prepare(request.path, container: request.container, values: request.values,
                                              knownAudio: request.knownAudio)
            if let decided = request.decidedOn, decided != prepared.before {
                throw TagError(path: request.path, reason: .io("the file's tags changed while genred decided what to write; it is looked at again"))
            }
            let backup = try writer.backup(prepared)
            var intent = IntentRecord(request, prepared: prepared, backup: backup)
            do {
                try store.insertIntent(&intent)
            } catch {
                backup.remove()
                throw error
            }
            let result: TagWriteResult
            do {
                result = try writer.commit(prepared, backup: backup)
            } catch let failure as TagError {
                // Restored (or not written at all) when commit returns an error; a failed restore
                // leaves the intent pending and keeps the backup for `recover`.
                if case .restoreFailed = failure.reason {
                    try? store.markStuck(intent, note: failure.reasonText)
                } else {
                    try store.settleUnwritten(intent)
                    backup.remove()
                }
                throw failure
            }
            let written = FileStat(size: result.size, mtimeNs: result.mtimeNanoseconds, inode: Int64(bitPattern: result.inode))
            let (entry, track) = try store.settleWritten(intent, written: written)
            backup.remove()
            return Outcome(result: result, entry: entry, track: track)
        }
    }

    /// What `recover` did with one unsettled write.
    public struct Recovery: Sendable {
        public enum Action: Sendable, Equatable {
            /// The file held its original bytes.
            case untouched
            /// The file held the intended result, now journaled.
            case journaled
            /// The file was put back from its backup; `kept` is a copy of what was found.
            case restored(kept: String?)
            /// Left for a person: the reason, with where the original bytes are kept.
            case stuck(String)
        }

        public var path: String
        public var action: Action

        /// What was done, for a log line or a person.
        public var summary: String {
            switch action {
            case .untouched: "an interrupted write had not touched the file; nothing to do"
            case .journaled: "an interrupted write had finished; it is now in the journal"
            case .restored(let kept):
                "an interrupted write was undone (original bytes restored)" + (kept.map { "; the file as found is kept in \($0)" } ?? "")
            case .stuck(let why): "an interrupted write needs a look: \(why)"
            }
        }
    }

    /// Settles every write an earlier process left unfinished, and removes stray backups.
    /// Returns what was done to each file; empty when there was nothing to settle.
    public func recover() throws -> [Recovery] {
        try lock.hold { () throws -> [Recovery] in
            var done: [Recovery] = []
            // Another machine's intents (a shared store) are its own to settle: their backups are on its disk.
            for intent in try store.intents(host: StoreHost.name) {
                done.append(try settle(intent))
            }
            removeStrayBackups(keeping: Set(try store.intents(includeStuck: true, host: StoreHost.name).map { ExactPath($0.backup) }))
            return done
        }
    }

    private func settle(_ intent: IntentRecord) throws -> Recovery {
        let path = intent.path
        func stuck(_ why: String) throws -> Recovery {
            let note = "\(why); the original bytes are kept in \(intent.backup)"
            try store.markStuck(intent, note: note)
            return Recovery(path: path, action: .stuck(note))
        }
        guard let container = AudioContainer(rawValue: intent.container),
              let before: TagSnapshot = BlobCoding.decodeJSON(intent.before),
              let staged: [String: [String]] = BlobCoding.decodeJSON(intent.staged) else {
            return try stuck("the write intent cannot be read")
        }
        let status: FileOps.Status
        do { status = try FileOps.status(path) } catch {
            return try stuck("the file cannot be found (\(error.reasonText))")
        }
        let original = FileOps.Status(
            device: UInt64(bitPattern: intent.originalDevice), inode: UInt64(bitPattern: intent.originalInode),
            size: intent.originalSize, mode: UInt32(truncatingIfNeeded: intent.originalMode),
            accessTime: Self.timespec(intent.originalAtimeNs), modificationTime: Self.timespec(intent.originalMtimeNs))
        if status.device != original.device || status.inode != original.inode {
            return try stuck("the path now names another file")
        }
        let backup = TagBackup(original: path, path: intent.backup, size: intent.originalSize,
                               digest: intent.originalDigest, status: original)

        let current = try? FileOps.digest(path)
        if let current, current.hex == intent.originalDigest, current.size == intent.originalSize {
            try store.settleUnwritten(intent)
            backup.remove()
            return Recovery(path: path, action: .untouched)
        }
        let prepared = PreparedTagWrite(path: path, container: container, before: before, staged: staged,
                                        id3v2Version: intent.id3v2Version, audioDigest: intent.audioDigest, original: original)
        // The intent's audio hash decides; a file that decodes only in part can match it when the
        // write was made with damaged files allowed.
        var checker = writer
        checker.allowsDamagedAudio = true
        if (try? checker.verify(prepared)) != nil, (try? FileOps.flush(path)) != nil, let stat = FileStat.of(path) {
            try store.settleWritten(intent, written: stat)
            backup.remove()
            return Recovery(path: path, action: .journaled)
        }
        // Neither before nor after: a save cut short, or a change made since the crash. A file
        // that still reads cleanly with the original audio may hold someone's edit: a copy is
        // kept before the original goes back. A torn file is not worth keeping.
        guard PathIO.exists(intent.backup) else { return try stuck("the backup \(intent.backup) is missing") }
        let coherent = (try? checker.read(path, container: container)) != nil
            && (try? checker.audioDigest(path, when: "while settling")) == intent.audioDigest
        let kept = coherent ? keepCopy(of: path) : nil
        do {
            try backup.restore()
        } catch {
            return try stuck(error.reasonText)
        }
        try store.settleUnwritten(intent)
        backup.remove()
        return Recovery(path: path, action: .restored(kept: kept))
    }

    /// A copy of the file as it is, beside the backups, named `<random>.genred-found`.
    private func keepCopy(of path: String) -> String? {
        guard let status = try? FileOps.status(path),
              let copy = try? TagBackup.make(of: path, in: writer.backupDirectory.path, expected: status) else { return nil }
        let found = String(copy.path.dropLast(TagBackup.suffix.count)) + ".genred-found"
        let renamed = FilePath.withCString(copy.path) { from in FilePath.withCString(found) { rename(from, $0) } }
        return renamed == 0 ? found : copy.path
    }

    private func removeStrayBackups(keeping referenced: Set<ExactPath>) {
        let directory = writer.backupDirectory.path
        for entry in PathIO.entries(directory) ?? [] {
            let path = PathIO.join(directory, entry.name)
            guard path.hasSuffix(TagBackup.suffix), !referenced.contains(ExactPath(path)) else { continue }
            PathIO.unlink(path)
            Log.debug("removed stray backup \(path)")
        }
    }

    private static func timespec(_ nanoseconds: Int64) -> Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }
}

extension IntentRecord {
    init(_ r: JournaledTagWriter.Request, prepared p: PreparedTagWrite, backup: TagBackup) {
        var kind = Kind.tag, undoes: Int64?, plan: String?
        switch r.purpose {
        case .tag(let key): plan = key
        case .undo(let entry):
            kind = .undo
            undoes = entry
        }
        self.init(
            id: nil, runId: r.runID, trackId: r.trackID, path: r.path, kind: kind, undoes: undoes, planKey: plan,
            backup: backup.path, originalSize: backup.size, originalDigest: backup.digest,
            originalDevice: Int64(bitPattern: p.original.device), originalInode: Int64(bitPattern: p.original.inode),
            originalMode: Int64(p.original.mode),
            originalAtimeNs: Int64(p.original.accessTime.tv_sec) * 1_000_000_000 + Int64(p.original.accessTime.tv_nsec),
            originalMtimeNs: p.original.mtimeNanoseconds, audioDigest: p.audioDigest, container: p.container.rawValue,
            id3v2Version: p.id3v2Version, before: BlobCoding.json(p.before), staged: BlobCoding.json(p.staged),
            previous: BlobCoding.json(r.previous), new: BlobCoding.json(r.new), createdAt: Date(), state: .pending, note: nil)
    }
}

/// One tag write at a time per library, across processes (`retag`, `undo`, the daemon): an
/// exclusive `flock` on `lock` in the backup folder, held from a write's backup to its journal
/// entry. `recover` holds it too, so it never mistakes another process's write in progress for
/// an interrupted one.
final class WriteLock {
    let path: String
    private var descriptor: Int32 = -1

    init(directory: String) {
        path = directory + "/lock"
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    func hold<T>(_ body: () throws -> T) throws -> T {
        if descriptor < 0 {
            if !PathIO.makeDirectories(FilePath.parent(path), mode: 0o700) {
                throw TagError(path: path, reason: .io(FileOps.message("cannot create the backup folder", errno)))
            }
            descriptor = PathIO.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw TagError(path: path, reason: .io(FileOps.message("cannot open the write lock", errno))) }
        }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw TagError(path: path, reason: .io(FileOps.message("cannot take the write lock", errno))) }
        }
        defer { _ = flock(descriptor, LOCK_UN) }
        return try body()
    }
}
