import Foundation
import Glibc
import XCTest

@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class WatcherTests: XCTestCase {
    private var root = ""
    private var outside = ""
    private var watcher: InotifyWatcher?

    override func setUpWithError() throws {
        root = try Self.makeTemporaryDirectory()
        outside = try Self.makeTemporaryDirectory()
    }

    override func tearDown() {
        watcher?.close()
        watcher = nil
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: outside)
    }

    // MARK: Files

    func testWrittenFileIsReportedWithItsAbsolutePath() throws {
        let w = try start()
        try write(root + "/song.flac")
        let events = collect(w) { $0.contains(.written(self.root + "/song.flac")) }
        XCTAssertTrue(events.contains(.written(root + "/song.flac")), "\(events)")
    }

    func testARootThatCannotBeWatchedDoesNotStopTheOthers() throws {
        let missing = root + "-missing"
        let w = try InotifyWatcher(roots: [root, missing], moveTimeout: 0.3)
        watcher = w
        try write(root + "/song.flac")
        let events = collect(w) { $0.contains(.written(self.root + "/song.flac")) }
        XCTAssertTrue(events.contains { if case .watchLost(missing, _) = $0 { true } else { false } }, "\(events)")
        XCTAssertTrue(events.contains(.written(root + "/song.flac")), "\(events)")
        w.close()
        watcher = nil
        XCTAssertThrowsError(try InotifyWatcher(roots: [missing]), "no root at all is an error")
    }

    func testRenameInsideTheTreeIsOneMove() throws {
        try write(root + "/a.mp3")
        let w = try start()
        try rename(root + "/a.mp3", root + "/b.mp3")
        let events = collect(w, settle: 0.5) { $0.contains { if case .moved = $0 { true } else { false } } }
        XCTAssertEqual(events, [.moved(from: root + "/a.mp3", to: root + "/b.mp3")])
    }

    func testMoveToAnotherWatchedDirectoryIsAMove() throws {
        try mkdir(root + "/one")
        try mkdir(root + "/two")
        try write(root + "/one/x.ogg")
        let w = try start()
        try rename(root + "/one/x.ogg", root + "/two/x.ogg")
        let events = collect(w, settle: 0.5) { $0.contains { if case .moved = $0 { true } else { false } } }
        XCTAssertEqual(events, [.moved(from: root + "/one/x.ogg", to: root + "/two/x.ogg")])
    }

    func testMoveOutOfTheTreeIsARemovalAfterTheTimeout() throws {
        try write(root + "/leaving.mp3")
        let w = try start(moveTimeout: 0.3)
        let started = Date()
        try rename(root + "/leaving.mp3", outside + "/leaving.mp3")
        let events = collect(w) { $0.contains(.removed(self.root + "/leaving.mp3")) }
        XCTAssertEqual(events, [.removed(root + "/leaving.mp3")])
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.29)
    }

    func testMoveInFromOutsideIsAnAppearance() throws {
        try write(outside + "/arriving.mp3")
        let w = try start()
        try rename(outside + "/arriving.mp3", root + "/arriving.mp3")
        let events = collect(w) { !$0.isEmpty }
        XCTAssertEqual(events, [.appeared(root + "/arriving.mp3")])
    }

    func testHardLinkIsAnAppearance() throws {
        try write(outside + "/original.mp3")
        let w = try start()
        XCTAssertEqual(link(outside + "/original.mp3", root + "/linked.mp3"), 0)
        let events = collect(w) { !$0.isEmpty }
        XCTAssertEqual(events, [.appeared(root + "/linked.mp3")])
    }

    func testDeleteIsARemoval() throws {
        try write(root + "/gone.mp3")
        let w = try start()
        XCTAssertEqual(unlink(root + "/gone.mp3"), 0)
        let events = collect(w) { !$0.isEmpty }
        XCTAssertEqual(events, [.removed(root + "/gone.mp3")])
    }

    func testANewFileAtANameThatJustLeftEndsThePendingMove() throws {
        try write(root + "/reused.mp3")
        let w = try start(moveTimeout: 5)
        try rename(root + "/reused.mp3", outside + "/reused.mp3")
        try write(root + "/reused.mp3")
        let events = collect(w) { $0.contains(.written(self.root + "/reused.mp3")) }
        XCTAssertEqual(events, [.removed(root + "/reused.mp3"), .written(root + "/reused.mp3")])
    }

    // MARK: Directories

    func testNestedDirectoriesAreWatchedAsSoonAsTheyAppear() throws {
        let w = try start()
        let deepest = root + "/artist/album/disc 1"
        try FileManager.default.createDirectory(atPath: deepest, withIntermediateDirectories: true)
        try write(deepest + "/early.flac")
        let first = collect(w) { $0.contains(.directoryAppeared(self.root + "/artist")) }
        XCTAssertTrue(first.contains(.directoryAppeared(root + "/artist")), "\(first)")
        XCTAssertEqual(w.watchCount, 4)

        try write(deepest + "/later.flac")
        try write(root + "/artist/album/cover-notes.txt")
        let later = collect(w) { $0.contains(.written(self.root + "/artist/album/cover-notes.txt")) }
        XCTAssertTrue(later.contains(.written(deepest + "/later.flac")), "\(later)")
        XCTAssertTrue(later.contains(.written(root + "/artist/album/cover-notes.txt")), "\(later)")
    }

    func testRenamedDirectoryKeepsItsWatchesUnderTheNewName() throws {
        try mkdir(root + "/old name")
        try mkdir(root + "/old name/inner")
        let w = try start()
        XCTAssertEqual(w.watchCount, 3)
        try rename(root + "/old name", root + "/new name")
        let moved = collect(w, settle: 0.3) { !$0.isEmpty }
        XCTAssertEqual(moved, [.directoryMoved(from: root + "/old name", to: root + "/new name")])

        try write(root + "/new name/inner/track.mp3")
        try write(root + "/new name/top.mp3")
        let written = collect(w) { $0.count >= 2 }
        XCTAssertEqual(Set(written), [.written(root + "/new name/inner/track.mp3"), .written(root + "/new name/top.mp3")])
        XCTAssertEqual(w.watchCount, 3)
    }

    func testEveryWatchUnderAMovedDirectoryIsRenamed() throws {
        let names = (0..<40).map { String(format: "d%02d", $0) }
        try mkdir(root + "/many")
        for name in names {
            try mkdir(root + "/many/" + name)
            try mkdir(root + "/many/" + name + "/cd")
        }
        let w = try start()
        XCTAssertEqual(w.watchCount, 82)
        try mkdir(root + "/shelf")
        XCTAssertEqual(collect(w) { !$0.isEmpty }, [.directoryAppeared(root + "/shelf")])
        try rename(root + "/many", root + "/shelf/many")
        let events = collect(w) { !$0.isEmpty }
        XCTAssertEqual(events, [.directoryMoved(from: root + "/many", to: root + "/shelf/many")])
        var expected = [root + "/", root + "/shelf/", root + "/shelf/many/"]
        for name in names { expected += [root + "/shelf/many/\(name)/", root + "/shelf/many/\(name)/cd/"] }
        XCTAssertEqual(w.watchNamesForTesting, expected.sorted())
    }

    func testDirectoryMovedIntoANewDirectoryNotWatchedYet() throws {
        try mkdir(root + "/box")
        try mkdir(root + "/box/inner")
        let w = try start(moveTimeout: 0.3)
        // Nothing is read until `next`: the new directory has no watch when the move happens,
        // so the move has no MOVED_TO; watching the new directory finds the old watches.
        try mkdir(root + "/shelf")
        try rename(root + "/box", root + "/shelf/box")
        let events = collect(w) { $0.count >= 2 }
        XCTAssertEqual(events, [.directoryAppeared(root + "/shelf"), .directoryRemoved(root + "/box")])
        XCTAssertEqual(w.watchNamesForTesting, [root + "/", root + "/shelf/", root + "/shelf/box/", root + "/shelf/box/inner/"])
        try write(root + "/shelf/box/inner/x.mp3")
        XCTAssertEqual(collect(w) { !$0.isEmpty }, [.written(root + "/shelf/box/inner/x.mp3")])
    }

    func testDirectoryMovedOutIsRemovedAndNoLongerWatched() throws {
        try mkdir(root + "/box")
        try mkdir(root + "/box/inner")
        let w = try start(moveTimeout: 0.3)
        try rename(root + "/box", outside + "/box")
        let events = collect(w) { !$0.isEmpty }
        XCTAssertEqual(events, [.directoryRemoved(root + "/box")])
        XCTAssertEqual(w.watchCount, 1)
        try write(outside + "/box/inner/after.mp3")
        XCTAssertEqual(collect(w, timeout: 0.4) { _ in false }, [])
    }

    func testDeletedDirectoryCanComeBackUnderTheSameName() throws {
        try mkdir(root + "/again")
        let w = try start()
        XCTAssertEqual(rmdir(root + "/again"), 0)
        let removed = collect(w) { !$0.isEmpty }
        XCTAssertEqual(removed, [.directoryRemoved(root + "/again")])
        XCTAssertEqual(w.watchCount, 1)

        try mkdir(root + "/again")
        XCTAssertEqual(collect(w) { !$0.isEmpty }, [.directoryAppeared(root + "/again")])
        try write(root + "/again/x.mp3")
        XCTAssertEqual(collect(w) { !$0.isEmpty }, [.written(root + "/again/x.mp3")])
        XCTAssertEqual(w.watchCount, 2)
    }

    func testHiddenDirectoriesAreNotWatched() throws {
        try mkdir(root + "/.cache")
        try mkdir(root + "/visible")
        let w = try start()
        XCTAssertEqual(w.watchCount, 2)
        try write(root + "/.cache/x.mp3")
        try mkdir(root + "/.trash")
        try write(root + "/.trash/y.mp3")
        try write(root + "/.partial.mp3")
        let events = collect(w, settle: 0.3) { $0.contains(.written(self.root + "/.partial.mp3")) }
        XCTAssertEqual(events, [.directoryAppeared(root + "/.trash"), .written(root + "/.partial.mp3")])
        XCTAssertEqual(w.watchCount, 2)
    }

    func testOddNamesKeepTheirExactBytesAndGetWatched() throws {
        let w = try start()
        let bytes: [UInt8] = Array(root.utf8) + Array("/dir-\u{7f}".utf8) + [0xff, 0xfe]
        let directory = bytes + [0]
        XCTAssertEqual(directory.withUnsafeBufferPointer { Glibc.mkdir(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), 0o755) }, 0)
        let decoded = FilePath.string(bytes)
        XCTAssertEqual(collect(w) { !$0.isEmpty }, [.directoryAppeared(decoded)])
        XCTAssertEqual(FilePath.bytes(decoded), bytes, "the event's path names the directory on disk")
        XCTAssertEqual(w.watchCount, 2)

        let file = bytes + Array("/f\u{1}.mp3".utf8) + [0]
        let fd = file.withUnsafeBufferPointer { Glibc.open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644) }
        XCTAssertGreaterThanOrEqual(fd, 0)
        Glibc.close(fd)
        let events = collect(w) { !$0.isEmpty }
        XCTAssertEqual(events, [.written(decoded + "/f\u{1}.mp3")])
        if case .written(let path)? = events.first { XCTAssertNotNil(FileStat.of(path), "the path opens the file") }
    }

    // MARK: Overflow and limits

    func testQueueOverflowIsReportedAndWatchingGoesOn() throws {
        let limits = InotifyLimits.current
        guard let queue = limits.maxQueuedEvents, queue <= 100_000 else {
            throw XCTSkip("max_queued_events is \(InotifyLimits.current.maxQueuedEvents.map(String.init) ?? "unreadable"): too many events to overflow in a test")
        }
        try mkdir(root + "/sub")
        let w = try start()
        // Each round queues IN_CREATE, IN_CLOSE_WRITE and IN_DELETE under a fresh name.
        let rounds = queue / 3 + 1000
        for i in 0..<rounds {
            let path = root + "/f\(i)"
            let fd = Glibc.open(path, O_CREAT | O_WRONLY, 0o644)
            guard fd >= 0 else { return XCTFail("cannot create \(path)") }
            Glibc.close(fd)
            unlink(path)
        }
        let events = collect(w) { $0.contains(.overflow) }
        XCTAssertTrue(events.contains(.overflow), "no overflow among \(events.count) events")
        XCTAssertEqual(w.overflowCount, 1)
        XCTAssertEqual(w.watchCount, 2)
        try write(root + "/sub/after.mp3")
        let after = collect(w) { $0.contains(.written(self.root + "/sub/after.mp3")) }
        XCTAssertTrue(after.contains(.written(root + "/sub/after.mp3")), "\(after)")
    }

    func testInjectedOverflowRebuildsTheWatches() throws {
        try mkdir(root + "/sub")
        let w = try start()
        w.injectOverflowForTesting()
        XCTAssertEqual(w.next(timeout: 0), [.overflow])
        XCTAssertEqual(w.watchCount, 2)
        try write(root + "/sub/x.mp3")
        XCTAssertEqual(collect(w) { !$0.isEmpty }, [.written(root + "/sub/x.mp3")])
    }

    func testWatchLimitMessageNamesTheLimitAndTheRemedy() {
        let error = WatchError.system(ENOSPC, path: "/music/new", limits: InotifyLimits(maxUserWatches: 8192))
        let text = error.description
        XCTAssertEqual(error.path, "/music/new")
        XCTAssertEqual(error.code, ENOSPC)
        XCTAssertTrue(text.contains("/music/new"), text)
        XCTAssertTrue(text.contains("fs.inotify.max_user_watches = 8192"), text)
        XCTAssertTrue(text.contains("/proc/sys/fs/inotify/max_user_watches"), text)
        XCTAssertTrue(text.contains("sysctl fs.inotify.max_user_watches=524288"), text)
        XCTAssertTrue(text.contains("/etc/sysctl.d/"), text)

        let unknown = WatchError.system(ENOSPC, path: "/m", limits: InotifyLimits()).reason
        XCTAssertTrue(unknown.contains("could not be read"), unknown)
        let large = WatchError.system(ENOSPC, path: "/m", limits: InotifyLimits(maxUserWatches: 1_000_000)).reason
        XCTAssertTrue(large.contains("max_user_watches=2000000"), large)
        XCTAssertTrue(WatchError.system(EMFILE, path: "/m", limits: InotifyLimits(maxUserInstances: 128)).reason.contains("max_user_instances = 128"))
    }

    func testMissingRootThrowsAndOnlyOneWatcherMayBeOpen() throws {
        XCTAssertThrowsError(try InotifyWatcher(roots: [root + "/missing"])) { error in
            XCTAssertEqual((error as? WatchError)?.path, root + "/missing")
            XCTAssertEqual((error as? WatchError)?.code, ENOENT)
        }
        let w = try start()
        XCTAssertThrowsError(try InotifyWatcher(roots: [outside]))
        w.close()
        XCTAssertEqual(w.next(timeout: 0), [])
        watcher = try InotifyWatcher(roots: [outside + "/", root + "/./"])
        XCTAssertEqual(watcher?.roots, [outside, root])
    }

    func testDeletedRootIsAWatchLoss() throws {
        try mkdir(root + "/inner")
        let w = try start()
        try FileManager.default.removeItem(atPath: root)
        let events = collect(w) { $0.contains { if case .watchLost = $0 { true } else { false } } }
        XCTAssertTrue(events.contains(.watchLost(root, reason: "the root directory was deleted")), "\(events)")
        XCTAssertEqual(w.watchCount, 0)
    }

    // MARK: MovePairer

    func testPairerMatchesCookiesThatAreNotAdjacent() {
        var pairer = MovePairer<String>(timeout: 1)
        pairer.movedFrom(cookie: 7, "a", now: 10)
        pairer.movedFrom(cookie: 8, "b", now: 10.1)
        XCTAssertEqual(pairer.movedTo(cookie: 8), "b")
        XCTAssertNil(pairer.movedTo(cookie: 9))
        XCTAssertEqual(pairer.movedTo(cookie: 7), "a")
        XCTAssertEqual(pairer.pendingCount, 0)
        XCTAssertNil(pairer.nextDeadline)
    }

    func testPairerExpiresLoneDeparturesInOrder() {
        var pairer = MovePairer<String>(timeout: 1)
        pairer.movedFrom(cookie: 1, "first", now: 0)
        pairer.movedFrom(cookie: 2, "second", now: 0.5)
        pairer.movedFrom(cookie: 3, "third", now: 2)
        XCTAssertEqual(pairer.nextDeadline, 1)
        XCTAssertEqual(pairer.expired(now: 0.9), [])
        XCTAssertEqual(pairer.expired(now: 1.6), ["first", "second"])
        XCTAssertEqual(pairer.nextDeadline, 3)
        XCTAssertEqual(pairer.removeAll { $0 == "third" }, ["third"])
        XCTAssertEqual(pairer.pendingCount, 0)
    }

    // MARK: SettleTracker

    func testGrowingFileIsNotDueUntilItStopsChanging() {
        let disk = FakeDisk()
        let tracker = SettleTracker(settleSeconds: 5, stat: disk.stat)
        disk.files["/m/a.flac"] = (100, 1)
        tracker.note("/m/a.flac", now: at(0))
        XCTAssertEqual(tracker.due(now: at(3)).ready, [])
        disk.files["/m/a.flac"] = (200, 1)
        XCTAssertEqual(tracker.due(now: at(6)).ready, [], "size changed at 6: a new window")
        XCTAssertEqual(tracker.due(now: at(10)).ready, [])
        XCTAssertEqual(tracker.due(now: at(11)).ready, ["/m/a.flac"])
        XCTAssertEqual(tracker.pending, 0)
    }

    func testChangedMtimeRestartsTheWindow() {
        let disk = FakeDisk()
        let tracker = SettleTracker(settleSeconds: 5, stat: disk.stat)
        disk.files["/m/a.flac"] = (100, 1)
        tracker.note("/m/a.flac", now: at(0))
        disk.files["/m/a.flac"] = (100, 2)
        XCTAssertEqual(tracker.due(now: at(5)).ready, [])
        XCTAssertEqual(tracker.due(now: at(9.9)).ready, [])
        XCTAssertEqual(tracker.due(now: at(10)).ready, ["/m/a.flac"])
    }

    func testNoteRestartsAndVanishedFilesAreReportedApart() {
        let disk = FakeDisk()
        let tracker = SettleTracker(settleSeconds: 5, stat: disk.stat)
        disk.files["/m/a.flac"] = (1, 1)
        disk.files["/m/b.flac"] = (1, 1)
        tracker.note("/m/a.flac", now: at(0))
        tracker.note("/m/b.flac", now: at(0))
        tracker.note("/m/a.flac", now: at(4))
        disk.files["/m/b.flac"] = nil
        let result = tracker.due(now: at(6))
        XCTAssertEqual(result.ready, [])
        XCTAssertEqual(result.vanished, ["/m/b.flac"])
        XCTAssertEqual(tracker.pending, 1)
        XCTAssertEqual(tracker.due(now: at(9)).ready, ["/m/a.flac"])
    }

    func testRenamesAndRemovalsFollowTheFiles() {
        let disk = FakeDisk()
        let tracker = SettleTracker(settleSeconds: 5, stat: disk.stat)
        for path in ["/m/d/a.flac", "/m/d/sub/b.flac", "/m/dx/c.flac", "/m/e.flac"] {
            disk.files[path] = (1, 1)
            tracker.note(path, now: at(0))
        }
        tracker.renameDirectory(from: "/m/d", to: "/m/z")
        tracker.rename(from: "/m/e.flac", to: "/m/f.flac")
        tracker.remove("/m/dx/c.flac")
        for path in ["/m/z/a.flac", "/m/z/sub/b.flac", "/m/f.flac"] { disk.files[path] = (1, 1) }
        XCTAssertEqual(tracker.pending, 3)
        XCTAssertEqual(tracker.due(now: at(5)).ready, ["/m/f.flac", "/m/z/a.flac", "/m/z/sub/b.flac"])
    }

    func testRealFileStat() throws {
        try write(root + "/real.mp3", bytes: 42)
        let stat = try XCTUnwrap(SettleTracker.fileStat(root + "/real.mp3"))
        XCTAssertEqual(stat.size, 42)
        XCTAssertGreaterThan(stat.mtimeNs, 0)
        XCTAssertNil(SettleTracker.fileStat(root + "/nothing"))
    }

    // MARK: Helpers

    private final class FakeDisk {
        var files: [String: (size: Int64, mtimeNs: Int64)] = [:]
        func stat(_ path: String) -> (size: Int64, mtimeNs: Int64)? { files[path] }
    }

    private func at(_ seconds: Double) -> Date { Date(timeIntervalSinceReferenceDate: 1_000_000 + seconds) }

    private func start(moveTimeout: Double = 0.3) throws -> InotifyWatcher {
        let w = try InotifyWatcher(roots: [root], moveTimeout: moveTimeout)
        watcher = w
        return w
    }

    /// Reads events until `done` holds for all seen so far or `timeout` passes, then keeps
    /// reading for `settle` seconds to catch anything extra.
    private func collect(_ w: InotifyWatcher, timeout: Double = 3, settle: Double = 0, until done: ([WatchEvent]) -> Bool) -> [WatchEvent] {
        var events: [WatchEvent] = []
        let deadline = Date().addingTimeInterval(timeout)
        while !done(events), Date() < deadline {
            events += w.next(timeout: 0.1)
        }
        let quiet = Date().addingTimeInterval(settle)
        while Date() < quiet {
            events += w.next(timeout: 0.05)
        }
        return events
    }

    private func write(_ path: String, bytes: Int = 16) throws {
        let fd = Glibc.open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { Glibc.close(fd) }
        let data = [UInt8](repeating: 0x55, count: bytes)
        XCTAssertEqual(data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }, bytes)
    }

    private func mkdir(_ path: String) throws {
        guard Glibc.mkdir(path, 0o755) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    private func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    private static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/genred-watch-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return String(cString: made)
    }
}
