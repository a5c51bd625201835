import COpenBLAS
import Foundation
import GenredEngine

/// Starting positions for the optimisation.
enum Initialisation {
    /// Standard deviation of the first coordinate of the start.
    static let scale = 1e-4

    /// The data projected on its top two principal components, scaled so the first has standard
    /// deviation 1e-4; each component's largest loading is made positive. Falls back to seeded
    /// Gaussian noise of the same scale along a component with no variance.
    static func pca(_ data: [Float], count n: Int, dimensions d: Int, seed: UInt64) -> [Double] {
        var rng = SeededGenerator(seed: seed)
        var y = [Double](repeating: 0, count: 2 * n)
        if d > 0 {
            var mean = [Double](repeating: 0, count: d)
            for i in 0..<n { for c in 0..<d { mean[c] += Double(data[i * d + c]) } }
            for c in 0..<d { mean[c] /= Double(n) }
            var centred = [Float](repeating: 0, count: n * d)
            for i in 0..<n { for c in 0..<d { centred[i * d + c] = Float(Double(data[i * d + c]) - mean[c]) } }
            var covariance = [Float](repeating: 0, count: d * d)
            centred.withUnsafeBufferPointer { a in
                covariance.withUnsafeMutableBufferPointer { cov in
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(n),
                                1, a.baseAddress!, Int32(d), a.baseAddress!, Int32(d), 0, cov.baseAddress!, Int32(d))
                }
            }
            var c = covariance.map(Double.init)
            for component in 0..<min(2, d) {
                let (value, vector) = topEigenvector(c, size: d, rng: &rng)
                guard value > 0 else { break }
                var largest = 0
                for t in 0..<d where abs(vector[t]) > abs(vector[largest]) { largest = t }
                let sign: Double = vector[largest] < 0 ? -1 : 1
                for i in 0..<n {
                    var s = 0.0
                    for t in 0..<d { s += Double(centred[i * d + t]) * vector[t] }
                    y[2 * i + component] = sign * s
                }
                for r in 0..<d { for t in 0..<d { c[r * d + t] -= value * vector[r] * vector[t] } }
            }
        }
        let first = standardDeviation(y, column: 0)
        let factor = first > 0 ? scale / first : 0
        for k in 0..<(2 * n) { y[k] *= factor }
        for column in 0..<2 where standardDeviation(y, column: column) <= scale * 1e-6 {
            for i in 0..<n { y[2 * i + column] = scale * rng.gaussian() }
        }
        return y
    }

    static func standardDeviation(_ y: [Double], column: Int) -> Double {
        let n = y.count / 2
        guard n > 0 else { return 0 }
        var mean = 0.0
        for i in 0..<n { mean += y[2 * i + column] }
        mean /= Double(n)
        var s = 0.0
        for i in 0..<n { s += (y[2 * i + column] - mean) * (y[2 * i + column] - mean) }
        return (s / Double(n)).squareRoot()
    }

    /// Largest eigenvalue and unit eigenvector of a symmetric positive semi-definite matrix by power iteration.
    static func topEigenvector(_ m: [Double], size d: Int, rng: inout SeededGenerator) -> (Double, [Double]) {
        var v = (0..<d).map { _ in rng.gaussian() }
        var norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return (0, v) }
        for t in 0..<d { v[t] /= norm }
        var next = [Double](repeating: 0, count: d)
        var value = 0.0
        for _ in 0..<3000 {
            for r in 0..<d {
                var s = 0.0
                for t in 0..<d { s += m[r * d + t] * v[t] }
                next[r] = s
            }
            norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { return (0, v) }
            var change = 0.0
            for t in 0..<d {
                let x = next[t] / norm
                change += (x - v[t]) * (x - v[t])
                v[t] = x
            }
            value = norm
            if change < 1e-24 { break }
        }
        return (value, v)
    }
}
