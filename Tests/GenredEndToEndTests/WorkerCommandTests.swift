import Foundation
import GenredKit
@testable import GenredLibrary
import XCTest
import GenredTestSupport

/// `genred enqueue`, `genred worker` and `genred watch` with analyse = "workers", on a real
/// PostgreSQL server (scripts/pg-test-server.sh) and real processes.
final class WorkerCommandTests: DaemonTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        let script = AnalyzeCommandTests.repository.appendingPathComponent("scripts/pg-test-server.sh")
        let made = try AnalyzeCommandTests.run(script, ["newdb"])
        XCTAssertEqual(made.status, 0, String(decoding: made.stderr, as: UTF8.self))
        database = String(decoding: made.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func startWorker(_ name: String, _ extra: [String] = []) throws -> (Process, URL) {
        let p = Process()
        p.executableURL = binary
        p.arguments = ["worker", "--config", configURL.path, "--store", database, "--jobs", "1", "--name", name] + extra
        let out = dir.appendingPathComponent("worker-\(name).log")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let handle = try FileHandle(forWritingTo: out)
        p.standardError = handle
        p.standardOutput = handle
        try p.run()
        return (p, out)
    }

    /// `count` files of `seconds` each in the music folder: long enough that a job is in hand for a while.
    private func songs(_ count: Int, seconds: Double) throws -> [URL] {
        try (0..<count).map { i in
            let url = music.appendingPathComponent("song \(i).wav")
            try TestAudio.writeWAV(url, TestAudio.signal(seconds: seconds, sampleRate: 16000, channels: 1), channels: 1, sampleRate: 16000)
            return url
        }
    }

    func testAWorkerKilledMidJobLosesItToAnotherThatFinishesIt() throws {
        let files = try songs(3, seconds: 60)
        let queued = try AnalyzeCommandTests.genred(["enqueue", "--config", configURL.path, "--store", database, music.path])
        XCTAssertEqual(queued.status, 0, queued.stderr)
        XCTAssertTrue(queued.stdout.contains("queued 3 of 3 files"), queued.stdout)
        let s = try store()
        XCTAssertEqual(try s.jobs().count, 3)

        // Worker a takes a job; it is killed while analysing it.
        let (a, _) = try startWorker("a", ["--lease", "2"])
        try waitFor("worker a to hold a job", timeout: 60) { try s.jobs().contains { $0.worker == "a" } }
        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        let orphaned = try s.jobs().filter { $0.worker == "a" }
        XCTAssertEqual(orphaned.count, 1, "killed while holding its job")
        let lost = try XCTUnwrap(orphaned.first)
        XCTAssertNil(try s.track(path: lost.path), "the job was not finished")

        // Worker b finds it held, waits out the dead worker's lease, takes it and finishes everything.
        let b = try AnalyzeCommandTests.genred(["worker", "--config", configURL.path, "--store", database, "--jobs", "1",
                                                "--name", "b", "--until-empty"])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stderr.contains("analysed  \(lost.path)"), b.stderr)
        XCTAssertTrue(try s.jobs().isEmpty)
        for url in files {
            let track = try XCTUnwrap(s.track(path: url.path), url.path)
            XCTAssertNotNil(try s.analysis(trackID: track.id!, model: "msd-musicnn"), url.path)
            XCTAssertNil(track.taggedAt, "workers never write tags")
        }
        let workers = try s.workers()
        XCTAssertEqual(workers.first { $0.name == "b" }?.stoppedAt != nil, true, "b stopped cleanly")
        let status = try AnalyzeCommandTests.genred(["status", "--store", database])
        XCTAssertTrue(status.stdout.contains("worker:    b  stopped"), status.stdout)
        XCTAssertTrue(status.stdout.contains("worker:    a  silent") || status.stdout.contains("worker:    a  idle")
                      || status.stdout.contains("worker:    a  analysing"), status.stdout)
    }

    func testAWorkerRidesOutARestartOfTheServer() throws {
        let files = try songs(4, seconds: 40)
        XCTAssertEqual(try AnalyzeCommandTests.genred(["enqueue", "--store", database, music.path]).status, 0)
        let s = try store()
        let (worker, workerLog) = try startWorker("w", ["--lease", "3", "--until-empty"])
        try waitFor("the worker to hold a job", timeout: 60) { try s.jobs().contains { $0.worker == "w" } }
        let script = AnalyzeCommandTests.repository.appendingPathComponent("scripts/pg-test-server.sh")
        let restarted = try AnalyzeCommandTests.run(script, ["restart"])
        XCTAssertEqual(restarted.status, 0, String(decoding: restarted.stderr, as: UTF8.self))
        worker.waitUntilExit()
        let worked = (try? String(contentsOf: workerLog, encoding: .utf8)) ?? ""
        XCTAssertEqual(worker.terminationStatus, 0, worked)
        let after = try store()
        XCTAssertTrue(try after.jobs().isEmpty, worked)
        for url in files {
            let track = try XCTUnwrap(after.track(path: url.path), "\(url.path): \(worked)")
            XCTAssertNotNil(try after.analysis(trackID: track.id!, model: "msd-musicnn"), url.path)
        }
    }

    func testTheDaemonHandsAnalysesToAWorkerAndTagsWhatItStores() throws {
        try writeConfig(Self.baseConfig + "\n[analysis]\nanalyse = \"workers\"\n")
        let daemon = try startDaemon()
        let (worker, workerLog) = try startWorker("desk")
        let song = music.appendingPathComponent("song.wav")
        try FileManager.default.copyItem(at: clip("groove"), to: song)
        try waitFor("the worker's analysis to be tagged by the daemon") { try self.isTagged(song) }
        let worked = (try? String(contentsOf: workerLog, encoding: .utf8)) ?? ""
        XCTAssertTrue(worked.contains("analysed  \(song.path)"), worked)
        XCTAssertFalse(log.contains("analysed \(song.path)"), "the daemon analysed nothing itself:\n\(log)")
        XCTAssertTrue(log.contains("queued for a worker"), log)
        let entry = try XCTUnwrap(try store().journalEntries(path: song.path).first, "the daemon's write is journaled")
        XCTAssertFalse(entry.newValues.isEmpty)

        worker.terminate()
        worker.waitUntilExit()
        XCTAssertEqual(worker.terminationStatus, 0, "SIGTERM stops a worker cleanly")
        XCTAssertNotNil(try store().workers().first { $0.name == "desk" }?.stoppedAt)
        XCTAssertEqual(stop(daemon), 0, accuracy: 30)
    }

    /// Workers analyse a labelled collection into PostgreSQL; every reader and `learn`, `retag`
    /// and `serve` then work from that store as they do from a SQLite file.
    func testEveryCommandWorksOnThePostgresStore() throws {
        let set = try LearnCommandTests.labelledSet(in: dir)
        func genred(_ arguments: [String]) throws -> AnalyzeCommandTests.Run {
            try AnalyzeCommandTests.genred(arguments + ["--store", database])
        }
        XCTAssertEqual(try genred(["enqueue", set.path]).status, 0)
        let worked = try genred(["worker", "--until-empty", "--jobs", "2", "--quiet"])
        XCTAssertEqual(worked.status, 0, worked.stderr)
        XCTAssertTrue(worked.stderr.contains("18 analysed, 0 failed"), worked.stderr)

        let learned = try genred(["learn", "synth", set.path, "--json", "--folds", "3"])
        XCTAssertEqual(learned.status, 0, learned.stderr)
        XCTAssertTrue(learned.stderr.contains("18 labelled tracks, 0 to analyse first"), "learned from the workers' analyses: \(learned.stderr)")
        XCTAssertEqual(try genred(["learn", "--list"]).stdout.contains("synth"), true)

        let file = set.appendingPathComponent("drone/drone-0-0.wav").path
        let similar = try genred(["similar", file, "--json", "-n", "3"])
        XCTAssertEqual(similar.status, 0, similar.stderr)
        XCTAssertEqual(similar.stdout.split(separator: "\n").count, 3, similar.stdout)
        let show = try genred(["show", file])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("drone-0-0.wav"), show.stdout)
        let csv = dir.appendingPathComponent("map.csv").path
        XCTAssertEqual(try genred(["map", "--csv", csv, "--seed", "7"]).status, 0)
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(whereSeparator: \.isNewline)
        XCTAssertEqual(rows.count, 19, "a header and 18 tracks: \(rows.prefix(3))")

        let retag = try genred(["retag", set.path, "--taxonomy", "synth"])
        XCTAssertEqual(retag.status, 0, retag.stderr)
        XCTAssertTrue((retag.stdout + retag.stderr).contains("18 files: 0 analysed"), "tags come from the stored analyses: \(retag.stdout)")
        let status = try genred(["status", "--json"])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["tracks"] as? Int, 18)
        XCTAssertEqual(object["tagged"] as? Int, 18)
        XCTAssertEqual((object["workers"] as? [[String: Any]])?.count, 1)

        let server = try ServeProcess(["--store", database, "--listen", "127.0.0.1:0"])
        defer { server.stop() }
        let served = try server.get("/api/status").json()
        XCTAssertEqual(served["tracks"] as? Int, 18)
        let tracks = try server.get("/api/tracks?limit=100").json()
        XCTAssertEqual((tracks["tracks"] as? [Any])?.count, 18, "\(tracks)")
    }


    /// genred-worker.service reads the collection and talks to the store: nothing it runs may
    /// write the music, and it has the network the daemon's unit cuts off.
    func testTheWorkerUnitCannotWriteTheMusic() throws {
        let text = try String(contentsOf: AnalyzeCommandTests.repository.appendingPathComponent("systemd/genred-worker.service"), encoding: .utf8)
        let lines = Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
        XCTAssertTrue(lines.contains("ExecStart=/usr/local/bin/genred worker --config /etc/genred/genred.toml --quiet"))
        XCTAssertTrue(lines.contains("ProtectSystem=strict"))
        XCTAssertTrue(lines.contains("ProtectHome=read-only"))
        XCTAssertFalse(lines.contains { $0.hasPrefix("ReadWritePaths") || $0.hasPrefix("PrivateNetwork") }, "\(lines)")
        XCTAssertTrue(lines.contains("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"))
    }

}
