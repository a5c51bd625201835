extension MusicnnNetwork {
    /// A temporal convolution arranged to compute `frames` consecutive outputs per GEMM.
    ///
    /// Row `d` of `kernel` holds, for output `j < frames`, the tap `d - j` of the original
    /// kernel (zero outside it): `frames + kernelTime - 1` rows by `frames * outputs` columns.
    /// Reading the time-major input in place as the transposed left operand then needs no im2col.
    struct BandedConv: Sendable {
        let kernel: [Float]
        let frames: Int
        let taps: Int

        init(_ conv: Conv) {
            let k = conv.kernelTime, n = conv.outputs
            let j = max(1, min(8, k / 16))
            let taps = k + j - 1
            var banded = [Float](repeating: 0, count: taps * j * n)
            for out in 0..<j {
                for tap in 0..<k {
                    for c in 0..<n { banded[(out + tap) * j * n + out * n + c] = conv.kernel[tap * n + c] }
                }
            }
            kernel = banded
            frames = j
            self.taps = taps
        }
    }

    /// The temporal convolutions ('same' padding in time, one band at a time), each followed by
    /// ReLU, batch norm and max over bands; one GEMM per `BandedConv.frames` output frames.
    ///
    /// `padded` holds the normalized input time-major with `padBefore` zero rows before it and
    /// enough zero rows after for the last block.
    func temporalBanded(padded: UnsafePointer<Float>, padBefore: Int, ws: MusicnnWorkspace,
                        output: UnsafeMutablePointer<Float>, stride: Int) {
        let F = frames, B = bands
        var channel = 0
        for (index, (conv, banded)) in zip(temporal, temporalFast).enumerated() {
            let N = conv.outputs, J = banded.frames, width = J * N
            let offset = padBefore - (conv.kernelTime - 1) / 2
            let mx = ws.reduceMax, mn = ws.reduceMin, c = ws.temporalBlock
            banded.kernel.withUnsafeBufferPointer { w in
                var t = 0
                while t < F {
                    // C[band][(j, channel)] = sum over d of input[t + offset + d][band] * kernel[d][(j, channel)].
                    if let reduced = ws.reduced,
                       ReducedProducts.run(reduced.temporal[index], a: padded + (t + offset) * B, lda: B, transposeA: true, c: c) {
                        // done in the reduced precision
                    } else {
                        ws.recorder?.temporal(index, padded + (t + offset) * B, count: banded.taps * B)
                        sgemmOverwriting(transposeA: true, m: B, n: width, k: banded.taps, a: padded + (t + offset) * B, lda: B,
                                         b: w.baseAddress!, ldb: width, c: c, ldc: width)
                    }
                    mx.update(from: c, count: width)
                    mn.update(from: c, count: width)
                    for b in 1..<B {
                        let r = c + b * width
                        for i in 0..<width {
                            mx[i] = max(mx[i], r[i])
                            mn[i] = min(mn[i], r[i])
                        }
                    }
                    for j in 0..<min(J, F - t) {
                        conv.norm.finish(mx: mx + j * N, mn: mn + j * N, bias: conv.bias,
                                         into: output + (t + j) * stride + channel, count: N)
                    }
                    t += J
                }
            }
            channel += N
        }
    }
}
