import COpenBLAS

/// Winograd minimal filtering F(m, r) along time: `m` outputs of an `r`-tap correlation from
/// `m + r - 1` products, `y = Aᵀ[(G g) ⊙ (Bᵀ d)]` (Toom-Cook with one point at infinity).
///
/// The transforms are built in double precision; the kernel transform and a per-point
/// scaling are folded into the stored kernels, so only `Bᵀ` and `Aᵀ` run in float.
struct TimeWinograd: Sendable {
    let outputs: Int      // m
    let taps: Int         // r
    let points: Int       // alpha = m + r - 1
    /// `Bᵀ`, points x points, row-major.
    let inputTransform: [Float]
    /// `Aᵀ`, outputs x points, row-major.
    let outputTransform: [Float]
    /// `G` with the per-point scaling, points x taps, double precision.
    let kernelTransform: [Double]
    /// The finite interpolation points (infinity is the last point).
    let finitePoints: [Double]

    /// The points `fusedOutputTransform` is written for, F(4, 7).
    static let fusedPoints: [Double] = [0, 1, -1, 2, -2, 0.5, -0.5, 1.5, -1.5]

    /// `finite` holds the `m + r - 2` finite interpolation points (distinct).
    init(outputs m: Int, taps r: Int, finite: [Double]) {
        let a = m + r - 1
        precondition(finite.count == a - 1 && Set(finite).count == finite.count)
        // Evaluation matrix for polynomials with `k` coefficients: one row per point, infinity last.
        func evaluation(_ k: Int) -> [Double] {
            var e = [Double](repeating: 0, count: a * k)
            for (i, x) in finite.enumerated() {
                var power = 1.0
                for j in 0..<k { e[i * k + j] = power; power *= x }
            }
            e[(a - 1) * k + k - 1] = 1
            return e
        }
        // Bᵀ = V⁻ᵀ: column q of V⁻¹ becomes row q of Bᵀ.
        let inverse = Self.invert(evaluation(a), a)
        var bt = [Double](repeating: 0, count: a * a)
        for p in 0..<a { for q in 0..<a { bt[p * a + q] = inverse[q * a + p] } }
        var g = evaluation(r)
        // Move each row's largest magnitude of Bᵀ into G, where it costs nothing at run time.
        for p in 0..<a {
            let s = (0..<a).map { abs(bt[p * a + $0]) }.max()!
            for q in 0..<a { bt[p * a + q] /= s }
            for j in 0..<r { g[p * r + j] *= s }
        }
        let e = evaluation(m)
        var at = [Float](repeating: 0, count: m * a)
        for j in 0..<m { for p in 0..<a { at[j * a + p] = Float(e[p * m + j]) } }
        outputs = m
        taps = r
        points = a
        inputTransform = bt.map(Float.init)
        outputTransform = at
        kernelTransform = g
        finitePoints = finite
    }

    /// Transforms a kernel stored `[tap][rest]` into `points` planes of `rest` values.
    func transformKernel(_ kernel: [Float], rest: Int) -> [Float] {
        var out = [Float](repeating: 0, count: points * rest)
        for p in 0..<points {
            for i in 0..<rest {
                var sum = 0.0
                for t in 0..<taps { sum += kernelTransform[p * taps + t] * Double(kernel[t * rest + i]) }
                out[p * rest + i] = Float(sum)
            }
        }
        return out
    }

    /// Gauss-Jordan inverse with partial pivoting of an `n x n` row-major matrix.
    private static func invert(_ matrix: [Double], _ n: Int) -> [Double] {
        var a = matrix
        var inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        for col in 0..<n {
            let pivot = (col..<n).max { abs(a[$0 * n + col]) < abs(a[$1 * n + col]) }!
            if pivot != col {
                for j in 0..<n {
                    a.swapAt(pivot * n + j, col * n + j)
                    inv.swapAt(pivot * n + j, col * n + j)
                }
            }
            let d = a[col * n + col]
            for j in 0..<n { a[col * n + j] /= d; inv[col * n + j] /= d }
            for row in 0..<n where row != col {
                let f = a[row * n + col]
                if f == 0 { continue }
                for j in 0..<n {
                    a[row * n + j] -= f * a[col * n + j]
                    inv[row * n + j] -= f * inv[col * n + j]
                }
            }
        }
        return inv
    }
}

extension MusicnnNetwork {
    /// A timbral convolution with its kernel transformed for `TimeWinograd` along time.
    struct WinogradConv: Sendable {
        /// `points` planes of `kernelWidth x outputs`.
        let kernel: [Float]
        let transform: TimeWinograd
    }

    /// Interpolation points for F(m, 7), chosen for accuracy in float32.
    static func winogradTransform(outputs m: Int, taps r: Int) -> TimeWinograd {
        let candidates = TimeWinograd.fusedPoints + [3, -3, 0.25, -0.25, 4, -4]
        return TimeWinograd(outputs: m, taps: r, finite: Array(candidates.prefix(m + r - 2)))
    }

    /// The timbral block of `timbralBlock`, with the convolution computed by Winograd
    /// filtering along time and one GEMM over the frequency taps per transformed point.
    ///
    /// `input` must hold `tiles * m + r - 1` rows (zeros past the padded window).
    func timbralWinograd(_ conv: Conv, _ fast: WinogradConv, index: Int, input: UnsafePointer<Float>, ws: MusicnnWorkspace,
                         output: UnsafeMutablePointer<Float>, stride: Int) {
        let F = frames, B = bands, kw = conv.kernelWidth, N = conv.outputs
        let w = fast.transform, m = w.outputs, a = w.points
        let positions = B - kw + 1
        let tiles = (F + m - 1) / m
        let block = ws.winogradTiles
        w.inputTransform.withUnsafeBufferPointer { btBuffer in
        w.outputTransform.withUnsafeBufferPointer { atBuffer in
        fast.kernel.withUnsafeBufferPointer { kernel in
            let bt = btBuffer.baseAddress!, at = atBuffer.baseAddress!
            var tile0 = 0
            while tile0 < tiles {
                let count = min(block, tiles - tile0)
                let rows = count * positions
                // Input transform: V[p][tile][band] for this block's tiles.
                let v = ws.winogradInput
                for i in 0..<count {
                    let d = input + (tile0 + i) * m * B
                    for p in 0..<a {
                        let dst = v + (p * count + i) * B
                        dst.update(repeating: 0, count: B)
                        for q in 0..<a {
                            let c = bt[p * a + q]
                            if c == 0 { continue }
                            let src = d + q * B
                            for b in 0..<B { dst[b] += c * src[b] }
                        }
                    }
                }
                // Per point: im2col over frequency, then one GEMM over the kw taps.
                for p in 0..<a {
                    var row = ws.winogradColumns
                    for i in 0..<count {
                        let src = v + (p * count + i) * B
                        for f in 0..<positions {
                            row.update(from: src + f, count: kw)
                            row += kw
                        }
                    }
                    if let product = ws.reduced?.winograd[index][p][rows],
                       ReducedProducts.run(product, a: ws.winogradColumns, lda: kw, c: ws.winogradProducts + p * rows * N) {
                        // done in the reduced precision
                    } else {
                        ws.recorder?.winograd(index, point: p, ws.winogradColumns, rows: rows, columns: kw)
                        sgemmOverwriting(m: rows, n: N, k: kw, a: ws.winogradColumns, lda: kw,
                                         b: kernel.baseAddress! + p * kw * N, ldb: N,
                                         c: ws.winogradProducts + p * rows * N, ldc: N)
                    }
                }
                if w.finitePoints == TimeWinograd.fusedPoints {
                    fusedOutputTransform(conv, products: ws.winogradProducts, rows: rows, firstTile: tile0, tiles: count,
                                         positions: positions, ws: ws, output: output, stride: stride)
                    tile0 += count
                    continue
                }
                // Output transform: Y (m x rows*N) = Aᵀ (m x a) * products (a x rows*N).
                let e = rows * N
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(e), Int32(a),
                            1, at, Int32(a), ws.winogradProducts, Int32(e), 0, ws.winogradOutput, Int32(e))
                // Max and min over frequency, then bias, ReLU and batch norm per frame.
                let mx = ws.reduceMax, mn = ws.reduceMin
                for i in 0..<count {
                    for j in 0..<m {
                        let t = (tile0 + i) * m + j
                        if t >= F { break }
                        let y = ws.winogradOutput + j * e + i * positions * N
                        mx.update(from: y, count: N)
                        mn.update(from: y, count: N)
                        for f in 1..<positions {
                            let r = y + f * N
                            for c in 0..<N {
                                mx[c] = max(mx[c], r[c])
                                mn[c] = min(mn[c], r[c])
                            }
                        }
                        conv.norm.finish(mx: mx, mn: mn, bias: conv.bias, into: output + t * stride, count: N)
                    }
                }
                tile0 += count
            }
        }
        }
        }
    }

    /// Aᵀ of F(4, 7) on `TimeWinograd.fusedPoints` (pairs ±x as sums and differences),
    /// fused with the max and min over frequency and the per-frame finish.
    private func fusedOutputTransform(_ conv: Conv, products: UnsafePointer<Float>, rows: Int, firstTile: Int,
                                      tiles: Int, positions: Int, ws: MusicnnWorkspace,
                                      output: UnsafeMutablePointer<Float>, stride: Int) {
        let N = conv.outputs, plane = rows * N
        let mx0 = ws.reduceMax, mx1 = mx0 + N, mx2 = mx1 + N, mx3 = mx2 + N
        let mn0 = ws.reduceMin, mn1 = mn0 + N, mn2 = mn1 + N, mn3 = mn2 + N
        for i in 0..<tiles {
            ws.reduceMax.update(repeating: -.infinity, count: 4 * N)
            ws.reduceMin.update(repeating: .infinity, count: 4 * N)
            for f in 0..<positions {
                let q = products + (i * positions + f) * N
                let q0 = q, q1 = q + plane, q2 = q1 + plane, q3 = q2 + plane, q4 = q3 + plane
                let q5 = q4 + plane, q6 = q5 + plane, q7 = q6 + plane, q8 = q7 + plane, q9 = q8 + plane
                for c in 0..<N {
                    let s1 = q1[c] + q2[c], d1 = q1[c] - q2[c]
                    let s2 = q3[c] + q4[c], d2 = q3[c] - q4[c]
                    let s3 = q5[c] + q6[c], d3 = q5[c] - q6[c]
                    let s4 = q7[c] + q8[c], d4 = q7[c] - q8[c]
                    let y0 = q0[c] + s1 + s2 + s3 + s4
                    let y1 = d1 + 2 * d2 + 0.5 * d3 + 1.5 * d4
                    let y2 = s1 + 4 * s2 + 0.25 * s3 + 2.25 * s4
                    let y3 = d1 + 8 * d2 + 0.125 * d3 + 3.375 * d4 + q9[c]
                    mx0[c] = max(mx0[c], y0); mn0[c] = min(mn0[c], y0)
                    mx1[c] = max(mx1[c], y1); mn1[c] = min(mn1[c], y1)
                    mx2[c] = max(mx2[c], y2); mn2[c] = min(mn2[c], y2)
                    mx3[c] = max(mx3[c], y3); mn3[c] = min(mn3[c], y3)
                }
            }
            for j in 0..<4 {
                let t = (firstTile + i) * 4 + j
                if t >= frames { break }
                conv.norm.finish(mx: mx0 + j * N, mn: mn0 + j * N, bias: conv.bias, into: output + t * stride, count: N)
            }
        }
    }
}
