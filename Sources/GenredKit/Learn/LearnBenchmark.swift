/// A synthetic labelled set for timing `genred learn` without audio (`genred bench --learn N`):
/// `tracks` feature rows of the real layout (200 + 50 + 50), in `classes` classes and albums of
/// 20 tracks, each album scattered around its class's centre (classes overlap: held-out accuracy
/// is well short of 1, as with real labels).
public enum LearnBenchmark {
    public static func input(tracks: Int, classes: Int = 10, seed: UInt64 = 42) -> LearnInput {
        let d = TaxonomyFeatures.size(embedding: 200, labels: 50)
        var rng = SeededGenerator(seed: seed)
        let centres = (0..<classes).map { _ in (0..<d).map { _ in rng.gaussian() * 0.1 } }
        var values: [Float] = []
        values.reserveCapacity(tracks * d)
        var labels: [[Int]] = [], groups: [String] = []
        var albumCentre: [Double] = []
        for i in 0..<tracks {
            let c = (i / 20) % classes
            if i % 20 == 0 { albumCentre = centres[c].map { $0 + rng.gaussian() * 0.5 } }
            for j in 0..<d { values.append(Float(albumCentre[j] + rng.gaussian() * 0.3)) }
            labels.append([c])
            groups.append("album:\(i / 20)")
        }
        return LearnInput(
            name: "benchmark", classes: (0..<classes).map { "class \($0)" },
            features: FeatureMatrix(rows: tracks, columns: d, values: values), labels: labels, groups: groups,
            groupedByAlbum: groups.map { _ in true }, builtIn: [EvalClass?](repeating: nil, count: classes), meanOffset: 200,
            baseModel: .init(name: "benchmark", version: "0", weightsSha256: ""), labelSource: "folders")
    }
}
