import Foundation
import GenredEngine

/// The features a taxonomy head reads from one track's analysis, as the library database
/// stores it: the 200-d embedding (the penultimate layer averaged over the windows), then the
/// mean of each label's probability over the windows, then its standard deviation over them
/// (how much the track changes along the way).
///
/// The taggram is stored as float16, so features computed from a fresh analysis round its
/// probabilities to float16 first: `analyze --taxonomy` and `retag` then see exactly the same
/// numbers for the same audio.
public enum TaxonomyFeatures {
    /// Names the layout above; a taxonomy records it and is refused by code that computes another.
    public static let id = "musicnn-track-v1"

    public static func size(embedding: Int, labels: Int) -> Int { embedding + 2 * labels }

    /// The names of the parts, with their sizes, for the manifest.
    public static func parts(embedding: Int, labels: Int) -> [TaxonomyManifest.FeaturePart] {
        [.init(name: "embedding", size: embedding), .init(name: "taggram_mean", size: labels),
         .init(name: "taggram_std", size: labels)]
    }

    /// From stored vectors: the embedding, the float32 means and the float16-rounded taggram.
    public static func track(embedding: [Float], mean: [Float], taggram: [Float], windows: Int) -> [Float] {
        let labels = mean.count
        var std = [Float](repeating: 0, count: labels)
        if windows > 0 && taggram.count == windows * labels {
            for l in 0..<labels {
                var s = 0.0, s2 = 0.0
                for w in 0..<windows {
                    let x = Double(taggram[w * labels + l])
                    s += x
                    s2 += x * x
                }
                let m = s / Double(windows)
                std[l] = Float(max(0, s2 / Double(windows) - m * m).squareRoot())
            }
        }
        return embedding + mean + std
    }

    public static func of(_ record: AnalysisRecord) -> [Float] {
        track(embedding: record.embeddingVector, mean: record.meanScores, taggram: record.taggramScores, windows: record.windows)
    }

    public static func of(_ analysis: TrackAnalysis) -> [Float] {
        track(embedding: analysis.embedding, mean: analysis.mean, taggram: analysis.taggram.map(asStored),
              windows: analysis.windowCount)
    }

    /// One feature row per window, for a window-by-window view: the window's own penultimate
    /// vector and probabilities, with the whole track's spread as the third part (a single
    /// window has none of its own). The head was trained on whole tracks, so these are a
    /// local reading, noisier than the track's.
    public static func windows(_ analysis: TrackAnalysis) -> [[Float]] {
        let whole = of(analysis)
        let labels = analysis.labels.count, units = analysis.embeddingSize
        let spread = Array(whole[(units + labels)...])
        return (0..<analysis.windowCount).map { w in
            Array(analysis.penultimate[(w * units)..<((w + 1) * units)]) + analysis.window(w).map(asStored) + spread
        }
    }

    /// A probability as the database keeps it (float16).
    @inline(__always)
    static func asStored(_ p: Float) -> Float { Float(Float16(p)) }
}
