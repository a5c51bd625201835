import Foundation
import GenredEngine

/// Turns a head's logits into probabilities that match how often the classes are right.
///
/// A head trained with class weights scores as if every class were equally common, and an
/// L2-penalised or over-fitted head is too timid or too sure. Both are corrected on the
/// held-out folds' logits, which the head never saw:
/// - softmax: `p = softmax(a·z + b)`, one scale `a` (a temperature, `1/a`) and one bias per
///   class, which puts the collection's own class frequencies back;
/// - sigmoid: `p_c = σ(a_c·z_c + b_c)` per class (Platt scaling).
///
/// The biases carry a small L2 penalty so that a class with a handful of tracks cannot push
/// its bias to infinity, and the scales (fitted as logarithms, so they stay positive) one
/// towards 1: when the held-out logits happen to separate the classes perfectly, the best
/// scale would otherwise grow without bound, and the next album's one mistake would be made
/// with certainty.
public struct Calibration: Sendable, Equatable, Codable {
    public var output: TaxonomyOutput
    /// softmax: one value; sigmoid: one per class.
    public var scale: [Double]
    package var bias: [Double]

    public init(output: TaxonomyOutput, scale: [Double], bias: [Double]) {
        self.output = output
        self.scale = scale
        self.bias = bias
    }

    /// Leaves the logits as they are.
    package static func identity(_ output: TaxonomyOutput, classes: Int) -> Calibration {
        Calibration(output: output, scale: [Double](repeating: 1, count: output == .softmax ? 1 : classes),
                    bias: [Double](repeating: 0, count: classes))
    }

    static let biasPenalty = 0.01
    static let scalePenalty = 0.01

    /// Probabilities of one track's logits.
    public func probabilities<C: Collection>(_ z: C) -> [Float] where C.Element == Float {
        let k = bias.count
        var out = [Float](repeating: 0, count: k)
        switch output {
        case .softmax:
            let scaled = zip(z, bias).map { scale[0] * Double($0) + $1 }
            let m = scaled.max() ?? 0
            let e = scaled.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for c in 0..<k { out[c] = Float(e[c] / s) }
        case .sigmoid:
            for (c, x) in z.enumerated() { out[c] = Float(1 / (1 + Foundation.exp(-(scale[c] * Double(x) + bias[c])))) }
        }
        return out
    }

    /// Probabilities of `rows x classes` logits, row-major.
    public func probabilities(logits: [Float], classes: Int) -> [Float] {
        let n = classes > 0 ? logits.count / classes : 0
        var out: [Float] = []
        out.reserveCapacity(logits.count)
        for i in 0..<n { out += probabilities(logits[(i * classes)..<((i + 1) * classes)]) }
        return out
    }

    /// Fits the calibration to held-out logits and their targets (`rows x classes`, one-hot or multi-hot).
    public static func fit(logits z: [Float], targets t: [Float], classes k: Int, output: TaxonomyOutput) -> Calibration {
        let n = k > 0 ? z.count / k : 0
        guard n > 0 else { return identity(output, classes: k) }
        switch output {
        case .softmax:
            // The scale is fitted as its logarithm: it stays positive (a negative temperature
            // would turn the head's answers around) and the penalty holds it towards 1.
            let result = LBFGS().minimize([0] + [Double](repeating: 0, count: k)) { theta in
                let a = Foundation.exp(theta[0])
                var loss = 0.0
                var grad = [Double](repeating: 0, count: k + 1)
                for i in 0..<n {
                    let row = i * k
                    var s = [Double](repeating: 0, count: k)
                    for c in 0..<k { s[c] = a * Double(z[row + c]) + theta[1 + c] }
                    let m = s.max()!
                    let lse = m + Foundation.log(s.reduce(0) { $0 + Foundation.exp($1 - m) })
                    for c in 0..<k {
                        let p = Foundation.exp(s[c] - lse), y = Double(t[row + c])
                        loss -= y * (s[c] - lse)
                        let d = p - y
                        grad[0] += d * Double(z[row + c])
                        grad[1 + c] += d
                    }
                }
                for j in grad.indices { grad[j] /= Double(n) }
                loss /= Double(n)
                for c in 0..<k {
                    loss += 0.5 * biasPenalty * theta[1 + c] * theta[1 + c]
                    grad[1 + c] += biasPenalty * theta[1 + c]
                }
                grad[0] *= a
                loss += 0.5 * scalePenalty * theta[0] * theta[0]
                grad[0] += scalePenalty * theta[0]
                return (loss, grad)
            }
            return Calibration(output: .softmax, scale: [Foundation.exp(result.parameters[0])], bias: Array(result.parameters[1...]))
        case .sigmoid:
            var scale: [Double] = [], bias: [Double] = []
            for c in 0..<k {
                let result = LBFGS().minimize([0, 0]) { theta in
                    var loss = 0.0, ga = 0.0, gb = 0.0
                    let a = Foundation.exp(theta[0])
                    for i in 0..<n {
                        let x = Double(z[i * k + c]), y = Double(t[i * k + c])
                        let s = a * x + theta[1]
                        loss += max(s, 0) + Foundation.log1p(Foundation.exp(-abs(s))) - y * s
                        let d = 1 / (1 + Foundation.exp(-s)) - y
                        ga += d * x
                        gb += d
                    }
                    let nn = Double(n)
                    return (loss / nn + 0.5 * biasPenalty * theta[1] * theta[1] + 0.5 * scalePenalty * theta[0] * theta[0],
                            [a * ga / nn + scalePenalty * theta[0], gb / nn + biasPenalty * theta[1]])
                }
                scale.append(Foundation.exp(result.parameters[0]))
                bias.append(result.parameters[1])
            }
            return Calibration(output: .sigmoid, scale: scale, bias: bias)
        }
    }
}

/// How well probabilities match outcomes.
enum CalibrationMetrics {
    /// Mean negative log-likelihood of the truth: the softmax class's probability, or each
    /// class's sigmoid being right (averaged over classes).
    static func logLoss(_ p: [Float], targets t: [Float], classes k: Int, output: TaxonomyOutput) -> Double {
        let n = k > 0 ? p.count / k : 0
        guard n > 0 else { return .nan }
        var loss = 0.0
        for i in 0..<n {
            for c in 0..<k {
                let q = min(max(Double(p[i * k + c]), 1e-7), 1 - 1e-7), y = Double(t[i * k + c])
                switch output {
                case .softmax: loss -= y * Foundation.log(q)
                case .sigmoid: loss -= (y * Foundation.log(q) + (1 - y) * Foundation.log(1 - q)) / Double(k)
                }
            }
        }
        return loss / Double(n)
    }

    /// Expected calibration error of the top class: tracks binned by their top probability
    /// (10 equal bins); the mean, weighted by bin size, of |accuracy - mean confidence|.
    static func expectedError(_ p: [Float], targets t: [Float], classes k: Int) -> Double {
        let n = k > 0 ? p.count / k : 0
        guard n > 0 else { return .nan }
        var count = [Double](repeating: 0, count: 10), confidence = count, correct = count
        for i in 0..<n {
            var best = 0
            for c in 1..<max(k, 1) where p[i * k + c] > p[i * k + best] { best = c }
            let q = Double(p[i * k + best])
            let bin = min(9, Int(q * 10))
            count[bin] += 1
            confidence[bin] += q
            if t[i * k + best] > 0.5 { correct[bin] += 1 }
        }
        var error = 0.0
        for b in 0..<10 where count[b] > 0 { error += abs(correct[b] - confidence[b]) }
        return error / Double(n)
    }
}
