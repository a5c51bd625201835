import GenredEngine
/// Limited-memory BFGS with a backtracking (Armijo) line search: minimises a smooth function
/// given its value and gradient.
///
/// Chosen over stochastic gradient descent for the heads genred learns because it needs no
/// learning rate and is deterministic: the same data give the same head, bit for bit, which
/// the relearning comparison and the tests rely on. The problems are small (a few thousand to a
/// few tens of thousands of parameters), so full-batch steps are cheap.
struct LBFGS {
    var memory = 10
    var maxIterations = 200
    /// Stop when the gradient's largest component falls below this.
    var gradientTolerance = 1e-5
    /// Stop when a step lowers the value by less than this share of it.
    var relativeDecrease = 1e-9

    struct Result {
        var parameters: [Double]
        var value: Double
        var iterations: Int
    }

    func minimize(_ start: [Double], _ f: ([Double]) -> (value: Double, gradient: [Double])) -> Result {
        var x = start
        var (fx, g) = f(x)
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        var iteration = 0
        while iteration < maxIterations {
            if g.reduce(0, { max($0, abs($1)) }) < gradientTolerance { break }
            // Two-loop recursion: d = -H·g.
            var q = g
            var alpha = [Double](repeating: 0, count: s.count)
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                alpha[i] = rho[i] * dot(s[i], q)
                axpy(-alpha[i], y[i], &q)
            }
            if let ls = s.last, let ly = y.last {
                let gamma = dot(ls, ly) / max(dot(ly, ly), 1e-300)
                for j in q.indices { q[j] *= gamma }
            } else {
                // First step: a unit step along the normalised gradient.
                let norm = dot(g, g).squareRoot()
                if norm > 0 { for j in q.indices { q[j] /= norm } }
            }
            for i in 0..<s.count {
                let beta = rho[i] * dot(y[i], q)
                axpy(alpha[i] - beta, s[i], &q)
            }
            var d = q.map { -$0 }
            var slope = dot(g, d)
            if slope >= 0 {
                // Not a descent direction (curvature went wrong): restart from the gradient.
                s.removeAll(); y.removeAll(); rho.removeAll()
                d = g.map { -$0 }
                slope = dot(g, d)
            }
            var step = 1.0
            var accepted: (x: [Double], f: Double, g: [Double])?
            for _ in 0..<40 {
                var candidate = x
                axpy(step, d, &candidate)
                let (fc, gc) = f(candidate)
                if fc.isFinite && fc <= fx + 1e-4 * step * slope {
                    accepted = (candidate, fc, gc)
                    break
                }
                step *= 0.5
            }
            guard let next = accepted else { break }
            let sk = zip(next.x, x).map { $0 - $1 }
            let yk = zip(next.g, g).map { $0 - $1 }
            let sy = dot(sk, yk)
            if sy > 1e-12 {
                s.append(sk); y.append(yk); rho.append(1 / sy)
                if s.count > memory { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
            }
            let decrease = fx - next.f
            x = next.x
            fx = next.f
            g = next.g
            iteration += 1
            if decrease <= relativeDecrease * max(abs(fx), 1e-12) { break }
        }
        return Result(parameters: x, value: fx, iterations: iteration)
    }
}

@inline(__always)
func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in a.indices { s += a[i] * b[i] }
    return s
}

@inline(__always)
func axpy(_ a: Double, _ x: [Double], _ y: inout [Double]) {
    for i in y.indices { y[i] += a * x[i] }
}
