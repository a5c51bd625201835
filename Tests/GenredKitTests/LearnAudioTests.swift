import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices
import GenredTestSupport

/// `genred learn` end to end in the library: sox-made labelled sets with known structure are
/// analysed, learned and used by retag, whose taxonomy tags undo takes back.
final class LearnAudioTests: XCTestCase {
    /// One labelled set and one library database, made once for the class: analysis is the
    /// slow part, and every test reads the same analyses.
    struct Shared {
        let root: URL
        let store: LibraryStore
        /// Three sound families (drone, noise, pulse), three albums (folders) each.
        let families: URL
        /// Eight albums, each a waveform at a pitch; the label is the XOR of the two, so only
        /// the album, never the label, can be heard.
        let leak: URL
    }

    nonisolated(unsafe) static var shared: Shared?

    static let sox = "/usr/bin/sox"

    private static func synth(_ url: URL, _ arguments: [String]) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        // -R: repeatable, so the noise is the same on every run.
        try TestAudio.run("sox", ["-R", "-n", "-r", "16000", "-b", "16", url.path, "synth", "3.2"] + arguments)
    }

    private func setUpShared() throws -> Shared {
        if let s = Self.shared { return s }
        guard FileManager.default.isExecutableFile(atPath: Self.sox) else { throw XCTSkip("sox is not installed") }
        let root = try TestAudio.makeTemporaryDirectory("genred-learn")
        let families = root.appendingPathComponent("families")
        for a in 0..<3 {
            for t in 0..<4 {
                let v = 1 + 0.03 * Double(t)
                let f = [110.0, 147, 196][a] * v
                try Self.synth(families.appendingPathComponent("drone/album\(a)/\(t).wav"),
                               ["sine", "\(f)", "sine", "\(f * 1.5)", "channels", "1"])
                let centre = [500.0, 1500, 3500][a] * v
                try Self.synth(families.appendingPathComponent("noise/album\(a)/\(t).wav"),
                               ["pinknoise", "band", "-n", "\(centre)", "\(centre / 2)"])
                try Self.synth(families.appendingPathComponent("pulse/album\(a)/\(t).wav"),
                               ["square", "\([55.0, 82, 110][a] * v)", "tremolo", "\(2 + a)", "100"])
            }
        }
        let leak = root.appendingPathComponent("leak")
        for (w, wave) in ["sine", "square", "triangle", "sawtooth"].enumerated() {
            for (p, pitch) in [110.0, 440].enumerated() {
                let label = (w + p) % 2 == 0 ? "A" : "B"
                for t in 0..<4 {
                    try Self.synth(leak.appendingPathComponent("\(label)/\(wave)-\(p)/\(t).wav"),
                                   [wave, "\(pitch * (1 + 0.02 * Double(t)))"])
                }
            }
        }
        let store = try LibraryStore(path: root.appendingPathComponent("state/library.sqlite").path)
        let s = Shared(root: root, store: store, families: families, leak: leak)
        Self.shared = s
        return s
    }

    override class func tearDown() {
        if let s = shared { try? FileManager.default.removeItem(at: s.root) }
        shared = nil
        super.tearDown()
    }

    private func runner(_ s: Shared) throws -> LearnRunner {
        let bundle = try Fixtures.bundle("msd-musicnn")
        return LearnRunner(bundle: bundle, store: s.store, map: EvalLabelMap(manifest: bundle.manifest), threads: 2)
    }

    /// The families set learned once (version 1, or the newest already stored).
    private func families(_ s: Shared) throws -> (LearnReport, Taxonomy) {
        if let record = try s.store.taxonomy(name: "families"), let report = record.report.flatMap(LearnReport.decode) {
            return (report, try record.taxonomy())
        }
        let r = try runner(s).run(name: "families", sources: LearnSources(folders: [s.families.path], labels: .folders))
        return (r.report, r.taxonomy)
    }

    func testASyntheticSetWithKnownStructureIsLearnedFarAboveChance() throws {
        let s = try setUpShared()
        let (report, taxonomy) = try families(s)
        let head = try XCTUnwrap(report.method("head"))
        XCTAssertEqual(report.classes.map(\.name), ["drone", "noise", "pulse"])
        XCTAssertEqual(report.counts.used, 36)
        XCTAssertEqual(report.folds.groupedBy, "folder", "the files have no album tags")
        XCTAssertEqual(report.folds.groups, 9)
        XCTAssertGreaterThan(try XCTUnwrap(head.accuracy), 0.8, "chance is 1/3")
        XCTAssertNotNil(report.method("knn"))
        XCTAssertEqual(taxonomy.version, 1)
        XCTAssertEqual(taxonomy.labels, ["drone", "noise", "pulse"])
        // The stored features give back what the fresh analysis gave.
        let track = try XCTUnwrap(s.store.track(path: s.families.appendingPathComponent("noise/album1/2.wav").path))
        let analysis = try XCTUnwrap(s.store.analysis(trackID: track.id!, model: "msd-musicnn"))
        let fresh = try Analyzer(bundle: Fixtures.bundle("msd-musicnn"), threads: 2).analyze(track.path)
        XCTAssertEqual(TaxonomyFeatures.of(analysis), TaxonomyFeatures.of(fresh))
        XCTAssertEqual(taxonomy.prediction(analysis), taxonomy.prediction(fresh))
    }

    func testAPlantedAlbumLeakIsCaughtByGroupedFolds() throws {
        let s = try setUpShared()
        let runner = try runner(s)
        // The logistic heads alone: the MLP's hundreds of full-batch steps on a set it cannot
        // learn are what a debug build is slow at, and the check is the folds, not the head.
        runner.options.candidates = HeadSpec.candidates.filter { $0.kind == .logistic }
        let r = try runner.run(name: "leak", sources: LearnSources(folders: [s.leak.path], labels: .folders), save: false)
        let effect = try XCTUnwrap(r.report.albumEffect)
        let grouped = try XCTUnwrap(effect.groupedAccuracy), ungrouped = try XCTUnwrap(effect.ungroupedAccuracy)
        XCTAssertGreaterThan(ungrouped, 0.9, "album-mates in training give each track away")
        XCTAssertLessThan(grouped, 0.7, "a held-out album leaves nothing to go by (chance is 0.5)")
        XCTAssertNotNil(effect.warning)
        XCTAssertNil(r.report.version, "a dry run stores nothing")
        XCTAssertNil(try s.store.taxonomy(name: "leak"))
    }

    func testLearningAgainKeepsTheOldVersionAndSaysWhatChanged() throws {
        let s = try setUpShared()
        _ = try families(s)
        let before = try XCTUnwrap(s.store.taxonomy(name: "families")).version
        let r = try runner(s).run(name: "families", sources: LearnSources(folders: [s.families.path], labels: .folders))
        XCTAssertEqual(r.report.version, before + 1)
        XCTAssertEqual(r.report.counts.stored, 36, "every analysis comes from the library database now")
        XCTAssertEqual(r.report.counts.analysed, 0)
        let cmp = try XCTUnwrap(r.report.comparison)
        XCTAssertEqual(cmp.previousVersion, before)
        XCTAssertEqual([cmp.added, cmp.removed, cmp.relabelled], [0, 0, 0])
        XCTAssertGreaterThanOrEqual(cmp.tracksCompared, 36)
        XCTAssertEqual(cmp.flipCount, 0, "the same labels and features learn the same head")
        XCTAssertEqual(try s.store.taxonomyVersions(name: "families").count, before + 1, "older versions are kept")
    }

    func testRetagWritesTheTaxonomyLabelOrAbstainsThroughTheJournalAndUndoTakesItBack() throws {
        let s = try setUpShared()
        let (_, taxonomy) = try families(s)
        // A strict copy that never gives "noise": its noise tracks must abstain.
        var strict = taxonomy.manifest
        strict.name = "families-strict"
        strict.decision.thresholds[1] = nil
        let (_, weights) = taxonomy.encoded()
        var strictTaxonomy = try Taxonomy(manifest: Taxonomy.encode(strict), weights: weights, subject: "test")
        strictTaxonomy.version = nil
        var record = TaxonomyRecord(taxonomy: strictTaxonomy, report: nil, sources: nil, origin: .imported)
        try s.store.saveTaxonomy(&record)

        let library = s.root.appendingPathComponent("retag-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: library, withIntermediateDirectories: true)
        let drone = library.appendingPathComponent("drone.wav"), noise = library.appendingPathComponent("noise.wav")
        try FileManager.default.copyItem(at: s.families.appendingPathComponent("drone/album2/1.wav"), to: drone)
        try FileManager.default.copyItem(at: s.families.appendingPathComponent("noise/album0/3.wav"), to: noise)

        var options = RetagOptions(backupDirectory: s.root.appendingPathComponent("state/backup"))
        options.settings.taxonomies = ["families-strict"]
        options.settings.taxonomyField = TagField(rawValue: "STYLE")!
        options.jobs = 1
        let retagger = try Retagger(store: s.store, bundle: Fixtures.bundle("msd-musicnn"), options: options)
        let summary = try retagger.run(roots: [library.path]) { _ in }
        XCTAssertEqual(summary.failed, 0, "\(summary.failures)")

        let reader = TagWriter(backupDirectory: s.root)
        let style = TagField(rawValue: "STYLE")!
        XCTAssertEqual(try reader.read(drone.path, container: .wav).values(style), ["drone"])
        XCTAssertEqual(try reader.read(noise.path, container: .wav).values(style), [], "below its threshold genred abstains")
        let run = try XCTUnwrap(summary.runID)
        let entries = try s.store.journalEntries(run: run)
        let droneEntry = try XCTUnwrap(entries.first { $0.path == drone.path })
        XCTAssertEqual(droneEntry.newValues["STYLE"], ["drone"])
        XCTAssertEqual(droneEntry.previousValues["STYLE"], [])
        XCTAssertNil(entries.first { $0.path == noise.path }?.newValues["STYLE"])
        XCTAssertTrue(try s.store.intents(includeStuck: true).isEmpty)

        // Without the taxonomy in the settings, the plan changes; with it, the file is up to date.
        let again = try Retagger(store: s.store, bundle: Fixtures.bundle("msd-musicnn"), options: options).run(roots: [library.path]) { _ in }
        XCTAssertEqual(again.upToDate, 2)

        let undoer = Undoer(store: s.store, writer: TagWriter(backupDirectory: options.backupDirectory))
        let undone = try undoer.undo(.run(run), dryRun: false) { _ in }
        XCTAssertTrue(undone.allSatisfy { $0.error == nil }, "\(undone)")
        XCTAssertEqual(try reader.read(drone.path, container: .wav).values(style), [])
    }

    func testAMissingTaxonomyOrOneOfAnotherModelStopsRetag() throws {
        let s = try setUpShared()
        _ = try families(s)
        var options = RetagOptions(backupDirectory: s.root.appendingPathComponent("state/backup"))
        options.settings.taxonomies = ["no-such-taxonomy"]
        XCTAssertThrowsError(try Retagger(store: s.store, bundle: Fixtures.bundle("msd-musicnn"), options: options)) { error in
            XCTAssertEqual((error as? TaxonomyError)?.reason, .notFound)
        }
        options.settings.taxonomies = ["families"]
        XCTAssertThrowsError(try Retagger(store: s.store, bundle: Fixtures.bundle("mtt-musicnn"), options: options)) { error in
            guard case .wrongModel = (error as? TaxonomyError)?.reason else { return XCTFail("\(error)") }
        }
    }

    func testQueriesGiveATracksLabelAndEveryTrackOfALabel() throws {
        let s = try setUpShared()
        _ = try families(s)
        let query = TaxonomyQuery(store: s.store)
        XCTAssertTrue(try query.list().contains { $0.name == "families" && $0.labels == ["drone", "noise", "pulse"] })
        let track = try XCTUnwrap(s.store.track(path: s.families.appendingPathComponent("pulse/album0/0.wav").path))
        let mine = try query.predictions(trackID: track.id!, names: ["families"])
        XCTAssertEqual(mine.count, 1)
        XCTAssertEqual(mine.first?.prediction.probabilities.count, 3)
        let all = try query.labels(taxonomy: "families")
        XCTAssertGreaterThanOrEqual(all.paths.count, 36)
        let pulses = all.tracks(labelled: "Pulse")
        XCTAssertFalse(pulses.isEmpty)
        XCTAssertTrue(pulses.allSatisfy { all.predictions[$0].label == "pulse" })
    }

    func testMapShowAndSimilarReadTheTaxonomyLabelsFromTheStore() throws {
        let s = try setUpShared()
        _ = try families(s)
        let bundle = try Fixtures.bundle("msd-musicnn")
        let all = try TaxonomyQuery(store: s.store).labels(taxonomy: "families")
        let taxonomy = try TaxonomyQuery(store: s.store).taxonomy(named: "families")

        // The server's map colouring: the label of every track, by id, from a read-only store.
        let query = LibraryQuery(store: try LibraryStore(path: s.store.path, readOnly: true), manifest: bundle.manifest,
                                 settings: TagSettings())
        XCTAssertTrue(query.colourNames().contains("taxonomy:families"), "\(query.colourNames())")
        let snapshot = try query.snapshot()
        let byTrack = try query.taxonomyLabels("families", snapshot: snapshot)
        XCTAssertEqual(byTrack.count, all.predictions.filter { $0.label != nil }.count)
        for (id, p) in zip(all.trackIDs, all.predictions) { XCTAssertEqual(byTrack[id], p.label) }
        XCTAssertThrowsError(try query.taxonomyLabels("no-such-taxonomy", snapshot: snapshot))

        // show: the taxonomy's answer for the stored analysis.
        let path = s.families.appendingPathComponent("drone/album0/0.wav").path
        let detail = try TrackDetail.load(path, store: s.store, model: "msd-musicnn", groups: bundle.manifest.groups, top: 3)
        let shown = try XCTUnwrap(detail.taxonomies.first { $0.taxonomy.name == "families" })
        let record = try XCTUnwrap(s.store.analysis(trackID: detail.id, model: "msd-musicnn"))
        XCTAssertEqual(shown.prediction, taxonomy.prediction(record))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(detail.json().utf8)) as? [String: Any])
        let listed = try XCTUnwrap((json["taxonomies"] as? [[String: Any]])?.first { $0["name"] as? String == "families" })
        XCTAssertEqual(listed["labels"] as? [String], ["drone", "noise", "pulse"])

        // similar --like families:drone: every track given drone, most probable first, none else.
        XCTAssertEqual(SimilarTracks.taxonomyLabel(" families:Drone", taxonomies: ["families"])?.label, "Drone")
        XCTAssertNil(SimilarTracks.taxonomyLabel("jazz, mellow", taxonomies: ["families"]))
        let drones = try SimilarTracks.like(label: "Drone", in: all, count: 1000)
        XCTAssertEqual(drones.count, byTrack.values.filter { $0 == "drone" }.count)
        XCTAssertFalse(drones.isEmpty)
        XCTAssertTrue(drones.allSatisfy { byTrack[$0.id] == "drone" })
        XCTAssertEqual(drones.map(\.probability), drones.map(\.probability).sorted(by: >))
        XCTAssertEqual(try SimilarTracks.like(label: "drone", in: all, count: 2).count, min(2, drones.count))
        XCTAssertThrowsError(try SimilarTracks.like(label: "jazz", in: all, count: 5))
    }
}
