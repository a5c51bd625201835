import COpenBLAS
import Foundation
import GenredEngine

/// One stop on a path between two tracks.
public struct PathStep: Sendable, Equatable {
    /// The track's row in the index.
    public let row: Int
    /// Similarity to the start track on the OpenSubsonic scale (1 for the start itself).
    public let similarity: Float
    /// Similarity to the previous stop (1 for the start).
    public let stepSimilarity: Float
    /// Labels this stop shares with the previous one.
    public let shared: [String]
}

extension SimilarityIndex {
    /// The most stops a path may have: the targets' similarities are computed in blocks, and
    /// beyond a few hundred stops a path is no longer a transition.
    public static let maximumPathLength = 500

    /// A path of exactly `count` distinct tracks from row `start` to row `end`, for
    /// OpenSubsonic's `findSonicPath`.
    ///
    /// The method: in the index's space (embeddings centred on the collection's mean, unit
    /// length), the `count - 2` inner stops aim at points spaced evenly along the great circle
    /// from the start to the end (spherical interpolation). Each stop is chosen in order among
    /// the 16 unused tracks nearest its point, scoring the cosine to the point plus a quarter of
    /// the cosine to the stop before it, so that consecutive stops stay close where the
    /// collection allows. Tracks are never repeated and the end track is kept for last. One
    /// BLAS `sgemm` per block of 32 points gives every track's cosine to every point.
    public func path(from start: Int, to end: Int, count: Int) throws(QueryError) -> [PathStep] {
        let n = tracks.count, d = dimension
        guard (0..<n).contains(start) else { throw QueryError("from", .unknownTrack) }
        guard (0..<n).contains(end) else { throw QueryError("to", .unknownTrack) }
        guard start != end else { throw QueryError("to", .badParameter("the path must end at another track than it starts")) }
        guard count >= 2 else { throw QueryError("count", .badParameter("a path has at least 2 tracks (the start and the end)")) }
        guard count <= Self.maximumPathLength else {
            throw QueryError("count", .badParameter("at most \(Self.maximumPathLength) tracks"))
        }
        guard count <= n else { throw QueryError("count", .badParameter("the library has only \(n) analysed tracks")) }

        let a = row(start), b = row(end)
        let inner = count - 2
        var cosAB: Float = 0
        for j in 0..<d { cosAB += a[j] * b[j] }
        let theta = acosf(Swift.max(-1, Swift.min(1, cosAB)))
        let targets: [[Float]] = (0..<inner).map { k in
            let t = Float(k + 1) / Float(count - 1)
            let (wa, wb): (Float, Float) = theta > 1e-4
                ? (sinf((1 - t) * theta) / sinf(theta), sinf(t * theta) / sinf(theta))
                : (1 - t, t)
            var p = (0..<d).map { wa * a[$0] + wb * b[$0] }
            let norm = p.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { p = p.map { $0 / norm } }
            return p
        }

        var used = Set([start, end])
        var stops = [start]
        let candidates = 16, block = 32
        var blockStart = 0
        var scores = [Float]()
        while blockStart < inner {
            let rows = Swift.min(block, inner - blockStart)
            let matrix = targets[blockStart..<(blockStart + rows)].flatMap { $0 }
            scores = [Float](repeating: 0, count: rows * n)
            normalized.withUnsafeBufferPointer { m in
                // scores (rows x n) = targets (rows x d) * normalized^T (d x n)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n), Int32(d), 1,
                            matrix, Int32(d), m.baseAddress, Int32(d), 0, &scores, Int32(n))
            }
            for r in 0..<rows {
                let best = scores.withUnsafeBufferPointer { s in
                    Self.topUnused(candidates, s[(r * n)..<((r + 1) * n)], base: r * n, used: used)
                }
                let previous = row(stops.last!)
                var choice = best[0].index, choiceScore = -Float.infinity
                for (i, toTarget) in best {
                    let score = toTarget + 0.25 * dot(previous, i)
                    if score > choiceScore { (choice, choiceScore) = (i, score) }
                }
                used.insert(choice)
                stops.append(choice)
            }
            blockStart += rows
        }
        stops.append(end)

        var steps: [PathStep] = []
        for (k, i) in stops.enumerated() {
            if k == 0 {
                steps.append(PathStep(row: i, similarity: 1, stepSimilarity: 1, shared: []))
                continue
            }
            let previous = stops[k - 1]
            let l = tracks.labelCount
            let prevScores = Array(tracks.scores[(previous * l)..<((previous + 1) * l)])
            steps.append(PathStep(row: i, similarity: Self.clamp(dot(a, i)), stepSimilarity: Self.clamp(dot(row(previous), i)),
                                  shared: shared(prevScores, rowOf: i)))
        }
        return steps
    }

    /// Row `i` of the centred, unit-length matrix.
    func row(_ i: Int) -> [Float] { Array(normalized[(i * dimension)..<((i + 1) * dimension)]) }

    private func dot(_ v: [Float], _ i: Int) -> Float {
        var sum: Float = 0
        let base = i * dimension
        for j in 0..<dimension { sum += v[j] * normalized[base + j] }
        return sum
    }

    private static func clamp(_ cosine: Float) -> Float { Swift.max(0, Swift.min(1, cosine)) }

    /// The `count` highest scores of a row among tracks not yet used: (track, score), best first.
    private static func topUnused(_ count: Int, _ row: Slice<UnsafeBufferPointer<Float>>, base: Int, used: Set<Int>) -> [(index: Int, score: Float)] {
        var best: [(index: Int, score: Float)] = []
        best.reserveCapacity(count + 1)
        for k in row.indices {
            let s = row[k]
            if best.count == count, s <= best[best.count - 1].score { continue }
            let i = k - base
            if used.contains(i) { continue }
            let at = best.firstIndex { s > $0.score } ?? best.count
            best.insert((i, s), at: at)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}
