import CSoxr

/// Streaming mono float32 sample-rate conversion with libsoxr at high quality (the `soxr_hq` setting).
final class Resampler {
    private var handle: soxr_t?
    private let ratio: Double
    private var output: [Float]

    /// Creates a converter; the error text is libsoxr's.
    init(from sourceRate: Int, to targetRate: Int, maxInput: Int) throws(ResamplerError) {
        var error: soxr_error_t?
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        handle = soxr_create(Double(sourceRate), Double(targetRate), 1, &error, &io, &quality, nil)
        if let error {
            soxr_delete(handle)
            handle = nil
            throw ResamplerError(message: String(cString: error))
        }
        ratio = Double(targetRate) / Double(sourceRate)
        output = [Float](repeating: 0, count: Int((Double(maxInput) * ratio).rounded(.up)) + 256)
    }

    deinit { soxr_delete(handle) }

    /// Converts `input`, handing each stretch of output to `emit`.
    func process(_ input: UnsafeBufferPointer<Float>, _ emit: (UnsafeBufferPointer<Float>) -> Void) throws(ResamplerError) {
        var consumed = 0
        while consumed < input.count {
            var used = 0
            let produced = try run(input.baseAddress! + consumed, input.count - consumed, &used)
            consumed += used
            if produced > 0 { emitOutput(produced, emit) }
            if used == 0 && produced == 0 { break }
        }
    }

    /// Drains what libsoxr still holds once the input has ended.
    func flush(_ emit: (UnsafeBufferPointer<Float>) -> Void) throws(ResamplerError) {
        while true {
            var used = 0
            let produced = try run(nil, 0, &used)
            if produced == 0 { return }
            emitOutput(produced, emit)
        }
    }

    private func run(_ input: UnsafePointer<Float>?, _ count: Int, _ used: inout Int) throws(ResamplerError) -> Int {
        var produced = 0
        let capacity = output.count
        let error = output.withUnsafeMutableBufferPointer { out in
            soxr_process(handle, input, count, &used, out.baseAddress, capacity, &produced)
        }
        if let error { throw ResamplerError(message: String(cString: error)) }
        return produced
    }

    private func emitOutput(_ count: Int, _ emit: (UnsafeBufferPointer<Float>) -> Void) {
        output.withUnsafeBufferPointer { emit(UnsafeBufferPointer(rebasing: $0[0..<count])) }
    }
}

/// libsoxr's complaint about a conversion.
struct ResamplerError: Error {
    let message: String
}
