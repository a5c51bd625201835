import CGenredDNNL
import Foundation
import XCTest
@testable import GenredEngine

/// Random matrices A (m x k) and B (k x n) in [-1, 1), their product in double precision, and
/// the C library's reduced-precision products of them, for the precision tests.
struct ProductCase {
    let m: Int, n: Int, k: Int
    let a: [Float], b: [Float]

    init(m: Int, n: Int, k: Int, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        self.m = m; self.n = n; self.k = k
        a = (0..<(m * k)).map { _ in Float(rng.unit() * 2 - 1) }
        b = (0..<(k * n)).map { _ in Float(rng.unit() * 2 - 1) }
    }

    /// `input * B` in double precision (`input`: row-major m x k, A by default).
    func exact(_ input: [Float]? = nil) -> [Double] {
        let a = input ?? self.a
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for q in 0..<k { c[i * n + j] += Double(a[i * k + q]) * Double(b[q * n + j]) } } }
        return c
    }

    /// `input * B` (A by default) through `gd_product_run` in `precision`; `transposed` hands
    /// the product A stored k x m. `scale` is int8-static's step for A.
    func run(_ precision: Precision, input: [Float]? = nil, scale: Float = 1, transposed: Bool = false) throws -> [Float] {
        let a = input ?? self.a
        var error = [CChar](repeating: 0, count: 200)
        let p = try XCTUnwrap(gd_product_create(precision.code, Int32(m), Int32(n), Int32(k), b, Int32(n), Int32(n), 0, scale, &error, error.count),
                              cText(error))
        defer { gd_product_destroy(p) }
        var c = [Float](repeating: 0, count: m * n)
        let stored = transposed ? (0..<(k * m)).map { a[($0 % m) * k + $0 / m] } : a
        XCTAssertEqual(gd_product_run(p, stored, Int32(transposed ? m : k), transposed ? 1 : 0, &c), 0)
        return c
    }

    /// The largest difference of `c` from `reference`, over the largest |reference| entry.
    static func worst(_ c: [Float], _ reference: [Double]) -> Double {
        zip(c, reference).map { abs(Double($0) - $1) }.max()! / reference.map(abs).max()!
    }
}
