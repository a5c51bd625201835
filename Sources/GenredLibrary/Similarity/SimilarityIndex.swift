import CGenredLinux
import COpenBLAS
import Foundation
import GenredEngine

/// Nearest neighbours by cosine distance over a collection's embeddings, by exhaustive scan.
///
/// The embeddings are kept as one contiguous float32 matrix, centred on the collection's
/// mean (the penultimate layer's batch norm leaves a common offset that would make every
/// pair look alike) and scaled to unit length, so one BLAS matrix-vector product gives the
/// cosine similarity to every track.
///
/// From `coarseFrom` tracks on (20,000 by default) a query reads an int8 copy of the
/// matrix first, a quarter of the bytes: every track's similarity to within about 0.01, the
/// `max(4 * count, count + 100)` best of which are then scored again in float32 and ranked
/// by that. See docs/similarity.md for how often that gives the exact scan's answer.
public final class SimilarityIndex: Sendable {
    public let tracks: LibraryStore.TrackVectors
    public let labels: [String]
    public let displayNames: [String]
    /// Centred, unit-length rows.
    let normalized: [Float]
    let center: [Float]
    let dimension: Int
    /// The int8 copy: each row of `normalized` divided by its `coarseScales` entry and
    /// rounded, padded with zeros to `coarseStride` bytes; empty below the size it is made from.
    let coarse: [Int8]
    let coarseScales: [Float]
    let coarseStride: Int
    /// The collection size from which a query reads `coarse` first.
    package static let coarseThreshold = 20_000

    public struct Match: Sendable {
        public let index: Int
        public let distance: Float
        /// Labels both tracks score highly on, strongest first (display names).
        public let shared: [String]
    }

    public convenience init(tracks: LibraryStore.TrackVectors, labels: [String], displayNames: [String]) {
        self.init(tracks: tracks, labels: labels, displayNames: displayNames, coarseFrom: Self.coarseThreshold)
    }

    package init(tracks: LibraryStore.TrackVectors, labels: [String], displayNames: [String], coarseFrom: Int) {
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
        coarseStride = (d + 15) / 16 * 16
        if n >= coarseFrom && n > 0 && d > 0 {
            var quantized = [Int8](repeating: 0, count: n * coarseStride)
            var scales = [Float](repeating: 0, count: n)
            for i in 0..<n {
                scales[i] = Self.quantize(rows[(i * d)..<((i + 1) * d)], into: &quantized, at: i * coarseStride)
            }
            coarse = quantized
            coarseScales = scales
        } else {
            coarse = []
            coarseScales = []
        }
    }

    /// Writes `values` as int8 (`value / scale`, rounded) at `offset`; returns the scale, the
    /// largest magnitude over 127 (0 for a row of zeros).
    private static func quantize(_ values: ArraySlice<Float>, into out: inout [Int8], at offset: Int) -> Float {
        let largest = values.reduce(Float(0)) { max($0, abs($1)) }
        guard largest > 0 else { return 0 }
        let scale = largest / 127
        for (k, v) in values.enumerated() { out[offset + k] = Int8((v / scale).rounded()) }
        return scale
    }

    /// The `count` tracks nearest to `embedding` (centred and normalized here), among those `include` accepts.
    public func nearest(to embedding: [Float], scores: [Float]?, count: Int, include: (Int) -> Bool = { _ in true }) -> [Match] {
        let n = tracks.count, d = dimension
        guard n > 0, embedding.count == d else { return [] }
        var query = zip(embedding, center).map { $0 - $1 }
        let norm = query.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { query = query.map { $0 / norm } }
        let ranked = coarse.isEmpty ? exactScan(query, count: count, include: include)
            : coarseScan(query, count: count, include: include)
        return ranked.map { i, distance in
            Match(index: i, distance: distance, shared: scores.map { shared($0, rowOf: i) } ?? [])
        }
    }

    /// Every track's distance in float32 (one sgemv), and the `count` nearest.
    private func exactScan(_ query: [Float], count: Int, include: (Int) -> Bool) -> [(Int, Float)] {
        let n = tracks.count, d = dimension
        var similarity = [Float](repeating: 0, count: n)
        normalized.withUnsafeBufferPointer { m in
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(d), 1, m.baseAddress, Int32(d), query, 1, 0, &similarity, 1)
        }
        return top(count, distances: similarity.map { 1 - $0 }, include: include)
    }

    /// Every track's distance from the int8 copy; the best candidates scored again in float32.
    private func coarseScan(_ query: [Float], count: Int, include: (Int) -> Bool) -> [(Int, Float)] {
        let n = tracks.count, d = dimension
        var q = [Int8](repeating: 0, count: coarseStride)
        let queryScale = Self.quantize(query[...], into: &q, at: 0)
        var sums = [Int32](repeating: 0, count: n)
        coarse.withUnsafeBufferPointer { rows in
            genred_dot_s8_rows(rows.baseAddress, n, Int32(coarseStride), q, &sums)
        }
        var distances = [Float](repeating: 1, count: n)
        for i in 0..<n { distances[i] = 1 - Float(sums[i]) * coarseScales[i] * queryScale }
        let candidates = top(max(4 * count, count + 100), distances: distances, include: include)
        var exact = normalized.withUnsafeBufferPointer { m in
            candidates.map { i, _ in (i, 1 - cblas_sdot(Int32(d), m.baseAddress! + i * d, 1, query, 1)) }
        }
        exact.sort { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        return Array(exact.prefix(count))
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
