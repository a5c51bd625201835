import CGenredLinux
import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class SimilarityTests: XCTestCase {
    /// A synthetic collection: random embeddings, one planted near-duplicate of track 0, and
    /// probabilities where track `jazzy` alone scores high on label 3.
    private func collection(n: Int = 500, jazzy: Int = 42) -> LibraryStore.TrackVectors {
        var rng = SystemRandomNumberGenerator()
        var v = LibraryStore.TrackVectors()
        v.embeddingSize = 16
        v.labelCount = 6
        for i in 0..<n {
            v.ids.append(Int64(i + 1))
            v.paths.append("/m/\(i).flac")
            v.titles.append(nil); v.artists.append(nil); v.albums.append(i < 10 ? "Same" : nil); v.durations.append(nil)
            if i == n - 1 {
                v.embeddings += v.embeddings[0..<16].map { $0 + Float.random(in: -0.01...0.01, using: &rng) }
            } else {
                v.embeddings += (0..<16).map { _ in Float.random(in: -1...1, using: &rng) }
            }
            var p = (0..<6).map { _ in Float.random(in: 0...0.3, using: &rng) }
            if i == jazzy { p[3] = 0.95; p[1] = 0.6 }
            v.scores += p
        }
        return v
    }

    private let labels = ["rock", "pop", "electronic", "jazz", "mellow", "happy"]

    // MARK: - The int8 first pass

    func testTheInt8DotProductsAreExactWithAndWithoutAVX2() {
        var rng = SeededGenerator(seed: 11)
        let stride = 208, n = 333
        let rows = (0..<(n * stride)).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) }
        let query = (0..<stride).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) }
        var fast = [Int32](repeating: 0, count: n), plain = fast
        genred_dot_s8_rows(rows, n, Int32(stride), query, &fast)
        genred_dot_s8_rows_generic(rows, n, Int32(stride), query, &plain)
        XCTAssertEqual(fast, plain)
        let first = (0..<stride).reduce(Int32(0)) { $0 + Int32(rows[$1]) * Int32(query[$1]) }
        XCTAssertEqual(plain[0], first)
    }

    /// 6,000 tracks in 200 dimensions around 60 centres (neighbours close together, as an
    /// artist's or album's tracks are), the way `coarseScan` is checked against `exactScan`.
    func testTheInt8FirstPassGivesTheExactScansAnswer() {
        var rng = SeededGenerator(seed: 5)
        func gaussian() -> Float { Float((-2 * log(max(rng.unit(), 1e-12))).squareRoot() * cos(2 * .pi * rng.unit())) }
        let d = 200, n = 6_000
        let centres = (0..<60).map { _ in (0..<d).map { _ in gaussian() } }
        var v = LibraryStore.TrackVectors()
        v.embeddingSize = d
        v.labelCount = 6
        for i in 0..<n {
            v.ids.append(Int64(i + 1)); v.paths.append("/m/\(i).flac")
            v.titles.append(nil); v.artists.append(nil); v.albums.append(nil); v.durations.append(nil)
            let centre = centres[i % centres.count]
            v.embeddings += centre.map { $0 + 0.35 * gaussian() }
            v.scores += [0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
        }
        let exact = SimilarityIndex(tracks: v, labels: labels, displayNames: labels, coarseFrom: .max)
        let coarse = SimilarityIndex(tracks: v, labels: labels, displayNames: labels, coarseFrom: 0)
        XCTAssertTrue(exact.coarse.isEmpty)
        XCTAssertEqual(coarse.coarse.count, n * 208)
        var same = 0
        let queries = 300
        for k in 0..<queries {
            let q = (k * 7919) % n
            let query = Array(v.embeddings[(q * d)..<((q + 1) * d)])
            let skipOdd: (Int) -> Bool = { k % 3 != 0 || $0 % 2 == 0 }
            let a = exact.nearest(to: query, scores: nil, count: 10, include: skipOdd)
            let b = coarse.nearest(to: query, scores: nil, count: 10, include: skipOdd)
            XCTAssertEqual(a.count, 10)
            XCTAssertEqual(b.count, 10)
            if a.map(\.index) == b.map(\.index) { same += 1 }
            for (x, y) in zip(a, b) { XCTAssertEqual(x.distance, y.distance, accuracy: 1e-5, "query \(q)") }
            if k % 3 == 0 { XCTAssertTrue(b.allSatisfy { $0.index % 2 == 0 }) }
        }
        XCTAssertGreaterThanOrEqual(same, queries * 99 / 100, "\(same) of \(queries) the same ten in the same order")
        print("int8 first pass: \(same) of \(queries) queries gave the exact scan's ten in its order")
    }

    func testPlantedNearDuplicateComesFirst() {
        let v = collection()
        let index = SimilarityIndex(tracks: v, labels: labels, displayNames: labels.map(\.capitalized))
        let query = Array(v.embeddings[0..<16])
        let result = index.nearest(to: query, scores: Array(v.scores[0..<6]), count: 5) { $0 != 0 }
        XCTAssertEqual(result.first?.index, v.count - 1)
        XCTAssertLessThan(result[0].distance, 0.01)
        XCTAssertEqual(result.map(\.distance), result.map(\.distance).sorted(), "nearest first")
        XCTAssertEqual(result.count, 5)
    }

    func testExcludedTracksAreNotReturned() {
        let v = collection()
        let index = SimilarityIndex(tracks: v, labels: labels, displayNames: labels)
        let result = index.nearest(to: Array(v.embeddings[0..<16]), scores: nil, count: 20) { v.albums[$0] != "Same" }
        XCTAssertFalse(result.contains { $0.index < 10 })
    }

    func testLikeRanksTheTrackWithThatLabelFirst() {
        let v = collection()
        let index = SimilarityIndex(tracks: v, labels: labels, displayNames: labels.map(\.capitalized))
        let (found, unknown) = index.labelIndices(["Jazz", " pop", "polka"])
        XCTAssertEqual(found, [3, 1])
        XCTAssertEqual(unknown, ["polka"])
        let result = index.like(labels: [3], count: 3)
        XCTAssertEqual(result.first?.index, 42)
        XCTAssertEqual(result.first?.shared.first, "Jazz")
    }

    func testReasonNamesLabelsBothTracksShare() {
        var v = collection(n: 3)
        v.scores = [0.9, 0.1, 0.0, 0.8, 0.0, 0.0,   0.85, 0.0, 0.1, 0.7, 0.0, 0.0,   0, 0, 0.9, 0, 0, 0]
        let index = SimilarityIndex(tracks: v, labels: labels, displayNames: labels.map(\.capitalized))
        let result = index.nearest(to: Array(v.embeddings[0..<16]), scores: Array(v.scores[0..<6]), count: 2) { $0 != 0 }
        let match = result.first { $0.index == 1 }!
        XCTAssertEqual(match.shared, ["Rock", "Jazz"])
    }

    func testEmptyCollectionGivesNothing() {
        let index = SimilarityIndex(tracks: LibraryStore.TrackVectors(), labels: labels, displayNames: labels)
        XCTAssertTrue(index.nearest(to: [Float](repeating: 0, count: 16), scores: nil, count: 5).isEmpty)
        XCTAssertTrue(index.like(labels: [0], count: 5).isEmpty)
    }
}
