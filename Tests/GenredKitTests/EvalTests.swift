import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class EvalTests: XCTestCase {
    private func msd() throws -> BundleManifest { try Fixtures.bundle("msd-musicnn").manifest }

    // MARK: Label map

    func testBuiltInSameNameAndUncoveredLabels() throws {
        let m = try msd()
        let map = EvalLabelMap(manifest: m)
        XCTAssertEqual(map.coverage(of: "Hip Hop"), .covered(labels: ["Hip-Hop"], origin: .builtIn))
        XCTAssertEqual(map.coverage(of: "metal"), .covered(labels: ["metal", "heavy metal"], origin: .builtIn))
        XCTAssertEqual(map.coverage(of: "Folk"), .covered(labels: ["folk"], origin: .sameName))
        XCTAssertEqual(map.coverage(of: "R&B"), .covered(labels: ["rnb"], origin: .sameName))
        XCTAssertEqual(map.coverage(of: "Bossa Nova"), .uncovered(note: "no genre label of msd-musicnn has this name; map it with --map to cover it"))
        guard case .uncovered(let note) = map.coverage(of: "classical") else { return XCTFail("classical is not an MSD label") }
        XCTAssertTrue(note.contains("mtt-musicnn"), note)
        for name in ["disco", "reggae"] {
            guard case .uncovered = map.coverage(of: name) else { return XCTFail("\(name) must not be guessed") }
        }
        // Not a genre: an instrument label is not taken by name.
        guard case .uncovered = map.coverage(of: "guitar") else { return XCTFail("guitar is not a genre") }

        let mtt = EvalLabelMap(manifest: try Fixtures.bundle("mtt-musicnn").manifest)
        XCTAssertEqual(mtt.coverage(of: "classical"), .covered(labels: ["classical", "classic"], origin: .builtIn))
        guard case .uncovered = mtt.coverage(of: "jazz") else { return XCTFail("MTT has no jazz") }
    }

    func testMapFileOverridesAndReportsErrorsByLine() throws {
        let dir = try Fixtures.temporaryDirectory()
        let good = dir.appendingPathComponent("map.txt").path
        try """
            # dataset label = model labels
            [genres]
            classical = Instrumental, "ambient"   # display name and label
            "hip hop" = ["Hip-Hop", "rnb"]
            rock =
            """.write(toFile: good, atomically: true, encoding: .utf8)
        var map = EvalLabelMap(manifest: try msd())
        try map.load(file: good)
        XCTAssertEqual(map.coverage(of: "Classical"), .covered(labels: ["instrumental", "ambient"], origin: .file))
        XCTAssertEqual(map.coverage(of: "hiphop"), .covered(labels: ["Hip-Hop", "rnb"], origin: .file))
        XCTAssertEqual(map.coverage(of: "rock"), .uncovered(note: "left out by the --map file"))

        let bad = dir.appendingPathComponent("bad.txt").path
        try "jazz = jazz\n\ndisco = disco\n".write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try map.load(file: bad)) { error in
            let e = error as! EvalError
            XCTAssertEqual(e.path, bad)
            XCTAssertEqual(e.reason, .unknownModelLabel(line: 3, label: "disco", model: "msd-musicnn"))
            XCTAssertTrue(e.description.hasPrefix(bad + ": line 3"), e.description)
        }
        let syntax = dir.appendingPathComponent("syntax.txt").path
        try "jazz: jazz\n".write(toFile: syntax, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try map.load(file: syntax)) { error in
            XCTAssertEqual((error as! EvalError).reason, .mapSyntax(line: 1, text: "jazz: jazz"))
        }
        XCTAssertThrowsError(try map.load(file: dir.appendingPathComponent("missing").path)) { error in
            XCTAssertEqual((error as! EvalError).reason, .notFound)
        }
    }

    // MARK: Metrics on hand-made scores

    /// Classes: jazz, metal (metal + heavy metal), pop, rock.
    private func classes(_ m: BundleManifest) -> [EvalClass] {
        [("jazz", ["jazz"]), ("metal", ["metal", "heavy metal"]), ("pop", ["pop"]), ("rock", ["rock"])].map { name, labels in
            EvalClass(name: name, modelLabels: labels, origin: .builtIn, indices: labels.map { m.labels.firstIndex(of: $0)! })
        }
    }

    /// A sample whose windows each give the named labels these scores (all else 0.01).
    private func sample(_ m: BundleManifest, truth: Int, windows: [[String: Float]]) -> EvalSample {
        let n = m.labels.count
        var taggram: [Float] = []
        for w in windows {
            var row = [Float](repeating: 0.01, count: n)
            for (label, p) in w { row[m.labels.firstIndex(of: label)!] = p }
            taggram += row
        }
        let mean = (0..<n).map { l in windows.indices.map { taggram[$0 * n + l] }.reduce(0, +) / Float(windows.count) }
        return EvalSample(path: "/set/\(truth)/\(UUID().uuidString).wav", label: "x", truth: truth, mean: mean, taggram: taggram,
                          windows: windows.count, hopSeconds: 3, windowSeconds: 3)
    }

    func testConfusionAccuracyVoteTiesAndTimeline() throws {
        let m = try msd()
        let cls = classes(m)
        let samples = [
            // jazz, clearly.
            sample(m, truth: 0, windows: [["jazz": 0.8], ["jazz": 0.7]]),
            // jazz label; mean says jazz (0.5 vs 0.35), the vote ties 2-2 and goes to the higher mean: jazz.
            sample(m, truth: 0, windows: [["jazz": 0.9, "rock": 0.2], ["jazz": 0.9, "rock": 0.2], ["rock": 0.5, "jazz": 0.1], ["rock": 0.5, "jazz": 0.1]]),
            // metal through "heavy metal" alone.
            sample(m, truth: 1, windows: [["heavy metal": 0.6, "rock": 0.3], ["heavy metal": 0.6, "rock": 0.3]]),
            // metal label, read as rock by both (a planted confusion).
            sample(m, truth: 1, windows: [["rock": 0.7, "metal": 0.2], ["rock": 0.7, "metal": 0.2], ["rock": 0.7, "metal": 0.2]]),
            // rock label: the mean says rock (0.36 vs 0.3), the vote says pop (2 of 3 windows).
            sample(m, truth: 3, windows: [["pop": 0.3, "rock": 0.2], ["pop": 0.3, "rock": 0.2], ["rock": 0.68, "pop": 0.3]]),
            // pop label with rock, metal, jazz above pop: outside the top 3.
            sample(m, truth: 2, windows: [["rock": 0.5, "metal": 0.4, "jazz": 0.3, "pop": 0.2]]),
        ]
        let r = EvalReport.build(samples: samples, classes: cls, manifest: m, settings: TagSettings(), coverageTarget: 0.5)
        let mean = try XCTUnwrap(r.aggregation("mean")), vote = try XCTUnwrap(r.aggregation("vote"))
        // rows: jazz, metal, pop, rock
        XCTAssertEqual(mean.counts, [[2, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]])
        XCTAssertEqual(vote.counts, [[2, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 1, 0]])
        XCTAssertEqual(mean.correct, 4)
        XCTAssertEqual(try XCTUnwrap(mean.accuracy), 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(vote.accuracy), 3.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(mean.meanRecall), (1 + 0.5 + 0 + 1) / 4, accuracy: 1e-12)
        // mean: rock predicted 3 times, right once; metal recall 1/2; pop never predicted.
        XCTAssertEqual(try XCTUnwrap(mean.perClass[3].precision), 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(mean.perClass[1].recall), 0.5, accuracy: 1e-12)
        XCTAssertNil(mean.perClass[2].precision)
        XCTAssertEqual(try XCTUnwrap(mean.perClass[2].recall), 0, accuracy: 1e-12)
        XCTAssertEqual(mean.rowNormalized[1], [0, 0.5, 0, 0.5])
        XCTAssertEqual(mean.confusedPairs.map { "\($0.label)>\($0.predicted)" }, ["metal>rock", "pop>rock"])
        // Top 3 by mean: every label but the last sample's pop.
        XCTAssertEqual(try XCTUnwrap(r.top3Accuracy), 5.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(r.tracks[1].votes, [2, 0, 0, 2])
        XCTAssertEqual(r.tracks[1].votePrediction, "jazz")
        XCTAssertEqual(r.tracks[4].votePrediction, "pop")
        XCTAssertEqual(r.tracks[4].meanPrediction, "rock")
        XCTAssertEqual(r.tracks[1].timeline, [TimelineRun(start: 0, end: 6, prediction: "jazz", windows: 2),
                                               TimelineRun(start: 6, end: 12, prediction: "rock", windows: 2)])
        XCTAssertEqual(r.misclassified.count, 3)
        XCTAssertTrue(r.text().contains("metal -> rock"))
        // CSV: a header and one row per track.
        let csv = r.csv().split(separator: "\n")
        XCTAssertEqual(csv.count, 7)
        XCTAssertTrue(csv[0].hasPrefix("path,label,class,source,windows,mean_prediction"))
    }

    func testSweepCountsCoverageAndAgreementWithTheLabelMap() throws {
        let m = try msd()
        let cls = [EvalClass(name: "electronic", modelLabels: ["electronic", "electronica"], origin: .builtIn,
                             indices: ["electronic", "electronica"].map { m.labels.firstIndex(of: $0)! }),
                   EvalClass(name: "jazz", modelLabels: ["jazz"], origin: .builtIn, indices: [m.labels.firstIndex(of: "jazz")!])]
        func one(_ truth: Int, _ scores: [String: Float]) -> EvalSample {
            var mean = [Float](repeating: 0, count: m.labels.count)
            for (l, p) in scores { mean[m.labels.firstIndex(of: l)!] = p }
            return EvalSample(path: "/x", label: "x", truth: truth, mean: mean, taggram: mean, windows: 1, hopSeconds: 3, windowSeconds: 3)
        }
        let samples = [
            one(0, ["electronica": 0.42, "ambient": 0.3]),     // written as "Electronic" through the default map
            one(0, ["ambient": 0.32, "electronic": 0.22]),     // electronic second
            one(1, ["jazz": 0.12]),                           // weak
            one(1, ["rock": 0.6, "jazz": 0.4, "blues": 0.3]), // jazz second
        ]
        let sweep = EvalSweep.run(samples: samples, classes: cls, manifest: m, settings: TagSettings(), coverageTarget: 0.75)
        func row(_ t: Double, _ k: Int) throws -> EvalSweep.Row {
            try XCTUnwrap(sweep.rows.first { abs($0.threshold - t) < 1e-6 && $0.maxGenres == k })
        }
        // threshold 0.10: all four tagged; max 1 agrees on samples 1 and 3; max 2 on all four.
        XCTAssertEqual(try row(0.10, 1).tagged, 4)
        XCTAssertEqual(try row(0.10, 1).agreeing, 2)
        XCTAssertEqual(try row(0.10, 2).agreeing, 4)
        // 0.25: sample 3 untagged; samples 1 and 4 agree at max 2 (sample 2's electronic is 0.22).
        XCTAssertEqual(try row(0.25, 2).tagged, 3)
        XCTAssertEqual(try row(0.25, 2).agreeing, 2)
        XCTAssertEqual(try row(0.25, 2).coverage, 0.75, accuracy: 1e-12)
        // 0.45: only sample 4 (rock) is tagged.
        XCTAssertEqual(try row(0.45, 3).tagged, 1)
        XCTAssertEqual(try row(0.45, 3).agreeing, 0)
        // The best agreement at coverage >= 0.75 is 1.0 (threshold <= 0.10 with max 2, or 0.20 with max 2
        // which leaves sample 3 out: 3/3 agree); among those the highest threshold with fewest genres wins.
        let s = try XCTUnwrap(sweep.suggestion)
        XCTAssertEqual(s.agreement, 1)
        XCTAssertEqual(s.maxGenres, 2)
        XCTAssertEqual(s.threshold, 0.2, accuracy: 1e-6)
        XCTAssertEqual(sweep.current.maxGenres, 3)
    }

    // MARK: A labelled set of real clips

    /// electronic/: three groove variants and one planted ballad; jazz/: three ballad variants;
    /// reggae/: a groove (no MSD label); one loose file.
    private func makeSet() throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sox") else { throw XCTSkip("sox is not installed") }
        let dir = try Fixtures.temporaryDirectory().appendingPathComponent("set")
        for folder in ["electronic", "jazz", "reggae"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        func sox(_ clip: String, _ out: String, _ effect: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sox")
            p.arguments = ["-q", Fixtures.audio(clip), dir.appendingPathComponent(out).path] + effect
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "sox \(effect)")
        }
        try sox("groove", "electronic/groove.wav", [])
        try sox("groove", "electronic/groove-up.wav", ["pitch", "200"])
        try sox("groove", "electronic/groove-fast.wav", ["speed", "1.05"])
        try sox("ballad", "electronic/planted-ballad.wav", ["pitch", "200"])
        try sox("ballad", "jazz/ballad.wav", [])
        try sox("ballad", "jazz/ballad-fast.wav", ["speed", "1.05"])
        try sox("ballad", "jazz/ballad-down.wav", ["pitch", "-200"])
        try sox("groove", "reggae/groove-reverb.wav", ["reverb"])
        try sox("rock", "loose.wav", [])
        return dir
    }

    func testFolderSetWithAPlantedConfusion() throws {
        let dir = try makeSet()
        let bundle = try Fixtures.bundle("msd-musicnn")
        let m = bundle.manifest
        let report = try EvalRunner(bundle: bundle, map: EvalLabelMap(manifest: m)).run(source: dir.path, labels: .folders)

        XCTAssertEqual(report.classes.map(\.name), ["electronic", "jazz"])
        XCTAssertEqual(report.uncovered.map(\.label), ["reggae"])
        XCTAssertEqual(report.uncovered.first?.files, 1)
        XCTAssertEqual(report.counts.labelled, 8)
        XCTAssertEqual(report.counts.evaluated, 7)
        XCTAssertEqual(report.counts.unlabelled, 1)
        XCTAssertEqual(report.counts.analysed, 7)

        // Independent expectation: analyse each file and compare the class scores directly.
        let analyzer = Analyzer(bundle: bundle)
        let electronic = ["electronic", "electronica", "electro"].map { m.labels.firstIndex(of: $0)! }
        let jazz = m.labels.firstIndex(of: "jazz")!
        var expectMean = [[0, 0], [0, 0]], expectVote = [[0, 0], [0, 0]]
        for (truth, folder) in ["electronic", "jazz"].enumerated() {
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent(folder).path)
            for name in names {
                let a = try analyzer.analyze(dir.appendingPathComponent(folder).appendingPathComponent(name).path)
                let meanE = electronic.map { a.mean[$0] }.max()!, meanJ = a.mean[jazz]
                expectMean[truth][meanE >= meanJ ? 0 : 1] += 1
                var votesE = 0
                for w in 0..<a.windowCount where electronic.map({ a.window(w)[a.window(w).startIndex + $0] }).max()! >= a.window(w)[a.window(w).startIndex + jazz] {
                    votesE += 1
                }
                let votesJ = a.windowCount - votesE
                expectVote[truth][votesE > votesJ || (votesE == votesJ && meanE >= meanJ) ? 0 : 1] += 1
            }
        }
        let mean = try XCTUnwrap(report.aggregation("mean")), vote = try XCTUnwrap(report.aggregation("vote"))
        XCTAssertEqual(mean.counts, expectMean)
        XCTAssertEqual(vote.counts, expectVote)
        // The design: every groove reads as electronic, every ballad as jazz, so the planted ballad is the one confusion.
        XCTAssertEqual(mean.counts, [[3, 1], [0, 3]])
        XCTAssertEqual(try XCTUnwrap(mean.accuracy), 6.0 / 7, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(vote.accuracy), Double(expectVote[0][0] + expectVote[1][1]) / 7, accuracy: 1e-12)
        XCTAssertEqual(mean.confusedPairs, [EvalReport.Pair(label: "electronic", predicted: "jazz", count: 1, share: 0.25)])
        XCTAssertEqual(report.misclassified.map { ($0.path as NSString).lastPathComponent }, ["planted-ballad.wav"])
        let planted = try XCTUnwrap(report.misclassified.first)
        XCTAssertEqual(planted.timeline.reduce(0) { $0 + $1.windows }, planted.windows)
    }

    func testStoredAnalysisIsUsedOnlyWhileTheFileIsUnchanged() throws {
        let dir = try makeSet()
        let bundle = try Fixtures.bundle("msd-musicnn")
        let store = try LibraryStore(path: dir.deletingLastPathComponent().appendingPathComponent("library.sqlite").path)
        try store.register(model: bundle.manifest)
        // Store the ballad's analysis under a groove's path: eval must then read that groove as jazz.
        let groove = dir.appendingPathComponent("electronic/groove.wav").path
        let ballad = try Analyzer(bundle: bundle).analyze(dir.appendingPathComponent("jazz/ballad.wav").path)
        var track = TrackRecord(path: groove, stat: try XCTUnwrap(FileStat.of(groove)))
        try store.save(&track, analysis: ballad, seconds: 1)

        let runner = EvalRunner(bundle: bundle, map: EvalLabelMap(manifest: bundle.manifest), store: store)
        let stored = try runner.run(source: dir.path, labels: .folders)
        XCTAssertEqual(stored.counts.stored, 1)
        let t = try XCTUnwrap(stored.tracks.first { $0.path == groove })
        XCTAssertEqual(t.source, "stored")
        XCTAssertEqual(t.meanPrediction, "jazz")

        // Touch the file: the stored analysis no longer applies.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 5)], ofItemAtPath: groove)
        let fresh = try runner.run(source: dir.path, labels: .folders)
        XCTAssertEqual(fresh.counts.stored, 0)
        XCTAssertEqual(fresh.tracks.first { $0.path == groove }?.meanPrediction, "electronic")
    }

    func testNothingCoveredIsAnErrorNamingTheSource() throws {
        let dir = try Fixtures.temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("reggae"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.audio("short"), toPath: dir.appendingPathComponent("reggae/a.wav").path)
        let bundle = try Fixtures.bundle("msd-musicnn")
        XCTAssertThrowsError(try EvalRunner(bundle: bundle, map: EvalLabelMap(manifest: bundle.manifest)).run(source: dir.path, labels: .folders)) { error in
            let e = error as! EvalError
            XCTAssertEqual(e.path, dir.path)
            XCTAssertEqual(e.reason, .nothingToEvaluate("no label is covered by msd-musicnn (reggae)"))
        }
    }
}
