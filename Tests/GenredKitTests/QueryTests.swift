import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

/// The query layer both front ends share: paths, similarity, lookups, search, map colours.
final class QueryTests: XCTestCase {
    /// `line` tracks evenly spaced on the quarter circle from one direction to an orthogonal
    /// one, among `noise` random tracks: the path between the line's ends is the line.
    private func lineAmongNoise(line: Int, noise: Int, dimension d: Int = 32) -> LibraryStore.TrackVectors {
        var rng = SeededGenerator(seed: 7)
        var v = LibraryStore.TrackVectors()
        v.embeddingSize = d
        v.labelCount = 2
        func add(_ embedding: [Float], _ name: String) {
            v.ids.append(Int64(v.count + 1))
            v.paths.append("/m/\(name).flac")
            v.titles.append(name); v.artists.append(nil); v.albums.append(nil); v.durations.append(nil)
            v.recordingIDs.append(nil); v.isrcs.append(nil)
            v.embeddings += embedding
            v.scores += [0.5, 0.5]
        }
        for k in 0..<line {
            let angle = Float.pi / 2 * Float(k) / Float(line - 1)
            var e = [Float](repeating: 0, count: d)
            e[0] = 3 * cosf(angle)
            e[1] = 3 * sinf(angle)
            add(e, "line\(k)")
        }
        for k in 0..<noise {
            add((0..<d).map { _ in Float(rng.gaussian()) / Float(d).squareRoot() }, "noise\(k)")
        }
        return v
    }

    private func index(_ v: LibraryStore.TrackVectors) -> SimilarityIndex {
        SimilarityIndex(tracks: v, labels: ["a", "b"], displayNames: ["A", "B"])
    }

    func testPathBetweenTheEndsOfALineFollowsTheLine() throws {
        let v = lineAmongNoise(line: 10, noise: 400)
        let steps = try index(v).path(from: 0, to: 9, count: 10)
        XCTAssertEqual(steps.map(\.row), Array(0..<10))
        XCTAssertEqual(steps.first?.similarity, 1)
        XCTAssertTrue(steps.dropFirst().allSatisfy { $0.stepSimilarity > 0.9 }, "each stop is near the one before: \(steps.map(\.stepSimilarity))")
    }

    func testPathHasExactlyCountDistinctTracksFromStartToEnd() throws {
        let v = lineAmongNoise(line: 4, noise: 60)
        let index = index(v)
        for (start, end, count) in [(5, 40, 2), (5, 40, 3), (0, 3, 25), (12, 7, 64)] {
            let rows = try index.path(from: start, to: end, count: count).map(\.row)
            XCTAssertEqual(rows.count, count)
            XCTAssertEqual(Set(rows).count, count, "no repeats")
            XCTAssertEqual(rows.first, start)
            XCTAssertEqual(rows.last, end)
        }
        let all = try index.path(from: 1, to: 2, count: v.count)
        XCTAssertEqual(Set(all.map(\.row)), Set(0..<v.count), "a path as long as the library uses every track once")
        XCTAssertTrue(all.allSatisfy { (0...1).contains($0.similarity) && (0...1).contains($0.stepSimilarity) })
    }

    func testPathRefusesWhatCannotBeDone() {
        let index = index(lineAmongNoise(line: 4, noise: 6))
        func reason(_ body: () throws -> Void) -> QueryError.Reason? {
            do { try body() } catch let error as QueryError { return error.reason } catch { return nil }
            return nil
        }
        guard case .badParameter = reason({ _ = try index.path(from: 0, to: 1, count: 11) }) else { return XCTFail("longer than the library") }
        guard case .badParameter = reason({ _ = try index.path(from: 0, to: 1, count: 1) }) else { return XCTFail("shorter than 2") }
        guard case .badParameter = reason({ _ = try index.path(from: 3, to: 3, count: 3) }) else { return XCTFail("same start and end") }
        XCTAssertEqual(reason({ _ = try index.path(from: 0, to: 10, count: 3) }), .unknownTrack)
    }

    func testSimilarityIsOneMinusDistanceWithinZeroAndOne() {
        let v = lineAmongNoise(line: 5, noise: 100)
        let index = index(v)
        let subject = SimilarTracks.subject(row: 0, of: index)
        let matches = SimilarTracks.nearest(to: subject, in: index, count: 104, sameAlbum: true)
        XCTAssertEqual(matches.count, 104, "every track but the query")
        XCTAssertFalse(matches.contains { $0.index == 0 })
        XCTAssertEqual(matches.first?.index, 1, "the next point on the line")
        let s = matches.map(\.similarity)
        XCTAssertEqual(s, s.sorted(by: >))
        XCTAssertTrue(s.allSatisfy { (0...1).contains($0) })
        for m in matches { XCTAssertEqual(m.similarity, max(0, min(1, 1 - m.distance))) }
    }

    // MARK: Snapshot

    private func snapshot() throws -> LibrarySnapshot {
        let manifest = try Fixtures.bundle("msd-musicnn").manifest
        let l = manifest.labels.count
        var v = LibraryStore.TrackVectors()
        v.embeddingSize = 4
        v.labelCount = l
        let jazz = try XCTUnwrap(manifest.labels.firstIndex(of: "jazz")), rock = try XCTUnwrap(manifest.labels.firstIndex(of: "rock"))
        let rows: [(String, String?, String?, Double?, String?, String?, Int)] = [
            ("/music/Café/ballad.flac", "Ballad Nº 1", "Élodie", 200, "5b11f4ce-a62d-471e-81fc-a69a8278c7da", "USRC17607839", jazz),
            ("/music/rock/loud.mp3", "Loud", "The Band", 181, nil, "GBAYE0000001", rock),
            ("/music/rock/loud (live).mp3", "Loud", "The Band", 240, nil, nil, rock),
        ]
        for (i, r) in rows.enumerated() {
            v.ids.append(Int64(10 + i)); v.paths.append(r.0); v.titles.append(r.1); v.artists.append(r.2); v.albums.append(nil)
            v.durations.append(r.3); v.recordingIDs.append(r.4); v.isrcs.append(r.5)
            v.embeddings += [Float(i), 1, 0, 0]
            var scores = [Float](repeating: 0.01, count: l)
            scores[r.6] = 0.9
            v.scores += scores
        }
        return LibrarySnapshot(vectors: v, manifest: manifest, settings: TagSettings())
    }

    func testGenresAreWhatTheTagPlannerProposes() throws {
        let s = try snapshot()
        XCTAssertEqual(s.summary(row: 0).genres, ["Jazz"])
        XCTAssertEqual(s.summary(row: 1).genres, ["Rock"])
    }

    func testSearchIgnoresCaseAccentsAndPunctuation() throws {
        let s = try snapshot()
        XCTAssertEqual(s.search(text: "elodie", genre: nil), [0])
        XCTAssertEqual(s.search(text: "CAFE", genre: nil), [0])
        XCTAssertEqual(s.search(text: "loud live", genre: nil), [2])
        XCTAssertEqual(s.search(text: nil, genre: "rock"), [1, 2])
        XCTAssertEqual(s.search(text: "loud", genre: "jazz"), [])
        XCTAssertEqual(s.search(text: "  ", genre: nil), [0, 1, 2])
    }

    func testLookupTriesPathThenIdentifiersThenTitleAndArtist() throws {
        let s = try snapshot()
        XCTAssertEqual(s.lookup(path: "/music/rock/loud.mp3", mbid: nil, isrc: nil, title: nil, artist: nil, duration: nil)?.rows, [1])
        XCTAssertEqual(s.lookup(path: "rock/loud.mp3", mbid: nil, isrc: nil, title: nil, artist: nil, duration: nil)?.rows, [1])
        XCTAssertNil(s.lookup(path: "ock/loud.mp3", mbid: nil, isrc: nil, title: nil, artist: nil, duration: nil), "whole components only")
        XCTAssertEqual(s.lookup(path: nil, mbid: " 5B11F4CE-A62D-471E-81FC-A69A8278C7DA", isrc: nil, title: nil, artist: nil, duration: nil)?.key, .mbid)
        XCTAssertEqual(s.lookup(path: nil, mbid: nil, isrc: "gb-aye-00-00001", title: nil, artist: nil, duration: nil)?.rows, [1])
        let byTitle = s.lookup(path: nil, mbid: "unknown", isrc: nil, title: "loud", artist: "the band", duration: 238)
        XCTAssertEqual(byTitle?.key, .title)
        XCTAssertEqual(byTitle?.rows, [2, 1], "the nearer duration first")
        XCTAssertEqual(s.lookup(path: nil, mbid: nil, isrc: nil, title: "Ballad Nº 1!", artist: "elodie", duration: nil)?.rows, [0])
    }

    func testMapColoursKeepFoldersThatDifferInNormalisationApart() {
        let nfc = "/music/Caf\u{E9}", nfd = "/music/Cafe\u{301}"
        let points = [nfc, nfc, nfd].enumerated().map { i, folder in
            MapPoint(path: "\(folder)/\(i).flac", album: i == 0 ? "A" : nil, x: 0, y: 0, topGenre: "Rock", genreScores: [])
        }
        let map = LibraryMap(features: .embedding, ids: [1, 2, 3], points: points, genreNames: ["Rock"], klDivergence: 0,
                             perplexityUsed: 1, note: nil, seconds: 0)
        let (keys, legend) = MapColouring.folder.keys(map)
        XCTAssertEqual(legend.count, 2)
        XCTAssertEqual(keys, [0, 0, 1])
        XCTAssertEqual(legend.map(\.count), [2, 1])
        XCTAssertEqual(MapColouring.album.keys(map).legend.map(\.key), ["", "A"])
        XCTAssertEqual(try MapColouring(parameter: "Artist"), .artist)
        XCTAssertEqual(try MapColouring(parameter: "taxonomy:mine"), .taxonomy("mine"))
        XCTAssertEqual(MapColouring.taxonomy("mine").keys(map, labels: [1: "prog", 3: "prog"]).legend.map(\.key), ["prog", ""],
                       "a track where the taxonomy abstains has the empty key")
        XCTAssertThrowsError(try MapColouring(parameter: "taxonomy:"))
        XCTAssertThrowsError(try MapColouring(parameter: "mood"))
    }

    // MARK: Store

    func testIdentifiersAreStoredAndAChangeMovesTheContentStamp() throws {
        let dir = try Fixtures.temporaryDirectory()
        let store = try LibraryStore(path: dir.appendingPathComponent("library.sqlite").path)
        let bundle = try Fixtures.bundle("msd-musicnn")
        try store.register(model: bundle.manifest)
        let analysis = try Analyzer(bundle: bundle).analyze(Fixtures.audio("groove"))
        var track = TrackRecord(path: "/music/groove.wav", stat: FileStat(size: 1, mtimeNs: 2, inode: 3))
        track.musicbrainzRecordingId = TrackIdentifier.musicBrainz(" 5B11F4CE-A62D-471E-81FC-A69A8278C7DA\n")
        track.isrc = TrackIdentifier.isrc("us-rc1-76-07839")
        try store.save(&track, analysis: analysis, seconds: 1)
        let id = try XCTUnwrap(track.id)
        XCTAssertEqual(try store.track(id: id)?.musicbrainzRecordingId, "5b11f4ce-a62d-471e-81fc-a69a8278c7da")
        XCTAssertEqual(try store.track(id: id)?.isrc, "USRC17607839")

        let query = LibraryQuery(store: try LibraryStore(path: store.path, readOnly: true), manifest: bundle.manifest,
                                 settings: TagSettings(), refreshInterval: 0)
        let first = try query.snapshot()
        XCTAssertEqual(first.count, 1)
        XCTAssertEqual(first.tracks.isrcs, ["USRC17607839"])
        XCTAssertTrue(try query.snapshot() === first, "unchanged library, same snapshot")
        Thread.sleep(forTimeInterval: 0.01)
        try store.updateTrack(id: id) { $0.title = "Groove" }
        let second = try query.snapshot()
        XCTAssertFalse(second === first, "read again after a change")
        XCTAssertEqual(second.tracks.titles, ["Groove"])
    }
}
