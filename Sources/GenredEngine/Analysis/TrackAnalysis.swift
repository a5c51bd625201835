/// What the model says about one track.
public struct TrackAnalysis: Sendable {
    public let path: String
    public let model: String
    public let modelVersion: String
    public let audio: DecodedAudio
    public let labels: [String]
    /// Window length and hop, in spectrogram frames.
    public let windowFrames: Int
    public let hopFrames: Int
    /// Seconds per spectrogram frame.
    public let frameSeconds: Double
    public let windowCount: Int
    /// The track was shorter than one window and was padded by repeating its frames.
    public let padded: Bool
    /// `AudioFingerprint` of the decoded audio.
    public let fingerprint: String
    /// Per-window probabilities, `windowCount x labels.count`, row-major.
    public let taggram: [Float]
    /// Per-window penultimate-layer outputs, `windowCount x embeddingSize`, row-major.
    public let penultimate: [Float]
    public let embeddingSize: Int
    /// Mean probability of each label over the windows.
    public let mean: [Float]
    /// Share of windows in which each label has the highest probability (majority vote).
    public let vote: [Float]
    /// The penultimate layer averaged over windows.
    public let embedding: [Float]
    /// The precision the network ran in (what `Analyzer.precision` resolved to).
    public var precision: Precision = .fp32

    /// Why the file counts as damaged although it was analysed (`DecodedAudio.damage`): the scores
    /// cover the audio that decoded. Nil for a file that decoded whole.
    public var damage: String? { audio.damage }

    public var hopSeconds: Double { Double(hopFrames) * frameSeconds }
    public var windowSeconds: Double { Double(windowFrames) * frameSeconds }

    /// The probabilities of window `index`.
    public func window(_ index: Int) -> ArraySlice<Float> {
        taggram[(index * labels.count)..<((index + 1) * labels.count)]
    }

    /// Label indices by decreasing score.
    public static func ranking(_ scores: [Float]) -> [Int] {
        scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    }
}
