import Foundation
import GRDB
import XCTest
@testable import GenredKit

final class StoreTests: XCTestCase {
    private func makeStore() throws -> (LibraryStore, URL) {
        let dir = try Fixtures.temporaryDirectory()
        let path = dir.appendingPathComponent("state/library.sqlite").path
        return (try LibraryStore(path: path), dir)
    }

    func testDatabaseIsCreatedWithItsFolderInWALMode() throws {
        let (store, _) = try makeStore()
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.path))
        let mode = try store.pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        XCTAssertEqual(mode, "wal")
    }

    func testDatabaseFromANewerGenredIsRefused() throws {
        let (store, _) = try makeStore()
        try store.pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999-from-the-future')") }
        XCTAssertThrowsError(try LibraryStore(path: store.path)) { error in
            guard case .newerThanBinary = (error as! StoreError).reason else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("newer version of genred"))
        }
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
        let (store, _) = try makeStore()
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
        // The taggram is kept as float16: within half a unit in the last place of float16.
        let back = stored.taggramScores
        XCTAssertEqual(back.count, analysis.taggram.count)
        XCTAssertLessThanOrEqual(zip(back, analysis.taggram).map { abs($0 - $1) }.max()!, 0.0005)

        XCTAssertEqual(try store.track(path: "/music/groove.wav")?.id, id)
        XCTAssertEqual(try store.tracks(fingerprint: analysis.fingerprint).map(\.id), [id])
        XCTAssertEqual(try store.tracks(inode: 30, size: 10).map(\.id), [id])
        XCTAssertEqual(try store.model("msd-musicnn")?.version, bundle.manifest.version)

        try store.deleteTrack(id: id)
        XCTAssertNil(try store.analysis(trackID: id, model: "msd-musicnn"), "analyses go with their track")
    }

    func testTracksUnderAFolderTreatLikeWildcardsLiterally() throws {
        let (store, _) = try makeStore()
        for p in ["/m/100%_rock/a.mp3", "/m/100x_rock/b.mp3", "/m/100%_rockabilly/c.mp3", "/other/d.mp3"] {
            var t = TrackRecord(path: p, stat: FileStat(size: 1, mtimeNs: 1, inode: 1))
            try store.save(&t)
        }
        XCTAssertEqual(try store.tracks(under: "/m/100%_rock").map(\.path), ["/m/100%_rock/a.mp3"])
        XCTAssertEqual(try store.tracks().count, 4)
    }

    func testJournalRecordsWritesAndTheirUndo() throws {
        let (store, _) = try makeStore()
        var track: TrackRecord? = TrackRecord(path: "/m/a.flac", stat: FileStat(size: 1, mtimeNs: 1, inode: 7))
        try store.save(&track!)
        let run = try store.beginRun(command: "retag")
        let entry = try store.journal(
            JournalEntry(runId: run, trackId: track!.id, path: "/m/a.flac", previous: ["GENRE": []], new: ["GENRE": ["Rock", "Pop"]]),
            track: &track, written: FileStat(size: 99, mtimeNs: 1234, inode: 7))
        XCTAssertEqual(track?.writtenSize, 99)
        XCTAssertEqual(track?.writtenMtimeNs, 1234)
        XCTAssertEqual(track?.size, 99, "the track's stat follows genred's own write")
        XCTAssertEqual(try store.journalEntries(run: run).first?.newValues, ["GENRE": ["Rock", "Pop"]])
        XCTAssertEqual(try store.journalEntries(path: "/m/a.flac").first?.previousValues, ["GENRE": []])

        try store.markUndone(entry.id!)
        XCTAssertTrue(try store.journalEntries(run: run).isEmpty)
        XCTAssertEqual(try store.journalEntries(run: run, includeUndone: true).count, 1)
        try store.finishRun(run, summary: "{}")
        XCTAssertNotNil(try store.run(run)?.finishedAt)
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
}
