import COpenBLAS
import GenredEngine

/// The k-nearest-neighbour baseline of `genred learn`: each held-out track takes the classes
/// of the `k` training tracks most like it (cosine similarity of the standardised features),
/// each neighbour's vote weighted by its similarity.
///
/// It needs no training, so it shows what the features alone give; a head that does not beat
/// it has learned nothing the neighbours did not already know.
struct NeighbourVote {
    var k = 10

    /// Class scores (`test x classes`, each row summing to 1) for `test` given `train` and its targets.
    func scores(train: FeatureMatrix, targets: [Float], classes: Int, test: FeatureMatrix) -> [Float] {
        let a = Self.unitRows(train), b = Self.unitRows(test)
        let n = a.rows, m = b.rows
        var out = [Float](repeating: 0, count: m * classes)
        guard n > 0, m > 0 else { return out }
        var similarity = [Float](repeating: 0, count: m * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(a.columns),
                    1, b.values, Int32(b.columns), a.values, Int32(a.columns), 0, &similarity, Int32(n))
        let kk = min(k, n)
        var best = [(similarity: Float, index: Int)]()
        best.reserveCapacity(kk + 1)
        for i in 0..<m {
            // The kk most similar training tracks, kept sorted in a small array (a partial
            // selection: kk is small next to n). Ties go to the earlier training track.
            best.removeAll(keepingCapacity: true)
            for j in 0..<n {
                let s = similarity[i * n + j]
                if best.count == kk, s <= best[kk - 1].similarity { continue }
                var at = best.count
                while at > 0 && best[at - 1].similarity < s { at -= 1 }
                best.insert((s, j), at: at)
                if best.count > kk { best.removeLast() }
            }
            var total: Float = 0
            for (s, j) in best {
                let w = max(s, 0) + 1e-6
                for c in 0..<classes { out[i * classes + c] += w * targets[j * classes + c] }
                total += w
            }
            if total > 0 { for c in 0..<classes { out[i * classes + c] /= total } }
        }
        return out
    }

    private static func unitRows(_ m: FeatureMatrix) -> FeatureMatrix {
        var v = m.values
        for i in 0..<m.rows {
            var norm: Float = 0
            for j in 0..<m.columns { norm += v[i * m.columns + j] * v[i * m.columns + j] }
            let s = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0..<m.columns { v[i * m.columns + j] *= s }
        }
        return FeatureMatrix(rows: m.rows, columns: m.columns, values: v)
    }
}
