import CGenredLinux
import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class TSNETests: XCTestCase {
    /// Gaussian clusters in `dimensions`-d, centres `separation` apart on average; returns data and labels.
    private func clusters(_ k: Int, perCluster: Int, dimensions: Int, separation: Double, seed: UInt64) -> ([Float], [Int]) {
        var rng = SeededGenerator(seed: seed)
        let centres = (0..<(k * dimensions)).map { _ in separation * rng.gaussian() }
        var data: [Float] = []
        var labels: [Int] = []
        for c in 0..<k {
            for _ in 0..<perCluster {
                for t in 0..<dimensions { data.append(Float(centres[c * dimensions + t] + rng.gaussian())) }
                labels.append(c)
            }
        }
        return (data, labels)
    }

    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(rng.gaussian()) }
    }

    func testCalibrationHitsTargetEntropyForEveryPoint() {
        let n = 400, d = 12, perplexity = 30.0
        let data = random(n * d, seed: 7)
        let graph = NearestNeighbours.search(data, count: n, dimensions: d, k: 90, threads: 2)
        let conditional = Affinities.conditional(graph, perplexity: perplexity, threads: 2)
        for i in 0..<n {
            var entropyBits = 0.0, total = 0.0
            for t in 0..<90 {
                let p = conditional[i * 90 + t]
                total += p
                if p > 0 { entropyBits -= p * log2(p) }
            }
            XCTAssertEqual(total, 1, accuracy: 1e-9)
            XCTAssertEqual(entropyBits, log2(perplexity), accuracy: 1e-4, "row \(i)")
        }
    }

    func testNeighboursMatchBruteForce() {
        let n = 300, d = 7, k = 10
        let data = random(n * d, seed: 3)
        let graph = NearestNeighbours.search(data, count: n, dimensions: d, k: k, threads: 2)
        for i in stride(from: 0, to: n, by: 17) {
            let order = (0..<n).filter { $0 != i }.map { j -> (Double, Int) in
                var s = 0.0
                for c in 0..<d { let v = Double(data[i * d + c]) - Double(data[j * d + c]); s += v * v }
                return (s, j)
            }.sorted { $0 < $1 }
            XCTAssertEqual(graph.indices[(i * k)..<(i * k + k)].map(Int.init), order.prefix(k).map(\.1))
        }
    }

    /// Several blocks of rows and of columns, duplicated points (ties broken by index) and any
    /// worker count: the same neighbours as a plain search in double precision.
    func testNeighboursAcrossBlocksAndWorkersMatchBruteForce() {
        let n = NearestNeighbours.columnBlock + 3 * NearestNeighbours.rowBlock + 37, d = 9, k = 15
        var data = random(n * d, seed: 31)
        for i in stride(from: 0, to: n - 40, by: 97) {  // copies of other points, some in other blocks
            for c in 0..<d { data[(i + 40) * d + c] = data[i * d + c] }
        }
        let one = NearestNeighbours.search(data, count: n, dimensions: d, k: k, threads: 1)
        let three = NearestNeighbours.search(data, count: n, dimensions: d, k: k, threads: 3)
        XCTAssertEqual(one.indices, three.indices)
        XCTAssertEqual(one.distances, three.distances)
        for i in Array(stride(from: 0, to: n, by: 211)) + [40, 137, n - 1] {
            let order = (0..<n).filter { $0 != i }.map { j -> (Double, Int) in
                var s = 0.0
                for c in 0..<d { let v = Double(data[i * d + c]) - Double(data[j * d + c]); s += v * v }
                return (s, j)
            }.sorted { $0 < $1 }
            XCTAssertEqual(one.indices[(i * k)..<(i * k + k)].map(Int.init), order.prefix(k).map(\.1), "row \(i)")
        }
        XCTAssertEqual(one.distances[40 * k], 0, "a copy is its original's nearest neighbour")
    }

    /// The vector scan keeps the same pairs as the plain loop, ties and the row itself included.
    func testNeighbourScanMatchesItsPlainLoop() {
        var rng = SeededGenerator(seed: 4)
        for trial in 0..<40 {
            let count = 1 + trial * 13, k = 1 + trial % 17
            // Few distinct values, so that many distances tie.
            let products = (0..<count).map { _ in Float(Int(rng.gaussian() * 3)) }
            let norms = (0..<count).map { _ in Float(Int(abs(rng.gaussian()) * 4)) }
            let first = trial * 5, me = first + count / 2
            var heaps = [(distances: [Float], indices: [Int32], size: Int32)]()
            for vector in [true, false] {
                var hd = [Float](repeating: 0, count: k), hi = [Int32](repeating: 0, count: k)
                var size: Int32 = 0
                // Two calls, as for two blocks of columns.
                let half = count / 2
                for (from, to) in [(0, half), (half, count)] where to > from {
                    let scan = vector ? genred_knn_scan : genred_knn_scan_generic
                    size = products.withUnsafeBufferPointer { p in
                        norms.withUnsafeBufferPointer { q in
                            scan(p.baseAddress! + from, q.baseAddress! + from, Int32(to - from), Int32(first + from),
                                 Int32(me), 2, &hd, &hi, size, Int32(k))
                        }
                    }
                }
                heaps.append((hd, hi, size))
            }
            XCTAssertEqual(heaps[0].size, heaps[1].size, "trial \(trial)")
            XCTAssertEqual(heaps[0].size, Int32(min(k, count - 1)), "trial \(trial)")
            let kept: [[Int32]] = heaps.map { h in
                var pairs: [(Float, Int32)] = []
                for t in 0..<Int(h.size) { pairs.append((h.distances[t], h.indices[t])) }
                pairs.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                return pairs.map { $0.1 }
            }
            XCTAssertEqual(kept[0], kept[1], "trial \(trial)")
            XCTAssertFalse(kept[0].contains(Int32(me)), "the row itself is left out")
        }
    }

    /// The exact repulsion's vector path gives the plain loop's bits, and both the sums of a
    /// direct double loop, for sizes around multiples of 4 and any range of rows.
    func testExactRepulsionMatchesItsPlainLoopAndADirectSum() {
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 33, 130] {
            let y = random(2 * n, seed: UInt64(n)).map { Double($0) * 3 }
            let xs = (0..<n).map { y[2 * $0] }, ys = (0..<n).map { y[2 * $0 + 1] }
            var results: [[Double]] = []
            for vector in [true, false] {
                var forces = [Double](repeating: .nan, count: 2 * n), z = [Double](repeating: .nan, count: n)
                let sums = vector ? genred_tsne_repulsion : genred_tsne_repulsion_generic
                // Two calls over two ranges of rows, as two workers make them.
                for (first, last) in [(0, n / 3), (n / 3, n)] where last > first {
                    sums(xs, ys, Int32(n), Int32(first), Int32(last), &forces, &z)
                }
                results.append(forces + z)
            }
            XCTAssertEqual(results[0].map(\.bitPattern), results[1].map(\.bitPattern), "n = \(n)")
            for i in 0..<n {
                var fx = 0.0, fy = 0.0, z = 0.0
                for j in 0..<n where j != i {
                    let dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1]
                    let q = 1 / (1 + dx * dx + dy * dy)
                    z += q; fx += q * q * dx; fy += q * q * dy
                }
                XCTAssertEqual(results[0][2 * i], fx, accuracy: 1e-12, "n = \(n), i = \(i)")
                XCTAssertEqual(results[0][2 * i + 1], fy, accuracy: 1e-12, "n = \(n), i = \(i)")
                XCTAssertEqual(results[0][2 * n + i], z, accuracy: 1e-12, "n = \(n), i = \(i)")
            }
        }
    }

    /// A point's step longer than the limit is shortened to it, in the same direction; shorter
    /// ones, and every step without a limit, are left alone.
    func testALongStepIsShortenedToTheLimit() {
        let grad = [-4.0, 3.0, 0.01, 0.0, 0, 0]  // point 0: a step of 5 · rate; point 1: short
        for limit in [nil, 2.0] {
            var y = [Double](repeating: 0, count: 6), update = y, gains = [Double](repeating: 1, count: 6)
            TSNE.step(&y, grad: grad, update: &update, gains: &gains, momentum: 0.5, rate: 1, maximumStep: limit)
            let first = (update[0] * update[0] + update[1] * update[1]).squareRoot()
            XCTAssertEqual(first, limit ?? 1.2 * 5, accuracy: 1e-12)  // the gains grew to 1.2
            XCTAssertEqual(update[0] / update[1], -4.0 / 3.0, accuracy: 1e-12)
            XCTAssertEqual(update[2], -1.2 * 0.01, accuracy: 1e-15)
            XCTAssertEqual(y[0] + y[2] + y[4], 0, accuracy: 1e-12, "re-centred")
        }
    }

    func testJointAffinitiesAreSymmetricAndNormalised() {
        let n = 1500, d = 5
        let data = random(n * d, seed: 11)
        let graph = NearestNeighbours.search(data, count: n, dimensions: d, k: 30, threads: 2)
        let p = Affinities.joint(graph, perplexity: 10, threads: 2)
        var entries: [Int: Double] = [:]
        for i in 0..<n { for t in p.rowStart[i]..<p.rowStart[i + 1] { entries[i * n + Int(p.columns[t])] = p.values[t] } }
        XCTAssertEqual(entries.values.reduce(0, +), 1, accuracy: 1e-9)
        for (key, v) in entries { XCTAssertEqual(entries[(key % n) * n + key / n] ?? -1, v, accuracy: 1e-15) }
    }

    func testGradientMatchesFiniteDifferences() {
        let n = 8, d = 5
        let data = random(n * d, seed: 5)
        let graph = NearestNeighbours.search(data, count: n, dimensions: d, k: n - 1, threads: 1)
        let p = Affinities.joint(graph, perplexity: 2, threads: 1)
        var rng = SeededGenerator(seed: 9)
        let y = (0..<(2 * n)).map { _ in rng.gaussian() }
        let gradient = Gradient(affinities: p, count: n, repulsion: .exact, threads: 1)
        var grad = [Double](repeating: 0, count: 2 * n)
        _ = gradient.evaluate(y, exaggeration: 1, into: &grad)
        let h = 1e-6
        for k in 0..<(2 * n) {
            var plus = y, minus = y
            plus[k] += h
            minus[k] -= h
            let numeric = (Divergence.exact(plus, affinities: p, count: n, threads: 1)
                - Divergence.exact(minus, affinities: p, count: n, threads: 1)) / (2 * h)
            // The optimiser's gradient omits the factor 4 of dKL/dy.
            XCTAssertEqual(4 * grad[k], numeric, accuracy: 1e-6 + 1e-5 * abs(numeric), "coordinate \(k)")
        }
    }

    func testBarnesHutWithZeroThetaIsExact() {
        let n = 120, d = 4
        let data = random(n * d, seed: 21)
        let graph = NearestNeighbours.search(data, count: n, dimensions: d, k: 30, threads: 1)
        let p = Affinities.joint(graph, perplexity: 10, threads: 1)
        var rng = SeededGenerator(seed: 2)
        var y = (0..<(2 * n)).map { _ in 5 * rng.gaussian() }
        y[2] = y[0]; y[3] = y[1]  // a coincident pair shares a leaf
        var exact = [Double](repeating: 0, count: 2 * n), tree = exact, approx = exact
        let z0 = Gradient(affinities: p, count: n, repulsion: .exact, threads: 2).evaluate(y, exaggeration: 3, into: &exact)
        let z1 = Gradient(affinities: p, count: n, repulsion: .barnesHut(theta: 0), threads: 2).evaluate(y, exaggeration: 3, into: &tree)
        let z2 = Gradient(affinities: p, count: n, repulsion: .barnesHut(theta: 0.5), threads: 2).evaluate(y, exaggeration: 3, into: &approx)
        XCTAssertEqual(z0, z1, accuracy: 1e-9 * z0)
        XCTAssertEqual(z0, z2, accuracy: 1e-2 * z0)
        for k in 0..<(2 * n) {
            XCTAssertEqual(exact[k], tree[k], accuracy: 1e-12)
        }
        let error = zip(exact, approx).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        let norm = exact.map { $0 * $0 }.reduce(0, +).squareRoot()
        XCTAssertLessThan(error / norm, 0.05)
    }

    /// The grid-interpolated repulsion against the exact O(N²) sums, on a spread like a finished map's
    /// (clusters tens of units apart) and on a compact one like the early-exaggeration phase's.
    func testInterpolatedRepulsionMatchesExactSums() {
        let n = 3000
        var rng = SeededGenerator(seed: 9)
        for spread in [0.5, 30.0] {
            let centres = (0..<20).map { _ in (spread * rng.gaussian(), spread * rng.gaussian()) }
            var y = [Double](repeating: 0, count: 2 * n)
            for i in 0..<n {
                let c = centres[i % 20]
                y[2 * i] = c.0 + 0.1 * spread * rng.gaussian()
                y[2 * i + 1] = c.1 + 0.1 * spread * rng.gaussian()
            }
            y[2] = y[0]; y[3] = y[1]  // a coincident pair
            var exactForces = [Double](repeating: 0, count: 2 * n), exactZ = [Double](repeating: 0, count: n)
            for i in 0..<n {
                for j in 0..<n where j != i {
                    let dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1]
                    let q = 1 / (1 + dx * dx + dy * dy)
                    exactZ[i] += q
                    exactForces[2 * i] += q * q * dx
                    exactForces[2 * i + 1] += q * q * dy
                }
            }
            var forces = [Double](repeating: 0, count: 2 * n), z = [Double](repeating: 0, count: n)
            InterpolatedRepulsion(threads: 2).repulsion(y, forces: &forces, z: &z)
            let error = zip(exactForces, forces).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            let norm = exactForces.map { $0 * $0 }.reduce(0, +).squareRoot()
            // Compact: boxes far narrower than the kernel, nearly exact. Spread: nodes 0.2 apart, about 0.4%.
            XCTAssertLessThan(error / norm, spread < 1 ? 1e-4 : 1e-2, "spread \(spread)")
            let totalExact = exactZ.reduce(0, +), total = z.reduce(0, +)
            XCTAssertEqual(total, totalExact, accuracy: (spread < 1 ? 1e-6 : 1e-3) * totalExact, "spread \(spread)")
            // The same sums whatever the worker count.
            var forces1 = [Double](repeating: 0, count: 2 * n), z1 = [Double](repeating: 0, count: n)
            InterpolatedRepulsion(threads: 1).repulsion(y, forces: &forces1, z: &z1)
            XCTAssertEqual(forces, forces1)
            XCTAssertEqual(z, z1)
        }
    }

    func testInterpolationGridSizes() {
        let ladder = InterpolatedRepulsion.boxLadder
        XCTAssertEqual(ladder.first, 50)
        XCTAssertLessThanOrEqual(ladder.last!, InterpolatedRepulsion.maximumBoxes)
        XCTAssertLessThan(ladder.count, 20)
        for (a, b) in zip(ladder, ladder.dropFirst()) { XCTAssertGreaterThanOrEqual(Double(b), 1.08 * Double(a)) }
        let widest = InterpolatedRepulsion.defaultBoxWidth
        XCTAssertEqual(InterpolatedRepulsion.grid(span: 100).width, widest)
        for span in [1e-6, 0.01, 3.7, 49.9, 50, 120, 199, 250, 1e4] {
            let (width, boxes) = InterpolatedRepulsion.grid(span: span)
            XCTAssertGreaterThan(Double(boxes) * width, span + 0.99 * width, "span \(span)")  // covered, with room to centre
            if span <= 150 { XCTAssertLessThanOrEqual(width, widest, "span \(span)") }
            XCTAssertGreaterThanOrEqual(boxes, 50, "span \(span)")
            XCTAssertLessThanOrEqual(boxes, InterpolatedRepulsion.maximumBoxes, "span \(span)")
            XCTAssertTrue(InterpolatedRepulsion.boxLadder.contains(boxes), "span \(span)")
            var m = boxes
            for f in [2, 3, 5, 7] { while m % f == 0 { m /= f } }
            XCTAssertEqual(m, 1, "span \(span)")
            // Widths sit on the ladder, so a slowly growing spread keeps its kernel.
            let step = log(width / widest) / log(InterpolatedRepulsion.widthStep)
            XCTAssertEqual(step, step.rounded(), accuracy: 1e-9)
        }
    }

    func testInterpolationGridKeepsItsSizeWhileTheSpreadWavers() {
        // A spread growing by 1% per iteration from 0.5 to 300, with a ±0.5% waver on every step.
        var current: (width: Double, boxes: Int)?
        var previousIdeal: (width: Double, boxes: Int)?
        var changes = 0, idealChanges = 0, span = 0.5, k = 0
        while span < 300 {
            let wavering = span * (k % 2 == 0 ? 1.005 : 0.995)
            let ideal = InterpolatedRepulsion.grid(span: wavering)
            let chosen = InterpolatedRepulsion.grid(span: wavering, current: current)
            XCTAssertGreaterThanOrEqual(chosen.width * Double(chosen.boxes - 1), wavering)  // covers
            // Never coarser than the grid for a 10% larger spread, nor wider than the default below 140.
            XCTAssertLessThanOrEqual(chosen.width,
                                     InterpolatedRepulsion.grid(span: wavering * InterpolatedRepulsion.widthStep).width * (1 + 1e-9))
            if wavering < 140 { XCTAssertLessThanOrEqual(chosen.width, InterpolatedRepulsion.defaultBoxWidth) }
            if let current, chosen != current {
                changes += 1
                XCTAssertGreaterThanOrEqual(chosen.width, current.width, "iteration \(k): back to a finer grid")
            }
            if let previousIdeal, ideal != previousIdeal { idealChanges += 1 }
            current = chosen; previousIdeal = ideal
            span *= 1.01; k += 1
        }
        // Without the hysteresis the waver switches grids back and forth at every threshold; with it
        // the grid only moves forward, about once per 10% of growth while the spread is small.
        XCTAssertGreaterThan(k, 600)
        XCTAssertLessThan(Double(changes), 0.7 * Double(idealChanges), "grid changes over \(k) iterations")
    }

    func testFixedSeedIsReproducibleAcrossThreadCounts() {
        for (n, iterations, method) in [(300, 120, TSNEOptions.Method.auto), (1200, 60, .auto), (1200, 60, .interpolation)] {
            let d = 6
            let (data, _) = clusters(4, perCluster: n / 4, dimensions: d, separation: 4, seed: 4)
            var options = TSNEOptions(iterations: iterations, exaggerationIterations: iterations / 2, seed: 42, method: method)
            options.threads = 2
            let first = TSNE.embed(data, count: n, dimensions: d, options: options)
            let second = TSNE.embed(data, count: n, dimensions: d, options: options)
            options.threads = 1
            let single = TSNE.embed(data, count: n, dimensions: d, options: options)
            XCTAssertEqual(first.points, second.points, "n = \(n)")
            XCTAssertEqual(first.points, single.points, "n = \(n), 1 vs 2 threads")
            XCTAssertEqual(first.klDivergence, single.klDivergence)
        }
    }

    func testSmallCollections() {
        XCTAssertEqual(TSNE.embed([], count: 0, dimensions: 4, options: TSNEOptions()).points, [])
        XCTAssertEqual(TSNE.embed([1, 2, 3], count: 1, dimensions: 3, options: TSNEOptions()).points, [0, 0])
        for n in [2, 3, 5] {
            let data = random(n * 8, seed: UInt64(n))
            let result = TSNE.embed(data, count: n, dimensions: 8, options: TSNEOptions())
            XCTAssertEqual(result.points.count, 2 * n)
            XCTAssertTrue(result.points.allSatisfy(\.isFinite), "n = \(n)")
            XCTAssertTrue(result.klDivergence.isFinite)
            XCTAssertEqual(result.perplexityUsed, max(1, Double(n - 1) / 3), accuracy: 1e-12)
            XCTAssertNotNil(result.note)
            XCTAssertTrue(result.note?.contains("lowered") ?? false, result.note ?? "")
        }
        // 200 tracks (13 albums): the default perplexity fits; a larger one is clamped.
        let (data, labels) = clusters(13, perCluster: 16, dimensions: 50, separation: 3, seed: 13)
        let n = labels.count
        var single = TSNEOptions()
        single.restarts = 1  // what is checked here does not depend on the restarts
        let plain = TSNE.embed(data, count: n, dimensions: 50, options: single)
        XCTAssertNil(plain.note)
        XCTAssertEqual(plain.perplexityUsed, 30)
        XCTAssertGreaterThan(purity(plain.points, labels), 0.95)
        single.perplexity = 500
        let clamped = TSNE.embed(data, count: n, dimensions: 50, options: single)
        XCTAssertEqual(clamped.perplexityUsed, Double(n - 1) / 3, accuracy: 1e-12)
        XCTAssertTrue(clamped.points.allSatisfy(\.isFinite))
        XCTAssertNotNil(clamped.note)
        // Identical tracks must not break the calibration or the tree.
        let copies = [Float](repeating: 0.5, count: 40 * 3)
        let same = TSNE.embed(copies, count: 40, dimensions: 3, options: TSNEOptions(iterations: 50, method: .barnesHut(theta: 0.5)))
        XCTAssertTrue(same.points.allSatisfy(\.isFinite))
    }

    func testSeparatedClustersStaySeparated() {
        let (data, labels) = clusters(6, perCluster: 80, dimensions: 30, separation: 2, seed: 8)
        var single = TSNEOptions()
        single.restarts = 1  // one run must already separate them (and the test stays fast)
        let exact = TSNE.embed(data, count: labels.count, dimensions: 30, options: single)
        XCTAssertGreaterThan(purity(exact.points, labels), 0.95)
        XCTAssertLessThan(exact.klDivergence, 2)
        let (big, bigLabels) = clusters(8, perCluster: 200, dimensions: 20, separation: 2, seed: 18)
        let tree = TSNE.embed(big, count: bigLabels.count, dimensions: 20, options: TSNEOptions(iterations: 400))
        XCTAssertGreaterThan(purity(tree.points, bigLabels), 0.95)
        let grid = TSNE.embed(big, count: bigLabels.count, dimensions: 20,
                              options: TSNEOptions(iterations: 400, method: .interpolation))
        XCTAssertGreaterThan(purity(grid.points, bigLabels), 0.95)
        XCTAssertEqual(grid.klDivergence, tree.klDivergence, accuracy: 0.02 * tree.klDivergence)
    }

    func testSmallSetsKeepTheBestOfSeveralStartsDeterministically() {
        // 42 tracks in 6 albums of uneven spread: the size where one run's local minimum shows.
        let (data, _) = clusters(6, perCluster: 7, dimensions: 30, separation: 0.6, seed: 21)
        let n = 42, d = 30
        var single = TSNEOptions(seed: 3)
        single.restarts = 1
        single.threads = 2
        let one = TSNE.embed(data, count: n, dimensions: d, options: single)
        var options = TSNEOptions(seed: 3)
        options.threads = 2
        let best = TSNE.embed(data, count: n, dimensions: d, options: options)
        XCTAssertLessThanOrEqual(best.klDivergence, one.klDivergence)
        options.threads = 1
        let again = TSNE.embed(data, count: n, dimensions: d, options: options)
        XCTAssertEqual(best.points, again.points, "1 vs 2 threads")
        XCTAssertEqual(best.klDivergence, again.klDivergence)
        let t = trustworthiness(data, dimensions: d, best.points, k: 5)
        XCTAssertGreaterThan(t, TSNETests.smallSetTrustworthiness, "measured \(t)")
    }

    /// Trustworthiness at k = 5 on the set of the test above: 0.907 measured with the automatic
    /// restarts and 1000 iterations (0.909 with 750; 0.901 from the PCA start alone), less a margin. At 42 points it moves by a few
    /// hundredths from one start to another; the restarts choose by KL, not by it.
    static let smallSetTrustworthiness = 0.9

    /// Trustworthiness (Venna & Kaski 2001): 1 − 2 / (n k (2n − 3k − 1)) · Σ_i Σ_j (r(i, j) − k) over the
    /// j among i's k nearest in the plane but not in the input, r(i, j) being j's rank among i's
    /// neighbours in the input.
    private func trustworthiness(_ data: [Float], dimensions d: Int, _ points: [Float], k: Int) -> Double {
        let n = points.count / 2
        func order(_ i: Int, _ distance: (Int, Int) -> Double) -> [Int] {
            (0..<n).filter { $0 != i }.sorted { (distance(i, $0), $0) < (distance(i, $1), $1) }
        }
        let input: (Int, Int) -> Double = { i, j in
            var s = 0.0
            for c in 0..<d { let t = Double(data[i * d + c] - data[j * d + c]); s += t * t }
            return s
        }
        let plane: (Int, Int) -> Double = { i, j in
            let dx = Double(points[2 * i] - points[2 * j]), dy = Double(points[2 * i + 1] - points[2 * j + 1])
            return dx * dx + dy * dy
        }
        var penalty = 0.0
        for i in 0..<n {
            let ranks = order(i, input)
            var rank = [Int](repeating: 0, count: n)
            for (r, j) in ranks.enumerated() { rank[j] = r + 1 }
            for j in order(i, plane).prefix(k) where rank[j] > k { penalty += Double(rank[j] - k) }
        }
        return 1 - 2 / (Double(n * k) * Double(2 * n - 3 * k - 1)) * penalty
    }

    /// Share of points whose nearest neighbour in the plane has the same label.
    private func purity(_ points: [Float], _ labels: [Int]) -> Double {
        let n = labels.count
        var same = 0
        for i in 0..<n {
            var best = Float.infinity, label = -1
            for j in 0..<n where j != i {
                let dx = points[2 * i] - points[2 * j], dy = points[2 * i + 1] - points[2 * j + 1]
                let d = dx * dx + dy * dy
                if d < best { best = d; label = labels[j] }
            }
            if label == labels[i] { same += 1 }
        }
        return Double(same) / Double(n)
    }
}
