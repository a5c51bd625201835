import COpenBLAS

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
    public func selecting(_ indices: [Int]) -> FeatureMatrix {
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
