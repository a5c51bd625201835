import COpenBLAS
import Foundation
import GenredEngine

/// How a taxonomy's outputs are read: one class per track, or any number.
public enum TaxonomyOutput: String, Sendable, Codable {
    /// Single-label: a softmax over the classes (folder labels, or tags with one value each).
    case softmax
    /// Multi-label: one sigmoid per class (some tracks carry several labels).
    case sigmoid
}

/// One kind of head `genred learn` can train, with its regularisation.
public struct HeadSpec: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        /// Multinomial (or one-vs-rest) logistic regression: a linear map of the features.
        case logistic
        /// One hidden ReLU layer, then the same output layer.
        case mlp
    }

    public var kind: Kind
    /// Hidden units (0 for logistic).
    public var hidden: Int
    /// L2 penalty on the weights (not the biases), per track of training data.
    public var l2: Double

    public init(kind: Kind, hidden: Int = 0, l2: Double) {
        self.kind = kind
        self.hidden = kind == .mlp ? hidden : 0
        self.l2 = l2
    }

    public var description: String {
        switch kind {
        case .logistic: "logistic regression, L2 \(Self.format(l2))"
        case .mlp: "MLP (\(hidden) hidden), L2 \(Self.format(l2))"
        }
    }

    static func format(_ x: Double) -> String {
        x >= 0.01 ? String(format: "%g", x) : String(format: "%.0e", x)
    }

    /// The candidates `genred learn` compares by grouped cross-validation, simplest first:
    /// a tie goes to the earlier one.
    public static let candidates: [HeadSpec] = [
        HeadSpec(kind: .logistic, l2: 1), HeadSpec(kind: .logistic, l2: 0.1),
        HeadSpec(kind: .logistic, l2: 0.01), HeadSpec(kind: .logistic, l2: 0.001),
        HeadSpec(kind: .mlp, hidden: 64, l2: 0.01),
    ]
}

/// What a head is trained on: standardised features and, per track and class, the target
/// and the weight that balances the classes.
struct TrainingData {
    let x: FeatureMatrix
    /// `rows x classes`: one-hot (softmax) or multi-hot (sigmoid).
    let targets: [Float]
    let classes: Int
    let output: TaxonomyOutput
    /// Softmax: one weight per track (its class's); sigmoid: one per track and class
    /// (positives and negatives of each class weigh half the total each).
    let weights: [Float]

    /// Class weights `n / (classes * n_c)` ("balanced"), so a small class counts as much as a
    /// large one in the loss; sigmoid outputs balance each class's positives against its negatives.
    /// A mini-batch of a larger set, keeping the larger set's weights.
    init(x: FeatureMatrix, targets: [Float], classes: Int, output: TaxonomyOutput, weights: [Float]) {
        self.x = x
        self.targets = targets
        self.classes = classes
        self.output = output
        self.weights = weights
    }

    init(x: FeatureMatrix, targets: [Float], classes: Int, output: TaxonomyOutput) {
        self.x = x
        self.targets = targets
        self.classes = classes
        self.output = output
        let n = x.rows
        var positives = [Double](repeating: 0, count: classes)
        for i in 0..<n { for c in 0..<classes where targets[i * classes + c] > 0.5 { positives[c] += 1 } }
        switch output {
        case .softmax:
            let present = Double(positives.filter { $0 > 0 }.count)
            let classWeight = positives.map { $0 > 0 ? Double(n) / (present * $0) : 0 }
            weights = (0..<n).map { i in
                var w = 0.0
                for c in 0..<classes { w += Double(targets[i * classes + c]) * classWeight[c] }
                return Float(w)
            }
        case .sigmoid:
            var w = [Float](repeating: 0, count: n * classes)
            for c in 0..<classes {
                let pos = positives[c], neg = Double(n) - positives[c]
                let wp = pos > 0 ? Double(n) / (2 * pos) : 0, wn = neg > 0 ? Double(n) / (2 * neg) : 0
                for i in 0..<n { w[i * classes + c] = Float(targets[i * classes + c] > 0.5 ? wp : wn) }
            }
            weights = w
        }
    }
}

/// A trained head: the weights that turn standardised features into one logit per class.
public struct ClassifierHead: Sendable, Equatable {
    public let spec: HeadSpec
    package let inputs: Int
    public let classes: Int
    public let output: TaxonomyOutput
    /// logistic: `inputs x classes`; mlp: `inputs x hidden`.
    let w1: [Float]
    let b1: [Float]
    /// mlp only: `hidden x classes`.
    let w2: [Float]
    let b2: [Float]

    public init(spec: HeadSpec, inputs: Int, classes: Int, output: TaxonomyOutput,
                w1: [Float], b1: [Float], w2: [Float] = [], b2: [Float] = []) {
        self.spec = spec
        self.inputs = inputs
        self.classes = classes
        self.output = output
        self.w1 = w1
        self.b1 = b1
        self.w2 = w2
        self.b2 = b2
    }

    /// Logits, `rows x classes`.
    public func logits(_ x: FeatureMatrix) -> [Float] {
        switch spec.kind {
        case .logistic:
            return x.affine(w1, bias: b1, outputs: classes)
        case .mlp:
            var h = x.affine(w1, bias: b1, outputs: spec.hidden)
            for i in h.indices where h[i] < 0 { h[i] = 0 }
            return FeatureMatrix(rows: x.rows, columns: spec.hidden, values: h).affine(w2, bias: b2, outputs: classes)
        }
    }

    // MARK: Training

    /// Fits `spec` to `data`. The MLP's starting weights come from `seed`, so a fit is
    /// reproducible; `maxIterations` bounds the L-BFGS iterations.
    /// `from`: a head of the same kind and shape to start from (the previous fit of a
    /// regularisation path, which the next one then needs few iterations to adjust).
    static func train(_ spec: HeadSpec, _ data: TrainingData, seed: UInt64, from warm: ClassifierHead? = nil,
                      maxIterations: Int? = nil) -> ClassifierHead {
        let d = data.x.columns, k = data.classes, h = spec.hidden
        var start: [Double]
        switch spec.kind {
        case _ where warm != nil && warm!.spec.kind == spec.kind && warm!.spec.hidden == h && warm!.inputs == d && warm!.classes == k:
            start = (warm!.w1 + warm!.b1 + warm!.w2 + warm!.b2).map(Double.init)
        case .logistic:
            start = [Double](repeating: 0, count: d * k + k)
        case .mlp:
            var rng = SeededGenerator(seed: seed)
            let s1 = (2.0 / Double(d)).squareRoot(), s2 = (1.0 / Double(h)).squareRoot()
            start = (0..<(d * h)).map { _ in rng.gaussian() * s1 } + [Double](repeating: 0, count: h)
                + (0..<(h * k)).map { _ in rng.gaussian() * s2 } + [Double](repeating: 0, count: k)
        }
        if spec.kind == .mlp && data.x.rows > minibatchAbove {
            return unpack(spec, inputs: d, classes: k, output: data.output, adam(spec, data, start, seed: seed))
        }
        var solver = LBFGS()
        solver.maxIterations = maxIterations ?? (spec.kind == .logistic ? 300 : 400)
        let result = solver.minimize(start) { theta in objective(spec, data, theta) }
        return unpack(spec, inputs: d, classes: k, output: data.output, result.parameters)
    }

    /// Above this many tracks the MLP is fitted on mini-batches: a full-batch step costs two
    /// products of every track's features with the hidden layer, and the few hundred steps
    /// L-BFGS takes to converge grow too dear (a minute for 10,000 tracks on one core).
    static let minibatchAbove = 2000

    /// Adam on shuffled mini-batches of 128 tracks for 2,500 steps, the step size decaying
    /// along a cosine to zero so the last steps settle; shuffles come from `seed`.
    private static func adam(_ spec: HeadSpec, _ data: TrainingData, _ start: [Double], seed: UInt64) -> [Double] {
        let n = data.x.rows, k = data.classes, batch = 128, steps = 2500
        let (rate, beta1, beta2, epsilon) = (0.002, 0.9, 0.999, 1e-8)
        var rng = SeededGenerator(seed: seed ^ 0x5EED)
        var theta = start
        var m = [Double](repeating: 0, count: theta.count), v = m
        var order = Array(0..<n)
        var cursor = n
        for step in 1...steps {
            if cursor + batch > n {
                order.shuffle(using: &rng)
                cursor = 0
            }
            let rows = Array(order[cursor..<(cursor + batch)])
            cursor += batch
            var targets = [Float](repeating: 0, count: batch * k)
            var weights = [Float](repeating: 0, count: data.output == .softmax ? batch : batch * k)
            for (r, i) in rows.enumerated() {
                for c in 0..<k { targets[r * k + c] = data.targets[i * k + c] }
                if data.output == .softmax {
                    weights[r] = data.weights[i]
                } else {
                    for c in 0..<k { weights[r * k + c] = data.weights[i * k + c] }
                }
            }
            let part = TrainingData(x: data.x.selecting(rows), targets: targets, classes: k, output: data.output, weights: weights)
            let (_, g) = objective(spec, part, theta)
            let lr = rate * 0.5 * (1 + cos(Double.pi * Double(step - 1) / Double(steps)))
            let c1 = 1 - pow(beta1, Double(step)), c2 = 1 - pow(beta2, Double(step))
            for j in theta.indices {
                m[j] = beta1 * m[j] + (1 - beta1) * g[j]
                v[j] = beta2 * v[j] + (1 - beta2) * g[j] * g[j]
                theta[j] -= lr * (m[j] / c1) / ((v[j] / c2).squareRoot() + epsilon)
            }
        }
        return theta
    }

    private static func unpack(_ spec: HeadSpec, inputs d: Int, classes k: Int, output: TaxonomyOutput, _ theta: [Double]) -> ClassifierHead {
        let f = theta.map(Float.init)
        switch spec.kind {
        case .logistic:
            return ClassifierHead(spec: spec, inputs: d, classes: k, output: output,
                                  w1: Array(f[0..<(d * k)]), b1: Array(f[(d * k)..<(d * k + k)]))
        case .mlp:
            let h = spec.hidden
            var o = 0
            func take(_ n: Int) -> [Float] { defer { o += n }; return Array(f[o..<(o + n)]) }
            let w1 = take(d * h), b1 = take(h), w2 = take(h * k), b2 = take(k)
            return ClassifierHead(spec: spec, inputs: d, classes: k, output: output, w1: w1, b1: b1, w2: w2, b2: b2)
        }
    }

    /// The weighted cross-entropy plus the L2 penalty, and its gradient.
    private static func objective(_ spec: HeadSpec, _ data: TrainingData, _ theta: [Double]) -> (Double, [Double]) {
        let n = data.x.rows, d = data.x.columns, k = data.classes
        let head = unpack(spec, inputs: d, classes: k, output: data.output, theta)
        var hidden: [Float] = []
        let z: [Float]
        switch spec.kind {
        case .logistic:
            z = data.x.affine(head.w1, bias: head.b1, outputs: k)
        case .mlp:
            hidden = data.x.affine(head.w1, bias: head.b1, outputs: spec.hidden)
            for i in hidden.indices where hidden[i] < 0 { hidden[i] = 0 }
            z = FeatureMatrix(rows: n, columns: spec.hidden, values: hidden).affine(head.w2, bias: head.b2, outputs: k)
        }
        var (loss, dz) = outputLoss(z, data)

        var grad: [Double] = []
        var penalty = 0.0
        func weightGradient(_ input: [Float], columns: Int, _ delta: [Float], outputs: Int, weights: [Float]) -> [Double] {
            var g = [Float](repeating: 0, count: columns * outputs)
            if n > 0 {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(columns), Int32(outputs), Int32(n),
                            1, input, Int32(columns), delta, Int32(outputs), 0, &g, Int32(outputs))
            }
            var out = [Double](repeating: 0, count: g.count)
            for i in g.indices {
                let w = Double(weights[i])
                out[i] = Double(g[i]) + spec.l2 * w
                penalty += 0.5 * spec.l2 * w * w
            }
            return out
        }
        func columnSums(_ m: [Float], _ columns: Int) -> [Double] {
            var s = [Double](repeating: 0, count: columns)
            for i in 0..<n { for c in 0..<columns { s[c] += Double(m[i * columns + c]) } }
            return s
        }
        switch spec.kind {
        case .logistic:
            grad = weightGradient(data.x.values, columns: d, dz, outputs: k, weights: head.w1) + columnSums(dz, k)
        case .mlp:
            let h = spec.hidden
            let gw2 = weightGradient(hidden, columns: h, dz, outputs: k, weights: head.w2)
            let gb2 = columnSums(dz, k)
            var dh = [Float](repeating: 0, count: n * h)
            if n > 0 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(h), Int32(k),
                            1, dz, Int32(k), head.w2, Int32(k), 0, &dh, Int32(h))
            }
            for i in dh.indices where hidden[i] <= 0 { dh[i] = 0 }
            let gw1 = weightGradient(data.x.values, columns: d, dh, outputs: h, weights: head.w1)
            grad = gw1 + columnSums(dh, h) + gw2 + gb2
        }
        loss += penalty
        dz = []
        return (loss, grad)
    }

    /// The weighted mean cross-entropy of logits `z` and its derivative by each logit.
    static func outputLoss(_ z: [Float], _ data: TrainingData) -> (Double, [Float]) {
        let n = data.x.rows, k = data.classes
        var dz = [Float](repeating: 0, count: n * k)
        var loss = 0.0
        switch data.output {
        case .softmax:
            let total = max(data.weights.reduce(0.0) { $0 + Double($1) }, 1e-12)
            for i in 0..<n {
                let row = i * k
                var m = -Float.infinity
                for c in 0..<k { m = max(m, z[row + c]) }
                var sum = 0.0
                for c in 0..<k { sum += Foundation.exp(Double(z[row + c] - m)) }
                let lse = Double(m) + Foundation.log(sum)
                let w = Double(data.weights[i]) / total
                var dotTarget = 0.0
                for c in 0..<k {
                    let t = Double(data.targets[row + c])
                    dotTarget += t * Double(z[row + c])
                    let p = Foundation.exp(Double(z[row + c]) - lse)
                    dz[row + c] = Float(w * (p - t))
                }
                loss += w * (lse - dotTarget)
            }
        case .sigmoid:
            let scale = 1 / Double(max(n, 1))
            for i in 0..<(n * k) {
                let x = Double(z[i]), t = Double(data.targets[i]), w = Double(data.weights[i]) * scale
                let softplus = max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x)))
                loss += w * (softplus - t * x)
                dz[i] = Float(w * (1 / (1 + Foundation.exp(-x)) - t))
            }
        }
        return (loss, dz)
    }
}
