import CGenredLinux
import Foundation
import GenredEngine

/// The KL gradient with respect to the embedding, without the customary factor 4 (openTSNE's convention):
/// g_i = exaggeration · Σ_j p_ij w_ij (y_i − y_j) − Σ_j w_ij² (y_i − y_j) / Z, with w_ij = 1 / (1 + |y_i − y_j|²)
/// and Z = Σ_{k≠l} w_kl.
///
/// Every per-point sum is written to its own slot and reduced in index order, so the result does not
/// depend on the worker count.
struct Gradient {
    /// How the repulsive sums are found.
    enum Repulsion {
        /// Every pair, O(N²) per step.
        case exact
        /// A Barnes-Hut quadtree: a cell whose side over its distance is below `theta` counts as one point.
        case barnesHut(theta: Double)
        /// Interpolated on a grid and applied by FFT convolution (`TSNEOptions.Method.interpolation`).
        case interpolated(InterpolatedRepulsion)
    }

    let affinities: SparseAffinities
    let count: Int
    let repulsion: Repulsion
    let threads: Int

    /// Fills `grad` (N × 2) and returns Z.
    func evaluate(_ y: [Double], exaggeration: Double, into grad: inout [Double]) -> Double {
        let n = count
        var repulsive = [Double](repeating: 0, count: 2 * n)
        var partialZ = [Double](repeating: 0, count: n)
        let parts = TSNE.partition(n, threads)
        switch repulsion {
        case .exact:
            ExactRepulsion.sums(y, count: n, parts: parts, forces: &repulsive, z: &partialZ)
        case .barnesHut(let theta):
            QuadTree(y).repulsion(y, theta: theta, parts: parts, forces: &repulsive, z: &partialZ)
        case .interpolated(let grid):
            grid.repulsion(y, forces: &repulsive, z: &partialZ)
        }
        var z = 0.0
        for i in 0..<n { z += partialZ[i] }
        let inverseZ = z > 0 ? 1 / z : 0
        let p = affinities
        y.withUnsafeBufferPointer { y in
            repulsive.withUnsafeBufferPointer { rep in
                grad.withUnsafeMutableBufferPointer { g in
                    p.rowStart.withUnsafeBufferPointer { start in
                        p.columns.withUnsafeBufferPointer { cols in
                            p.values.withUnsafeBufferPointer { vals in
                                parallelFor(parts.count) { w in
                                    for i in parts[w] {
                                        let xi = y[2 * i], yi = y[2 * i + 1]
                                        var ax = 0.0, ay = 0.0
                                        for t in start[i]..<start[i + 1] {
                                            let j = Int(cols[t])
                                            let dx = xi - y[2 * j], dy = yi - y[2 * j + 1]
                                            let pq = vals[t] / (1 + dx * dx + dy * dy)
                                            ax += pq * dx
                                            ay += pq * dy
                                        }
                                        g[2 * i] = exaggeration * ax - rep[2 * i] * inverseZ
                                        g[2 * i + 1] = exaggeration * ay - rep[2 * i + 1] * inverseZ
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return z
    }
}

/// A Barnes-Hut quadtree over the embedding: one point per leaf, except that points closer than
/// the depth limit resolves share a leaf.
struct QuadTree {
    struct Node {
        var centreX: Double
        var centreY: Double
        var halfWidth: Double
        /// Sum of member positions while building, their mean afterwards.
        var massX: Double = 0
        var massY: Double = 0
        var count: Int32 = 0
        /// Index of the first of four consecutive children, or -1 for a leaf.
        var firstChild: Int32 = -1
    }

    static let maximumDepth = 48
    private(set) var nodes: [Node] = []
    /// The leaf holding each point.
    private(set) var leafOf: [Int32]

    init(_ y: [Double]) {
        let n = y.count / 2
        leafOf = [Int32](repeating: -1, count: n)
        var minX = Double.infinity, maxX = -Double.infinity, minY = Double.infinity, maxY = -Double.infinity
        for i in 0..<n {
            minX = min(minX, y[2 * i]); maxX = max(maxX, y[2 * i])
            minY = min(minY, y[2 * i + 1]); maxY = max(maxY, y[2 * i + 1])
        }
        let half = max(maxX - minX, maxY - minY, 1e-12) * 0.5 * (1 + 1e-9) + 1e-12
        nodes.reserveCapacity(4 * n + 1)
        nodes.append(Node(centreX: (minX + maxX) / 2, centreY: (minY + maxY) / 2, halfWidth: half))
        // The point each leaf was created with; -1 for an empty leaf.
        var occupant: [Int32] = [-1]
        occupant.reserveCapacity(4 * n + 1)
        for i in 0..<n {
            let px = y[2 * i], py = y[2 * i + 1]
            var node = 0
            var depth = 0
            while true {
                nodes[node].count += 1
                nodes[node].massX += px
                nodes[node].massY += py
                if nodes[node].firstChild >= 0 {
                    node = Int(nodes[node].firstChild) + quadrant(nodes[node], px, py)
                    depth += 1
                    continue
                }
                if nodes[node].count == 1 {
                    occupant[node] = Int32(i)
                    leafOf[i] = Int32(node)
                    break
                }
                if depth >= QuadTree.maximumDepth {
                    leafOf[i] = Int32(node)
                    break
                }
                // Split the leaf, move its single occupant down, and continue with point i.
                let parent = nodes[node]
                let first = nodes.count
                let quarter = parent.halfWidth / 2
                for q in 0..<4 {
                    nodes.append(Node(centreX: parent.centreX + (q & 1 == 0 ? -quarter : quarter),
                                      centreY: parent.centreY + (q & 2 == 0 ? -quarter : quarter),
                                      halfWidth: quarter))
                    occupant.append(-1)
                }
                nodes[node].firstChild = Int32(first)
                let resident = Int(occupant[node])
                occupant[node] = -1
                let rx = y[2 * resident], ry = y[2 * resident + 1]
                let child = first + quadrant(parent, rx, ry)
                nodes[child].count = 1
                nodes[child].massX = rx
                nodes[child].massY = ry
                occupant[child] = Int32(resident)
                leafOf[resident] = Int32(child)
                node = first + quadrant(parent, px, py)
                depth += 1
            }
        }
        for k in nodes.indices where nodes[k].count > 0 {
            nodes[k].massX /= Double(nodes[k].count)
            nodes[k].massY /= Double(nodes[k].count)
        }
        compact()
    }

    /// What the traversal reads of a node, renumbered depth-first so that a subtree sits close together.
    struct Cell {
        var massX: Double
        var massY: Double
        var sideSquared: Double
        var count: Int32
        var firstChild: Int32
    }

    private(set) var cells: [Cell] = []
    /// The cell of each point's leaf.
    private(set) var leafCell: [Int32] = []
    /// Points in depth-first order of their leaves, so neighbouring work items walk similar paths.
    private(set) var order: [Int32] = []

    private mutating func compact() {
        var renumbered = [Int32](repeating: -1, count: nodes.count)
        cells = [Cell](repeating: Cell(massX: 0, massY: 0, sideSquared: 0, count: 0, firstChild: -1), count: nodes.count)
        renumbered[0] = 0
        var stack: [Int] = [0]
        var next: Int32 = 1
        while let old = stack.popLast() {
            let node = nodes[old], label = Int(renumbered[old])
            let side = 2 * node.halfWidth
            cells[label] = Cell(massX: node.massX, massY: node.massY, sideSquared: side * side, count: node.count, firstChild: -1)
            guard node.firstChild >= 0 else { continue }
            cells[label].firstChild = next
            for q in 0..<4 { renumbered[Int(node.firstChild) + q] = next + Int32(q) }
            next += 4
            for q in (0..<4).reversed() where nodes[Int(node.firstChild) + q].count > 0 {
                stack.append(Int(node.firstChild) + q)
            }
        }
        leafCell = leafOf.map { renumbered[Int($0)] }
        // Counting sort of the points by leaf cell.
        var start = [Int](repeating: 0, count: cells.count + 1)
        for c in leafCell { start[Int(c) + 1] += 1 }
        for k in 0..<cells.count { start[k + 1] += start[k] }
        order = [Int32](repeating: 0, count: leafCell.count)
        for (i, c) in leafCell.enumerated() {
            order[start[Int(c)]] = Int32(i)
            start[Int(c)] += 1
        }
    }

    @inline(__always)
    private func quadrant(_ node: Node, _ x: Double, _ y: Double) -> Int {
        (x >= node.centreX ? 1 : 0) + (y >= node.centreY ? 2 : 0)
    }

    /// Per point: Σ_j w_ij² (y_i − y_j) into `forces` and Σ_j w_ij into `z`, summarising a cell
    /// whose side over its distance from the point is below `theta`.
    func repulsion(_ y: [Double], theta: Double, parts: [Range<Int>], forces: inout [Double], z: inout [Double]) {
        let thetaSquared = theta * theta
        let parts = TSNE.partition(order.count, parts.count)
        cells.withUnsafeBufferPointer { cells in
            leafCell.withUnsafeBufferPointer { leafCell in
                order.withUnsafeBufferPointer { order in
                    y.withUnsafeBufferPointer { y in
                        forces.withUnsafeMutableBufferPointer { forces in
                            z.withUnsafeMutableBufferPointer { z in
                                parallelFor(parts.count) { w in
                                    var stack = [Int32](repeating: 0, count: 4 * QuadTree.maximumDepth + 8)
                                    stack.withUnsafeMutableBufferPointer { stack in
                                        for position in parts[w] {
                                            let i = Int(order[position])
                                            let xi = y[2 * i], yi = y[2 * i + 1]
                                            let own = leafCell[i]
                                            var fx = 0.0, fy = 0.0, zi = 0.0
                                            var top = 1
                                            stack[0] = 0
                                            while top > 0 {
                                                top -= 1
                                                let index = stack[top]
                                                let cell = cells[Int(index)]
                                                if cell.count == 0 { continue }
                                                var members = Double(cell.count)
                                                let dx = xi - cell.massX, dy = yi - cell.massY
                                                let d2 = dx * dx + dy * dy
                                                if cell.firstChild < 0 {
                                                    if index == own { members -= 1 }
                                                    if members == 0 { continue }
                                                } else if cell.sideSquared >= thetaSquared * d2 {
                                                    let first = cell.firstChild
                                                    stack[top] = first
                                                    stack[top + 1] = first + 1
                                                    stack[top + 2] = first + 2
                                                    stack[top + 3] = first + 3
                                                    top += 4
                                                    continue
                                                }
                                                let q = 1 / (1 + d2)
                                                zi += members * q
                                                let m = members * q * q
                                                fx += m * dx
                                                fy += m * dy
                                            }
                                            forces[2 * i] = fx
                                            forces[2 * i + 1] = fy
                                            z[i] = zi
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The O(N²) repulsion: every pair's q_ij = 1 / (1 + |y_i − y_j|²), summed per point by
/// `genred_tsne_repulsion` (AVX2 where the CPU has it; the same bits either way).
enum ExactRepulsion {
    /// For each point i: z[i] = Σ_{j≠i} q_ij and forces[2i...2i+1] = Σ_{j≠i} q_ij² (y_i − y_j).
    static func sums(_ y: [Double], count n: Int, parts: [Range<Int>], forces: inout [Double], z: inout [Double]) {
        var xs = [Double](repeating: 0, count: n), ys = xs
        for i in 0..<n { xs[i] = y[2 * i]; ys[i] = y[2 * i + 1] }
        xs.withUnsafeBufferPointer { xs in
            ys.withUnsafeBufferPointer { ys in
                forces.withUnsafeMutableBufferPointer { f in
                    z.withUnsafeMutableBufferPointer { z in
                        parallelFor(parts.count) { w in
                            guard !parts[w].isEmpty else { return }
                            genred_tsne_repulsion(xs.baseAddress!, ys.baseAddress!, Int32(n), Int32(parts[w].lowerBound),
                                                  Int32(parts[w].upperBound), f.baseAddress!, z.baseAddress!)
                        }
                    }
                }
            }
        }
    }
}

/// KL(P‖Q) of an embedding.
enum Divergence {
    /// Exact: Σ p_ij ln p_ij − Σ p_ij ln w_ij + ln Z with Z summed over all pairs (O(N²)).
    static func exact(_ y: [Double], affinities p: SparseAffinities, count n: Int, threads: Int) -> Double {
        var partial = [Double](repeating: 0, count: n)
        var forces = [Double](repeating: 0, count: 2 * n)
        ExactRepulsion.sums(y, count: n, parts: TSNE.partition(n, threads), forces: &forces, z: &partial)
        var z = 0.0
        for i in 0..<n { z += partial[i] }
        return withNormalisation(y, affinities: p, z: z)
    }

    /// With a given normalisation Z, e.g. the Barnes-Hut estimate.
    static func withNormalisation(_ y: [Double], affinities p: SparseAffinities, z: Double) -> Double {
        var kl = 0.0
        var total = 0.0
        for i in 0..<p.count {
            for t in p.rowStart[i]..<p.rowStart[i + 1] {
                let v = p.values[t]
                guard v > 0 else { continue }
                let j = Int(p.columns[t])
                let dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1]
                kl += v * (log(v) + log(1 + dx * dx + dy * dy))
                total += v
            }
        }
        return kl + total * log(z)
    }
}
