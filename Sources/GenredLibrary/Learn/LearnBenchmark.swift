import GenredEngine
/// A synthetic labelled set for timing `genred learn` without audio (`genred bench learn N`):
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

/// Small labelled sets drawn from a larger real one (`genred bench learn-set FOLDER`): how
/// well `learn` does with a handful of tracks per label, next to two references on the same
/// split.
///
/// Each trial draws `classes` labels, then for each label `albums` of its albums (fewer when
/// it has fewer) and `tracks` tracks from them, dealt in turn from each album; everything
/// else of those labels is the test set. On it are judged: the learned taxonomy (its top
/// class, and the label it gives or withholds), a plain logistic regression on the
/// standardised embedding alone (L2 `1/n`, no class weights: a library's default), and the
/// kNN baseline of `learn` on the same features as the head.
public enum SmallSetBenchmark {
    public struct Setting: Sendable, Equatable {
        public var classes: Int
        public var tracks: Int
        public var albums: Int

        public init(classes: Int, tracks: Int, albums: Int) {
            self.classes = classes
            self.tracks = tracks
            self.albums = albums
        }
    }

    /// Means over the trials of one setting; accuracies are shares of test tracks.
    public struct Row: Sendable {
        public var setting: Setting
        public var trials: Int
        /// Test tracks, summed over the trials.
        public var testTracks: Int
        /// Albums actually drawn per label, averaged.
        public var albumsDrawn: Double
        /// The taxonomy's top class.
        public var head: Double
        /// Test tracks the taxonomy gives a label, and those given the right one.
        public var given: Double
        public var givenRight: Double
        /// Trials whose taxonomy chose its thresholds on album-split folds.
        public var albumSplitTrials: Int
        public var logistic: Double
        public var knn: Double
    }

    public static func run(_ input: LearnInput, settings: [Setting], trials: Int, seed: UInt64 = 1,
                           options: LearnOptions = LearnOptions()) -> [Row] {
        var rng = SeededGenerator(seed: seed)
        let k = input.classes.count
        // Single-label tracks only; each label's tracks by group.
        var byClass = [[String: [Int]]](repeating: [:], count: k)
        for (i, l) in input.labels.enumerated() where l.count == 1 { byClass[l[0]][input.groups[i], default: []].append(i) }
        var rows: [Row] = []
        for setting in settings {
            // A label needs its training tracks and at least two to test on.
            let eligible = (0..<k).filter { c in byClass[c].values.reduce(0) { $0 + $1.count } >= setting.tracks + 2 }
            guard eligible.count >= setting.classes else { continue }
            var row = Row(setting: setting, trials: 0, testTracks: 0, albumsDrawn: 0, head: 0, given: 0, givenRight: 0,
                          albumSplitTrials: 0, logistic: 0, knn: 0)
            for _ in 0..<trials {
                let chosen = Array(eligible.shuffled(using: &rng).prefix(setting.classes)).sorted()
                var train: [Int] = [], test: [Int] = []
                var albumsUsed = 0
                for c in chosen {
                    let groups = byClass[c].keys.sorted().shuffled(using: &rng)
                    var picked = Array(groups.prefix(setting.albums))
                    // Too few tracks in the albums drawn: take further albums.
                    while picked.reduce(0, { $0 + byClass[c][$1]!.count }) < setting.tracks, picked.count < groups.count {
                        picked.append(groups[picked.count])
                    }
                    var pools = picked.map { byClass[c][$0]!.shuffled(using: &rng) }
                    var taken: [Int] = []
                    var g = 0
                    while taken.count < setting.tracks {
                        if !pools[g % pools.count].isEmpty {
                            taken.append(pools[g % pools.count].removeLast())
                        }
                        g += 1
                    }
                    albumsUsed += Set(taken.map { input.groups[$0] }).count
                    let takenSet = Set(taken)
                    train += taken
                    test += byClass[c].values.joined().filter { !takenSet.contains($0) }
                }
                guard let r = trial(input, classes: chosen, train: train, test: test, options: options) else { continue }
                row.trials += 1
                row.testTracks += test.count
                row.albumsDrawn += Double(albumsUsed) / Double(chosen.count)
                row.head += r.head
                row.given += r.given
                row.givenRight += r.givenRight
                row.logistic += r.logistic
                row.knn += r.knn
                if r.albumSplit { row.albumSplitTrials += 1 }
            }
            guard row.trials > 0 else { continue }
            let t = Double(row.trials)
            row.albumsDrawn /= t
            row.head /= t
            row.given /= t
            row.givenRight /= t
            row.logistic /= t
            row.knn /= t
            rows.append(row)
        }
        return rows
    }

    struct Trial {
        var head, given, givenRight, logistic, knn: Double
        var albumSplit: Bool
    }

    /// One split: learn on `train`, judge every method on `test`.
    static func trial(_ input: LearnInput, classes chosen: [Int], train: [Int], test: [Int], options: LearnOptions) -> Trial? {
        let position = Dictionary(uniqueKeysWithValues: chosen.enumerated().map { ($1, $0) })
        let k = chosen.count
        func truth(_ i: Int) -> Int { position[input.labels[i][0]]! }
        let sub = LearnInput(
            name: input.name, classes: chosen.map { input.classes[$0] }, features: input.features.selecting(train),
            labels: train.map { [truth($0)] }, groups: train.map { input.groups[$0] },
            groupedByAlbum: train.map { input.groupedByAlbum[$0] }, builtIn: [EvalClass?](repeating: nil, count: k),
            meanOffset: input.meanOffset, baseModel: input.baseModel, labelSource: input.labelSource)
        guard let outcome = try? TaxonomyTrainer.learn(sub, options: options) else { return nil }
        let testFeatures = input.features.selecting(test)
        let predictions = outcome.taxonomy.predictions(testFeatures)
        var head = 0, given = 0, givenRight = 0
        for (p, i) in zip(predictions, test) {
            let top = p.probabilities.indices.max { p.probabilities[$0] < p.probabilities[$1] }!
            if top == truth(i) { head += 1 }
            if let label = p.label {
                given += 1
                if label == input.classes[chosen[truth(i)]] { givenRight += 1 }
            }
        }

        // The references, trained on the same tracks.
        let targets = TaxonomyTrainer.targets(train.map { [truth($0)] }, classes: k)
        let embedding = Array(0..<input.meanOffset)
        func columns(_ m: FeatureMatrix, _ cols: [Int]) -> FeatureMatrix {
            var v: [Float] = []
            v.reserveCapacity(m.rows * cols.count)
            for r in 0..<m.rows { for c in cols { v.append(m.values[r * m.columns + c]) } }
            return FeatureMatrix(rows: m.rows, columns: cols.count, values: v)
        }
        let trainEmbedding = columns(sub.features, embedding), testEmbedding = columns(testFeatures, embedding)
        let scaler = Standardizer(fitting: trainEmbedding)
        var plain = TrainingData(x: scaler.apply(trainEmbedding), targets: targets, classes: k, output: .softmax)
        plain = TrainingData(x: plain.x, targets: targets, classes: k, output: .softmax,
                             weights: [Float](repeating: 1, count: train.count))
        let reference = ClassifierHead.train(HeadSpec(kind: .logistic, l2: 1 / Double(train.count)), plain, seed: 1)
        let logistic = accuracy(reference.logits(scaler.apply(testEmbedding)), test.map(truth), classes: k)
        let standardizer = sub.standardizer(sub.features)
        let knnScores = NeighbourVote(k: options.neighbours).scores(
            train: standardizer.apply(sub.features), targets: targets, classes: k, test: standardizer.apply(testFeatures))
        let knn = accuracy(knnScores, test.map(truth), classes: k)
        let n = Double(test.count)
        return Trial(head: Double(head) / n, given: Double(given) / n, givenRight: Double(givenRight) / n,
                     logistic: logistic, knn: knn, albumSplit: outcome.taxonomy.manifest.decision.basis == .albumSplit)
    }

    static func accuracy(_ scores: [Float], _ truth: [Int], classes k: Int) -> Double {
        var right = 0
        for (i, t) in truth.enumerated() {
            var top = 0
            for c in 0..<k where scores[i * k + c] > scores[i * k + top] { top = c }
            if top == t { right += 1 }
        }
        return truth.isEmpty ? .nan : Double(right) / Double(truth.count)
    }
}
