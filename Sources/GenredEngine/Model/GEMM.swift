import COpenBLAS

/// `C = A·B` in row-major order (`A` is `m x k`, or `k x m` when `transposeA`), written over
/// `C` (`m x n`, leading dimension `ldc`).
///
/// `C` is zeroed here and sgemm adds the product to it (beta = 1) rather than being asked
/// for beta = 0: OpenBLAS then runs a separate pass over `C` (sgemm_beta), which on the
/// Haswell and Zen cores is slower than memset and cost 10-15% of the network's small-K
/// GEMMs. The result is the same either way: OpenBLAS's kernels always add `A·B` to a `C`
/// that the beta pass has cleared.
@inline(__always)
func sgemmOverwriting(transposeA: Bool = false, m: Int, n: Int, k: Int,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      c: UnsafeMutablePointer<Float>, ldc: Int) {
    if ldc == n {
        c.update(repeating: 0, count: m * n)
    } else {
        for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                1, a, Int32(lda), b, Int32(ldb), 1, c, Int32(ldc))
}
