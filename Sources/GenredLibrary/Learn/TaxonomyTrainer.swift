import COpenBLAS
import Foundation
import GenredEngine

/// What a taxonomy is learned from: one feature row per labelled track, its classes and the
/// album or folder it belongs to.
public struct LearnInput: Sendable {
    public var name: String
    /// Class names, in output order.
    public var classes: [String]
    /// `TaxonomyFeatures` rows (not standardised).
    public var features: FeatureMatrix
    /// The classes of each track (one for single-label taxonomies).
    public var labels: [[Int]]
    /// Each track's group: tracks with equal keys always sit in the same fold.
    public var groups: [String]
    /// Whether each track's group is its album (true) or its folder.
    public var groupedByAlbum: [Bool]
    /// For the built-in baseline: the model labels that stand for each class (indices into the
    /// model's labels, whose mean probabilities are part of the features), nil when none do.
    public var builtIn: [EvalClass?]
    /// Where the model's mean probabilities start in a feature row.
    public var meanOffset: Int
    public var baseModel: TaxonomyManifest.BaseModel
    public var labelSource: String

    public init(name: String, classes: [String], features: FeatureMatrix, labels: [[Int]], groups: [String],
                groupedByAlbum: [Bool], builtIn: [EvalClass?], meanOffset: Int, baseModel: TaxonomyManifest.BaseModel,
                labelSource: String) {
        self.name = name
        self.classes = classes
        self.features = features
        self.labels = labels
        self.groups = groups
        self.groupedByAlbum = groupedByAlbum
        self.builtIn = builtIn
        self.meanOffset = meanOffset
        self.baseModel = baseModel
        self.labelSource = labelSource
    }

    /// The standardisation fitted on `rows` of this input's features, each part (embedding,
    /// taggram means, taggram deviations) with its scales floored.
    func standardizer(_ rows: FeatureMatrix) -> Standardizer {
        let labels = (features.columns - meanOffset) / 2
        let parts = meanOffset > 0 && labels > 0 && meanOffset + 2 * labels == features.columns
            ? [0..<meanOffset, meanOffset..<(meanOffset + labels), (meanOffset + labels)..<features.columns]
            : [0..<features.columns]
        return Standardizer(fitting: rows, parts: parts, floor: Standardizer.partFloor)
    }

    /// Multi-label when any track has more than one class.
    public var output: TaxonomyOutput { labels.contains { $0.count > 1 } ? .sigmoid : .softmax }
}

public struct LearnOptions: Sendable {
    public var folds = 5
    public var targetPrecision = 0.9
    public var seed: UInt64 = 1
    public var candidates = HeadSpec.candidates
    public var neighbours = 10
    /// Classes with fewer tracks get a warning.
    public var fewTracks = 20
    /// Threads for the folds (each runs single-threaded BLAS).
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// When grouped folds cannot judge a class (all its tracks in one album or folder): true
    /// keeps the grouped thresholds (that class is never given); false chooses the head,
    /// calibration and thresholds on folds that split albums, and says they are optimistic.
    public var strict = false

    public init() {}
}

/// Learns a taxonomy and judges it honestly: grouped k-fold cross-validation for every
/// candidate head, the kNN and built-in-tag baselines on the same folds, an album-effect
/// check with folds that ignore groups, calibration and thresholds judged on folds they were
/// not fitted on, and finally the chosen head fitted on every track.
public enum TaxonomyTrainer {
    public struct Outcome: Sendable {
        public var taxonomy: Taxonomy
        public var report: LearnReport
        /// The fold of each track.
        public var folds: GroupedFolds
    }

    public static func learn(_ input: LearnInput, options: LearnOptions = LearnOptions()) throws(TaxonomyError) -> Outcome {
        openblas_set_num_threads(1)
        let started = Date()
        let n = input.features.rows, k = input.classes.count, output = input.output
        guard k >= 2 else {
            throw TaxonomyError(input.name, .nothingToLearn("\(k) class(es) with enough tracks; a taxonomy needs at least 2"))
        }
        let targets = Self.targets(input.labels, classes: k)
        let folds = GroupedFolds.make(groups: input.groups, classes: input.labels, classCount: k, k: options.folds, seed: options.seed)
        guard folds.count >= 2 else {
            throw TaxonomyError(input.name, .nothingToLearn("every labelled track is in one album or folder, so none can be held out"))
        }

        // Every candidate and the kNN baseline on the grouped folds.
        let specs = options.candidates
        let held = crossValidate(input, targets: targets, folds: folds, specs: specs, neighbours: options.neighbours,
                                 threads: options.threads, seed: options.seed)
        let candidateMatrices = specs.indices.map { s in confusion(probabilities: held.logits[s], input.labels, classes: k) }
        let groupCount = Set(input.groups).count
        let groupsPerClass = (0..<k).map { c in Set(input.labels.indices.filter { input.labels[$0].contains(c) }.map { input.groups[$0] }).count }
        let looseFolds = GroupedFolds.make(groups: (0..<n).map(String.init), classes: input.labels, classCount: k,
                                           k: options.folds, seed: options.seed)

        // A class whose tracks are all in one album or folder is never in training when it is
        // tested: grouped folds score it 0 whatever the head, so they can neither choose the
        // head nor set its threshold. Unless strict, those choices are made on folds that split
        // albums instead, and the report says they are optimistic.
        let unjudged = (0..<k).filter { groupsPerClass[$0] < 2 }
        let basis: DecisionRule.Basis = unjudged.isEmpty || options.strict ? .grouped : .albumSplit
        var basisNote: String?
        let basisFolds: GroupedFolds
        let basisHeld: HeldOut
        if basis == .albumSplit {
            basisFolds = looseFolds
            basisHeld = crossValidate(input, targets: targets, folds: looseFolds, specs: specs, neighbours: 0,
                                      threads: options.threads, seed: options.seed)
            basisNote = "\(unjudged.map { input.classes[$0] }.joined(separator: ", ")): all tracks in one album or folder, "
                + "so folds that keep albums whole cannot judge \(unjudged.count == 1 ? "it" : "them"). The head, calibration and "
                + "thresholds were chosen on folds that split albums: optimistic, since album-mates were in training. "
                + "--strict abstains on \(unjudged.count == 1 ? "that class" : "those classes") instead."
        } else {
            basisFolds = folds
            basisHeld = held
            if !unjudged.isEmpty {
                basisNote = "\(unjudged.map { input.classes[$0] }.joined(separator: ", ")): all tracks in one album or folder; "
                    + "strict: chosen on folds that keep albums whole, which cannot judge \(unjudged.count == 1 ? "it" : "them")"
            }
        }
        let basisMatrices = basis == .grouped ? candidateMatrices
            : specs.indices.map { s in confusion(probabilities: basisHeld.logits[s], input.labels, classes: k) }
        let basisLoss = specs.indices.map { s in
            CalibrationMetrics.logLoss(Calibration.identity(output, classes: k).probabilities(logits: basisHeld.logits[s], classes: k),
                                       targets: targets, classes: k, output: output)
        }
        // The best balanced accuracy; on a tie (common with a few tracks), the lower held-out
        // log loss, then the simpler head.
        var chosen = 0
        for s in specs.indices {
            let a = basisMatrices[s].meanRecall ?? 0, b = basisMatrices[chosen].meanRecall ?? 0
            if a > b + 1e-9 || (abs(a - b) <= 1e-9 && basisLoss[s] < basisLoss[chosen] - 1e-9) { chosen = s }
        }
        let spec = specs[chosen]
        let logits = basisHeld.logits[chosen]

        // Calibration and thresholds: the final ones from every held-out fold; the figures
        // reported from folds each fitted without.
        // Calibration is kept only when it lowers the held-out log loss: on a small or easily
        // separated set it can make things worse, and then the head's own outputs are used.
        let raw = Calibration.identity(output, classes: k).probabilities(logits: logits, classes: k)
        var (crossCalibrated, crossGiven) = crossFitDecisions(logits: logits, targets: targets, folds: basisFolds, classes: k,
                                                              output: output, target: options.targetPrecision, calibrate: true)
        let lossBefore = CalibrationMetrics.logLoss(raw, targets: targets, classes: k, output: output)
        var lossAfter = CalibrationMetrics.logLoss(crossCalibrated, targets: targets, classes: k, output: output)
        var calibrated = true
        if !(lossAfter <= lossBefore) {
            calibrated = false
            (crossCalibrated, crossGiven) = crossFitDecisions(logits: logits, targets: targets, folds: basisFolds, classes: k,
                                                              output: output, target: options.targetPrecision, calibrate: false)
            lossAfter = lossBefore
        }
        let calibration = calibrated ? Calibration.fit(logits: logits, targets: targets, classes: k, output: output)
            : Calibration.identity(output, classes: k)
        var rule = DecisionRule.choose(probabilities: calibration.probabilities(logits: logits, classes: k), targets: targets,
                                       classes: k, output: output, targetPrecision: options.targetPrecision)
        rule.basis = basis
        let fitted = output == .softmax ? "temperature and class biases" : "Platt scaling per class"
        let calibrationSummary = LearnReport.CalibrationSummary(
            method: calibrated ? fitted : "none: \(fitted) raised the held-out log loss, so the head's own probabilities are used",
            logLossBefore: lossBefore, logLossAfter: lossAfter,
            calibrationErrorBefore: CalibrationMetrics.expectedError(raw, targets: targets, classes: k),
            calibrationErrorAfter: CalibrationMetrics.expectedError(crossCalibrated, targets: targets, classes: k))
        var decisions = decisionReport(given: crossGiven, input.labels, classes: input.classes, rule: rule)
        decisions.basis = basis
        decisions.basisNote = basisNote

        // The album effect: the chosen head again, with folds that split albums.
        var albumEffect: LearnReport.AlbumEffect?
        if groupCount < n {
            let ungrouped = basis == .albumSplit ? basisHeld.logits[chosen]
                : crossValidate(input, targets: targets, folds: looseFolds, specs: [spec], neighbours: 0,
                                threads: options.threads, seed: options.seed).logits[0]
            let u = confusion(probabilities: ungrouped, input.labels, classes: k).accuracy
            let g = candidateMatrices[chosen].accuracy
            var effect = LearnReport.AlbumEffect(groupedAccuracy: g, ungroupedAccuracy: u, difference: nil, warning: nil)
            if let u, let g {
                effect.difference = u - g
                if u - g >= 0.1 {
                    effect.warning = String(format: "folds that split albums score %.0f%%, folds that keep them whole %.0f%%: "
                        + "much of what tells these tracks apart is their album (its sound, mix or master), not their label; "
                        + "trust the grouped figure", 100 * u, 100 * g)
                }
            }
            albumEffect = effect
        }

        // The taxonomy: the chosen head on every track.
        let standardizer = input.standardizer(input.features)
        let all = TrainingData(x: standardizer.apply(input.features), targets: targets, classes: k, output: output)
        let head = ClassifierHead.train(spec, all, seed: options.seed)
        let seconds = Date().timeIntervalSince(started)

        // Methods side by side.
        let headMatrix = candidateMatrices[chosen]
        var methods = [method("head", spec.description, headMatrix, input.classes)]
        let knnMatrix = confusion(probabilities: held.neighbours, input.labels, classes: k)
        methods.append(method("knn", "k-nearest neighbours (k = \(options.neighbours), cosine)", knnMatrix, input.classes))
        let (builtInMethod, notCovered) = builtInBaseline(input)
        if let builtInMethod { methods.append(builtInMethod) }

        let tracksPerClass = (0..<k).map { c in input.labels.filter { $0.contains(c) }.count }
        var warnings: [String] = []
        let classes = (0..<k).map { c -> LearnReport.ClassInfo in
            var warning: String?
            if groupsPerClass[c] < 2 {
                warning = "all its tracks are in one album or folder: held out, it has nothing of its own to learn from, "
                    + "and kept in, it would teach the album, not the label"
            } else if groupsPerClass[c] < 3 {
                warning = "only \(groupsPerClass[c]) albums or folders: the figures say little about albums not seen yet"
            } else if tracksPerClass[c] < options.fewTracks {
                warning = "only \(tracksPerClass[c]) tracks: too few to learn reliably (aim for \(options.fewTracks) or more, from several albums)"
            }
            if let warning { warnings.append("\(input.classes[c]): \(warning)") }
            return LearnReport.ClassInfo(name: input.classes[c], tracks: tracksPerClass[c], groups: groupsPerClass[c], warning: warning)
        }
        if let w = albumEffect?.warning { warnings.append(w) }
        for (c, t) in rule.thresholds.enumerated() where t == nil {
            warnings.append("\(input.classes[c]): no threshold reaches precision \(Int((options.targetPrecision * 100).rounded()))% "
                + "on the held-out folds, so this class is never given (genred abstains)")
        }
        if (knnMatrix.meanRecall ?? 0) > (headMatrix.meanRecall ?? 0) {
            warnings.append("the kNN baseline does better than the learned head: the labels may need more tracks, or the audio may not show them")
        }

        let byAlbum = input.groupedByAlbum.filter { $0 }.count
        let foldInfo = LearnReport.Folds(
            count: folds.count, groupedBy: byAlbum == n ? "album" : byAlbum == 0 ? "folder" : "album or folder",
            groups: groupCount, tracksByAlbum: byAlbum)
        let created = ISO8601DateFormatter().string(from: Date())
        let manifest = TaxonomyManifest(
            name: input.name, labels: input.classes, baseModel: input.baseModel,
            features: .init(id: TaxonomyFeatures.id, size: input.features.columns,
                            parts: TaxonomyFeatures.parts(embedding: input.meanOffset, labels: (input.features.columns - input.meanOffset) / 2)),
            head: .init(kind: spec.kind, hidden: spec.hidden, l2: spec.l2, output: output),
            calibration: calibration, decision: rule,
            training: .init(tracks: n, groups: groupCount, groupedBy: foldInfo.groupedBy, folds: folds.count,
                            labelSource: input.labelSource, accuracy: headMatrix.accuracy,
                            balancedAccuracy: headMatrix.meanRecall, createdAt: created),
            weights: .init(file: Taxonomy.weightsFile, sha256: ""))
        let taxonomy = Taxonomy(manifest: manifest, standardizer: standardizer, head: head)

        let report = LearnReport(
            name: input.name, version: nil, model: input.baseModel.name, modelVersion: input.baseModel.version,
            features: TaxonomyFeatures.id, labelSource: input.labelSource, sources: [], output: output, classes: classes,
            leftOut: [], counts: LearnReport.Counts(), folds: foldInfo,
            candidates: specs.indices.map {
                LearnReport.Candidate(head: specs[$0].description, accuracy: candidateMatrices[$0].accuracy,
                                      balancedAccuracy: candidateMatrices[$0].meanRecall, chosen: $0 == chosen)
            },
            chosen: spec.description, methods: methods, notCoveredByBuiltIn: notCovered, albumEffect: albumEffect,
            calibration: calibrationSummary, decisions: decisions, warnings: warnings, trainingSeconds: seconds,
            failures: [], comparison: nil)
        return Outcome(taxonomy: taxonomy, report: report, folds: folds)
    }

    // MARK: Cross-validation

    struct HeldOut {
        /// Per candidate: held-out logits, `tracks x classes`.
        var logits: [[Float]]
        /// kNN class scores, `tracks x classes`.
        var neighbours: [Float]
    }

    /// Trains each spec on all folds but one and predicts that one, for every fold. Folds run on
    /// `threads` workers; each fold's results depend only on its data, so the order of work
    /// does not change them.
    static func crossValidate(_ input: LearnInput, targets: [Float], folds: GroupedFolds, specs: [HeadSpec], neighbours: Int,
                              threads: Int, seed: UInt64) -> HeldOut {
        let n = input.features.rows, k = input.classes.count
        let results = LockedValue([Int: (logits: [[Float]], knn: [Float], test: [Int])]())
        let workers = max(1, min(threads, folds.count))
        parallelFor(workers) { worker in
            for f in stride(from: worker, to: folds.count, by: workers) {
                let (train, test) = folds.split(f)
                guard !test.isEmpty, !train.isEmpty else { continue }
                let raw = input.features.selecting(train)
                let standardizer = input.standardizer(raw)
                let x = standardizer.apply(raw), xt = standardizer.apply(input.features.selecting(test))
                var trainTargets = [Float](repeating: 0, count: train.count * k)
                for (r, i) in train.enumerated() { for c in 0..<k { trainTargets[r * k + c] = targets[i * k + c] } }
                let data = TrainingData(x: x, targets: trainTargets, classes: k, output: input.output)
                // Logistic heads follow their regularisation path (the candidates list them from
                // the strongest penalty down), each starting from the previous solution.
                var previous: ClassifierHead?
                let logits = specs.map { spec -> [Float] in
                    let warm = spec.kind == .logistic && previous.map { $0.spec.l2 > spec.l2 } == true ? previous : nil
                    let head = ClassifierHead.train(spec, data, seed: seed &+ UInt64(f), from: warm)
                    if spec.kind == .logistic { previous = head }
                    return head.logits(xt)
                }
                let knn = neighbours > 0
                    ? NeighbourVote(k: neighbours).scores(train: x, targets: trainTargets, classes: k, test: xt) : []
                results.withLock { $0[f] = (logits, knn, test) }
            }
        }
        var held = HeldOut(logits: specs.map { _ in [Float](repeating: 0, count: n * k) },
                           neighbours: [Float](repeating: 0, count: n * k))
        for (_, r) in results.withLock({ $0 }) {
            for (row, i) in r.test.enumerated() {
                for c in 0..<k {
                    for s in specs.indices { held.logits[s][i * k + c] = r.logits[s][row * k + c] }
                    if !r.knn.isEmpty { held.neighbours[i * k + c] = r.knn[row * k + c] }
                }
            }
        }
        return held
    }

    /// For each fold: calibration and thresholds fitted on the other folds' held-out logits,
    /// applied to this fold. Returns the calibrated probabilities and the classes given.
    static func crossFitDecisions(logits: [Float], targets: [Float], folds: GroupedFolds, classes k: Int, output: TaxonomyOutput,
                                  target: Double, calibrate: Bool = true) -> (probabilities: [Float], given: [[Int]]) {
        let n = logits.count / max(k, 1)
        var probabilities = [Float](repeating: 0, count: n * k)
        var given = [[Int]](repeating: [], count: n)
        for f in 0..<folds.count {
            let (train, test) = folds.split(f)
            guard !test.isEmpty else { continue }
            func rows(_ m: [Float], _ idx: [Int]) -> [Float] { idx.flatMap { m[($0 * k)..<(($0 + 1) * k)] } }
            let trainLogits = rows(logits, train), trainTargets = rows(targets, train)
            let calibration = calibrate ? Calibration.fit(logits: trainLogits, targets: trainTargets, classes: k, output: output)
                : Calibration.identity(output, classes: k)
            let rule = DecisionRule.choose(probabilities: calibration.probabilities(logits: trainLogits, classes: k),
                                           targets: trainTargets, classes: k, output: output, targetPrecision: target)
            for i in test {
                let p = calibration.probabilities(logits[(i * k)..<((i + 1) * k)])
                for c in 0..<k { probabilities[i * k + c] = p[c] }
                given[i] = rule.decide(p)
            }
        }
        return (probabilities, given)
    }

    // MARK: Figures

    static func targets(_ labels: [[Int]], classes k: Int) -> [Float] {
        var t = [Float](repeating: 0, count: labels.count * k)
        for (i, list) in labels.enumerated() { for c in list { t[i * k + c] = 1 } }
        return t
    }

    /// The confusion of the top class. A multi-label track counts under the label its top
    /// class matches, or under its first label when it matches none.
    static func confusion(probabilities p: [Float], _ labels: [[Int]], classes k: Int) -> ConfusionMatrix {
        var m = ConfusionMatrix(classCount: k)
        for (i, truth) in labels.enumerated() where !truth.isEmpty {
            var top = 0
            for c in 0..<k where p[i * k + c] > p[i * k + top] { top = c }
            m.add(truth: truth.contains(top) ? top : truth[0], prediction: top)
        }
        return m
    }

    static func method(_ name: String, _ description: String, _ m: ConfusionMatrix, _ classes: [String]) -> LearnReport.Method {
        LearnReport.Method(
            name: name, description: description, classes: classes, tracks: m.total, accuracy: m.accuracy,
            balancedAccuracy: m.meanRecall,
            perClass: classes.indices.map {
                EvalReport.ClassMetrics(name: classes[$0], support: m.support($0), predicted: m.predicted($0),
                                        precision: m.precision($0), recall: m.recall($0))
            },
            counts: m.counts)
    }

    /// The model's own genre tags, mapped to the classes as `genred eval` maps them, on the
    /// tracks whose labels they cover; no training, so no folds.
    static func builtInBaseline(_ input: LearnInput) -> (LearnReport.Method?, [EvalReport.Uncovered]) {
        let covered = input.builtIn.indices.filter { input.builtIn[$0] != nil }
        var notCovered: [EvalReport.Uncovered] = []
        for c in input.classes.indices where input.builtIn[c] == nil {
            notCovered.append(.init(label: input.classes[c], files: input.labels.filter { $0.contains(c) }.count,
                                    note: "no label of \(input.baseModel.name) stands for it (a --map file can name some)"))
        }
        guard covered.count >= 2 else { return (nil, notCovered) }
        let evalClasses = covered.map { input.builtIn[$0]! }
        let position = Dictionary(uniqueKeysWithValues: covered.enumerated().map { ($1, $0) })
        var m = ConfusionMatrix(classCount: covered.count)
        let labelCount = (input.features.columns - input.meanOffset) / 2
        for (i, truth) in input.labels.enumerated() {
            let mine = truth.compactMap { position[$0] }
            guard !mine.isEmpty else { continue }
            let row = input.features.row(i)
            let mean = Array(row[(row.startIndex + input.meanOffset)..<(row.startIndex + input.meanOffset + labelCount)])
            let top = EvalScoring.argmax(EvalScoring.classScores(mean, evalClasses))
            m.add(truth: mine.contains(top) ? top : mine[0], prediction: top)
        }
        let names = covered.map { input.classes[$0] }
        let description = "\(input.baseModel.name) tags, mapped as genred eval maps them ("
            + evalClasses.map { "\($0.name) = \($0.modelLabels.joined(separator: ", "))" }.joined(separator: "; ") + ")"
        return (method("built-in", description, m, names), notCovered)
    }

    static func decisionReport(given: [[Int]], _ labels: [[Int]], classes: [String], rule: DecisionRule) -> LearnReport.Decisions {
        let k = classes.count
        var givenCount = [Int](repeating: 0, count: k), right = givenCount, support = givenCount
        var anyGiven = 0, anyRight = 0
        for (i, truth) in labels.enumerated() {
            for c in truth { support[c] += 1 }
            if !given[i].isEmpty {
                anyGiven += 1
                if truth.contains(given[i][0]) { anyRight += 1 }
            }
            for c in given[i] {
                givenCount[c] += 1
                if truth.contains(c) { right[c] += 1 }
            }
        }
        return LearnReport.Decisions(
            targetPrecision: rule.targetPrecision,
            perClass: (0..<k).map { c in
                LearnReport.ClassDecision(
                    name: classes[c], threshold: rule.thresholds[c],
                    precision: givenCount[c] > 0 ? Double(right[c]) / Double(givenCount[c]) : nil,
                    recall: support[c] > 0 ? Double(right[c]) / Double(support[c]) : nil,
                    given: givenCount[c], support: support[c])
            },
            coverage: labels.isEmpty ? nil : Double(anyGiven) / Double(labels.count),
            accuracyWhenGiven: anyGiven > 0 ? Double(anyRight) / Double(anyGiven) : nil)
    }
}
