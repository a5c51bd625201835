import COpenBLAS
import Foundation
import GenredEngine

/// Nearest neighbours by cosine distance over a collection's embeddings, by exhaustive scan.
///
/// The embeddings are kept as one contiguous float32 matrix, centred on the collection's
/// mean (the penultimate layer's batch norm leaves a common offset that would make every
/// pair look alike) and scaled to unit length, so one BLAS matrix-vector product gives the
/// cosine similarity to every track. See docs/similarity.md for where an approximate index
/// would take over.
public final class SimilarityIndex: Sendable {
    public let tracks: LibraryStore.TrackVectors
    public let labels: [String]
    public let displayNames: [String]
    /// Centred, unit-length rows.
    let normalized: [Float]
    let center: [Float]
    let dimension: Int

    public struct Match: Sendable {
        public let index: Int
        public let distance: Float
        /// Labels both tracks score highly on, strongest first (display names).
        public let shared: [String]
    }

    public init(tracks: LibraryStore.TrackVectors, labels: [String], displayNames: [String]) {
        self.tracks = tracks
        self.labels = labels
        self.displayNames = displayNames
        let n = tracks.count, d = tracks.embeddingSize
        dimension = d
        var center = [Float](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { center[j] += tracks.embeddings[i * d + j] } }
        if n > 0 { for j in 0..<d { center[j] /= Float(n) } }
        var rows = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            var norm: Float = 0
            for j in 0..<d {
                let x = tracks.embeddings[i * d + j] - center[j]
                rows[i * d + j] = x
                norm += x * x
            }
            let scale = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0..<d { rows[i * d + j] *= scale }
        }
        self.center = center
        normalized = rows
    }

    /// The `count` tracks nearest to `embedding` (centred and normalized here), among those `include` accepts.
    public func nearest(to embedding: [Float], scores: [Float]?, count: Int, include: (Int) -> Bool = { _ in true }) -> [Match] {
        let n = tracks.count, d = dimension
        guard n > 0, embedding.count == d else { return [] }
        var query = zip(embedding, center).map { $0 - $1 }
        let norm = query.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { query = query.map { $0 / norm } }
        var similarity = [Float](repeating: 0, count: n)
        normalized.withUnsafeBufferPointer { m in
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(d), 1, m.baseAddress, Int32(d), query, 1, 0, &similarity, 1)
        }
        return top(count, distances: similarity.map { 1 - $0 }, include: include).map { i, distance in
            Match(index: i, distance: distance, shared: scores.map { shared($0, rowOf: i) } ?? [])
        }
    }

    /// Tracks whose probabilities best match a set of labels: the dot product of the labels'
    /// indicator vector with each track's mean probabilities, divided by the number of labels,
    /// so the distance is one minus the mean probability of the wanted labels.
    public func like(labels wanted: [Int], count: Int, include: (Int) -> Bool = { _ in true }) -> [Match] {
        let n = tracks.count, l = tracks.labelCount
        guard n > 0, !wanted.isEmpty else { return [] }
        var distances = [Float](repeating: 1, count: n)
        tracks.scores.withUnsafeBufferPointer { s in
            for i in 0..<n {
                var dot: Float = 0
                for j in wanted { dot += s[i * l + j] }
                distances[i] = 1 - dot / Float(wanted.count)
            }
        }
        var target = [Float](repeating: 0, count: l)
        for j in wanted { target[j] = 1 }
        return top(count, distances: distances, include: include).map { i, distance in
            Match(index: i, distance: distance, shared: shared(target, rowOf: i))
        }
    }

    /// Label indices by name or display name, case-insensitively; the names it does not know.
    package func labelIndices(_ names: [String]) -> (found: [Int], unknown: [String]) {
        var found: [Int] = [], unknown: [String] = []
        for name in names {
            let key = name.trimmingCharacters(in: .whitespaces).lowercased()
            guard !key.isEmpty else { continue }
            if let i = labels.indices.first(where: { labels[$0].lowercased() == key || displayNames[$0].lowercased() == key }) {
                found.append(i)
            } else {
                unknown.append(name)
            }
        }
        return (found, unknown)
    }

    private func top(_ count: Int, distances: [Float], include: (Int) -> Bool) -> [(Int, Float)] {
        // A bounded insertion list: count is small next to the collection.
        var best: [(Int, Float)] = []
        best.reserveCapacity(count + 1)
        for i in distances.indices {
            let d = distances[i]
            if best.count == count, let last = best.last, d >= last.1 { continue }
            guard include(i) else { continue }
            let at = best.firstIndex { d < $0.1 } ?? best.count
            best.insert((i, d), at: at)
            if best.count > count { best.removeLast() }
        }
        return best
    }

    /// Up to three labels both score vectors are strong on: the largest `min(a, b)`.
    func shared(_ a: [Float], rowOf i: Int) -> [String] {
        let l = tracks.labelCount
        guard a.count == l else { return [] }
        let both = (0..<l).map { min(a[$0], tracks.scores[i * l + $0]) }
        return both.indices.sorted { both[$0] > both[$1] }.prefix(3).filter { both[$0] >= 0.05 }.map { displayNames[$0] }
    }
}
