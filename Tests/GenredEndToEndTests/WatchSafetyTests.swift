import Foundation
import GenredKit
@testable import GenredLibrary
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The daemon never loops on a file, follows a reload of the model, watches a root again when it
/// comes back, keeps a person's undo, and keeps file names' exact bytes.
final class WatchSafetyTests: DaemonTestCase {
    private func failingConfig() throws {
        try writeConfig(Self.baseConfig + "\nmax_attempts = 2\nretry_backoff = \"1s\"\n")
    }

    /// Waits until the file is listed as failed and off the queue, then watches it for a while:
    /// genred must not open it again.
    private func assertLeftAlone(_ file: URL, counter: FileEventCounter, quiet seconds: Double = 8) throws {
        try waitFor("the file to be listed as failed") {
            let c = try self.store().counts()
            return c.failed == 1 && c.queue == 0
        }
        XCTAssertTrue(log.contains("giving up"), log)
        counter.update()
        let (opens, writes) = (counter.opens, counter.writes)
        Thread.sleep(forTimeInterval: seconds)
        counter.update()
        XCTAssertEqual(counter.opens, opens, "no opens after giving up")
        XCTAssertEqual(counter.writes, writes, "no writes after giving up")
        XCTAssertNotNil(try track(file)?.lastError)
    }

    func testAReadOnlyFileIsTriedAFewTimesThenLeftAlone() throws {
        try failingConfig()
        let file = music.appendingPathComponent("locked.wav")
        try FileManager.default.copyItem(at: clip("short"), to: file)
        chmod(file.path, 0o444)
        let counter = try FileEventCounter(file.path)
        try startDaemon()
        try assertLeftAlone(file, counter: counter)
        XCTAssertEqual(counter.writes, 0, "a read-only file is never opened for writing")
        XCTAssertEqual(try track(file)?.errorCount, 2)
        let status = try AnalyzeCommandTests.genred(["status", "--json", "--db", database])
        XCTAssertTrue(status.stdout.contains("\"failed\":1"), status.stdout)

        // A change to the file (here its permissions) is a reason to try again.
        chmod(file.path, 0o644)
        kill(daemon!.processIdentifier, SIGUSR1)
        try waitFor("the file to be tagged once it can be") { try self.isTagged(file) }
    }

    func testAWriteThatAlwaysFailsVerificationIsNotRepeated() throws {
        try writeConfig(Self.baseConfig + "\nmax_attempts = 2\nretry_backoff = \"1s\"\n[tags]\nmoods = false\n")
        // An ID3v2.3 tag with a TMOO frame: TagLib drops the frame when it saves v2.3, so every
        // write is found wrong and undone.
        let file = music.appendingPathComponent("tmoo.mp3")
        let staging = dir.appendingPathComponent("tmoo.mp3")
        let lame = Process()
        lame.executableURL = URL(fileURLWithPath: "/usr/bin/lame")
        lame.arguments = ["--quiet", "-b", "128", clip("groove").path, staging.path]
        try lame.run()
        lame.waitUntilExit()
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", """
            import sys
            from mutagen.id3 import ID3, TIT2, TMOO
            t = ID3(); t.add(TIT2(encoding=1, text='T')); t.add(TMOO(encoding=1, text='Calm')); t.save(sys.argv[1], v2_version=3)
            """, staging.path]
        try python.run()
        python.waitUntilExit()
        XCTAssertEqual(python.terminationStatus, 0)
        try FileManager.default.moveItem(at: staging, to: file)
        let original = try Data(contentsOf: file)
        let counter = try FileEventCounter(file.path)

        try startDaemon()
        try assertLeftAlone(file, counter: counter)
        XCTAssertTrue(log.contains("the original bytes were restored"), log)
        XCTAssertLessThanOrEqual(counter.writes, 2 * 2, "a save and a restore per attempt, two attempts")
        XCTAssertEqual(try Data(contentsOf: file), original, "restored byte for byte")
        XCTAssertTrue(try store().journalEntries().isEmpty)
    }

    func testAReloadToAnotherModelAnalysesWithItAndFinishes() throws {
        try startDaemon()
        let a = music.appendingPathComponent("a.wav")
        try FileManager.default.copyItem(at: clip("short"), to: a)
        try waitFor("a.wav tagged") { try self.isTagged(a) }

        try writeConfig(Self.baseConfig + "\n[analysis]\nmodel = \"mtt-musicnn\"\n")
        kill(daemon!.processIdentifier, SIGHUP)
        try waitFor("the reload", timeout: 30) { self.log.contains("reloaded ") }
        let b = music.appendingPathComponent("b.wav")
        try FileManager.default.copyItem(at: clip("groove"), to: b)

        try waitFor("b.wav analysed by the new model and the queue empty") {
            guard let id = try self.track(b)?.id, try self.store().analysis(trackID: id, model: "mtt-musicnn") != nil else { return false }
            return try self.isTagged(b) && self.store().counts().queue == 0
        }
        let bLines = log.components(separatedBy: "analysed \(b.path)").count - 1
        XCTAssertEqual(bLines, 1, "analysed once\n\(log)")
        XCTAssertNil(try store().analysis(trackID: track(b)!.id!, model: "msd-musicnn"), "never with the old model")
        let aID = try XCTUnwrap(track(a)?.id)
        try waitFor("a.wav re-analysed in the background") { try self.store().analysis(trackID: aID, model: "mtt-musicnn") != nil }
        Thread.sleep(forTimeInterval: 3)
        XCTAssertEqual(try store().counts().queue, 0, "nothing loops")
    }

    func testARootThatComesBackIsWatchedAgainWithoutARescan() throws {
        try writeConfig(Self.baseConfig + "\nroot_check_interval = \"1s\"\n")
        try startDaemon()
        let away = dir.appendingPathComponent("away")
        try FileManager.default.moveItem(at: music, to: away)
        try waitFor("the lost root to be noticed", timeout: 30) { self.log.contains("watching it again once it is back") }

        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        let file = music.appendingPathComponent("back.wav")
        try FileManager.default.copyItem(at: clip("short"), to: file)
        try waitFor("the file in the returned root to be tagged", timeout: 60) { try self.isTagged(file) }
        XCTAssertTrue(log.contains("is back: watching it again"), log)
        XCTAssertFalse(log.contains("(requested)"))

        // Events in it are seen again, not only the scan.
        let second = music.appendingPathComponent("second.wav")
        try FileManager.default.copyItem(at: clip("short"), to: second)
        try waitFor("a later file tagged from its event") { try self.isTagged(second) }
    }

    func testAPersonsUndoIsNotWrittenOverByTheDaemon() throws {
        try startDaemon()
        let file = music.appendingPathComponent("undo.wav")
        try FileManager.default.copyItem(at: clip("groove"), to: file)
        try waitFor("tagged") { try self.isTagged(file) }
        let reader = TagWriter(backupDirectory: dir.appendingPathComponent("unused"))
        XCTAssertFalse(try reader.read(file.path, container: .wav).values(.genre).isEmpty)

        let undo = try AnalyzeCommandTests.genred(["undo", "--all", "--db", database])
        XCTAssertEqual(undo.status, 0, undo.stderr)
        XCTAssertEqual(try reader.read(file.path, container: .wav).values(.genre), [])
        let rescans = log.components(separatedBy: "rescan done").count
        kill(daemon!.processIdentifier, SIGUSR1)
        try waitFor("the rescan", timeout: 30) { self.log.components(separatedBy: "rescan done").count > rescans }
        Thread.sleep(forTimeInterval: 2)
        XCTAssertEqual(try reader.read(file.path, container: .wav).values(.genre), [], "the undo is kept")
        XCTAssertNotNil(try track(file)?.tagsHeldAt)
    }

    func testANameThatIsNotUTF8IsPickedUp() throws {
        try startDaemon()
        let path = PathIO.join(music.path, Array("Bj".utf8) + [0xF6] + Array("rk.wav".utf8))
        let wav = try Data(contentsOf: clip("short"))
        let fd = PathIO.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = wav.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        try waitFor("the Latin-1 named file tagged") { try self.store().track(path: path)?.taggedAt != nil }
        XCTAssertTrue(log.contains("Bj\\xF6rk.wav"), "shown escaped in the log")
    }
}
