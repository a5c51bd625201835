import Foundation
import GenredEngine

/// Settings for a t-SNE embedding into two dimensions.
public struct TSNEOptions: Sendable {
    /// How the repulsive part of the gradient is computed.
    public enum Method: Sendable, Equatable {
        /// Exact O(N²) gradient up to `TSNE.exactLimit` points, Barnes-Hut up to
        /// `TSNE.interpolationThreshold`, interpolation from there on.
        case auto
        /// Exact O(N²) gradient at any size.
        case exact
        /// Barnes-Hut quadtree; a cell is summarised when its side over its distance is below `theta`.
        case barnesHut(theta: Double)
        /// Repulsion interpolated on a regular grid and applied by FFT convolution, O(N) per step.
        case interpolation
    }

    /// Target perplexity; lowered to (N - 1) / 3 for small collections.
    public var perplexity: Double = 30
    /// Total gradient steps, early exaggeration included.
    public var iterations: Int = 1000
    public var earlyExaggeration: Double = 12
    public var exaggerationIterations: Int = 250
    /// Step size; `nil` uses N / exaggeration in each phase (N / 12 early, N afterwards),
    /// the rule openTSNE calls "auto", for a gradient without the customary factor 4.
    public var learningRate: Float? = nil
    var momentum: Double = 0.5
    var finalMomentum: Double = 0.8
    /// The longest step a point may take in one iteration; a longer one is shortened to it (nil: no
    /// limit). openTSNE 1.0 defaults to 5. Without it, at 100,000 points the map spread to about 280
    /// units against openTSNE's 70, and the interpolation grid (and its transforms) with it.
    var maximumStep: Double? = 5
    /// Optimisations from different starts, the one with the lowest KL kept; nil: 8 up to
    /// `TSNE.restartLimit` points, 2 up to `TSNE.exactLimit`, 1 above.
    public var restarts: Int? = nil
    /// Seeds the power iteration of the PCA start, the noise of the restarts and the random start
    /// used when PCA degenerates.
    public var seed: UInt64 = 1
    public var method: Method = .auto
    /// Worker count; 0 uses every active core. The output does not depend on it.
    public var threads: Int = 0
    /// The interpolation's widest box (`InterpolatedRepulsion.defaultBoxWidth` when nil); for the
    /// benchmark's comparisons.
    var boxWidth: Double? = nil

    public init(
        perplexity: Double = 30, iterations: Int = 1000, earlyExaggeration: Double = 12,
        exaggerationIterations: Int = 250, learningRate: Float? = nil, seed: UInt64 = 1,
        method: Method = .auto, threads: Int = 0
    ) {
        self.perplexity = perplexity
        self.iterations = iterations
        self.earlyExaggeration = earlyExaggeration
        self.exaggerationIterations = exaggerationIterations
        self.learningRate = learningRate
        self.seed = seed
        self.method = method
        self.threads = threads
    }
}

/// A finished embedding.
struct TSNEResult: Sendable {
    /// N × 2, row-major.
    public var points: [Float]
    /// KL(P‖Q) of the final embedding: exact up to `TSNE.exactDivergenceLimit` points, above
    /// that with the normalisation Z estimated by the same Barnes-Hut pass as the gradient.
    public var klDivergence: Double
    public var perplexityUsed: Double
    /// Why the result departs from the options, e.g. a clamped perplexity.
    public var note: String?
    /// Seconds spent in each phase, in order: neighbours, affinities, initialisation, optimisation.
    var phases: [(name: String, seconds: Double)] = []
}

/// t-distributed stochastic neighbour embedding into the plane.
public enum TSNE {
    /// Largest N for which `.auto` uses the exact gradient.
    static let exactLimit = 1000
    /// Smallest N for which `.auto` interpolates the repulsion instead of using Barnes-Hut.
    static let interpolationThreshold = 10_000
    /// Largest N for which the reported KL divergence is computed exactly.
    static let exactDivergenceLimit = 10_000
    /// Largest N for which the automatic restarts run 8 optimisations.
    static let restartLimit = 250

    /// Embeds `count` rows of `dimensions` features (row-major) into two dimensions.
    static func embed(_ data: [Float], count n: Int, dimensions d: Int, options: TSNEOptions) -> TSNEResult {
        precondition(n >= 0 && d >= 0 && data.count >= n * d, "data holds fewer than count × dimensions values")
        if n < 2 {
            return TSNEResult(points: [Float](repeating: 0, count: 2 * n), klDivergence: 0,
                              perplexityUsed: 0, note: n == 0 ? "no points" : "a single point sits at the origin")
        }
        let threads = options.threads > 0 ? options.threads : max(1, ProcessInfo.processInfo.activeProcessorCount)
        var perplexity = options.perplexity
        var notes: [String] = []
        let ceiling = max(1, Double(n - 1) / 3)
        if !(perplexity > 0) {
            perplexity = min(30, ceiling)
            notes.append("perplexity \(options.perplexity) is not positive; used \(format(perplexity))")
        } else if perplexity > ceiling {
            perplexity = ceiling
            notes.append("perplexity \(format(options.perplexity)) lowered to \(format(perplexity)) for \(n) points")
        }

        var method = options.method
        if case .auto = method {
            method = n <= exactLimit ? .exact : n >= interpolationThreshold ? .interpolation : .barnesHut(theta: 0.5)
        }
        // Every other point when there are at most 3 · perplexity of them, else the 3 · perplexity nearest.
        let neighbours = min(n - 1, max(1, Int((3 * perplexity).rounded(.down))))
        var phases: [(name: String, seconds: Double)] = []
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ name: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            phases.append((name, Double(now - clock) / 1e9))
            clock = now
        }
        let graph = NearestNeighbours.search(data, count: n, dimensions: d, k: neighbours, threads: threads)
        lap("neighbours")
        let p = Affinities.joint(graph, perplexity: perplexity, threads: threads)
        lap("affinities")

        let pca = Initialisation.pca(data, count: n, dimensions: d, seed: options.seed)
        lap("initialisation")
        let restarts = max(1, options.restarts ?? automaticRestarts(n))
        // Several runs go side by side, one thread each (the interpolation's grid is shared state, and
        // never restarted by default): on small sets a worker per iteration costs more than it
        // brings. A run's result does not depend on its thread count.
        let repulsion: Gradient.Repulsion = switch method {
        case .exact, .auto: .exact
        case .barnesHut(let theta): .barnesHut(theta: max(0, theta))
        case .interpolation: .interpolated(InterpolatedRepulsion(threads: threads,
                                                                 boxWidth: options.boxWidth ?? InterpolatedRepulsion.defaultBoxWidth))
        }
        let interpolated = if case .interpolated = repulsion { true } else { false }
        let sideBySide = restarts > 1 && threads > 1 && !interpolated
        let runThreads = sideBySide ? 1 : threads
        let gradient = Gradient(affinities: p, count: n, repulsion: repulsion, threads: runThreads)
        // One stream for every restart's noise, drawn in restart order.
        var noise = SeededGenerator(seed: options.seed ^ 0x7265_7374_6172_7473)
        var starts: [[Double]] = []
        for restart in 0..<restarts {
            var start = pca
            if restart > 0 {
                // The PCA start with seeded noise as large as its spread: a different basin, the same broad layout.
                for k in start.indices { start[k] += Initialisation.scale * noise.gaussian() }
            }
            starts.append(start)
        }
        var runs = [(y: [Double], kl: Double)](repeating: ([], 0), count: restarts)
        let workers = sideBySide ? min(threads, restarts) : 1
        runs.withUnsafeMutableBufferPointer { out in
            parallelFor(workers) { w in
                for r in stride(from: w, to: restarts, by: workers) {
                    out[r] = optimise(starts[r], gradient: gradient, affinities: p, options: options, threads: runThreads)
                }
            }
        }
        var best = runs[0]
        for run in runs.dropFirst() where run.kl < best.kl { best = run }
        let (y, kl) = best
        lap("optimisation")
        return TSNEResult(points: y.map { Float($0) }, klDivergence: kl, perplexityUsed: perplexity,
                          note: notes.isEmpty ? nil : notes.joined(separator: "; "), phases: phases)
    }

    /// Gradient descent from `start`; returns the embedding and its KL(P‖Q).
    static func optimise(_ start: [Double], gradient: Gradient, affinities p: SparseAffinities, options: TSNEOptions,
                         threads: Int) -> (y: [Double], kl: Double) {
        let n = start.count / 2
        var y = start
        var update = [Double](repeating: 0, count: 2 * n)
        var gains = [Double](repeating: 1, count: 2 * n)
        var grad = [Double](repeating: 0, count: 2 * n)
        let total = max(0, options.iterations)
        for iteration in 0..<total {
            let early = iteration < options.exaggerationIterations
            let exaggeration = early ? options.earlyExaggeration : 1
            let momentum = early ? options.momentum : options.finalMomentum
            let rate = options.learningRate.map(Double.init) ?? Double(n) / max(exaggeration, 1e-12)
            _ = gradient.evaluate(y, exaggeration: exaggeration, into: &grad)
            step(&y, grad: grad, update: &update, gains: &gains, momentum: momentum, rate: rate,
                 maximumStep: options.maximumStep)
        }
        let kl: Double
        if n <= exactDivergenceLimit {
            kl = Divergence.exact(y, affinities: p, count: n, threads: threads)
        } else {
            let z = gradient.evaluate(y, exaggeration: 1, into: &grad)
            kl = Divergence.withNormalisation(y, affinities: p, z: z)
        }
        return (y, kl)
    }

    /// Optimisations run from different starts, the lowest KL kept: several for small sets, where
    /// an exact run costs little and one run's local minimum shows most; two up to `exactLimit`.
    static func automaticRestarts(_ n: Int) -> Int {
        n <= restartLimit ? 8 : n <= exactLimit ? 2 : 1
    }

    /// One gradient-descent step with momentum and per-coordinate gains, each point's step shortened
    /// to `maximumStep` where longer, then re-centring.
    static func step(_ y: inout [Double], grad: [Double], update: inout [Double], gains: inout [Double],
                     momentum: Double, rate: Double, maximumStep: Double? = nil) {
        let count = y.count
        for k in 0..<count {
            let g = grad[k]
            // Grow the gain while the gradient keeps pushing the way the last step went.
            if (g > 0) != (update[k] > 0) || update[k] == 0 {
                gains[k] += 0.2
            } else {
                gains[k] = gains[k] * 0.8 + 0.01
            }
            update[k] = momentum * update[k] - rate * gains[k] * g
        }
        var sumX = 0.0, sumY = 0.0
        for i in 0..<(count / 2) {
            if let limit = maximumStep {
                let length = (update[2 * i] * update[2 * i] + update[2 * i + 1] * update[2 * i + 1]).squareRoot()
                if length > limit {
                    update[2 * i] *= limit / length
                    update[2 * i + 1] *= limit / length
                }
            }
            y[2 * i] += update[2 * i]
            y[2 * i + 1] += update[2 * i + 1]
            sumX += y[2 * i]
            sumY += y[2 * i + 1]
        }
        let n = Double(count / 2)
        let mx = sumX / n, my = sumY / n
        for i in 0..<(count / 2) {
            y[2 * i] -= mx
            y[2 * i + 1] -= my
        }
    }

    static func format(_ x: Double) -> String {
        String(format: "%.4g", x)
    }

    /// Splits `0..<count` into `parts` contiguous ranges of near-equal size.
    static func partition(_ count: Int, _ parts: Int) -> [Range<Int>] {
        let parts = max(1, min(parts, max(count, 1)))
        return (0..<parts).map { w in (count * w / parts)..<(count * (w + 1) / parts) }
    }
}
