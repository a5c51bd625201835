import Foundation
import GRDB
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class StoreTests: XCTestCase {
    private func makeStore() throws -> (LibraryStore, URL) {
        let dir = try Fixtures.temporaryDirectory()
        let path = dir.appendingPathComponent("state/library.sqlite").path
        return (try LibraryStore(path: path), dir)
    }

    /// Runs `body` on a new SQLite store and on a new PostgreSQL one: the two engines must
    /// behave the same. The failure message names the engine.
    private func onBothEngines(_ body: (LibraryStore) throws -> Void) throws {
        let (sqlite, _) = try makeStore()
        try body(sqlite)
        let postgres = try LibraryStore(path: PostgresServer.newDatabase())
        do { try body(postgres) } catch { XCTFail("on PostgreSQL: \(error)"); throw error }
    }

    func testDatabaseIsCreatedWithItsFolderInWALMode() throws {
        let (store, _) = try makeStore()
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.path))
        let mode = try (store.engine as! SQLiteEngine).pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        XCTAssertEqual(mode, "wal")
    }

    func testDatabaseFromANewerGenredIsRefused() throws {
        let (store, _) = try makeStore()
        try (store.engine as! SQLiteEngine).pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999-from-the-future')") }
        XCTAssertThrowsError(try LibraryStore(path: store.path)) { error in
            guard case .newerThanBinary = (error as! StoreError).reason else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("newer version of genred"))
        }
    }

    /// The two engines' migrations are written apart (GRDB's and PostgreSQL's SQL): their live
    /// tables must have the same columns, with the same NOT NULL, so that one set of queries
    /// runs on both.
    func testBothEnginesHaveTheSameTablesAndColumns() throws {
        let (sqlite, _) = try makeStore()
        let postgres = try LibraryStore(path: PostgresServer.newDatabase())
        func sqliteColumns() throws -> [String: Set<String>] {
            try (sqlite.engine as! SQLiteEngine).pool.read { db in
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'grdb_migrations'")
                var out: [String: Set<String>] = [:]
                for table in tables {
                    let rows = try Row.fetchAll(db, sql: "SELECT name, \"notnull\" AS required, pk FROM pragma_table_info(?)", arguments: [table])
                    // An INTEGER PRIMARY KEY is NOT NULL in effect, as PostgreSQL declares it.
                    out[table] = Set(rows.map { row -> String in
                        let notNull = (row["required"] as Int64? ?? 0) == 1 || (row["pk"] as Int64? ?? 0) > 0
                        return "\(row["name"] as String? ?? "")\(notNull ? " NOT NULL" : "")"
                    })
                }
                return out
            }
        }
        func postgresColumns() throws -> [String: Set<String>] {
            let rows = try postgres.engine.read { db in
                try db.rows("""
                    SELECT table_name, column_name, is_nullable FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name <> 'genred_migrations'
                    """)
            }
            var out: [String: Set<String>] = [:]
            for row in rows {
                let column = row.string("column_name")! + (row.string("is_nullable") == "NO" ? " NOT NULL" : "")
                out[row.string("table_name")!, default: []].insert(column)
            }
            return out
        }
        let lite = try sqliteColumns(), pg = try postgresColumns()
        XCTAssertGreaterThanOrEqual(lite.count, 12, "every table is read: \(lite.keys.sorted())")
        XCTAssertGreaterThanOrEqual(lite["track"]?.count ?? 0, 10)
        XCTAssertEqual(Set(lite.keys), Set(pg.keys), "the same tables")
        for table in lite.keys.sorted() {
            XCTAssertEqual(lite[table], pg[table], "columns of \(table)")
        }
    }

    func testTaxonomiesMigrateAfterTrackIdentifiersOnADatabaseOfTheReleaseBefore() throws {
        XCTAssertEqual(SQLiteEngine.migrator.migrations.suffix(4),
                       ["v4-track-identifiers", "v5-taxonomies", "v6-workers", "v7-analysis-precision"])
        // A library written by the genred before taxonomies: migrated up to track identifiers.
        let dir = try Fixtures.temporaryDirectory()
        let path = dir.appendingPathComponent("library.sqlite").path
        let pool = try DatabasePool(path: path)
        try SQLiteEngine.migrator.migrate(pool, upTo: "v4-track-identifiers")
        try pool.write { try $0.execute(sql: "INSERT INTO track (path, size, mtime_ns, inode, added_at, updated_at) VALUES ('/music/a.flac', 1, 2, 3, '2026-01-01', '2026-01-01')") }
        try pool.close()
        XCTAssertThrowsError(try LibraryStore(path: path, readOnly: true), "a reader does not upgrade it")
        let store = try LibraryStore(path: path)
        XCTAssertEqual(try store.taxonomies(), [])
        XCTAssertNotNil(try store.track(path: "/music/a.flac"))
        let applied = try (store.engine as! SQLiteEngine).pool.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
        XCTAssertEqual(applied.suffix(4), ["v4-track-identifiers", "v5-taxonomies", "v6-workers", "v7-analysis-precision"])
    }

    func testAnalysesOfTheReleaseBeforeReadAsFP32() throws {
        let dir = try Fixtures.temporaryDirectory()
        let path = dir.appendingPathComponent("library.sqlite").path
        let pool = try DatabasePool(path: path)
        try SQLiteEngine.migrator.migrate(pool, upTo: "v6-workers")
        try pool.write { db in
            try db.execute(sql: "INSERT INTO track (path, size, mtime_ns, inode, added_at, updated_at) VALUES ('/music/a.flac', 1, 2, 3, '2026-01-01', '2026-01-01')")
            try db.execute(sql: "INSERT INTO model (name, version, labels, display_names) VALUES ('msd-musicnn', '1', '[]', '[]')")
            try db.execute(sql: """
                INSERT INTO analysis (track_id, model, model_version, windows, window_frames, hop_frames, frame_seconds, padded,
                                      mean, vote, taggram, embedding, analyzed_at, seconds)
                VALUES (1, 'msd-musicnn', '1', 1, 187, 187, 0.016, 0, x'', x'', x'', x'', '2026-01-01', 1.0)
                """)
        }
        try pool.close()
        let store = try LibraryStore(path: path)
        // The first query after the upgrade: a reader connection that saw the old schema would
        // name the row's columns as they were.
        XCTAssertEqual(try store.analysis(trackID: 1, model: "msd-musicnn")?.precision, "fp32")
    }

    func testNotADatabaseIsAClearError() throws {
        let dir = try Fixtures.temporaryDirectory()
        let path = dir.appendingPathComponent("library.sqlite").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try LibraryStore(path: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    func testTrackAndAnalysisRoundTrip() throws {
        try onBothEngines { store in
            let bundle = try Fixtures.bundle("msd-musicnn")
            try store.register(model: bundle.manifest)
            let analysis = try Analyzer(bundle: bundle).analyze(Fixtures.audio("groove"))
            var track = TrackRecord(path: "/music/groove.wav", stat: FileStat(size: 10, mtimeNs: 20, inode: 30))
            track.fingerprint = analysis.fingerprint
            try store.save(&track, analysis: analysis, seconds: 1.5)
            let id = try XCTUnwrap(track.id)

            let stored = try XCTUnwrap(store.analysis(trackID: id, model: "msd-musicnn"))
            XCTAssertEqual(stored.meanScores, analysis.mean)
            XCTAssertEqual(stored.voteScores, analysis.vote)
            XCTAssertEqual(stored.embeddingVector, analysis.embedding)
            XCTAssertEqual(stored.windows, analysis.windowCount)
            XCTAssertEqual(stored.precision, "fp32")
            // The taggram is kept as float16: within half a unit in the last place of float16.
            let back = stored.taggramScores
            XCTAssertEqual(back.count, analysis.taggram.count)
            XCTAssertLessThanOrEqual(zip(back, analysis.taggram).map { abs($0 - $1) }.max()!, 0.0005)

            XCTAssertEqual(try store.track(path: "/music/groove.wav")?.id, id)
            XCTAssertEqual(try store.tracks(fingerprint: analysis.fingerprint).map(\.id), [id])
            XCTAssertEqual(try store.tracks(inode: 30, size: 10).map(\.id), [id])
            XCTAssertEqual(try store.model("msd-musicnn")?.version, bundle.manifest.version)

            // The precision that ran is kept with the scores.
            var reduced = analysis
            reduced.precision = .bf16
            var other = TrackRecord(path: "/music/groove-bf16.wav", stat: FileStat(size: 11, mtimeNs: 21, inode: 31))
            try store.save(&other, analysis: reduced, seconds: 1.0)
            XCTAssertEqual(try store.analysis(trackID: XCTUnwrap(other.id), model: "msd-musicnn")?.precision, "bf16")

            try store.deleteTrack(id: id)
            XCTAssertNil(try store.analysis(trackID: id, model: "msd-musicnn"), "analyses go with their track")
        }
    }

    func testTracksUnderAFolderTreatLikeWildcardsLiterally() throws {
        try onBothEngines { store in
            for p in ["/m/100%_rock/a.mp3", "/m/100x_rock/b.mp3", "/m/100%_rockabilly/c.mp3", "/other/d.mp3"] {
                var t = TrackRecord(path: p, stat: FileStat(size: 1, mtimeNs: 1, inode: 1))
                try store.save(&t)
            }
            XCTAssertEqual(try store.tracks(under: "/m/100%_rock").map(\.path), ["/m/100%_rock/a.mp3"])
            XCTAssertEqual(try store.tracks().count, 4)
        }
    }

    /// An intent as `JournaledTagWriter` records it, for the store's part alone.
    private func intent(run: Int64, track: Int64?, path: String, kind: IntentRecord.Kind = .tag, undoes: Int64? = nil,
                        previous: [String: [String]], new: [String: [String]]) -> IntentRecord {
        IntentRecord(id: nil, runId: run, trackId: track, path: path, kind: kind, undoes: undoes, planKey: kind == .tag ? "plan" : nil,
                     backup: "/state/backup/x.genred-backup", originalSize: 1, originalDigest: "d", originalDevice: 1, originalInode: 7,
                     originalMode: 0o644, originalAtimeNs: 1, originalMtimeNs: 1, audioDigest: "a", container: "flac",
                     id3v2Version: 0, before: "{}", staged: "{}", previous: BlobCoding.json(previous), new: BlobCoding.json(new),
                     createdAt: Date(), state: .pending, note: nil)
    }

    func testSettledWritesAreJournaledWithTheTrackAndTheirUndoHoldsIt() throws {
        try onBothEngines { store in
            var track = TrackRecord(path: "/m/a.flac", stat: FileStat(size: 1, mtimeNs: 1, inode: 7))
            try store.save(&track)
            let run = try store.beginRun(command: "retag")
            var write = intent(run: run, track: track.id, path: "/m/a.flac", previous: ["GENRE": []], new: ["GENRE": ["Rock", "Pop"]])
            try store.insertIntent(&write)
            XCTAssertEqual(try store.intents().count, 1)
            let (entry, after) = try store.settleWritten(write, written: FileStat(size: 99, mtimeNs: 1234, inode: 7))
            let t = try XCTUnwrap(after)
            XCTAssertEqual(t.writtenSize, 99)
            XCTAssertEqual(t.writtenMtimeNs, 1234)
            XCTAssertEqual(t.size, 99, "the track's stat follows genred's own write")
            XCTAssertNotNil(t.taggedAt)
            XCTAssertEqual(t.tagPlan, "plan")
            XCTAssertTrue(try store.intents(includeStuck: true).isEmpty, "the intent goes in the same transaction")
            XCTAssertEqual(try store.journalEntries(run: run).first?.newValues, ["GENRE": ["Rock", "Pop"]])
            XCTAssertEqual(try store.journalEntries(path: "/m/a.flac").first?.previousValues, ["GENRE": []])

            let undoRun = try store.beginRun(command: "undo")
            var undo = intent(run: undoRun, track: track.id, path: "/m/a.flac", kind: .undo, undoes: entry.id,
                              previous: ["GENRE": ["Rock", "Pop"]], new: ["GENRE": []])
            try store.insertIntent(&undo)
            let (_, held) = try store.settleWritten(undo, written: FileStat(size: 98, mtimeNs: 1300, inode: 7))
            XCTAssertNotNil(held?.tagsHeldAt, "an undo holds the track's tags")
            XCTAssertNil(held?.tagPlan)
            XCTAssertTrue(try store.journalEntries(run: run).isEmpty, "the undone entry is marked in the same transaction")
            XCTAssertEqual(try store.journalEntries(run: run, includeUndone: true).count, 1)
            XCTAssertEqual(try store.counts().held, 1)
            try store.finishRun(run, summary: "{}")
            XCTAssertNotNil(try store.run(run)?.finishedAt)
        }
    }

    func testStuckIntentsAreKeptAndCounted() throws {
        try onBothEngines { store in
            let run = try store.beginRun(command: "retag")
            var write = intent(run: run, track: nil, path: "/m/gone.flac", previous: [:], new: ["GENRE": ["Rock"]])
            try store.insertIntent(&write)
            try store.markStuck(write, note: "the file cannot be found")
            XCTAssertTrue(try store.intents().isEmpty)
            XCTAssertEqual(try store.intents(includeStuck: true).first?.note, "the file cannot be found")
            XCTAssertEqual(try store.counts().stuckWrites, 1)
        }
    }

    func testEachMachineSettlesOnlyItsOwnIntents() throws {
        try onBothEngines { store in
            let run = try store.beginRun(command: "retag")
            var mine = intent(run: run, track: nil, path: "/m/a.flac", previous: [:], new: ["GENRE": ["Rock"]])
            var theirs = intent(run: run, track: nil, path: "/m/b.flac", previous: [:], new: ["GENRE": ["Pop"]])
            theirs.host = "another-machine"
            try store.insertIntent(&mine)
            try store.insertIntent(&theirs)
            XCTAssertEqual(mine.host, StoreHost.name)
            XCTAssertEqual(try store.intents(host: StoreHost.name).map(\.path), ["/m/a.flac"])
            XCTAssertEqual(try store.intents().map(\.path), ["/m/a.flac", "/m/b.flac"], "status sees them all")
        }
    }

    private func add(_ paths: [String], to store: LibraryStore) throws {
        for p in paths {
            var t = TrackRecord(path: p, stat: FileStat(size: 1, mtimeNs: 1, inode: 1))
            try store.save(&t)
            try store.enqueue(p, reason: "new")
        }
    }

    func testForgettingAFolderLeavesFoldersThatDifferInCaseOrName() throws {
        try onBothEngines { store in
            try add(["/m/Live/a.flac", "/m/live/b.flac", "/m/Lively/c.flac", "/m/LIVE/d.flac"], to: store)
            XCTAssertEqual(try store.forget(under: "/m/Live"), 1)
            XCTAssertEqual(try store.tracks().map(\.path), ["/m/LIVE/d.flac", "/m/Lively/c.flac", "/m/live/b.flac"])
            XCTAssertEqual(try store.queueLength(), 3)
            try store.removeQueued(under: "/m/live")
            XCTAssertEqual(try store.queueLength(), 2)
        }
    }

    func testFolderMovesFollowExactBytes() throws {
        try onBothEngines { store in
            let nfd = "/m/Cafe\u{301} Tacvba", nfc = "/m/Caf\u{E9} Tacvba"
            let latin1 = FilePath.string(Array("/m/Bj".utf8) + [0xF6] + Array("rk".utf8))
            try add([nfd + "/1.flac", nfd + "/sub/2.flac", nfc + "/3.flac", latin1 + "/4.flac"], to: store)

            // Grapheme and code-point counts differ for the NFD name: the new paths must be exact.
            try store.moveTracks(under: nfd, to: "/n/Tacvba")
            let paths = try store.tracks().map { FilePath.bytes($0.path) }
            XCTAssertEqual(Set(paths), Set([Array("/n/Tacvba/1.flac".utf8), Array("/n/Tacvba/sub/2.flac".utf8),
                                            Array((nfc + "/3.flac").utf8), FilePath.bytes(latin1 + "/4.flac")]))

            try store.moveTracks(under: latin1, to: latin1 + " (live)")
            XCTAssertNotNil(try store.track(path: latin1 + " (live)/4.flac"))
            XCTAssertEqual(try store.forget(under: nfc), 1, "the NFC folder is its own folder")
            XCTAssertEqual(try store.tracks(under: "/n/Tacvba").count, 2)
        }
    }

    func testDefaultPathFollowsSystemdThenXDG() {
        XCTAssertEqual(LibraryStore.defaultPath(environment: ["STATE_DIRECTORY": "/var/lib/genred", "HOME": "/root"]),
                       "/var/lib/genred/library.sqlite")
        XCTAssertEqual(LibraryStore.defaultPath(environment: ["XDG_DATA_HOME": "/x/data", "HOME": "/home/u"]),
                       "/x/data/genred/library.sqlite")
        XCTAssertEqual(LibraryStore.defaultPath(environment: ["HOME": "/home/u"]), "/home/u/.local/share/genred/library.sqlite")
    }

    func testBlobCodingRoundTrips() {
        let values: [Float] = [0, 1, -2.5, 0.123456, .greatestFiniteMagnitude]
        XCTAssertEqual(BlobCoding.float32(BlobCoding.float32(values)), values)
        XCTAssertEqual(BlobCoding.float16(BlobCoding.float16([0, 0.5, 1, -1])), [0, 0.5, 1, -1])
    }

    // MARK: The shared queue

    private func job(_ path: String, size: Int64 = 10) -> JobRecord {
        JobRecord(path: path, stat: FileStat(size: size, mtimeNs: 20, inode: 30), model: "msd-musicnn", modelVersion: "1", owner: "daemon")
    }

    private func claim(_ store: LibraryStore, _ worker: String, lease: TimeInterval = 60) throws -> JobRecord? {
        try store.claimJob(worker: worker, model: "msd-musicnn", modelVersion: "1", lease: lease, maxClaims: 3)
    }

    func testAJobIsHeldByOneWorkerAndTakenOverWhenItsLeaseRunsOut() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let analysis = try Analyzer(bundle: bundle).analyze(Fixtures.audio("groove"))
        try onBothEngines { store in
            try store.register(model: bundle.manifest)
            try store.enqueueJob(job("/m/a.flac"))
            try store.enqueueJob(job("/m/b.flac"))
            try store.registerWorker(name: "a:1", host: "a", pid: 1, jobs: 1)
            try store.registerWorker(name: "b:2", host: "b", pid: 2, jobs: 1)
            let first = try XCTUnwrap(claim(store, "a:1", lease: 0.3))
            let second = try XCTUnwrap(claim(store, "b:2"))
            XCTAssertEqual([first.path, second.path], ["/m/a.flac", "/m/b.flac"], "oldest first, each to one worker")
            XCTAssertNil(try claim(store, "b:2"), "a held job is not taken")
            XCTAssertEqual(try store.counts().jobsRunning, 2)

            // Worker a stops renewing (it died): once its lease runs out, b takes the job.
            Thread.sleep(forTimeInterval: 1.2)
            let taken = try XCTUnwrap(claim(store, "b:2"))
            XCTAssertEqual(taken.path, "/m/a.flac")
            XCTAssertEqual(taken.claims, 2)
            XCTAssertFalse(try store.completeJob(first, worker: "a:1", analysis: analysis, seconds: 1),
                           "a worker that lost its lease stores nothing")
            XCTAssertNil(try store.track(path: "/m/a.flac"))
            XCTAssertTrue(try store.completeJob(taken, worker: "b:2", analysis: analysis, seconds: 1))

            let track = try XCTUnwrap(store.track(path: "/m/a.flac"))
            XCTAssertEqual(track.size, 10, "the track keeps the owner's stat")
            XCTAssertEqual(track.inode, 30)
            XCTAssertEqual(track.fingerprint, analysis.fingerprint)
            XCTAssertNil(track.tagPlan, "its tags are still to be decided, by the owner")
            XCTAssertEqual(try store.analysis(trackID: track.id!, model: "msd-musicnn")?.meanScores, analysis.mean)
            XCTAssertEqual(try store.dueQueueItems(limit: 10).map(\.path), ["/m/a.flac"], "the owner is told")
            XCTAssertEqual(try store.jobs().map(\.path), ["/m/b.flac"])
            let b = try XCTUnwrap(store.workers().first { $0.name == "b:2" })
            XCTAssertEqual(b.done, 1)
            XCTAssertEqual(b.audioSeconds, analysis.audio.duration, accuracy: 0.01)

            try store.stopWorker(name: "b:2")
            XCTAssertEqual(try claim(store, "a:1")?.path, "/m/b.flac", "a clean stop gives its jobs back at once")
        }
    }

    func testAFileChangedWhileQueuedIsAnalysedAsItIsNow() throws {
        let bundle = try Fixtures.bundle("msd-musicnn")
        let analysis = try Analyzer(bundle: bundle).analyze(Fixtures.audio("groove"))
        try onBothEngines { store in
            try store.register(model: bundle.manifest)
            try store.enqueueJob(job("/m/a.flac", size: 10))
            let held = try XCTUnwrap(claim(store, "a:1"))
            try store.enqueueJob(job("/m/a.flac", size: 11))
            XCTAssertEqual(try store.jobs().count, 1)
            XCTAssertFalse(try store.completeJob(held, worker: "a:1", analysis: analysis, seconds: 1),
                           "a result for the old file is refused")
            let again = try XCTUnwrap(claim(store, "b:2"), "the changed file is free to take at once")
            XCTAssertEqual(again.size, 11)
        }
    }

    func testAFailingJobIsRetriedThenGivenUpWithItsError() throws {
        try onBothEngines { store in
            try store.enqueueJob(job("/m/bad.flac"))
            for round in 1...3 {
                let j = try XCTUnwrap(store.claimJob(worker: "w", model: "msd-musicnn", modelVersion: "1", lease: 60, maxClaims: 3),
                                      "round \(round)")
                try store.failJob(j, worker: "w", error: "not audio", maxClaims: 3, backoff: 0)
            }
            XCTAssertTrue(try store.jobs().isEmpty)
            let track = try XCTUnwrap(store.track(path: "/m/bad.flac"))
            XCTAssertEqual(track.lastError, "not audio")
            XCTAssertEqual(try store.counts().failed, 1)
        }
    }

    func testConcurrentWorkersNeverTakeTheSameJob() throws {
        let url = try PostgresServer.newDatabase()
        let store = try LibraryStore(path: url)
        for i in 0..<40 { try store.enqueueJob(job("/m/\(i).flac")) }
        let taken = LockedValue([String]())
        DispatchQueue.concurrentPerform(iterations: 4) { w in
            guard let own = try? LibraryStore(path: url) else { return }
            while let j = try? own.claimJob(worker: "w\(w)", model: "msd-musicnn", modelVersion: "1", lease: 60, maxClaims: 3) {
                taken.withLock { $0.append(j.path) }
            }
        }
        let paths = taken.withLock { $0 }
        XCTAssertEqual(paths.count, 40)
        XCTAssertEqual(Set(paths).count, 40, "no job was taken twice")
    }

    func testPostgresURLs() throws {
        XCTAssertEqual(StoreLocation("postgresql://u:secret@db.lan:5433/genred").description, "postgresql://u:***@db.lan:5433/genred")
        XCTAssertFalse(StoreLocation("/var/lib/genred/library.sqlite").isPostgres)
        // Backups stay on this machine: beside a SQLite file, else in the local data folder.
        XCTAssertEqual(StoreLocation("/srv/state/library.sqlite").backupDirectory(environment: [:]).path, "/srv/state/backup")
        XCTAssertEqual(StoreLocation("postgresql://u@/db?host=/run/postgresql").backupDirectory(environment: ["STATE_DIRECTORY": "/var/lib/genred"]).path,
                       "/var/lib/genred/backup")
        XCTAssertThrowsError(try LibraryStore(path: "postgresql://nobody@/none?host=/nonexistent-socket-dir")) { error in
            XCTAssertTrue("\(error)".contains("postgresql://nobody@/none"), "\(error)")
        }
    }

}

/// How `--store` URLs name a PostgreSQL server.
final class PostgresURLTests: XCTestCase {
    func testSocketHostsPortsAndPasswords() throws {
        let socket = try PostgresURL("postgresql://genred@/genred?host=/run/postgresql", environment: [:])
        XCTAssertEqual(socket.socketPath, "/run/postgresql/.s.PGSQL.5432")
        XCTAssertEqual(socket.user, "genred")
        XCTAssertEqual(socket.database, "genred")

        let tcp = try PostgresURL("postgres://me:p%40ss@nas.lan:5433/music?sslmode=require", environment: [:])
        XCTAssertNil(tcp.socketPath)
        XCTAssertEqual(tcp.host, "nas.lan")
        XCTAssertEqual(tcp.port, 5433)
        XCTAssertEqual(tcp.password, "p@ss")
        XCTAssertEqual(tcp.sslMode, "require")

        let defaults = try PostgresURL("postgresql:///music", environment: ["USER": "ann"])
        XCTAssertEqual(defaults.socketPath, "/run/postgresql/.s.PGSQL.5432", "no host: the local server's socket")
        XCTAssertEqual(defaults.user, "ann")

        XCTAssertThrowsError(try PostgresURL("postgresql://me@db/x?sslmode=verify-full", environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("sslmode verify-full is not supported"), "\(error)")
        }
    }
}
