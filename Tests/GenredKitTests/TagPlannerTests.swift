import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class TagPlannerTests: XCTestCase {
    private func scores(_ manifest: BundleManifest, _ values: [String: Float]) -> [Float] {
        manifest.labels.map { values[$0] ?? 0 }
    }

    func testGenresAboveTheThresholdUpToTheLimitByScore() throws {
        let m = try Fixtures.bundle("msd-musicnn").manifest
        var settings = TagSettings()
        settings.genreThreshold = 0.2
        settings.maxGenres = 2
        settings.moods = false
        let planner = TagPlanner(manifest: m, settings: settings)
        let p = planner.propose(scores: scores(m, ["rock": 0.3, "jazz": 0.6, "pop": 0.25, "Hip-Hop": 0.1, "happy": 0.9]))
        XCTAssertEqual(p[.genre], ["Jazz", "Rock"])
        XCTAssertNil(p[.mood], "moods off")
    }

    func testMoodsUseTheirOwnThresholdAndDisplayNames() throws {
        let m = try Fixtures.bundle("msd-musicnn").manifest
        var settings = TagSettings()
        settings.moodThreshold = 0.3
        settings.maxMoods = 2
        let p = TagPlanner(manifest: m, settings: settings)
            .propose(scores: scores(m, ["happy": 0.5, "sad": 0.35, "Mellow": 0.31, "chill": 0.1, "rnb": 0.9]))
        XCTAssertEqual(p[.mood], ["Happy", "Sad"])
        XCTAssertEqual(p[.genre], ["R&B"])
    }

    func testMapRenamesMergesAndDropsLabels() throws {
        let m = try Fixtures.bundle("msd-musicnn").manifest
        var settings = TagSettings()
        settings.genreThreshold = 0.2
        settings.genreMap = ["alternative rock": "Alternative", "alternative": "Alternative", "experimental": "", "indie rock": "Indie"]
        let p = TagPlanner(manifest: m, settings: settings)
            .propose(scores: scores(m, ["alternative rock": 0.4, "alternative": 0.5, "experimental": 0.9, "indie rock": 0.3, "indie": 0.25]))
        XCTAssertEqual(p[.genre], ["Alternative", "Indie"], "merged names count once with the higher score; dropped labels vanish")
    }

    func testBuiltInMergesFoldNearSynonyms() throws {
        let m = try Fixtures.bundle("msd-musicnn").manifest
        let p = TagPlanner(manifest: m, settings: TagSettings())
            .propose(scores: scores(m, ["electronic": 0.5, "electronica": 0.45, "electro": 0.3, "heavy metal": 0.2, "indie rock": 0.16]))
        XCTAssertEqual(p[.genre], ["Electronic", "Metal", "Alternative"])
    }

    func testNothingProposedBelowTheThreshold() throws {
        let m = try Fixtures.bundle("msd-musicnn").manifest
        let p = TagPlanner(manifest: m, settings: TagSettings()).propose(scores: scores(m, ["rock": 0.01]))
        XCTAssertEqual(p[.genre], [])
    }

    func testPolicies() {
        XCTAssertEqual(TagPlanner.apply(.fill, existing: [], proposed: ["Rock"]), ["Rock"])
        XCTAssertNil(TagPlanner.apply(.fill, existing: ["Jazz"], proposed: ["Rock"]), "fill leaves a hand-set genre alone")
        XCTAssertEqual(TagPlanner.apply(.fill, existing: [" "], proposed: ["Rock"]), ["Rock"], "blank counts as empty")
        XCTAssertEqual(TagPlanner.apply(.merge, existing: ["Jazz", "rock"], proposed: ["Rock", "Pop"]), ["Jazz", "rock", "Pop"])
        XCTAssertNil(TagPlanner.apply(.merge, existing: ["Rock"], proposed: ["rock"]), "nothing new to add")
        XCTAssertEqual(TagPlanner.apply(.overwrite, existing: ["Jazz"], proposed: ["Rock"]), ["Rock"])
        XCTAssertNil(TagPlanner.apply(.overwrite, existing: ["Rock"], proposed: ["Rock"]))
        XCTAssertNil(TagPlanner.apply(.overwrite, existing: ["Jazz"], proposed: []), "no proposal never clears a field")
    }

    func testPlanKeyChangesWithSettings() throws {
        let m = try Fixtures.bundle("msd-musicnn").manifest
        var a = TagSettings(), b = TagSettings()
        b.genreThreshold = 0.5
        XCTAssertNotEqual(TagPlanner(manifest: m, settings: a).planKey(model: m.name, version: m.version),
                          TagPlanner(manifest: m, settings: b).planKey(model: m.name, version: m.version))
        a.genreMap = ["rock": "Rock"]
        XCTAssertNotEqual(TagPlanner(manifest: m, settings: a).planKey(model: m.name, version: m.version),
                          TagPlanner(manifest: m, settings: TagSettings()).planKey(model: m.name, version: m.version))
    }
}
