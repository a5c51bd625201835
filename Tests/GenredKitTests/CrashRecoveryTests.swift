import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

#if canImport(Glibc)
import Glibc
import GenredTestSupport
#endif

/// Write-ahead intents: what a process killed at each step of a tag write leaves on disk, and
/// how the next command that writes settles it.
final class CrashRecoveryTests: XCTestCase {
    private var directory: URL!
    private var state: URL!
    private var store: LibraryStore!
    private var backups: URL { state.appendingPathComponent("backup") }

    override func setUpWithError() throws {
        directory = try TestAudio.makeTemporaryDirectory("genred-crash")
        state = directory.appendingPathComponent("state")
        store = try LibraryStore(path: state.appendingPathComponent("library.sqlite").path)
    }

    override func tearDownWithError() throws {
        _ = try? TestAudio.run("chmod", ["-R", "u+w", directory.path])
        try? FileManager.default.removeItem(at: directory)
    }

    private func writer(afterSave: (@Sendable (String) -> Void)? = nil) -> TagWriter {
        TagWriter(id3v23Separator: "/", backupDirectory: backups, afterSave: afterSave)
    }

    /// A FLAC file with a title, and its track in the store.
    private func makeFile(_ name: String = "track.flac") throws -> (URL, TrackRecord) {
        let url = directory.appendingPathComponent(name)
        try TestAudio.run("flac", ["--silent", "-f", "-T", "TITLE=Mine", "-o", url.path, Fixtures.audio("short")])
        var track = TrackRecord(path: url.path, stat: try XCTUnwrap(FileStat.of(url.path)))
        try store.save(&track)
        return (url, track)
    }

    private func request(_ url: URL, _ track: TrackRecord, run: Int64) -> JournaledTagWriter.Request {
        JournaledTagWriter.Request(path: url.path, container: .flac, values: [.genre: ["Rock"]], previous: ["GENRE": []],
                                   new: ["GENRE": ["Rock"]], trackID: track.id, runID: run, purpose: .tag(planKey: "plan"))
    }

    /// Runs a write up to where a kill would stop it: the intent is recorded; with `commit`
    /// the file is saved and verified too, but nothing after that happens.
    private func crash(_ url: URL, _ track: TrackRecord, commit: Bool) throws -> IntentRecord {
        let w = writer()
        let run = try store.beginRun(command: "retag")
        let r = request(url, track, run: run)
        let prepared = try w.prepare(r.path, container: r.container, values: r.values)
        let backup = try w.backup(prepared)
        var intent = IntentRecord(r, prepared: prepared, backup: backup)
        try store.insertIntent(&intent)
        if commit { _ = try w.commit(prepared, backup: backup) }
        return intent
    }

    private func files(in folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0 != "lock" }.sorted()
    }

    private func bytes(_ url: URL) throws -> Data { try Data(contentsOf: url) }

    private func inode(_ url: URL) -> UInt64 { PathIO.stat(url.path).map { UInt64($0.st_ino) } ?? 0 }

    func testIntentIsRecordedBeforeTheFileIsTouched() throws {
        let (url, track) = try makeFile()
        let original = try bytes(url)
        let store = self.store!
        let seen = LockedValue<[IntentRecord]>([])
        let journal = JournaledTagWriter(store: store, writer: writer { _ in
            seen.withLock { $0 = (try? store.intents()) ?? [] }
        })
        let outcome = try journal.write(request(url, track, run: try store.beginRun(command: "retag")))
        let during = seen.withLock { $0 }
        XCTAssertEqual(during.count, 1, "one pending intent while the file was being saved")
        XCTAssertEqual(during.first?.path, url.path)
        XCTAssertEqual(during.first?.originalDigest, SHA256.hex(original))
        XCTAssertTrue(try store.intents(includeStuck: true).isEmpty, "settled with the journal entry")
        XCTAssertEqual(outcome.entry.newValues, ["GENRE": ["Rock"]])
        XCTAssertNotNil(outcome.track?.taggedAt)
        XCTAssertEqual(files(in: backups), [], "the backup goes once the write is recorded")
    }

    func testKilledBeforeTheSaveLeavesTheFileAloneAndDropsTheIntent() throws {
        let (url, track) = try makeFile()
        let original = try bytes(url)
        let intent = try crash(url, track, commit: false)
        XCTAssertEqual(files(in: backups).count, 1)

        let settled = try JournaledTagWriter(store: store, writer: writer()).recover()
        XCTAssertEqual(settled.map(\.action), [.untouched])
        XCTAssertEqual(try bytes(url), original)
        XCTAssertTrue(try store.intents(includeStuck: true).isEmpty)
        XCTAssertTrue(try store.journalEntries(run: intent.runId).isEmpty)
        XCTAssertEqual(files(in: backups), [])
    }

    func testKilledAfterTheSaveIsJournaledOnRecovery() throws {
        let (url, track) = try makeFile()
        let intent = try crash(url, track, commit: true)
        XCTAssertNil(try store.track(id: track.id!)?.taggedAt, "the kill came before the journal entry")

        let settled = try JournaledTagWriter(store: store, writer: writer()).recover()
        XCTAssertEqual(settled.map(\.action), [.journaled])
        let entries = try store.journalEntries(run: intent.runId)
        XCTAssertEqual(entries.map(\.newValues), [["GENRE": ["Rock"]]])
        let t = try XCTUnwrap(store.track(id: track.id!))
        XCTAssertNotNil(t.taggedAt)
        XCTAssertEqual(t.tagPlan, "plan")
        XCTAssertEqual(t.writtenSize, FileStat.of(url.path)?.size)
        XCTAssertEqual(try TagInspector.read(url).comments("GENRE"), ["Rock"])
        XCTAssertEqual(files(in: backups), [])
        XCTAssertTrue(try JournaledTagWriter(store: store, writer: writer()).recover().isEmpty, "nothing left to settle")
    }

    func testTornSaveIsPutBackFromTheBackupOverTheSameInode() throws {
        let (url, track) = try makeFile()
        let original = try bytes(url)
        let node = inode(url)
        _ = try crash(url, track, commit: true)
        // A save cut short: the file's second half never made it.
        let handle = try FileHandle(forUpdating: url)
        try handle.truncate(atOffset: UInt64(original.count / 2))
        try handle.close()

        let settled = try JournaledTagWriter(store: store, writer: writer()).recover()
        XCTAssertEqual(settled.map(\.action), [.restored(kept: nil)], "a torn file is not worth keeping")
        XCTAssertEqual(try bytes(url), original)
        XCTAssertEqual(inode(url), node)
        XCTAssertTrue(try store.intents(includeStuck: true).isEmpty)
        XCTAssertTrue(try store.journalEntries().isEmpty)
        XCTAssertEqual(files(in: backups), [])
    }

    func testAnEditMadeAfterTheCrashIsKeptBesideTheRestoredOriginal() throws {
        let (url, track) = try makeFile()
        let original = try bytes(url)
        _ = try crash(url, track, commit: false)
        // Before genred runs again, somebody retitles the file with another tool.
        try TestAudio.run("metaflac", ["--remove-tag=TITLE", "--set-tag=TITLE=Edited", url.path])

        let settled = try JournaledTagWriter(store: store, writer: writer()).recover()
        guard case .restored(let kept?) = settled.first?.action else { return XCTFail("\(settled)") }
        XCTAssertEqual(try bytes(url), original)
        XCTAssertTrue(kept.hasSuffix(".genred-found"))
        XCTAssertEqual(try TagInspector.read(URL(fileURLWithPath: kept)).comments("TITLE"), ["Edited"], "the edit is not lost")
    }

    func testAFileThatIsGoneLeavesTheIntentForAPersonWithItsBackup() throws {
        let (url, track) = try makeFile()
        let original = try bytes(url)
        let intent = try crash(url, track, commit: true)
        try FileManager.default.removeItem(at: url)

        let settled = try JournaledTagWriter(store: store, writer: writer()).recover()
        guard case .stuck(let why) = settled.first?.action else { return XCTFail("\(settled)") }
        XCTAssertTrue(why.contains(intent.backup), why)
        XCTAssertEqual(try bytes(URL(fileURLWithPath: intent.backup)), original, "the original bytes are kept")
        XCTAssertEqual(try store.counts().stuckWrites, 1)
        XCTAssertTrue(try JournaledTagWriter(store: store, writer: writer()).recover().isEmpty, "left alone afterwards")
        XCTAssertTrue(FileManager.default.fileExists(atPath: intent.backup))
    }

    func testStrayBackupsAreRemovedAndFoundCopiesKept() throws {
        try FileManager.default.createDirectory(at: backups, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: backups.appendingPathComponent("0123abcd.genred-backup"))
        try Data("y".utf8).write(to: backups.appendingPathComponent("0123abcd.genred-found"))
        _ = try JournaledTagWriter(store: store, writer: writer()).recover()
        XCTAssertEqual(files(in: backups), ["0123abcd.genred-found"])
    }

    func testFailedWritesLeaveNoIntentNoBackupAndNoJournal() throws {
        let (url, track) = try makeFile()
        let original = try bytes(url)
        let damaging = writer { path in
            guard let handle = FileHandle(forUpdatingAtPath: path) else { return }
            let end = handle.seekToEndOfFile()
            handle.seek(toFileOffset: end - 2000)
            handle.write(Data(repeating: 0x5A, count: 1000))
            handle.closeFile()
        }
        let journal = JournaledTagWriter(store: store, writer: damaging)
        XCTAssertThrowsError(try journal.write(request(url, track, run: try store.beginRun(command: "retag")))) { error in
            guard case .verificationFailed = (error as? TagError)?.reason else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try bytes(url), original)

        try TestAudio.run("chmod", ["444", url.path])
        XCTAssertThrowsError(try journal.write(request(url, track, run: try store.beginRun(command: "retag"))))
        XCTAssertTrue(try store.intents(includeStuck: true).isEmpty)
        XCTAssertTrue(try store.journalEntries().isEmpty)
        XCTAssertEqual(files(in: backups), [])
    }

    func testBackupsHaveShortNamesInAPrivateFolder() throws {
        let (url, track) = try makeFile(String(repeating: "n", count: 240) + ".flac")
        _ = try crash(url, track, commit: false)
        let names = files(in: backups)
        XCTAssertEqual(names.count, 1)
        XCTAssertLessThan(names[0].count, 64, names[0])
        XCTAssertEqual(try XCTUnwrap(PathIO.stat(backups.path)).st_mode & 0o777, 0o700)
        XCTAssertEqual(try XCTUnwrap(PathIO.stat(backups.path + "/" + names[0])).st_mode & 0o777, 0o600)
    }

    /// genred's reads open files read-only: the daemon sees no IN_CLOSE_WRITE from them.
    func testReadingTagsDoesNotOpenTheFileForWriting() throws {
        let (url, _) = try makeFile()
        let fd = inotify_init1(Int32(IN_NONBLOCK))
        defer { close(fd) }
        XCTAssertGreaterThanOrEqual(inotify_add_watch(fd, url.path, UInt32(IN_CLOSE_WRITE) | UInt32(IN_CLOSE_NOWRITE)), 0)
        _ = try writer().read(url.path, container: .flac)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        XCTAssertGreaterThan(n, 0, "the read was seen")
        var offset = 0
        var masks: [UInt32] = []
        while offset < n {
            let event = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: inotify_event.self) }
            masks.append(event.mask)
            offset += MemoryLayout<inotify_event>.size + Int(event.len)
        }
        XCTAssertFalse(masks.contains { $0 & UInt32(IN_CLOSE_WRITE) != 0 }, "\(masks)")
    }
}
