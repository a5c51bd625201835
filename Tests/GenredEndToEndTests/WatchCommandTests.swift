import Foundation
import GenredKit
@testable import GenredLibrary
import XCTest

/// The real daemon on a temporary folder and database.
final class WatchCommandTests: DaemonTestCase {
    func testCopiedFilesAreAnalysedAndTaggedIncludingASlowWrite() throws {
        let p = try startDaemon()
        let quick = music.appendingPathComponent("quick.wav")
        try FileManager.default.copyItem(at: clip("short"), to: quick)

        // A file written slowly, in chunks, with pauses longer than the settle window's polls.
        let slow = music.appendingPathComponent("slow.wav")
        let bytes = try Data(contentsOf: clip("groove"))
        _ = FileManager.default.createFile(atPath: slow.path, contents: nil)
        let handle = try FileHandle(forWritingTo: slow)
        let chunk = bytes.count / 5
        for i in 0..<5 {
            handle.write(bytes[(i * chunk)..<(i == 4 ? bytes.count : (i + 1) * chunk)])
            Thread.sleep(forTimeInterval: 0.3)
        }
        try handle.close()

        try waitFor("both files tagged") { try self.isTagged(quick) && self.isTagged(slow) }
        let s = try store()
        let slowTrack = try XCTUnwrap(track(slow))
        XCTAssertEqual(try XCTUnwrap(slowTrack.duration), 12, accuracy: 0.05, "the whole file was analysed, not a partial copy")
        let analysis = try XCTUnwrap(s.analysis(trackID: slowTrack.id!, model: "msd-musicnn"))
        XCTAssertEqual(analysis.windows, 4)
        XCTAssertEqual(log.components(separatedBy: "analysed \(slow.path)").count - 1, 1, "analysed once, when complete")
        XCTAssertEqual(stop(p), 0, accuracy: 10)
        XCTAssertEqual(p.terminationStatus, 0)
    }

    func testRenameKeepsTheAnalysisAndDeleteForgetsTheTrack() throws {
        try startDaemon()
        let a = music.appendingPathComponent("a.wav")
        try FileManager.default.copyItem(at: clip("short"), to: a)
        try waitFor("a.wav tagged") { try self.isTagged(a) }
        let before = try XCTUnwrap(track(a))
        let analysedAt = try XCTUnwrap(store().analysis(trackID: before.id!, model: "msd-musicnn")).analyzedAt

        let b = music.appendingPathComponent("renamed.wav")
        try FileManager.default.moveItem(at: a, to: b)
        try waitFor("the rename to be followed") { try self.track(b) != nil }
        let after = try XCTUnwrap(track(b))
        XCTAssertEqual(after.id, before.id, "same track, new path")
        XCTAssertEqual(try store().analysis(trackID: after.id!, model: "msd-musicnn")?.analyzedAt, analysedAt, "not analysed again")
        XCTAssertNil(try track(a))

        try FileManager.default.removeItem(at: b)
        try waitFor("the delete to be followed") { try self.track(b) == nil }
        XCTAssertEqual(try store().counts().tracks, 0)
    }

    func testFolderCreatedWithFilesInsideIsPickedUp() throws {
        try startDaemon()
        // A folder assembled elsewhere and moved in whole: no file event inside it ever fires.
        let outside = dir.appendingPathComponent("incoming/Album")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: clip("short"), to: outside.appendingPathComponent("01.wav"))
        try FileManager.default.copyItem(at: clip("short"), to: outside.appendingPathComponent("02.wav"))
        try FileManager.default.moveItem(at: dir.appendingPathComponent("incoming"), to: music.appendingPathComponent("incoming"))
        // And nested folders created and filled at once.
        let nested = music.appendingPathComponent("x/y/z")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: clip("short"), to: nested.appendingPathComponent("deep.wav"))

        let expected = ["incoming/Album/01.wav", "incoming/Album/02.wav", "x/y/z/deep.wav"].map { music.appendingPathComponent($0) }
        try waitFor("all three tagged") { try expected.allSatisfy { try self.isTagged($0) } }
    }

    func testStopAndStartInTheMiddleOfTheQueueLosesNothing() throws {
        let p = try startDaemon()
        let files = (1...5).map { music.appendingPathComponent("t\($0).wav") }
        for f in files { try FileManager.default.copyItem(at: clip("groove"), to: f) }
        try waitFor("work to start") { try self.store().counts().analysed >= 1 }
        // It finishes the file in hand, not the queue (a loaded test machine takes seconds for one).
        XCTAssertLessThan(stop(p), 30, "SIGTERM exits promptly")
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertLessThan(try store().counts().analysed, 5, "stopped with work left")

        try startDaemon()
        try waitFor("everything analysed after the restart") { try files.allSatisfy { try self.isTagged($0) } }
        XCTAssertEqual(try store().counts().queue, 0)
    }

    func testChangesWhileStoppedAreReconciledOnStart() throws {
        let p = try startDaemon()
        let keep = music.appendingPathComponent("keep.wav"), gone = music.appendingPathComponent("gone.wav")
        try FileManager.default.copyItem(at: clip("short"), to: keep)
        try FileManager.default.copyItem(at: clip("short"), to: gone)
        try waitFor("both tagged") { try self.isTagged(keep) && self.isTagged(gone) }
        _ = stop(p)

        try FileManager.default.removeItem(at: gone)
        let new = music.appendingPathComponent("new.wav")
        try FileManager.default.copyItem(at: clip("short"), to: new)
        try startDaemon()
        try waitFor("reconciled") { try self.track(gone) == nil && self.isTagged(new) }
        XCTAssertNotNil(try track(keep))
    }

    func testARootFoundEmptyOnStartKeepsItsTracks() throws {
        let p = try startDaemon()
        let a = music.appendingPathComponent("Album/a.wav")
        try FileManager.default.createDirectory(at: a.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: clip("short"), to: a)
        try waitFor("a.wav tagged") { try self.isTagged(a) }
        _ = stop(p)
        // As if the disk were not mounted when the daemon starts again.
        let away = dir.appendingPathComponent("unmounted")
        try FileManager.default.moveItem(at: music.appendingPathComponent("Album"), to: away)
        try startDaemon()
        XCTAssertTrue(log.contains("not forgetting them"), log)
        XCTAssertNotNil(try track(a), "the analysis survives")
        try FileManager.default.moveItem(at: away, to: music.appendingPathComponent("Album"))
        kill(daemon!.processIdentifier, SIGUSR1)
        try waitFor("the rescan after the disk is back") { self.log.components(separatedBy: "rescan done").count > 3 }
        XCTAssertEqual(try store().counts().analysed, 1, "nothing analysed again")
    }

    func testOverflowLeadsToARescanThatFindsEverything() throws {
        let p = try startDaemon()
        // Freeze the daemon so the kernel's event queue (max_queued_events) fills up and overflows.
        kill(p.processIdentifier, SIGSTOP)
        let limit = Int((try? String(contentsOfFile: "/proc/sys/fs/inotify/max_queued_events", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "16384") ?? 16384
        let noise = music.appendingPathComponent("noise")
        try FileManager.default.createDirectory(at: noise, withIntermediateDirectories: true)
        var i = 0
        while i < limit / 2 + 100 {
            let f = noise.appendingPathComponent(".n\(i)").path
            _ = FileManager.default.createFile(atPath: f, contents: nil)  // IN_CREATE + IN_CLOSE_WRITE
            unlink(f)  // IN_DELETE
            i += 1
        }
        let missed = music.appendingPathComponent("during-overflow.wav")
        try FileManager.default.copyItem(at: clip("short"), to: missed)
        kill(p.processIdentifier, SIGCONT)
        try waitFor("the overflow to be noticed", timeout: 60) { self.log.contains("overflow") }
        try waitFor("the rescan to find the file") { try self.isTagged(missed) }
    }

    func testSIGHUPReloadsTheConfigAndSIGUSR1Rescans() throws {
        let p = try startDaemon()
        let config = dir.appendingPathComponent("genred.toml")
        try "[watch]\nsettle_seconds = 0.5\nworkers = 1\nlog_level = \"debug\"\n[tags]\nmoods = false\n".write(to: config, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        try waitFor("the reload", timeout: 30) { self.log.contains("reloaded \(config.path)") }
        try "[watch]\nsettle_seconds = \"soon\"\n".write(to: config, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        try waitFor("the bad config to be refused", timeout: 30) { self.log.contains("reload failed, keeping the previous settings") }
        XCTAssertTrue(p.isRunning)
        // A config that reads well but names a model that does not exist fails later, once the
        // log level has been read: none of it may stay, so the analysis below is still logged.
        try "[watch]\nlog_level = \"error\"\n[analysis]\nmodel = \"no-such-model\"\n".write(to: config, atomically: true, encoding: .utf8)
        let refusals = log.components(separatedBy: "reload failed").count
        kill(p.processIdentifier, SIGHUP)
        try waitFor("the missing model to be refused", timeout: 30) { self.log.components(separatedBy: "reload failed").count > refusals }
        let later = music.appendingPathComponent("after-the-failed-reload.wav")
        try FileManager.default.copyItem(at: clip("short"), to: later)
        try waitFor("the new file tagged") { try self.isTagged(later) }
        try waitFor("its analysis logged at the kept level", timeout: 10) { self.log.contains("after-the-failed-reload.wav") }
        kill(p.processIdentifier, SIGUSR1)
        try waitFor("the forced rescan", timeout: 30) { self.log.contains("(requested)") }
    }

    func testSecondDaemonOnTheSameDatabaseIsRefused() throws {
        try startDaemon()
        let second = Process()
        second.executableURL = binary
        second.arguments = ["watch", "--db", database, music.path]
        let err = Pipe()
        second.standardError = err
        try second.run()
        second.waitUntilExit()
        XCTAssertNotEqual(second.terminationStatus, 0)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(message.contains(String(daemon!.processIdentifier)), message)
    }

    func testNoRootsIsAClearError() throws {
        let p = Process()
        p.executableURL = binary
        p.arguments = ["watch", "--db", database, "--config", dir.appendingPathComponent("genred.toml").path]
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 2)
        XCTAssertTrue(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("no folders to watch"))
    }

    /// genred.service's ExecCondition: 1 (the unit is skipped) until the config names roots, then 0.
    func testCheckRootsSaysWhetherThereIsAnythingToWatch() throws {
        func check(_ config: String) throws -> (Int32, String) {
            let path = dir.appendingPathComponent("check.toml").path
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = binary
            p.arguments = ["watch", "--check-roots", "--config", path]
            let err = Pipe()
            p.standardError = err
            try p.run()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        let (none, message) = try check("[tags]\nmoods = true\n")
        XCTAssertEqual(none, 1)
        XCTAssertTrue(message.contains("no folders to watch") && message.contains("check.toml"), message)
        XCTAssertEqual(try check("[library]\nroots = [\"\(dir.path)\"]\n").0, 0)
        let unit = try String(contentsOf: AnalyzeCommandTests.repository.appendingPathComponent("systemd/genred.service"), encoding: .utf8)
        XCTAssertTrue(unit.contains("ExecCondition=/usr/local/bin/genred watch --check-roots --config /etc/genred/genred.toml"))
    }
}
