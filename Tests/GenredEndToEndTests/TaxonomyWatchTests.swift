import Foundation
import GenredKit
import XCTest

/// The daemon follows the taxonomies its tags use as `genred learn` changes them.
final class TaxonomyWatchTests: DaemonTestCase {
    func testTheDaemonTakesUpATaxonomyLearnedAgainAndKeepsOneThatIsRemoved() throws {
        let set = try LearnCommandTests.labelledSet(in: dir)
        let learned = try AnalyzeCommandTests.genred(["learn", "synth", set.path, "--db", database, "--folds", "3"])
        XCTAssertEqual(learned.status, 0, learned.stderr)
        let exported = dir.appendingPathComponent("synth.taxonomy")
        let export = try AnalyzeCommandTests.genred(["learn", "--export", "synth", exported.path, "--db", database])
        XCTAssertEqual(export.status, 0, export.stderr)

        try writeConfig(Self.baseConfig + "\nroot_check_interval = 1\n[tags]\ntaxonomies = [\"synth\"]\ntaxonomy_field = \"STYLE\"\n")
        let daemon = try startDaemon()

        // A new version (imported here; `learn` again stores one the same way) is taken up
        // without a reload.
        let imported = try AnalyzeCommandTests.genred(["learn", "--import", exported.path, "--db", database])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssertTrue(imported.stdout.contains("imported synth as version 2"), imported.stdout)
        try waitFor("the daemon to take up version 2", timeout: 30) { self.log.contains("taxonomies now in use: synth version 2") }

        // Removed from the database: the loaded version stays in use, and that is said once.
        let removed = try AnalyzeCommandTests.genred(["learn", "--remove", "synth", "--db", database])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        try waitFor("the removal to be noticed", timeout: 30) { self.log.contains("cannot be used") }
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertEqual(log.components(separatedBy: "cannot be used").count, 2, "logged once")
        XCTAssertTrue(daemon.isRunning)
        let later = music.appendingPathComponent("pulse.wav")
        try FileManager.default.copyItem(at: set.appendingPathComponent("pulse/pulse-1-2.wav"), to: later)
        try waitFor("a new file tagged with the loaded version") { try self.isTagged(later) }
    }
}
