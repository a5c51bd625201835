import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

/// The learning core on made-up features: folds, heads, calibration, thresholds, the album
/// effect, and taxonomies as files.
final class LearnTests: XCTestCase {
    static let base = TaxonomyManifest.BaseModel(name: "test-model", version: "1", weightsSha256: String(repeating: "ab", count: 32))

    /// Tracks in albums; each album's tracks scatter around the album's centre. `classOf`
    /// gives an album's class; `signal` scales how far apart the classes' centres are (0: the
    /// label leaves no trace in the features, only the album does).
    static func albums(classes: Int, albumsPerClass: Int, tracksPerAlbum: Int, signal: Double, albumSpread: Double,
                       dimensions: Int = 40, seed: UInt64 = 7) -> LearnInput {
        var rng = SeededGenerator(seed: seed)
        let classCentres = (0..<classes).map { _ in (0..<dimensions).map { _ in rng.gaussian() * signal } }
        var rows: [[Float]] = [], labels: [[Int]] = [], groups: [String] = []
        for c in 0..<classes {
            for a in 0..<albumsPerClass {
                let albumCentre = (0..<dimensions).map { classCentres[c][$0] + rng.gaussian() * albumSpread }
                for _ in 0..<tracksPerAlbum {
                    rows.append(albumCentre.map { Float($0 + rng.gaussian() * 0.3) })
                    labels.append([c])
                    groups.append("album:\(c)-\(a)")
                }
            }
        }
        return LearnInput(
            name: "synthetic", classes: (0..<classes).map { "class\($0)" }, features: FeatureMatrix(rows, columns: dimensions),
            labels: labels, groups: groups, groupedByAlbum: groups.map { _ in true },
            builtIn: [EvalClass?](repeating: nil, count: classes), meanOffset: dimensions - 10, baseModel: base, labelSource: "folders")
    }

    func testWellSeparatedClassesAreLearnedFarAboveChance() throws {
        let input = Self.albums(classes: 3, albumsPerClass: 4, tracksPerAlbum: 5, signal: 1, albumSpread: 0.3)
        let outcome = try TaxonomyTrainer.learn(input)
        let head = try XCTUnwrap(outcome.report.method("head"))
        XCTAssertGreaterThan(try XCTUnwrap(head.accuracy), 0.9, "chance is 1/3")
        XCTAssertEqual(head.counts.flatMap { $0 }.reduce(0, +), 60)
        XCTAssertNotNil(outcome.report.method("knn"))
        XCTAssertNil(outcome.report.method("built-in"), "no class is covered by built-in tags here")
        XCTAssertEqual(outcome.report.candidates.filter(\.chosen).count, 1)
        XCTAssertEqual(outcome.report.folds.count, 5)
        // The stored taxonomy gives the same labels as its folds' figures suggest: nearly all right.
        let predictions = outcome.taxonomy.predictions(input.features)
        let right = zip(predictions, input.labels).filter { $0.0.probabilities.firstIndex(of: $0.0.probabilities.max()!) == $0.1[0] }.count
        XCTAssertGreaterThan(right, 55)
    }

    func testAnAlbumLeakIsCaughtByGroupedFolds() throws {
        // The label leaves no trace; each album has a sound of its own.
        let input = Self.albums(classes: 2, albumsPerClass: 6, tracksPerAlbum: 5, signal: 0, albumSpread: 2)
        let outcome = try TaxonomyTrainer.learn(input)
        let effect = try XCTUnwrap(outcome.report.albumEffect)
        let grouped = try XCTUnwrap(effect.groupedAccuracy), ungrouped = try XCTUnwrap(effect.ungroupedAccuracy)
        XCTAssertGreaterThan(ungrouped, 0.9, "album-mates in training give the label away")
        XCTAssertLessThan(grouped, 0.75, "held-out albums leave only chance (0.5)")
        XCTAssertNotNil(effect.warning)
        XCTAssertTrue(outcome.report.warnings.contains { $0.contains("album") })
    }

    func testOneAlbumPerClassGivesLabelsByAlbumSplitThresholdsUnlessStrict() throws {
        let input = Self.albums(classes: 3, albumsPerClass: 1, tracksPerAlbum: 6, signal: 1, albumSpread: 0.3)
        var options = LearnOptions()
        options.candidates = HeadSpec.candidates.filter { $0.kind == .logistic }
        let outcome = try TaxonomyTrainer.learn(input, options: options)
        XCTAssertEqual(outcome.report.method("head")?.accuracy, 0, "grouped folds hold each class out whole")
        XCTAssertEqual(outcome.taxonomy.manifest.decision.basis, .albumSplit)
        XCTAssertTrue(outcome.report.decisions.basisNote?.contains("optimistic") == true)
        let given = outcome.taxonomy.predictions(input.features).filter { $0.label != nil }
        XCTAssertFalse(given.isEmpty)
        XCTAssertTrue(given.allSatisfy { $0.basis == .albumSplit })

        options.strict = true
        let strict = try TaxonomyTrainer.learn(input, options: options)
        XCTAssertEqual(strict.taxonomy.manifest.decision.basis, .grouped)
        XCTAssertTrue(strict.taxonomy.predictions(input.features).allSatisfy { $0.label == nil })

        // Two albums per class: grouped folds judge every class, as before.
        let two = Self.albums(classes: 3, albumsPerClass: 2, tracksPerAlbum: 3, signal: 1, albumSpread: 0.3)
        XCTAssertEqual(try TaxonomyTrainer.learn(two, options: options).taxonomy.manifest.decision.basis, .grouped)
        options.strict = false
        XCTAssertEqual(try TaxonomyTrainer.learn(two, options: options).taxonomy.manifest.decision.basis, .grouped)
    }

    func testAColumnThatBarelyVariesIsNotScaledPastItsPart() {
        // Column 2 varies by chance in the fourth decimal place; scaled by that alone, an
        // ordinary 0.01 elsewhere would sit a hundred deviations out.
        let m = FeatureMatrix([[1, 10, 0.0001, 0.5], [2, 12, 0.0003, 0.4], [3, 14, 0.0002, 0.6]], columns: 4)
        let plain = Standardizer(fitting: m)
        let floored = Standardizer(fitting: m, parts: [0..<2, 2..<4], floor: 0.1)
        XCTAssertLessThan(plain.scale[2], 1e-3)
        XCTAssertEqual(floored.scale[2], 0.1 * max(plain.scale[2], plain.scale[3]), accuracy: 1e-6, "a tenth of its part's median (the upper of two)")
        XCTAssertEqual(floored.scale[3], plain.scale[3])
        XCTAssertEqual(Array(floored.scale[0..<2]), Array(plain.scale[0..<2]))
        XCTAssertEqual(floored.mean, plain.mean)
    }

    func testGroupedFoldsKeepGroupsWholeAndSpreadEveryClass() {
        var groups: [String] = [], classes: [[Int]] = []
        for g in 0..<30 {
            for _ in 0..<(1 + g % 4) {
                groups.append("g\(g)")
                classes.append([g % 3])
            }
        }
        let folds = GroupedFolds.make(groups: groups, classes: classes, classCount: 3, k: 5, seed: 3)
        XCTAssertEqual(folds.count, 5)
        var foldOf: [String: Int] = [:]
        for (i, g) in groups.enumerated() {
            if let f = foldOf[g] { XCTAssertEqual(f, folds.assignment[i], "group \(g) split across folds") }
            foldOf[g] = folds.assignment[i]
        }
        for f in 0..<5 {
            let test = folds.split(f).test
            XCTAssertFalse(test.isEmpty)
            XCTAssertEqual(Set(test.map { classes[$0][0] }), [0, 1, 2], "fold \(f) lacks a class")
        }
        XCTAssertEqual(folds, GroupedFolds.make(groups: groups, classes: classes, classCount: 3, k: 5, seed: 3), "seeded")
        XCTAssertEqual(GroupedFolds.make(groups: ["a", "a", "b"], classes: [[0], [1], [0]], classCount: 2, k: 5, seed: 1).count, 2)
    }

    func testCalibrationOfPerfectlySeparatedLogitsStaysFinite() {
        var z: [Float] = [], t: [Float] = []
        for i in 0..<40 {
            z += i % 2 == 0 ? [2, -2] : [-2, 2]
            t += i % 2 == 0 ? [1, 0] : [0, 1]
        }
        let softmax = Calibration.fit(logits: z, targets: t, classes: 2, output: .softmax)
        XCTAssertLessThan(softmax.scale[0], 5, "no held-out mistake is no proof that none will come")
        XCTAssertGreaterThan(softmax.probabilities([Float(2), -2])[1], 1e-4)
        let sigmoid = Calibration.fit(logits: z, targets: t, classes: 2, output: .sigmoid)
        XCTAssertTrue(sigmoid.scale.allSatisfy { $0 < 5 }, "\(sigmoid.scale)")
        // Logits that always point the wrong way are not turned around by a negative scale.
        let reversed = Calibration.fit(logits: z.map { -$0 }, targets: t, classes: 2, output: .softmax)
        XCTAssertGreaterThan(reversed.scale[0], 0)
        XCTAssertLessThanOrEqual(reversed.probabilities([Float(-2), 2])[0], 0.501, "a wrong head is not turned around")
    }

    func testTemperatureCalibrationSoftensOverconfidentLogits() {
        // Logits 4x too sure: the true probabilities are softmax(z / 4).
        var rng = SeededGenerator(seed: 11)
        var logits: [Float] = [], targets: [Float] = []
        for _ in 0..<3000 {
            let z = (0..<3).map { _ in Float(rng.gaussian() * 8) }
            let p = Calibration.identity(.softmax, classes: 3).probabilities(z.map { $0 / 4 })
            let u = Float(rng.unit())
            let c = u < p[0] ? 0 : (u < p[0] + p[1] ? 1 : 2)
            logits += z
            targets += (0..<3).map { $0 == c ? 1 : 0 }
        }
        let fitted = Calibration.fit(logits: logits, targets: targets, classes: 3, output: .softmax)
        XCTAssertEqual(fitted.scale[0], 0.25, accuracy: 0.04)
        let before = CalibrationMetrics.logLoss(Calibration.identity(.softmax, classes: 3).probabilities(logits: logits, classes: 3),
                                                targets: targets, classes: 3, output: .softmax)
        let after = CalibrationMetrics.logLoss(fitted.probabilities(logits: logits, classes: 3), targets: targets, classes: 3, output: .softmax)
        XCTAssertLessThan(after, before)
    }

    func testThresholdIsTheLowestThatKeepsTheTargetPrecision() {
        // Class 0 is the top class of six tracks: probabilities 0.9, 0.8, 0.7, 0.6 right; 0.55 wrong; 0.5 right.
        let rows: [(Float, Bool)] = [(0.9, true), (0.8, true), (0.7, true), (0.6, true), (0.55, false), (0.5, true)]
        var p: [Float] = [], t: [Float] = []
        for (q, right) in rows {
            p += [q, 1 - q]
            t += right ? [1, 0] : [0, 1]
        }
        let rule = DecisionRule.choose(probabilities: p, targets: t, classes: 2, output: .softmax, targetPrecision: 0.85)
        // At 0.5: 5 of 6 right (0.83 < 0.85); at 0.55: 4 of 5 (0.8); at 0.6: 4 of 4.
        XCTAssertEqual(try XCTUnwrap(rule.thresholds[0]), 0.6, accuracy: 1e-6)
        XCTAssertNil(rule.thresholds[1], "class 1 is never the top class")
        XCTAssertEqual(rule.decide([0.65, 0.35]), [0])
        XCTAssertEqual(rule.decide([0.58, 0.42]), [], "below the threshold: abstain")
        XCTAssertEqual(rule.decide([0.3, 0.7]), [], "a class without a threshold is never given")
        // Tracks of one class only: no threshold can be judged.
        let one = DecisionRule.choose(probabilities: [0.9, 0.1, 0.8, 0.2], targets: [1, 0, 1, 0], classes: 2, output: .softmax,
                                      targetPrecision: 0.9)
        XCTAssertEqual(one.thresholds, [nil, nil])
    }

    func testMultiLabelTagsGiveSigmoidOutputsAndSeveralLabels() throws {
        var input = Self.albums(classes: 3, albumsPerClass: 4, tracksPerAlbum: 5, signal: 1.2, albumSpread: 0.3)
        // Tracks of class 2 also carry class 0, so class 0 is learned from two sounds.
        input.labels = input.labels.map { $0 == [2] ? [2, 0] : $0 }
        XCTAssertEqual(input.output, .sigmoid)
        let outcome = try TaxonomyTrainer.learn(input)
        XCTAssertEqual(outcome.taxonomy.manifest.head.output, .sigmoid)
        let both = outcome.taxonomy.predictions(input.features).enumerated().filter { input.labels[$0.offset] == [2, 0] }
        XCTAssertGreaterThan(both.filter { Set($0.element.given) == ["class0", "class2"] }.count, 10)
    }

    func testNothingToLearnFromOneAlbumOrOneClass() {
        var input = Self.albums(classes: 2, albumsPerClass: 1, tracksPerAlbum: 6, signal: 1, albumSpread: 0.1)
        input.groups = input.groups.map { _ in "folder:/music/all" }
        XCTAssertThrowsError(try TaxonomyTrainer.learn(input)) { error in
            guard case .nothingToLearn = (error as! TaxonomyError).reason else { return XCTFail("\(error)") }
        }
    }

    // MARK: Files

    func testSafeTensorsWriterRoundTripsAndIsDeterministic() throws {
        let tensors: [String: SafeTensors.Tensor] = [
            "b": .init(shape: [2, 3], values: [1, 2, 3, 4, 5, -6.5]), "a": .init(shape: [1], values: [.pi]),
        ]
        let data = SafeTensors(tensors: tensors, metadata: ["format": "x"]).encoded()
        XCTAssertEqual(data, SafeTensors(tensors: tensors, metadata: ["format": "x"]).encoded())
        let header = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(header % 8, 0, "header padded to 8 bytes")
        let back = try SafeTensors(data: data)
        XCTAssertEqual(back.tensors, tensors)
        XCTAssertEqual(back.metadata, ["format": "x"])
    }

    func testTaxonomyFolderRoundTripGivesTheSamePredictions() throws {
        let input = Self.albums(classes: 3, albumsPerClass: 3, tracksPerAlbum: 4, signal: 1, albumSpread: 0.3)
        var options = LearnOptions()
        options.candidates = [HeadSpec(kind: .mlp, hidden: 8, l2: 0.01)]
        let taxonomy = try TaxonomyTrainer.learn(input, options: options).taxonomy
        let dir = try Fixtures.temporaryDirectory().appendingPathComponent("synthetic.taxonomy").path
        try taxonomy.export(to: dir)
        XCTAssertThrowsError(try taxonomy.export(to: dir), "refuses to replace") { error in
            guard case .cannotWrite = (error as! TaxonomyError).reason else { return XCTFail("\(error)") }
        }
        let back = try Taxonomy.load(folder: dir)
        XCTAssertEqual(back.manifest.labels, taxonomy.labels)
        XCTAssertEqual(back.head, taxonomy.head)
        XCTAssertEqual(back.predictions(input.features), taxonomy.predictions(input.features))

        // A damaged weights file is refused by its digest.
        var weights = try Data(contentsOf: URL(fileURLWithPath: dir + "/head.safetensors"))
        weights[weights.count - 1] ^= 1
        try weights.write(to: URL(fileURLWithPath: dir + "/head.safetensors"))
        XCTAssertThrowsError(try Taxonomy.load(folder: dir)) { error in
            guard case .checksumMismatch = (error as! TaxonomyError).reason else { return XCTFail("\(error)") }
        }
    }
}
