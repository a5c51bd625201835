import CGenredLinux
import COpenBLAS
import Foundation
import GenredEngine

/// The k nearest neighbours of every row, by squared Euclidean distance.
struct NeighbourGraph {
    var count: Int
    var k: Int
    /// count × k, each row sorted by ascending distance (ties by index).
    var indices: [Int32]
    /// count × k squared distances, recomputed in double precision.
    var distances: [Double]
}

/// Exact nearest neighbours by brute force: BLAS inner products over blocks, a bounded heap per row.
enum NearestNeighbours {
    static let rowBlock = 256
    static let columnBlock = 2048
    /// Candidates kept beyond k in single precision, then ranked by their distance in double.
    static let margin = 8

    /// Each worker takes whole blocks of rows: its own single-threaded sgemm against every block of
    /// columns, then `genred_knn_scan` (AVX2 where there) over the products, each row's columns in
    /// ascending order. A row's neighbours thus do not depend on the worker count. The single-precision
    /// distances (|x|² + |y|² − 2x·y) can swap two near-equal neighbours, and how they round depends
    /// on the BLAS kernel, so `margin` more candidates are kept, and the k nearest by their distance
    /// recomputed in double are chosen: the result is then the same on every CPU unless the k-th
    /// and the (k + margin + 1)-th neighbour are that close.
    static func search(_ data: [Float], count n: Int, dimensions d: Int, k wanted: Int, threads: Int) -> NeighbourGraph {
        precondition(wanted >= 1 && wanted < n)
        let k = min(n - 1, wanted + margin)
        var norms = [Float](repeating: 0, count: n)
        data.withUnsafeBufferPointer { x in
            for i in 0..<n {
                var s: Float = 0
                for c in 0..<d { s += x[i * d + c] * x[i * d + c] }
                norms[i] = s
            }
        }
        var indices = [Int32](repeating: 0, count: n * k)
        var heapDistances = [Float](repeating: 0, count: n * k)
        let blocks = (n + rowBlock - 1) / rowBlock
        let workers = max(1, min(threads, blocks))
        // The workers run sgemm side by side, each on one thread.
        openblas_set_num_threads(1)
        var scratch = [Float](repeating: 0, count: workers * rowBlock * columnBlock)

        data.withUnsafeBufferPointer { x in
            norms.withUnsafeBufferPointer { norms in
                indices.withUnsafeMutableBufferPointer { idx in
                    heapDistances.withUnsafeMutableBufferPointer { hd in
                        scratch.withUnsafeMutableBufferPointer { scratch in
                            parallelFor(workers) { w in
                                let g = scratch.baseAddress! + w * rowBlock * columnBlock
                                for block in stride(from: w, to: blocks, by: workers) {
                                    let r0 = block * rowBlock, rows = min(rowBlock, n - r0)
                                    var filled = [Int32](repeating: 0, count: rows)
                                    var c0 = 0
                                    while c0 < n {
                                        let cols = min(columnBlock, n - c0)
                                        if d > 0 {
                                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(d),
                                                        1, x.baseAddress! + r0 * d, Int32(d), x.baseAddress! + c0 * d, Int32(d),
                                                        0, g, Int32(cols))
                                        } else {
                                            g.update(repeating: 0, count: rows * cols)
                                        }
                                        for r in 0..<rows {
                                            let i = r0 + r
                                            filled[r] = genred_knn_scan(g + r * cols, norms.baseAddress! + c0, Int32(cols), Int32(c0),
                                                                        Int32(i), norms[i], hd.baseAddress! + i * k,
                                                                        idx.baseAddress! + i * k, filled[r], Int32(k))
                                        }
                                        c0 += cols
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        // Recompute each candidate's distance in double, sort, keep the nearest `wanted`.
        var kept = [Int32](repeating: 0, count: n * wanted)
        var distances = [Double](repeating: 0, count: n * wanted)
        let parts = TSNE.partition(n, threads)
        data.withUnsafeBufferPointer { x in
            indices.withUnsafeBufferPointer { idx in
                kept.withUnsafeMutableBufferPointer { kept in
                    distances.withUnsafeMutableBufferPointer { dist in
                        parallelFor(parts.count) { w in
                            var row = [(Double, Int32)](repeating: (0, 0), count: k)
                            for i in parts[w] {
                                for t in 0..<k {
                                    let j = Int(idx[i * k + t])
                                    var s = 0.0
                                    for c in 0..<d {
                                        let diff = Double(x[i * d + c]) - Double(x[j * d + c])
                                        s += diff * diff
                                    }
                                    row[t] = (s, idx[i * k + t])
                                }
                                row.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                                for t in 0..<wanted {
                                    dist[i * wanted + t] = row[t].0
                                    kept[i * wanted + t] = row[t].1
                                }
                            }
                        }
                    }
                }
            }
        }
        return NeighbourGraph(count: n, k: wanted, indices: kept, distances: distances)
    }
}

/// A symmetric sparse matrix in compressed rows.
struct SparseAffinities: Sendable {
    var count: Int
    /// count + 1 offsets into `columns` and `values`.
    var rowStart: [Int]
    var columns: [Int32]
    var values: [Double]
}

/// Input-space similarities: perplexity-calibrated conditionals, symmetrised and normalised.
enum Affinities {
    /// Result of calibrating one row.
    struct Calibration {
        var beta: Double
        var entropy: Double
    }

    /// Writes p_{j|i} ∝ exp(-beta · d_j) into `p` with the entropy (in nats) of `p` within `tolerance`
    /// of ln(perplexity), by bisection on beta.
    static func calibrate(_ distances: UnsafeBufferPointer<Double>, perplexity: Double,
                          into p: UnsafeMutableBufferPointer<Double>, tolerance: Double = 1e-5) -> Calibration {
        let k = distances.count
        guard k > 0 else { return Calibration(beta: 0, entropy: 0) }
        let target = log(perplexity)
        var minimum = Double.infinity
        var mean = 0.0
        for t in 0..<k { minimum = min(minimum, distances[t]); mean += distances[t] }
        mean = mean / Double(k) - minimum
        var beta = mean > 0 ? 1 / mean : 1
        var lo = 0.0, hi = Double.infinity
        var entropy = 0.0
        for _ in 0..<200 {
            var sum = 0.0, weighted = 0.0
            for t in 0..<k {
                let shifted = distances[t] - minimum
                let v = exp(-beta * shifted)
                p[t] = v
                sum += v
                weighted += v * shifted
            }
            entropy = log(sum) + beta * weighted / sum
            for t in 0..<k { p[t] /= sum }
            let error = entropy - target
            if abs(error) < tolerance { break }
            if error > 0 {
                lo = beta
                beta = hi.isFinite ? (beta + hi) / 2 : beta * 2
            } else {
                hi = beta
                beta = (beta + lo) / 2
            }
        }
        return Calibration(beta: beta, entropy: entropy)
    }

    /// Per-row conditional probabilities p_{j|i} on the neighbour graph (count × k).
    static func conditional(_ graph: NeighbourGraph, perplexity: Double, threads: Int) -> [Double] {
        let k = graph.k
        var conditional = [Double](repeating: 0, count: graph.count * k)
        let parts = TSNE.partition(graph.count, threads)
        graph.distances.withUnsafeBufferPointer { dist in
            conditional.withUnsafeMutableBufferPointer { out in
                parallelFor(parts.count) { w in
                    for i in parts[w] {
                        _ = calibrate(UnsafeBufferPointer(rebasing: dist[(i * k)..<(i * k + k)]), perplexity: perplexity,
                                      into: UnsafeMutableBufferPointer(rebasing: out[(i * k)..<(i * k + k)]))
                    }
                }
            }
        }
        return conditional
    }

    /// P = (P_{j|i} + P_{i|j}) / 2N as a sparse symmetric matrix summing to 1.
    static func joint(_ graph: NeighbourGraph, perplexity: Double, threads: Int) -> SparseAffinities {
        let n = graph.count, k = graph.k
        let conditional = conditional(graph, perplexity: perplexity, threads: threads)
        // Rows of the graph sorted by column index, then its transpose by counting sort.
        var forwardColumns = [Int32](repeating: 0, count: n * k)
        var forwardValues = [Double](repeating: 0, count: n * k)
        for i in 0..<n {
            let order = (0..<k).sorted { graph.indices[i * k + $0] < graph.indices[i * k + $1] }
            for (t, s) in order.enumerated() {
                forwardColumns[i * k + t] = graph.indices[i * k + s]
                forwardValues[i * k + t] = conditional[i * k + s]
            }
        }
        var transposeStart = [Int](repeating: 0, count: n + 1)
        for j in forwardColumns { transposeStart[Int(j) + 1] += 1 }
        for i in 0..<n { transposeStart[i + 1] += transposeStart[i] }
        var cursor = transposeStart
        var transposeColumns = [Int32](repeating: 0, count: n * k)
        var transposeValues = [Double](repeating: 0, count: n * k)
        for i in 0..<n {
            for t in 0..<k {
                let j = Int(forwardColumns[i * k + t])
                transposeColumns[cursor[j]] = Int32(i)
                transposeValues[cursor[j]] = forwardValues[i * k + t]
                cursor[j] += 1
            }
        }
        // Merge the two sorted lists of each row.
        var rowStart = [Int](repeating: 0, count: n + 1)
        var columns: [Int32] = []
        var values: [Double] = []
        columns.reserveCapacity(2 * n * k)
        values.reserveCapacity(2 * n * k)
        let scale = 1 / (2 * Double(n))
        for i in 0..<n {
            var a = i * k, b = transposeStart[i]
            let aEnd = a + k, bEnd = transposeStart[i + 1]
            while a < aEnd || b < bEnd {
                let ca = a < aEnd ? forwardColumns[a] : Int32.max
                let cb = b < bEnd ? transposeColumns[b] : Int32.max
                var v = 0.0
                let c = min(ca, cb)
                if ca == c { v += forwardValues[a]; a += 1 }
                if cb == c { v += transposeValues[b]; b += 1 }
                columns.append(c)
                values.append(v * scale)
            }
            rowStart[i + 1] = columns.count
        }
        return SparseAffinities(count: n, rowStart: rowStart, columns: columns, values: values)
    }
}
