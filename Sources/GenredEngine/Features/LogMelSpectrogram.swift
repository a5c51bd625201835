import CFFTW
import Foundation

/// FFTW's planner is not thread-safe; plan creation and destruction go through this lock.
private let fftwPlannerLock = NSLock()

/// Feature parameters of a model's input (the bundle manifest's `audio` section).
struct FeatureParameters: Sendable, Equatable, Codable {
    public var sampleRate: Int
    var fftSize: Int
    public var hopLength: Int
    public var bands: Int
    var fmin: Double
    var fmax: Double

    public static let musicnn = FeatureParameters(sampleRate: 16000, fftSize: 512, hopLength: 256, bands: 96, fmin: 0, fmax: 8000)
}

/// Streams log-compressed mel frames, `log10(10000 * mel + 1)`, from mono samples.
///
/// Frames are centred: the signal is padded with `fftSize / 2` zeros at both ends, so `n`
/// samples give `1 + n / hopLength` frames, as librosa's `stft(center=True)` does.
/// Power spectrum through FFTW's single-precision r2c transform, periodic Hann window.
final class LogMelSpectrogram {
    public let parameters: FeatureParameters
    let filterbank: MelFilterbank

    private let window: [Float]
    private let plan: OpaquePointer
    private let fftIn: UnsafeMutablePointer<Float>
    private let fftOut: UnsafeMutablePointer<fftwf_complex>
    private var power: [Float]
    private var frame: [Float]
    /// Samples not yet consumed; `start` is where the next frame begins.
    private var buffer: [Float]
    private var start = 0
    private var finished = false

    private(set) var framesEmitted = 0

    public init(parameters: FeatureParameters = .musicnn) {
        self.parameters = parameters
        let n = parameters.fftSize
        filterbank = MelFilterbank(sampleRate: parameters.sampleRate, fftSize: n, bands: parameters.bands,
                                   fmin: parameters.fmin, fmax: parameters.fmax)
        window = (0..<n).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(n))) }
        fftIn = fftwf_alloc_real(n)
        fftOut = UnsafeMutableRawPointer(fftwf_alloc_complex(n / 2 + 1))!.bindMemory(to: fftwf_complex.self, capacity: n / 2 + 1)
        let (input, output) = (fftIn, fftOut)
        plan = fftwPlannerLock.withLock {
            fftwf_plan_dft_r2c_1d(Int32(n), input, output, UInt32(FFTW_ESTIMATE))!
        }
        power = [Float](repeating: 0, count: n / 2 + 1)
        frame = [Float](repeating: 0, count: parameters.bands)
        buffer = [Float](repeating: 0, count: n / 2)
        buffer.reserveCapacity(1 << 16)
    }

    deinit {
        let plan = self.plan
        fftwPlannerLock.withLock { fftwf_destroy_plan(plan) }
        fftwf_free(fftIn)
        fftwf_free(fftOut)
    }

    /// Adds samples; calls `emit` with each completed frame (`bands` values, valid during the call).
    package func push(_ samples: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) -> Void) {
        precondition(!finished, "push after finish")
        buffer.append(contentsOf: samples)
        drain(emit: emit)
    }

    /// Pads the end with zeros and emits the remaining frames.
    public func finish(emit: (UnsafeBufferPointer<Float>) -> Void) {
        guard !finished else { return }
        finished = true
        buffer.append(contentsOf: repeatElement(0, count: parameters.fftSize / 2))
        drain(emit: emit)
    }

    private func drain(emit: (UnsafeBufferPointer<Float>) -> Void) {
        let n = parameters.fftSize, hop = parameters.hopLength
        while buffer.count - start >= n {
            computeFrame(at: start)
            frame.withUnsafeBufferPointer(emit)
            framesEmitted += 1
            start += hop
        }
        if start >= 1 << 15 {
            buffer.removeFirst(start)
            start = 0
        }
    }

    private func computeFrame(at offset: Int) {
        let n = parameters.fftSize, bins = n / 2 + 1
        buffer.withUnsafeBufferPointer { samples in
            window.withUnsafeBufferPointer { w in
                for i in 0..<n { fftIn[i] = samples[offset + i] * w[i] }
            }
        }
        fftwf_execute(plan)
        let spectrum = UnsafeMutableRawPointer(fftOut).assumingMemoryBound(to: Float.self)
        power.withUnsafeMutableBufferPointer { p in
            for k in 0..<bins {
                let re = spectrum[2 * k], im = spectrum[2 * k + 1]
                p[k] = re * re + im * im
            }
        }
        let bands = parameters.bands
        filterbank.weights.withUnsafeBufferPointer { weights in
            power.withUnsafeBufferPointer { p in
                frame.withUnsafeMutableBufferPointer { out in
                    for b in 0..<bands {
                        var sum: Float = 0
                        let row = b * bins
                        for k in filterbank.support[b] { sum += weights[row + k] * p[k] }
                        out[b] = log10(10000 * sum + 1)
                    }
                }
            }
        }
    }
}
