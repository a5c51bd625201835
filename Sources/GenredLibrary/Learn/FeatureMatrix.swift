import COpenBLAS
import GenredEngine

/// Rows of float32 features, row-major and contiguous so that BLAS reads them in place.
public struct FeatureMatrix: Sendable, Equatable {
    public private(set) var values: [Float]
    public let rows: Int
    public let columns: Int

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "\(values.count) values for \(rows) x \(columns)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(_ rowVectors: [[Float]], columns: Int) {
        var values: [Float] = []
        values.reserveCapacity(rowVectors.count * columns)
        for r in rowVectors {
            precondition(r.count == columns, "a row of \(r.count) values in a matrix of \(columns) columns")
            values += r
        }
        self.init(rows: rowVectors.count, columns: columns, values: values)
    }

    public func row(_ i: Int) -> ArraySlice<Float> { values[(i * columns)..<((i + 1) * columns)] }

    /// The rows at `indices`, in that order.
    func selecting(_ indices: [Int]) -> FeatureMatrix {
        var out = [Float](repeating: 0, count: indices.count * columns)
        for (n, i) in indices.enumerated() {
            for j in 0..<columns { out[n * columns + j] = values[i * columns + j] }
        }
        return FeatureMatrix(rows: indices.count, columns: columns, values: out)
    }

    /// `self · weights + bias` (weights `columns x outputs`, row-major): one sgemm.
    func affine(_ weights: [Float], bias: [Float], outputs: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * outputs)
        for i in 0..<rows { for k in 0..<outputs { out[i * outputs + k] = bias[k] } }
        guard rows > 0 else { return out }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(outputs), Int32(columns),
                    1, values, Int32(columns), weights, Int32(outputs), 1, &out, Int32(outputs))
        return out
    }
}

/// Per-feature centring and scaling, fitted on training rows only (so a held-out fold never
/// leaks into the scaling it is judged with).
public struct Standardizer: Sendable, Equatable {
    /// The floor of `init(fitting:parts:floor:)` that `learn` uses: on the real-music small
    /// sets of docs/learn.md it lifted the head's accuracy with 5 tracks per label most.
    static let partFloor: Float = 0.1
    public let mean: [Float]
    public let scale: [Float]

    public init(mean: [Float], scale: [Float]) {
        self.mean = mean
        self.scale = scale
    }

    /// Mean and standard deviation of each column; a column that does not vary keeps scale 1.
    public init(fitting m: FeatureMatrix) {
        let n = Double(max(m.rows, 1))
        var mean = [Double](repeating: 0, count: m.columns), square = mean
        for i in 0..<m.rows {
            for j in 0..<m.columns {
                let x = Double(m.values[i * m.columns + j])
                mean[j] += x
                square[j] += x * x
            }
        }
        var scale = [Float](repeating: 1, count: m.columns)
        for j in 0..<m.columns {
            mean[j] /= n
            let variance = max(0, square[j] / n - mean[j] * mean[j])
            let sd = variance.squareRoot()
            if sd > 1e-6 { scale[j] = Float(sd) }
        }
        self.mean = mean.map(Float.init)
        self.scale = scale
    }

    /// Fitted as above, then each column's scale raised to at least `floor` times the median
    /// scale of its part (`parts`: column ranges). With a handful of training tracks a column can
    /// barely vary by chance (a tag no training track has); scaled by that, a new track's
    /// ordinary value would lie dozens of deviations out and outweigh every other feature.
    init(fitting m: FeatureMatrix, parts: [Range<Int>], floor: Float) {
        let plain = Standardizer(fitting: m)
        var scale = plain.scale
        for part in parts where !part.isEmpty {
            let sorted = part.map { plain.scale[$0] }.sorted()
            let least = floor * sorted[sorted.count / 2]
            for j in part { scale[j] = max(scale[j], least) }
        }
        self.init(mean: plain.mean, scale: scale)
    }

    public func apply(_ m: FeatureMatrix) -> FeatureMatrix {
        var out = m.values
        for i in 0..<m.rows {
            for j in 0..<m.columns { out[i * m.columns + j] = (out[i * m.columns + j] - mean[j]) / scale[j] }
        }
        return FeatureMatrix(rows: m.rows, columns: m.columns, values: out)
    }

    public func apply(_ row: [Float]) -> [Float] {
        zip(row, zip(mean, scale)).map { ($0 - $1.0) / $1.1 }
    }
}
