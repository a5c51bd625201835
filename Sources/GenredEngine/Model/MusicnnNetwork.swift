import Foundation
import COpenBLAS

/// The weights of a musicnn network (Pons & Serra, 2019), ready for inference.
///
/// Layer by layer as the original TensorFlow model: input batch norm; a front end of two
/// timbral convolutions (7 frames x 38 and 67 bands, max over frequency) and three temporal
/// ones (128, 64, 32 frames, max over bands); a mid end of three 7-frame convolutions with
/// residual connections; a back end of max and mean pooling over time (interleaved),
/// a 200-unit dense layer (the embedding) and the label logits. Every convolution is
/// followed by ReLU and then batch norm (inference mode).
public struct MusicnnNetwork: Sendable {
    struct BatchNorm: Sendable {
        /// `gamma / sqrt(variance + epsilon)` and `beta - mean * scale`.
        let scale: [Float]
        let shift: [Float]

        /// Per channel: the maximum (positive scale) or minimum (negative scale) plus `bias`,
        /// then ReLU and this batch norm, written to `dst`.
        func finish(mx: UnsafePointer<Float>, mn: UnsafePointer<Float>, bias: [Float],
                    into dst: UnsafeMutablePointer<Float>, count: Int) {
            scale.withUnsafeBufferPointer { sc in
                shift.withUnsafeBufferPointer { sh in
                    bias.withUnsafeBufferPointer { bi in
                        for c in 0..<count {
                            let s = sc[c]
                            let pooled = s >= 0 ? mx[c] : mn[c]
                            dst[c] = max(0, pooled + bi[c]) * s + sh[c]
                        }
                    }
                }
            }
        }
    }

    /// How the front-end convolutions are computed.
    enum InferencePath: Sendable {
        /// im2col and one GEMM per convolution: the straightforward reference.
        case direct
        /// Winograd filtering along time for the timbral convolutions and banded GEMMs
        /// without im2col for the temporal ones (equal up to rounding).
        case fast
    }

    /// Outputs per Winograd tile along time (F(m, 7)).
    static let winogradOutputs = 4

    struct Conv: Sendable {
        /// `kernelTime * kernelWidth * inputs` rows by `outputs` columns (TensorFlow's HWIO order).
        let kernel: [Float]
        let bias: [Float]
        let norm: BatchNorm
        let kernelTime: Int
        let kernelWidth: Int
        let outputs: Int
    }

    public struct ShapeError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    let frames: Int
    let bands: Int
    let inputScale: Float
    let inputShift: Float
    let timbral: [Conv]
    let timbralFast: [WinogradConv]
    let temporal: [Conv]
    let temporalFast: [BandedConv]
    let midend: [Conv]
    let poolNorm: BatchNorm
    let dense: (kernel: [Float], bias: [Float])
    let denseNorm: BatchNorm
    let logits: (kernel: [Float], bias: [Float])

    public let labelCount: Int
    public let embeddingSize: Int
    let parameterCount: Int

    /// Channels the front end produces (timbral then temporal outputs).
    var frontChannels: Int { timbral.reduce(0) { $0 + $1.outputs } + temporal.reduce(0) { $0 + $1.outputs } }
    /// Channels pooled by the back end: the front end plus each mid-end output.
    var featureChannels: Int { frontChannels + midend.reduce(0) { $0 + $1.outputs } }
    var midendFilters: Int { midend[0].outputs }

    public init(tensors: SafeTensors, epsilon: Float, bands: Int, windowFrames: Int) throws(ShapeError) {
        var used = 0
        func tensor(_ name: String, _ shape: [Int]? = nil) throws(ShapeError) -> SafeTensors.Tensor {
            guard let t = tensors.tensors[name] else { throw ShapeError(description: "missing tensor \(name)") }
            if let shape, t.shape != shape {
                throw ShapeError(description: "tensor \(name) has shape \(t.shape), expected \(shape)")
            }
            used += t.values.count
            return t
        }
        func norm(_ prefix: String, _ n: Int) throws(ShapeError) -> BatchNorm {
            let g = try tensor(prefix + ".gamma", [n]).values, b = try tensor(prefix + ".beta", [n]).values
            let m = try tensor(prefix + ".mean", [n]).values, v = try tensor(prefix + ".variance", [n]).values
            var scale = [Float](repeating: 0, count: n), shift = scale
            for i in 0..<n {
                scale[i] = g[i] / (v[i] + epsilon).squareRoot()
                shift[i] = b[i] - m[i] * scale[i]
            }
            return BatchNorm(scale: scale, shift: shift)
        }
        func conv(_ prefix: String, inputs: Int, width: Int? = nil) throws(ShapeError) -> Conv {
            let k = try tensor(prefix + ".conv.kernel")
            guard k.shape.count == 4, k.shape[2] == 1 else {
                throw ShapeError(description: "tensor \(prefix).conv.kernel has shape \(k.shape), expected [time, width, 1, out]")
            }
            if let width, k.shape[1] != width {
                throw ShapeError(description: "tensor \(prefix).conv.kernel spans \(k.shape[1]) columns, expected \(width)")
            }
            let out = k.shape[3]
            let bias = try tensor(prefix + ".conv.bias", [out]).values
            return Conv(kernel: k.values, bias: bias, norm: try norm(prefix + ".bn", out),
                        kernelTime: k.shape[0], kernelWidth: k.shape[1], outputs: out)
        }

        frames = windowFrames
        self.bands = bands
        let input = try norm("input_bn", 1)
        inputScale = input.scale[0]
        inputShift = input.shift[0]
        timbral = [try conv("timbral.0", inputs: 1), try conv("timbral.1", inputs: 1)]
        timbralFast = timbral.map { t in
            let w = Self.winogradTransform(outputs: Self.winogradOutputs, taps: t.kernelTime)
            return WinogradConv(kernel: w.transformKernel(t.kernel, rest: t.kernelWidth * t.outputs), transform: w)
        }
        temporal = [try conv("temporal.0", inputs: 1, width: 1), try conv("temporal.1", inputs: 1, width: 1),
                    try conv("temporal.2", inputs: 1, width: 1)]
        temporalFast = temporal.map(BandedConv.init)
        for t in timbral where t.kernelWidth > bands || t.kernelTime % 2 == 0 {
            throw ShapeError(description: "timbral kernel \(t.kernelTime)x\(t.kernelWidth) does not fit \(bands) bands")
        }
        let front = timbral.reduce(0) { $0 + $1.outputs } + temporal.reduce(0) { $0 + $1.outputs }
        let m0 = try conv("midend.0", inputs: 1, width: front)
        let filters = m0.outputs
        midend = [m0, try conv("midend.1", inputs: 1, width: filters), try conv("midend.2", inputs: 1, width: filters)]
        for m in midend where m.kernelTime % 2 == 0 || m.outputs != filters {
            throw ShapeError(description: "mid-end convolutions must have odd time kernels and \(filters) filters")
        }
        let pooled = 2 * (front + 3 * filters)
        poolNorm = try norm("backend.pool_bn", pooled)
        let denseKernel = try tensor("backend.dense.kernel")
        guard denseKernel.shape.count == 2, denseKernel.shape[0] == pooled else {
            throw ShapeError(description: "backend.dense.kernel has shape \(denseKernel.shape), expected [\(pooled), units]")
        }
        let units = denseKernel.shape[1]
        dense = (denseKernel.values, try tensor("backend.dense.bias", [units]).values)
        denseNorm = try norm("backend.dense_bn", units)
        let logitKernel = try tensor("backend.logits.kernel")
        guard logitKernel.shape.count == 2, logitKernel.shape[0] == units else {
            throw ShapeError(description: "backend.logits.kernel has shape \(logitKernel.shape), expected [\(units), labels]")
        }
        let labels = logitKernel.shape[1]
        logits = (logitKernel.values, try tensor("backend.logits.bias", [labels]).values)
        labelCount = labels
        embeddingSize = units
        parameterCount = used
        if used != tensors.tensors.values.reduce(0, { $0 + $1.values.count }) {
            throw ShapeError(description: "weights file holds tensors the network does not use")
        }
    }
}

/// Scratch memory for one window's forward pass; one per worker thread.
final class MusicnnWorkspace {
    let timbralInput: UnsafeMutablePointer<Float>   // timbralRows x bands
    let timbralRows: Int
    let temporalPadded: UnsafeMutablePointer<Float> // temporalRows x bands, time-major
    let temporalRows: Int
    let temporalPadBefore: Int
    let temporalBlock: UnsafeMutablePointer<Float>  // bands x (frames per GEMM * outputs)
    let features: UnsafeMutablePointer<Float>       // (frames + pad) x featureChannels, zero rows around
    let midOutput: UnsafeMutablePointer<Float>
    let reduceMax: UnsafeMutablePointer<Float>
    let reduceMin: UnsafeMutablePointer<Float>
    let pooled: UnsafeMutablePointer<Float>
    let hidden: UnsafeMutablePointer<Float>
    /// Winograd tiles per block: a block's transformed products stay in cache.
    let winogradTiles: Int
    let winogradInput: UnsafeMutablePointer<Float>    // points x tiles x bands
    let winogradColumns: UnsafeMutablePointer<Float>  // tiles * positions x kernelWidth
    let winogradProducts: UnsafeMutablePointer<Float> // points x tiles * positions x outputs
    let winogradOutput: UnsafeMutablePointer<Float>   // m x tiles * positions x outputs
    private var allocations: [(UnsafeMutablePointer<Float>, Int)] = []
    private let network: MusicnnNetwork
    /// The reduced-precision products, when the analysis runs in one.
    let reduced: ReducedProducts?
    /// Set while calibrating int8: sees every fp32 product's input.
    var recorder: ActivationRecorder?

    /// The reference (im2col) path's buffers, about 33 MB: made only when that path runs.
    lazy var direct = DirectScratch(network: network)

    static let blockTiles = 4

    init(network n: MusicnnNetwork, reduced: ReducedProducts? = nil) {
        network = n
        self.reduced = reduced
        var list: [(UnsafeMutablePointer<Float>, Int)] = []
        func alloc(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            list.append((p, count))
            return p
        }
        let timbralPad = n.timbral.map { $0.kernelTime - 1 }.max()!
        let longest = n.temporal.map(\.kernelTime).max()!
        let m = MusicnnNetwork.winogradOutputs
        let tiles = (n.frames + m - 1) / m
        timbralRows = max(n.frames, tiles * m) + timbralPad
        timbralInput = alloc(timbralRows * n.bands)
        let blockTiles = min(tiles, Self.blockTiles)
        winogradTiles = blockTiles
        let points = n.timbralFast.map(\.transform.points).max()!
        winogradInput = alloc(points * blockTiles * n.bands)
        winogradColumns = alloc(n.timbral.map { blockTiles * (n.bands - $0.kernelWidth + 1) * $0.kernelWidth }.max()!)
        let products = n.timbral.map { blockTiles * (n.bands - $0.kernelWidth + 1) * $0.outputs }.max()!
        winogradProducts = alloc(points * products)
        winogradOutput = alloc(m * products)
        temporalPadBefore = (longest - 1) / 2
        temporalRows = n.frames + longest - 1 + n.temporalFast.map(\.frames).max()!
        temporalPadded = alloc(temporalRows * n.bands)
        temporalBlock = alloc(n.bands * zip(n.temporal, n.temporalFast).map { $0.outputs * $1.frames }.max()!)
        let midPad = n.midend.map { $0.kernelTime - 1 }.max()!
        features = alloc((n.frames + midPad) * n.featureChannels)
        midOutput = alloc(n.frames * n.midendFilters)
        let widest = max(n.timbral.map(\.outputs).max()!, n.temporal.map(\.outputs).max()!,
                         zip(n.temporal, n.temporalFast).map { $0.outputs * $1.frames }.max()!) * n.frames
        reduceMax = alloc(widest)
        reduceMin = alloc(widest)
        pooled = alloc(2 * n.featureChannels)
        hidden = alloc(n.embeddingSize)
        allocations = list
    }

    deinit {
        for (p, count) in allocations {
            p.deinitialize(count: max(count, 1))
            p.deallocate()
        }
    }
}

/// Buffers of the direct (im2col) convolutions, the reference the fast path is tested against.
final class DirectScratch {
    let timbralColumns: UnsafeMutablePointer<Float> // im2col for the largest timbral conv
    let timbralOutput: UnsafeMutablePointer<Float>
    let temporalInput: UnsafeMutablePointer<Float>  // bands x (frames + longest kernel - 1), band-major
    let temporalColumns: UnsafeMutablePointer<Float>
    let temporalOutput: UnsafeMutablePointer<Float>
    private let counts: [Int]

    init(network n: MusicnnNetwork) {
        let longest = n.temporal.map(\.kernelTime).max()!
        let convRows = n.timbral.map { n.frames * (n.bands - $0.kernelWidth + 1) }
        counts = [
            zip(convRows, n.timbral).map { $0 * $1.kernelTime * $1.kernelWidth }.max()!,
            zip(convRows, n.timbral).map { $0 * $1.outputs }.max()!,
            n.bands * (n.frames + longest - 1),
            n.bands * n.frames * longest,
            n.bands * n.frames * n.temporal.map(\.outputs).max()!,
        ]
        let p = counts.map { count in
            let b = UnsafeMutablePointer<Float>.allocate(capacity: count)
            b.initialize(repeating: 0, count: count)
            return b
        }
        (timbralColumns, timbralOutput, temporalInput, temporalColumns, temporalOutput) = (p[0], p[1], p[2], p[3], p[4])
    }

    deinit {
        for (p, count) in zip([timbralColumns, timbralOutput, temporalInput, temporalColumns, temporalOutput], counts) {
            p.deinitialize(count: count)
            p.deallocate()
        }
    }
}

extension MusicnnNetwork {
    /// Runs one window (`frames x bands` log-mel values, time-major) through the network.
    ///
    /// Writes `labelCount` sigmoid probabilities and the `embeddingSize` penultimate values.
    func forward(window: UnsafePointer<Float>, workspace ws: MusicnnWorkspace,
                 probabilities: UnsafeMutablePointer<Float>, penultimate: UnsafeMutablePointer<Float>,
                 path: InferencePath = .fast) {
        let F = frames, B = bands, channels = featureChannels
        let midPad = (midend.map(\.kernelTime).max()! - 1) / 2

        // Input batch norm, written into the zero-padded timbral input.
        let tPad = (timbral.map(\.kernelTime).max()! - 1) / 2
        ws.timbralInput.update(repeating: 0, count: ws.timbralRows * B)
        let normalized = ws.timbralInput + tPad * B
        for i in 0..<(F * B) { normalized[i] = window[i] * inputScale + inputShift }

        // Zero the padding rows of the feature map (the mid end's convolutions read them).
        ws.features.update(repeating: 0, count: midPad * channels)
        (ws.features + (midPad + F) * channels).update(repeating: 0, count: midPad * channels)
        let featureRows = ws.features + midPad * channels

        var channel = 0
        for (index, (conv, fast)) in zip(timbral, timbralFast).enumerated() {
            let input = ws.timbralInput + (tPad - (conv.kernelTime - 1) / 2) * B
            switch path {
            case .direct: timbralBlock(conv, input: input, ws: ws, output: featureRows + channel, stride: channels)
            case .fast: timbralWinograd(conv, fast, index: index, input: input, ws: ws, output: featureRows + channel, stride: channels)
            }
            channel += conv.outputs
        }
        switch path {
        case .direct: temporalBlocks(input: normalized, ws: ws, output: featureRows + channel, stride: channels)
        case .fast:
            let before = ws.temporalPadBefore
            ws.temporalPadded.update(repeating: 0, count: before * B)
            (ws.temporalPadded + before * B).update(from: normalized, count: F * B)
            (ws.temporalPadded + (before + F) * B).update(repeating: 0, count: (ws.temporalRows - before - F) * B)
            temporalBanded(padded: ws.temporalPadded, padBefore: before, ws: ws,
                           output: featureRows + channel, stride: channels)
        }
        channel += temporal.reduce(0) { $0 + $1.outputs }

        // Mid end: each convolution reads the previous block's channels through the padded map.
        var inputOffset = 0, inputWidth = channel
        for (index, conv) in midend.enumerated() {
            midendConv(conv, index: index, features: ws.features, inputOffset: inputOffset, inputWidth: inputWidth,
                       pad: midPad, ws: ws)
            let out = featureRows + channel
            let residual: UnsafeMutablePointer<Float>? = index == 0 ? nil : featureRows + inputOffset
            for t in 0..<F {
                let src = ws.midOutput + t * conv.outputs, dst = out + t * channels
                for c in 0..<conv.outputs {
                    var v = max(0, src[c] + conv.bias[c]) * conv.norm.scale[c] + conv.norm.shift[c]
                    if let residual { v += residual[t * channels + c] }
                    dst[c] = v
                }
            }
            inputOffset = channel
            inputWidth = conv.outputs
            channel += conv.outputs
        }

        // Back end: max and mean over time per channel, interleaved [max0, mean0, max1, ...].
        ws.pooled.update(repeating: 0, count: 2 * channels)
        for c in 0..<channels { ws.pooled[2 * c] = -Float.infinity }
        for t in 0..<F {
            let row = featureRows + t * channels
            for c in 0..<channels {
                ws.pooled[2 * c] = max(ws.pooled[2 * c], row[c])
                ws.pooled[2 * c + 1] += row[c]
            }
        }
        for c in 0..<(2 * channels) {
            if c % 2 == 1 { ws.pooled[c] /= Float(F) }
            ws.pooled[c] = ws.pooled[c] * poolNorm.scale[c] + poolNorm.shift[c]
        }
        let units = embeddingSize
        dense.bias.withUnsafeBufferPointer { ws.hidden.update(from: $0.baseAddress!, count: units) }
        dense.kernel.withUnsafeBufferPointer { w in
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(2 * channels), Int32(units), 1, w.baseAddress, Int32(units),
                        ws.pooled, 1, 1, ws.hidden, 1)
        }
        for u in 0..<units {
            penultimate[u] = max(0, ws.hidden[u]) * denseNorm.scale[u] + denseNorm.shift[u]
        }
        logits.bias.withUnsafeBufferPointer { probabilities.update(from: $0.baseAddress!, count: labelCount) }
        logits.kernel.withUnsafeBufferPointer { w in
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(units), Int32(labelCount), 1, w.baseAddress, Int32(labelCount),
                        penultimate, 1, 1, probabilities, 1)
        }
        for l in 0..<labelCount { probabilities[l] = 1 / (1 + exp(-probabilities[l])) }
        ws.recorder?.endWindow()
    }

    /// A timbral convolution (valid in frequency) followed by ReLU, batch norm and max over frequency.
    ///
    /// Batch norm is affine per channel, so it is applied after the pooling: to the maximum
    /// over frequency when its scale is positive and to the minimum when it is negative.
    func timbralBlock(_ conv: Conv, input: UnsafePointer<Float>, ws: MusicnnWorkspace,
                              output: UnsafeMutablePointer<Float>, stride: Int) {
        let F = frames, B = bands, kt = conv.kernelTime, kw = conv.kernelWidth
        let positions = B - kw + 1, K = kt * kw, N = conv.outputs
        // im2col: one row per (frame, frequency position), columns in kernel order (dt, df).
        var row = ws.direct.timbralColumns
        for t in 0..<F {
            for f in 0..<positions {
                for dt in 0..<kt {
                    (row + dt * kw).update(from: input + (t + dt) * B + f, count: kw)
                }
                row += K
            }
        }
        conv.kernel.withUnsafeBufferPointer { w in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(F * positions), Int32(N), Int32(K),
                        1, ws.direct.timbralColumns, Int32(K), w.baseAddress, Int32(N), 0, ws.direct.timbralOutput, Int32(N))
        }
        let mx = ws.reduceMax, mn = ws.reduceMin
        for t in 0..<F {
            let block = ws.direct.timbralOutput + t * positions * N
            mx.update(from: block, count: N)
            mn.update(from: block, count: N)
            for f in 1..<positions {
                let r = block + f * N
                for c in 0..<N {
                    mx[c] = max(mx[c], r[c])
                    mn[c] = min(mn[c], r[c])
                }
            }
            let dst = output + t * stride
            for c in 0..<N {
                let s = conv.norm.scale[c]
                let pooled = s >= 0 ? mx[c] : mn[c]
                dst[c] = max(0, pooled + conv.bias[c]) * s + conv.norm.shift[c]
            }
        }
    }

    /// The temporal convolutions ('same' padding in time, one band at a time), each followed
    /// by ReLU, batch norm and max over bands. One im2col matrix built for the longest
    /// kernel serves the shorter ones as a column slice.
    func temporalBlocks(input: UnsafePointer<Float>, ws: MusicnnWorkspace,
                                output: UnsafeMutablePointer<Float>, stride: Int) {
        let F = frames, B = bands
        let longest = temporal.map(\.kernelTime).max()!
        let before = (longest - 1) / 2, span = F + longest - 1
        // Band-major copy of the normalized input with the longest kernel's padding.
        ws.direct.temporalInput.update(repeating: 0, count: B * span)
        for t in 0..<F {
            for b in 0..<B { ws.direct.temporalInput[b * span + before + t] = input[t * B + b] }
        }
        var row = ws.direct.temporalColumns
        for b in 0..<B {
            for t in 0..<F {
                row.update(from: ws.direct.temporalInput + b * span + t, count: longest)
                row += longest
            }
        }
        var channel = 0
        for conv in temporal {
            let k = conv.kernelTime, N = conv.outputs
            let offset = before - (k - 1) / 2
            conv.kernel.withUnsafeBufferPointer { w in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(B * F), Int32(N), Int32(k),
                            1, ws.direct.temporalColumns + offset, Int32(longest), w.baseAddress, Int32(N),
                            0, ws.direct.temporalOutput, Int32(N))
            }
            // Rows are (band, frame): reduce over bands for every (frame, channel).
            let count = F * N, mx = ws.reduceMax, mn = ws.reduceMin
            mx.update(from: ws.direct.temporalOutput, count: count)
            mn.update(from: ws.direct.temporalOutput, count: count)
            for b in 1..<B {
                let block = ws.direct.temporalOutput + b * count
                for i in 0..<count {
                    mx[i] = max(mx[i], block[i])
                    mn[i] = min(mn[i], block[i])
                }
            }
            for t in 0..<F {
                let dst = output + t * stride + channel
                for c in 0..<N {
                    let s = conv.norm.scale[c]
                    let pooled = s >= 0 ? mx[t * N + c] : mn[t * N + c]
                    dst[c] = max(0, pooled + conv.bias[c]) * s + conv.norm.shift[c]
                }
            }
            channel += N
        }
    }

    /// A mid-end convolution spanning all of its input channels: one GEMM per time tap,
    /// reading the zero-padded feature map in place. Leaves the raw sums in `ws.midOutput`.
    private func midendConv(_ conv: Conv, index: Int, features: UnsafePointer<Float>, inputOffset: Int, inputWidth: Int,
                            pad: Int, ws: MusicnnWorkspace) {
        let F = frames, channels = featureChannels, N = conv.outputs, K = inputWidth
        let first = pad - (conv.kernelTime - 1) / 2
        if let reduced = ws.reduced {
            ws.midOutput.update(repeating: 0, count: F * N)
            var done = true
            for dt in 0..<conv.kernelTime where done {
                done = ReducedProducts.run(reduced.midend[index][dt], a: features + (first + dt) * channels + inputOffset,
                                           lda: channels, c: ws.midOutput)
            }
            if done { return }
            // A tap failed: the whole convolution again in fp32, from zero.
        }
        conv.kernel.withUnsafeBufferPointer { w in
            ws.midOutput.update(repeating: 0, count: F * N)  // then every tap adds (see `sgemmOverwriting`)
            for dt in 0..<conv.kernelTime {
                ws.recorder?.midend(index, tap: dt, features + (first + dt) * channels + inputOffset, rows: F, columns: K, stride: channels)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(F), Int32(N), Int32(K),
                            1, features + (first + dt) * channels + inputOffset, Int32(channels),
                            w.baseAddress! + dt * K * N, Int32(N), 1, ws.midOutput, Int32(N))
            }
        }
    }
}
