import CFFTW
import Foundation
import GenredEngine

/// FFTW's planner is not thread-safe; every plan of this file is made and destroyed under this lock.
private let plannerLock = NSLock()

/// The repulsive sums of the t-SNE gradient by polynomial interpolation on a regular grid and FFT
/// convolution (the method of Linderman et al., "Fast interpolation-based t-SNE", Nature Methods 2019).
///
/// The plane around the points is cut into square boxes, each holding `nodesPerBox` × `nodesPerBox`
/// equispaced interpolation nodes, so that the nodes form one regular G × G grid. With
/// w = 1 / (1 + |y_i − y_j|²), each repulsive sum is a sum of w² against a charge:
/// φ_c(i) = Σ_j w_ij² c_j for the charges 1, x and y. Each point spreads its charges onto the nodes of
/// its box with Lagrange weights; the kernel w² is applied node to node as a 2-D convolution (FFT of
/// side 2G, zero-padded); the potentials are read back at the points with the same weights. Then
/// Σ_j w_ij² (y_i − y_j) = y_i φ_1 − (φ_x, φ_y). The normalisation needs no fourth charge: as w is
/// symmetric, Z = Σ_ij w_ij² (1 + |y_i|² − 2 y_i · y_j + |y_j|²) = Σ_i (1 + 2|y_i|²) φ_1(i) − 2 y_i · φ(i),
/// less N for the points' own terms; the interpolated operator is symmetric too, so this holds for
/// the approximation as well.
///
/// Cost per evaluation: O(N) to spread and read back, O(G² log G) for the transforms, which skip the
/// padding's zero rows. Box width is kept on a ladder of fixed steps, so the kernel's spectrum is
/// recomputed only when the grid changes step, not at every iteration. Results do not depend on the
/// worker count: spreading runs by rows of boxes, each writing only its own nodes, with the points of
/// a row in index order, and every transform is the same whichever worker runs it.
final class InterpolatedRepulsion {
    /// Interpolation nodes per box side, and the widest box in embedding units: nodes 0.25 apart.
    /// FIt-SNE and openTSNE default to 3 nodes in boxes of 1 (1/3 apart). On 10,000 points that gave
    /// a visibly worse map (KL 2.747 against 2.734, trustworthiness 0.9606 against 0.9614). The
    /// force's relative error on 3,000 spread points: 2.6% with 3 nodes in boxes of 1, 0.42% with 3
    /// in boxes of 0.5, 0.79% with 4 in boxes of 1. With 1000 iterations and the step limit, 4 nodes
    /// in boxes of 1 gave the 10,000-point map of boxes of 0.8 (trustworthiness 0.9618 against
    /// 0.9619, KL 2.7218 against 2.7212, 3 seeds) in 62% of the time (docs/map.md).
    static let nodesPerBox = 4
    static let defaultBoxWidth = 1.0
    /// Fewest boxes per side (FIt-SNE's default).
    static let minimumBoxes = 50
    /// Most boxes per side: past it boxes widen instead, which bounds the buffers' memory (about
    /// 360 MB at 1,280 nodes a side) when a few far-flung points stretch the spread. At 100,000
    /// points the spread reaches 600-800 units; a cap of 200 boxes (nodes a unit apart) left the
    /// forces coarse enough that one start in three ended in a broken map (trustworthiness 0.912
    /// against 0.950; docs/map.md).
    static let maximumBoxes = 320
    /// Box widths are powers of this ratio times the default width.
    static let widthStep = 1.1
    /// Each pass of the transforms is cut into this many batches of rows or columns per charge, a
    /// number fixed apart from the worker count, so that the same plans run whatever the workers.
    static let batches = 2

    private let threads: Int
    /// The widest box, in embedding units.
    let boxWidth: Double

    /// Nodes per side (G); the transforms have side 2G.
    private var nodes = 0
    /// Per charge: the real grid (G rows of 2G, the right half zero) and its spectrum (2G rows of G + 1).
    private var grids: [UnsafeMutablePointer<Double>] = []
    private var spectra: [UnsafeMutablePointer<fftw_complex>] = []
    /// The kernel's spectrum, real because the wrapped kernel is even (2G rows of G + 1), scaled for
    /// the inverse transform.
    private var kernel: UnsafeMutablePointer<Double>?
    private var kernelSpacing = -1.0
    /// The grid of the last call (see `grid(span:current:boxWidth:)`).
    private var current: (width: Double, boxes: Int)?
    /// The kernel's values (2G × 2G), their spectrum and the 2-D plan between them.
    private var kernelValues: UnsafeMutablePointer<Double>?
    private var kernelSpectrum: UnsafeMutablePointer<fftw_complex>?
    private var kernelPlan: OpaquePointer?
    /// Batched 1-D plans, made on the part of the buffers each transforms, indexed charge × batch.
    private var plans = FFTPlans()

    init(threads: Int, boxWidth: Double = InterpolatedRepulsion.defaultBoxWidth) {
        self.threads = max(1, threads)
        self.boxWidth = boxWidth
    }

    deinit { release() }

    private func release() {
        plannerLock.withLock {
            for plan in plans.all { fftw_destroy_plan(plan) }
            if let kernelPlan { fftw_destroy_plan(kernelPlan) }
        }
        plans = FFTPlans()
        kernelPlan = nil
        for pointer in grids { fftw_free(pointer) }
        for pointer in spectra { fftw_free(pointer) }
        for pointer in [kernel, kernelValues] { if let pointer { fftw_free(pointer) } }
        if let kernelSpectrum { fftw_free(kernelSpectrum) }
        grids = []
        spectra = []
        kernel = nil
        kernelValues = nil
        kernelSpectrum = nil
        nodes = 0
        kernelSpacing = -1
    }

    /// The box counts used: products of 2, 3, 5 and 7 only (fast FFT sides), each at least 8% above
    /// the last, from `minimumBoxes` to `maximumBoxes`. A spread that grows step by step thus changes
    /// the grid (new buffers, plans and kernel) a dozen times in a run, not at every iteration.
    static let boxLadder: [Int] = {
        func smooth(_ n: Int) -> Bool {
            var m = n
            for f in [2, 3, 5, 7] { while m % f == 0 { m /= f } }
            return m == 1
        }
        var ladder: [Int] = []
        var next = minimumBoxes
        while true {
            var count = next
            while !smooth(count) { count += 1 }
            if count > maximumBoxes { break }
            ladder.append(count)
            next = Int((Double(count) * 1.08).rounded(.up))
        }
        return ladder
    }()

    /// Box width and box count for a spread. The width is the default, narrower for small spreads
    /// (at least `minimumBoxes` boxes) and wider for large ones (at most `maximumBoxes`), on the ladder
    /// of `widthStep` powers; the count is the smallest on `boxLadder` that covers the spread with a
    /// box to spare.
    static func grid(span: Double, boxWidth: Double = defaultBoxWidth) -> (width: Double, boxes: Int) {
        let span = max(span, 1e-9)
        let wanted = min(boxWidth, span / Double(minimumBoxes))
        var step = (log(wanted / boxWidth) / log(widthStep)).rounded(.down)
        func needed() -> Int { Int((span / (boxWidth * pow(widthStep, step))).rounded(.up)) + 1 }
        while needed() > boxLadder.last! { step += 1 }
        let need = needed()
        return (boxWidth * pow(widthStep, step), boxLadder.first { $0 >= need }!)
    }

    /// The grid for a spread, given the one in use: that one is kept while it covers the spread, is
    /// no coarser than `grid(span:)` gives for a spread one `widthStep` larger (so never wider than
    /// the default below 160 units) and at most one step finer than for this one, and has at most two
    /// rungs of boxes more. A spread that wavers around a threshold therefore keeps its grid (and its
    /// plans and kernel) instead of switching back and forth at every iteration.
    static func grid(span: Double, current: (width: Double, boxes: Int)?,
                     boxWidth: Double = defaultBoxWidth) -> (width: Double, boxes: Int) {
        let ideal = grid(span: span, boxWidth: boxWidth)
        guard let current else { return ideal }
        let covers = current.width * Double(current.boxes - 1) >= max(span, 1e-9)
        let coarsest = grid(span: span * widthStep, boxWidth: boxWidth).width
        let width = current.width <= coarsest * (1 + 1e-9) && current.width * widthStep >= ideal.width * (1 - 1e-9)
        let rung = boxLadder.firstIndex(of: ideal.boxes).map { boxLadder[min($0 + 2, boxLadder.count - 1)] }
        let boxes = current.boxes <= (rung ?? ideal.boxes)
        return covers && width && boxes ? current : ideal
    }

    private func prepare(nodes g: Int) {
        if g == nodes { return }
        release()
        nodes = g
        let side = 2 * g, width = g + 1
        grids = (0..<3).map { _ in fftw_alloc_real(g * side)! }
        spectra = (0..<3).map { _ in fftw_alloc_complex(side * width)! }
        kernel = fftw_alloc_real(side * width)!
        kernelValues = fftw_alloc_real(side * side)!
        kernelSpectrum = fftw_alloc_complex(side * width)!
        // FFTW_ESTIMATE plans without touching the arrays. Each plan is made on the part of the
        // buffers it transforms, so none runs on arrays other than its own (no alignment question).
        let flags = UInt32(FFTW_ESTIMATE)
        var n = Int32(side)
        let rows = TSNE.partition(g, InterpolatedRepulsion.batches)
        let columns = TSNE.partition(width, InterpolatedRepulsion.batches)
        var made = FFTPlans()
        plannerLock.withLock {
            for c in 0..<3 {
                for r in rows {
                    let grid = grids[c] + r.lowerBound * side, spectrum = spectra[c] + r.lowerBound * width
                    made.rowsForward.append(fftw_plan_many_dft_r2c(
                        1, &n, Int32(r.count), grid, nil, 1, Int32(side), spectrum, nil, 1, Int32(width), flags)!)
                    made.rowsBack.append(fftw_plan_many_dft_c2r(
                        1, &n, Int32(r.count), spectrum, nil, 1, Int32(width), grid, nil, 1, Int32(side),
                        flags | UInt32(FFTW_DESTROY_INPUT))!)
                }
                for k in columns {
                    let first = spectra[c] + k.lowerBound
                    made.columnsForward.append(fftw_plan_many_dft(
                        1, &n, Int32(k.count), first, nil, Int32(width), 1, first, nil, Int32(width), 1,
                        FFTW_FORWARD, flags)!)
                    made.columnsBack.append(fftw_plan_many_dft(
                        1, &n, Int32(k.count), first, nil, Int32(width), 1, first, nil, Int32(width), 1,
                        FFTW_BACKWARD, flags)!)
                }
            }
            kernelPlan = fftw_plan_dft_r2c_2d(n, n, kernelValues, kernelSpectrum, flags)
        }
        plans = made
    }

    /// The spectrum of w² = 1 / (1 + r²)² on the node lattice, wrapped so that index t stands for the
    /// offset t (t < G) or t − 2G (t > G); the offset G itself never occurs.
    private func makeKernel(spacing: Double) {
        if spacing == kernelSpacing { return }
        let g = nodes, side = 2 * g
        let values = kernelValues!, spectrum = kernelSpectrum!
        for a in 0..<side {
            let da = Double(a <= g ? a : a - side) * spacing
            for b in 0..<side {
                let db = Double(b <= g ? b : b - side) * spacing
                let q = 1 / (1 + da * da + db * db)
                values[a * side + b] = (a == g || b == g) ? 0 : q * q
            }
        }
        fftw_execute(kernelPlan)
        let scale = 1 / Double(side * side)
        for k in 0..<(side * (g + 1)) { kernel![k] = spectrum[k].0 * scale }
        kernelSpacing = spacing
    }

    /// Convolves the three grids with the kernel: rows forward (only the G rows that are not padding),
    /// columns forward, the product with the kernel's spectrum, columns back, rows back (only the G rows
    /// that are read). Each pass runs its fixed batches (three charges × `batches`) over the workers.
    private func convolve() {
        let g = nodes, side = 2 * g, width = g + 1
        let batches = InterpolatedRepulsion.batches
        let columns = TSNE.partition(width, batches)
        let buffers = FFTBuffers(grids: grids, spectra: spectra, kernel: kernel!)
        let plans = self.plans
        let items = 3 * batches
        let workers = min(threads, items)
        // Rows forward; the spectrum's padding rows are zeroed.
        parallelFor(workers) { w in
            for item in stride(from: w, to: items, by: workers) { fftw_execute(plans.rowsForward[item]) }
            for c in stride(from: w, to: 3, by: workers) {
                UnsafeMutableRawPointer(buffers.spectra[c] + g * width).initializeMemory(
                    as: UInt8.self, repeating: 0, count: g * width * MemoryLayout<fftw_complex>.stride)
            }
        }
        // Columns forward, product, columns back: each batch of columns is independent.
        parallelFor(workers) { w in
            for item in stride(from: w, to: items, by: workers) {
                fftw_execute(plans.columnsForward[item])
                let c = item / batches, k = columns[item % batches]
                for row in 0..<side {
                    let s = buffers.spectra[c] + row * width, f = buffers.kernel + row * width
                    for t in k { s[t] = (s[t].0 * f[t], s[t].1 * f[t]) }
                }
                fftw_execute(plans.columnsBack[item])
            }
        }
        // Rows back, into the grids' first G rows.
        parallelFor(workers) { w in
            for item in stride(from: w, to: items, by: workers) { fftw_execute(plans.rowsBack[item]) }
        }
    }

    /// Per point: Σ_j w_ij² (y_i − y_j) into `forces` (N × 2), and into `z` terms whose sum is
    /// Z = Σ_{i≠j} w_ij (each term is not that point's own row sum).
    func repulsion(_ y: [Double], forces: inout [Double], z: inout [Double]) {
        let n = y.count / 2
        guard n > 0 else { return }
        var minX = Double.infinity, maxX = -Double.infinity, minY = Double.infinity, maxY = -Double.infinity
        for i in 0..<n {
            minX = min(minX, y[2 * i]); maxX = max(maxX, y[2 * i])
            minY = min(minY, y[2 * i + 1]); maxY = max(maxY, y[2 * i + 1])
        }
        let (width, boxes) = InterpolatedRepulsion.grid(span: max(maxX - minX, maxY - minY), current: current,
                                                         boxWidth: boxWidth)
        current = (width, boxes)
        let p = InterpolatedRepulsion.nodesPerBox
        let g = boxes * p
        prepare(nodes: g)
        makeKernel(spacing: width / Double(p))
        let side = 2 * g
        // Coordinates are taken from the grid's centre, which keeps the charges small.
        let centreX = (minX + maxX) / 2, centreY = (minY + maxY) / 2
        let half = width * Double(boxes) / 2

        // Each point's box and its p + p Lagrange weights, and the points sorted by box row.
        let points = Placement(count: n, nodesPerBox: p, boxRows: boxes)
        defer { points.deallocate() }
        let rowStart = points.rowStart
        for i in 0..<n {
            let u = (y[2 * i] - centreX + half) / width, v = (y[2 * i + 1] - centreY + half) / width
            let bx = min(boxes - 1, max(0, Int(u))), by = min(boxes - 1, max(0, Int(v)))
            points.boxOf[2 * i] = Int32(bx); points.boxOf[2 * i + 1] = Int32(by)
            InterpolatedRepulsion.lagrange(u - Double(bx), into: points.weights.baseAddress! + 2 * p * i)
            InterpolatedRepulsion.lagrange(v - Double(by), into: points.weights.baseAddress! + 2 * p * i + p)
            rowStart[bx + 1] += 1
        }
        for r in 0..<boxes { rowStart[r + 1] += rowStart[r] }
        var fill = Array(rowStart)
        for i in 0..<n {
            let r = Int(points.boxOf[2 * i])
            points.byRow[fill[r]] = Int32(i)
            fill[r] += 1
        }

        // Spread the three charges onto the grids, by rows of boxes.
        for c in 0..<3 { grids[c].update(repeating: 0, count: g * side) }
        let buffers = FFTBuffers(grids: grids, spectra: spectra, kernel: kernel!)
        let rowParts = TSNE.partition(boxes, threads)
        y.withUnsafeBufferPointer { y in
            parallelFor(rowParts.count) { w in
                let (g0, g1, g2) = (buffers.grids[0], buffers.grids[1], buffers.grids[2])
                let wts = points.weights, boxOf = points.boxOf
                for t in rowStart[rowParts[w].lowerBound]..<rowStart[rowParts[w].upperBound] {
                    let i = Int(points.byRow[t])
                    let x = y[2 * i] - centreX, yy = y[2 * i + 1] - centreY
                    let baseA = Int(boxOf[2 * i]) * p, baseB = Int(boxOf[2 * i + 1]) * p
                    for a in 0..<p {
                        let wa = wts[2 * p * i + a]
                        let row = (baseA + a) * side + baseB
                        for b in 0..<p {
                            let wab = wa * wts[2 * p * i + p + b]
                            g0[row + b] += wab
                            g1[row + b] += wab * x
                            g2[row + b] += wab * yy
                        }
                    }
                }
            }
        }

        convolve()

        // Read the potentials back at the points.
        let parts = TSNE.partition(n, threads)
        forces.withUnsafeMutableBufferPointer { forces in
            z.withUnsafeMutableBufferPointer { z in
                y.withUnsafeBufferPointer { y in
                    parallelFor(parts.count) { w in
                        let (g0, g1, g2) = (buffers.grids[0], buffers.grids[1], buffers.grids[2])
                        let wts = points.weights, boxOf = points.boxOf
                        for i in parts[w] {
                            let baseA = Int(boxOf[2 * i]) * p, baseB = Int(boxOf[2 * i + 1]) * p
                            var phi = 0.0, phiX = 0.0, phiY = 0.0
                            for a in 0..<p {
                                let wa = wts[2 * p * i + a]
                                let row = (baseA + a) * side + baseB
                                for b in 0..<p {
                                    let wab = wa * wts[2 * p * i + p + b]
                                    phi += wab * g0[row + b]
                                    phiX += wab * g1[row + b]
                                    phiY += wab * g2[row + b]
                                }
                            }
                            let x = y[2 * i] - centreX, yy = y[2 * i + 1] - centreY
                            forces[2 * i] = x * phi - phiX
                            forces[2 * i + 1] = yy * phi - phiY
                            z[i] = (1 + 2 * (x * x + yy * yy)) * phi - 2 * (x * phiX + yy * phiY) - 1
                        }
                    }
                }
            }
        }
    }

    /// Lagrange weights of the nodes at (k + ½) / p, k = 0..<p, for a position u in [0, 1] of a box.
    @inline(__always)
    static func lagrange(_ u: Double, into weights: UnsafeMutablePointer<Double>) {
        let p = nodesPerBox
        for k in 0..<p {
            let uk = (Double(k) + 0.5) / Double(p)
            var l = 1.0
            for m in 0..<p where m != k {
                let um = (Double(m) + 0.5) / Double(p)
                l *= (u - um) / (uk - um)
            }
            weights[k] = l
        }
    }
}

/// Where each point falls on the grid, in buffers made once per `repulsion` call, which its
/// workers only read: its box column and row (N × 2), its Lagrange weights along each axis
/// (N × 2p), and the points ordered by box column (`byRow`, with each column's start in `rowStart`).
private struct Placement {
    let boxOf: UnsafeMutableBufferPointer<Int32>
    let weights: UnsafeMutableBufferPointer<Double>
    let byRow: UnsafeMutableBufferPointer<Int32>
    let rowStart: UnsafeMutableBufferPointer<Int>

    init(count n: Int, nodesPerBox p: Int, boxRows: Int) {
        boxOf = .allocate(capacity: 2 * n)
        weights = .allocate(capacity: 2 * p * n)
        byRow = .allocate(capacity: n)
        rowStart = .allocate(capacity: boxRows + 1)
        rowStart.initialize(repeating: 0)
    }

    func deallocate() {
        boxOf.deallocate()
        weights.deallocate()
        byRow.deallocate()
        rowStart.deallocate()
    }
}

/// Raw FFTW buffers handed to `parallelFor` workers; each worker touches disjoint parts.
private struct FFTBuffers: @unchecked Sendable {
    let grids: [UnsafeMutablePointer<Double>]
    let spectra: [UnsafeMutablePointer<fftw_complex>]
    let kernel: UnsafeMutablePointer<Double>
}

/// Batched plans, indexed charge × batch; fftw_execute is thread-safe.
private struct FFTPlans: @unchecked Sendable {
    var rowsForward: [OpaquePointer] = []
    var columnsForward: [OpaquePointer] = []
    var columnsBack: [OpaquePointer] = []
    var rowsBack: [OpaquePointer] = []
    var all: [OpaquePointer] { rowsForward + columnsForward + columnsBack + rowsBack }
}
