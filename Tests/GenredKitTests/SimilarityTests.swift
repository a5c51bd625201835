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
