import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices
import GenredTestSupport

/// `learn` from a handful of tracks per label, on real music: 30-second excerpts of five
/// soundtracks from Debian's game-music packages (`scripts/learn-audio.sh` makes the set;
/// the tests skip when it has not been made).
final class LearnSmallSetTests: XCTestCase {
    /// The whole set's features, analysed once for the class into a temporary library database
    /// (or read from `GENRED_LEARN_DB` when that names one that holds them).
    nonisolated(unsafe) static var shared: LearnInput?

    static var setFolder: URL {
        if let path = ProcessInfo.processInfo.environment["GENRED_LEARN_AUDIO"] { return URL(fileURLWithPath: path) }
        // Tests/GenredKitTests/ -> the package root.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/learn-audio/set")
    }

    private func realMusic() throws -> LearnInput {
        if let s = Self.shared { return s }
        let folder = Self.setFolder
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent(".complete").path) else {
            throw XCTSkip("no real-music set at \(folder.path): run scripts/learn-audio.sh")
        }
        let database: String
        if let path = ProcessInfo.processInfo.environment["GENRED_LEARN_DB"] {
            database = path
        } else {
            database = try TestAudio.makeTemporaryDirectory("genred-small-sets").appendingPathComponent("library.sqlite").path
        }
        let store = try LibraryStore(path: database)
        let bundle = try Fixtures.bundle("msd-musicnn")
        let runner = LearnRunner(bundle: bundle, store: store, map: EvalLabelMap(manifest: bundle.manifest), threads: 2)
        let input = try runner.collect(name: "soundtracks", sources: LearnSources(folders: [folder.path], labels: .folders)).input
        Self.shared = input
        return input
    }

    /// `tracks` tracks of each of `labels`, dealt in turn from its `albums` largest albums
    /// (folders), as a learn input; and the rest of those labels' tracks, for testing.
    private func split(_ input: LearnInput, labels: [String], albums: Int, tracks: Int) -> (LearnInput, test: [Int], truth: [Int]) {
        var train: [Int] = [], test: [Int] = [], truth: [Int] = []
        for (position, name) in labels.enumerated() {
            let c = input.classes.firstIndex(of: name)!
            let mine = input.labels.indices.filter { input.labels[$0] == [c] }
            // The largest albums first.
            let groups = Array(Set(mine.map { input.groups[$0] })).sorted()
            var pools = groups.map { g in mine.filter { input.groups[$0] == g } }.sorted { $0.count > $1.count }
            pools = Array(pools.prefix(albums))
            precondition(pools.reduce(0) { $0 + $1.count } >= tracks, "\(name): too few tracks in \(albums) albums")
            var taken: [Int] = []
            var g = 0
            while taken.count < tracks {
                if !pools[g % pools.count].isEmpty { taken.append(pools[g % pools.count].removeFirst()) }
                g += 1
            }
            train += taken
            for i in mine where !taken.contains(i) {
                test.append(i)
                truth.append(position)
            }
        }
        let sub = LearnInput(
            name: "small", classes: labels, features: input.features.selecting(train),
            labels: train.map { [labels.firstIndex(of: input.classes[input.labels[$0][0]])!] },
            groups: train.map { input.groups[$0] }, groupedByAlbum: train.map { _ in false },
            builtIn: [EvalClass?](repeating: nil, count: labels.count), meanOffset: input.meanOffset,
            baseModel: input.baseModel, labelSource: "folders")
        return (sub, test, truth)
    }

    /// The heads `learn` tries, less the MLP: its hundreds of full-batch steps per fold are
    /// what a debug build is slow at; the small-set behaviour under test is the logistic heads'.
    static var options: LearnOptions {
        var o = LearnOptions()
        o.candidates = HeadSpec.candidates.filter { $0.kind == .logistic }
        o.threads = 2
        return o
    }

    func testFourSoundtracksOfOneAlbumEachAreLabelledAsWellAsByAPlainLogisticRegression() throws {
        // Six tracks of one album per soundtrack; every other track of those soundtracks is tested.
        let input = try realMusic()
        let labels = ["Drascula", "HyperRogue", "Maxstack", "Planet Blupi"]
        let (sub, test, truth) = split(input, labels: labels, albums: 1, tracks: 6)
        let outcome = try TaxonomyTrainer.learn(sub, options: Self.options)
        XCTAssertEqual(outcome.taxonomy.manifest.decision.basis, .albumSplit)
        XCTAssertEqual(outcome.report.decisions.basis, .albumSplit)
        let note = try XCTUnwrap(outcome.report.decisions.basisNote)
        XCTAssertTrue(note.contains("optimistic") && note.contains("--strict"), note)
        XCTAssertEqual(outcome.report.text().components(separatedBy: "folds that keep albums whole cannot judge").count, 2, "said once")

        let predictions = outcome.taxonomy.predictions(input.features.selecting(test))
        let given = predictions.filter { $0.label != nil }.count
        let right = zip(predictions, truth).filter { $0.0.label == labels[$0.1] }.count
        XCTAssertGreaterThan(given, test.count / 3, "it abstained on \(test.count - given) of \(test.count)")
        XCTAssertGreaterThan(Double(right) / Double(given), 0.5, "\(right) of \(given) labels right (chance 0.25)")

        // The same split judged as the benchmark judges it: the head's top class against a plain
        // logistic regression on the embedding.
        let classes = labels.map { input.classes.firstIndex(of: $0)! }
        let train = input.labels.indices.filter { !test.contains($0) && classes.contains(input.labels[$0][0]) }
        let trial = try XCTUnwrap(SmallSetBenchmark.trial(input, classes: classes, train: train, test: test, options: Self.options))
        print(String(format: "one album each: head %.3f, given %.3f, right %.3f; logistic %.3f; kNN %.3f",
                     trial.head, trial.given, trial.givenRight, trial.logistic, trial.knn))
        XCTAssertGreaterThanOrEqual(trial.head, trial.logistic - 0.05)

        // Strict: the grouped folds' verdict stands, and nothing is given.
        var strict = Self.options
        strict.strict = true
        let abstaining = try TaxonomyTrainer.learn(sub, options: strict)
        XCTAssertEqual(abstaining.taxonomy.manifest.decision.basis, .grouped)
        XCTAssertTrue(abstaining.taxonomy.predictions(input.features.selecting(test)).allSatisfy { $0.label == nil })
    }

    func testSmallSetsReachThePlainLogisticRegression() throws {
        let input = try realMusic()
        var settings: [SmallSetBenchmark.Setting] = []
        for classes in [2, 4] { for tracks in [5, 10] { for albums in [1, 3] { settings.append(.init(classes: classes, tracks: tracks, albums: albums)) } } }
        let rows = SmallSetBenchmark.run(input, settings: settings, trials: 3, seed: 5, options: Self.options)
        XCTAssertEqual(rows.count, settings.count)
        for r in rows {
            print(String(format: "%d classes, %2d tracks, %d albums (%.1f drawn): head %.3f (given %.3f, right %.3f), logistic %.3f, kNN %.3f",
                         r.setting.classes, r.setting.tracks, r.setting.albums, r.albumsDrawn, r.head, r.given, r.givenRight, r.logistic, r.knn))
        }
        let head = rows.map(\.head).reduce(0, +) / Double(rows.count), logistic = rows.map(\.logistic).reduce(0, +) / Double(rows.count)
        XCTAssertGreaterThanOrEqual(head, logistic - 0.02, "mean over the settings")
        XCTAssertTrue(rows.allSatisfy { $0.given > 0 }, "every setting gives some labels")
    }

    func testTooFewTracksPerLabelSaysHowManyItFound() throws {
        _ = try realMusic()
        let root = try TestAudio.makeTemporaryDirectory("genred-too-few")
        for label in ["Industrial", "Ambient"] {
            let dir = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let source = Self.setFolder.appendingPathComponent(label == "Industrial" ? "Warzone 2100/legacy" : "HyperRogue/hr3")
            for f in try FileManager.default.contentsOfDirectory(atPath: source.path).sorted().prefix(3) {
                try FileManager.default.copyItem(at: source.appendingPathComponent(f), to: dir.appendingPathComponent(f))
            }
        }
        let store = try LibraryStore(path: root.appendingPathComponent("library.sqlite").path)
        let bundle = try Fixtures.bundle("msd-musicnn")
        let runner = LearnRunner(bundle: bundle, store: store, map: EvalLabelMap(manifest: bundle.manifest), threads: 2)
        XCTAssertThrowsError(try runner.run(name: "few", sources: LearnSources(folders: [root.path], labels: .folders), save: false)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("6 labelled tracks in 2 labels (Ambient 3, Industrial 3)"), text)
            XCTAssertTrue(text.contains("at least 2 labels of 5 or more tracks"), text)
        }
    }
}
