import Foundation

/// A mel filterbank built the way librosa's `filters.mel` builds its default one
/// (Slaney mel scale, Slaney area normalization), bit for bit in float32.
struct MelFilterbank: Sendable {
    public let bands: Int
    package let bins: Int
    /// Row-major `bands x bins` weights.
    public let weights: [Float]
    /// For each band, the first and one-past-last bin with a non-zero weight.
    package let support: [Range<Int>]

    public init(sampleRate: Int, fftSize: Int, bands: Int, fmin: Double = 0, fmax: Double? = nil) {
        let bins = fftSize / 2 + 1
        let fmax = fmax ?? Double(sampleRate) / 2
        let fftFreqs = (0..<bins).map { Double($0) * Double(sampleRate) / Double(fftSize) }

        // Band edges: bands + 2 points evenly spaced on the mel scale (numpy.linspace).
        let minMel = Self.hzToMel(fmin), maxMel = Self.hzToMel(fmax)
        let count = bands + 2
        let step = (maxMel - minMel) / Double(count - 1)
        var melF = (0..<count).map { Self.melToHz(Double($0) * step + minMel) }
        melF[count - 1] = Self.melToHz(maxMel)

        var weights = [Float](repeating: 0, count: bands * bins)
        var support = [Range<Int>]()
        for i in 0..<bands {
            let lowDiff = melF[i + 1] - melF[i], highDiff = melF[i + 2] - melF[i + 1]
            let enorm = 2.0 / (melF[i + 2] - melF[i])
            var first = bins, last = 0
            for k in 0..<bins {
                let lower = -(melF[i] - fftFreqs[k]) / lowDiff
                let upper = (melF[i + 2] - fftFreqs[k]) / highDiff
                let w = Float(max(0, min(lower, upper)))
                let normalized = Float(Double(w) * enorm)
                weights[i * bins + k] = normalized
                if normalized != 0 { first = min(first, k); last = k + 1 }
            }
            support.append(first < last ? first..<last : 0..<0)
        }
        self.bands = bands
        self.bins = bins
        self.weights = weights
        self.support = support
    }

    /// Slaney's mel scale: linear below 1 kHz, logarithmic above.
    static func hzToMel(_ hz: Double) -> Double {
        let fsp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fsp, logstep = log(6.4) / 27.0
        return hz >= minLogHz ? minLogMel + log(hz / minLogHz) / logstep : hz / fsp
    }

    static func melToHz(_ mel: Double) -> Double {
        let fsp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fsp, logstep = log(6.4) / 27.0
        return mel >= minLogMel ? minLogHz * exp(logstep * (mel - minLogMel)) : fsp * mel
    }
}
