import Foundation
import GenredKit
import XCTest
import GenredTestSupport

/// `genred learn` and the commands that use a taxonomy, as a user or a script runs them.
final class LearnCommandTests: XCTestCase {
    private func genred(_ arguments: [String]) throws -> AnalyzeCommandTests.Run { try AnalyzeCommandTests.genred(arguments) }

    private func object(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// Three sound families, two albums each (named by ALBUM tags), three tracks per album.
    static func labelledSet(in dir: URL) throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sox") else { throw XCTSkip("sox is not installed") }
        let set = dir.appendingPathComponent("set")
        let writer = TagWriter(backupDirectory: dir.appendingPathComponent("tag-backup"))
        let album = TagField(rawValue: "ALBUM")!
        for a in 0..<2 {
            for t in 0..<3 {
                let v = 1 + 0.03 * Double(t)
                let families: [(String, [String])] = [
                    ("drone", ["sine", "\([110.0, 165][a] * v)", "sine", "\([165.0, 247][a] * v)", "channels", "1"]),
                    ("noise", ["pinknoise", "band", "-n", "\([600.0, 2500][a] * v)", "400"]),
                    ("pulse", ["square", "\([55.0, 98][a] * v)", "tremolo", "\(2 + a)", "100"]),
                ]
                for (label, synth) in families {
                    let url = set.appendingPathComponent("\(label)/\(label)-\(a)-\(t).wav")
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try TestAudio.run("sox", ["-R", "-n", "-r", "16000", "-b", "16", url.path, "synth", "3.2"] + synth)
                    _ = try writer.write(url.path, container: .wav, values: [album: ["\(label) album \(a)"]])
                }
            }
        }
        return set
    }

    func testLearnListExportImportAnalyseRetagRelearnAndRemove() throws {
        let dir = try TestAudio.makeTemporaryDirectory("genred-e2e-learn")
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try Self.labelledSet(in: dir)
        let db = dir.appendingPathComponent("state/library.sqlite").path

        // Learn: every file is analysed first; folds follow the album tags.
        let learned = try genred(["learn", "synth", set.path, "--db", db, "--json", "--folds", "3"])
        XCTAssertEqual(learned.status, 0, learned.stderr)
        XCTAssertTrue(learned.stderr.contains("18 labelled tracks, 18 to analyse first"), learned.stderr)
        let report = try object(learned.stdout)
        XCTAssertEqual(report["name"] as? String, "synth")
        XCTAssertEqual(report["version"] as? Int, 1)
        XCTAssertEqual((report["classes"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["drone", "noise", "pulse"])
        XCTAssertEqual((report["folds"] as? [String: Any])?["grouped_by"] as? String, "album")
        XCTAssertEqual((report["folds"] as? [String: Any])?["groups"] as? Int, 6)
        let methods = try XCTUnwrap(report["methods"] as? [[String: Any]])
        XCTAssertEqual(methods.compactMap { $0["name"] as? String }.prefix(2), ["head", "knn"])
        XCTAssertEqual((methods.first?["counts"] as? [[Int]])?.flatMap { $0 }.reduce(0, +), 18)
        let decisions = try XCTUnwrap(report["decisions"] as? [String: Any])
        XCTAssertEqual(decisions["target_precision"] as? Double, 0.9)
        XCTAssertEqual((decisions["per_class"] as? [Any])?.count, 3)

        let list = try genred(["learn", "list", "--db", db, "--json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let listed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(listed.first?["name"] as? String, "synth")
        XCTAssertEqual(listed.first?["labels"] as? [String], ["drone", "noise", "pulse"])

        // Export, then analyse with the folder and with the stored name: the same answer.
        let exported = dir.appendingPathComponent("synth.taxonomy")
        let export = try genred(["learn", "export", "synth", exported.path, "--db", db])
        XCTAssertEqual(export.status, 0, export.stderr)
        for name in ["manifest.json", "head.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: exported.appendingPathComponent(name).path), name)
        }
        let file = set.appendingPathComponent("pulse/pulse-1-2.wav").path
        let fromFolder = try genred(["analyze", "--taxonomy", exported.path, "--json", "--taggram", file])
        XCTAssertEqual(fromFolder.status, 0, fromFolder.stderr)
        let a = try object(fromFolder.stdout)
        let t = try XCTUnwrap(a["taxonomy"] as? [String: Any])
        XCTAssertEqual(t["name"] as? String, "synth")
        XCTAssertEqual(t["labels"] as? [String], ["drone", "noise", "pulse"])
        let probabilities = try XCTUnwrap(t["probabilities"] as? [Double])
        XCTAssertEqual(probabilities.count, 3)
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-4)
        XCTAssertTrue(t["label"] is NSNull || (t["label"] as? String).map { ["drone", "noise", "pulse"].contains($0) } == true)
        XCTAssertEqual(t["rule"] as? String, "grouped", "two albums per label: thresholds from grouped folds")
        XCTAssertEqual((t["taggram"] as? [[Double]])?.count, a["windows"] as? Int)
        let fromStore = try object(genred(["analyze", "--taxonomy", "synth", "--db", db, "--json", file]).stdout)
        XCTAssertEqual((fromStore["taxonomy"] as? [String: Any])?["probabilities"] as? [Double], probabilities)
        XCTAssertEqual((fromStore["taxonomy"] as? [String: Any])?["version"] as? Int, 1)

        // Import into another library.
        let other = dir.appendingPathComponent("other/library.sqlite").path
        let imported = try genred(["learn", "import", exported.path, "--db", other])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssertTrue(imported.stdout.contains("imported synth as version 1"), imported.stdout)
        let fromImport = try object(genred(["analyze", "--taxonomy", "synth", "--db", other, "--json", file]).stdout)
        XCTAssertEqual((fromImport["taxonomy"] as? [String: Any])?["probabilities"] as? [Double], probabilities)

        // A taxonomy of another model is refused.
        let wrong = try genred(["analyze", "--taxonomy", exported.path, "--model", "mtt-musicnn", file])
        XCTAssertEqual(wrong.status, 2)
        XCTAssertTrue(wrong.stderr.contains("learned on msd-musicnn"), wrong.stderr)

        // retag proposes the taxonomy's labels in the field the config names (dry run: nothing written).
        let config = dir.appendingPathComponent("genred.toml")
        try "[tags]\ntaxonomies = [\"synth\"]\ntaxonomy_field = \"STYLE\"\n".write(to: config, atomically: true, encoding: .utf8)
        let dry = try genred(["retag", "--dry-run", "--db", db, "--config", config.path, set.appendingPathComponent("pulse").path])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("STYLE: (empty) -> pulse"), dry.stdout)

        // show, similar --like NAME:LABEL and map --colour taxonomy:NAME read the stored taxonomy.
        let shown = try object(genred(["show", file, "--db", db, "--json"]).stdout)
        let shownTaxonomy = try XCTUnwrap((shown["taxonomies"] as? [[String: Any]])?.first)
        XCTAssertEqual(shownTaxonomy["name"] as? String, "synth")
        XCTAssertEqual(shownTaxonomy["probabilities"] as? [Double], probabilities)
        XCTAssertEqual(shownTaxonomy["rule"] as? String, "grouped")
        let shownText = try genred(["show", file, "--db", db]).stdout
        XCTAssertTrue(shownText.contains("[thresholds from album-grouped folds]"), shownText)
        let like = try genred(["similar", "--like", "synth:pulse", "--db", db, "--json", "-n", "100"])
        XCTAssertEqual(like.status, 0, like.stderr)
        let liked = try like.stdout.split(separator: "\n").map { try object(String($0)) }
        let likedP = liked.compactMap { $0["probability"] as? Double }
        XCTAssertEqual(likedP, likedP.sorted(by: >))
        let csv = dir.appendingPathComponent("map.csv")
        let map = try genred(["map", "--db", db, "--csv", csv.path, "--colour", "taxonomy:synth", "--iterations", "100"])
        XCTAssertEqual(map.status, 0, map.stderr)
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows.first?.last, "taxonomy:synth")
        let pulseRows = rows.dropFirst().filter { $0.last == "pulse" }.map { String($0[0]) }
        XCTAssertEqual(Set(pulseRows), Set(liked.compactMap { $0["path"] as? String }), "the map and similar agree on who is pulse")
        for path in pulseRows.prefix(2) {
            let one = try object(genred(["show", path, "--db", db, "--json"]).stdout)
            XCTAssertEqual((one["taxonomies"] as? [[String: Any]])?.first?["label"] as? String, "pulse", path)
        }
        XCTAssertEqual(try genred(["map", "--db", db, "--csv", csv.path, "--colour", "taxonomy:nope"]).status, 2)

        // Learning again from the remembered folders says what changed.
        let again = try genred(["learn", "synth", "--db", db, "--folds", "3"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("Compared with version 1"), again.stdout)
        XCTAssertTrue(again.stdout.contains("training labels: 0 tracks added, 0 removed, 0 relabelled"), again.stdout)
        XCTAssertTrue(again.stdout.contains("version 2"), again.stdout)

        let removed = try genred(["learn", "remove", "synth", "--db", db])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertTrue(removed.stdout.contains("removed synth (2 versions)"), removed.stdout)
        let gone = try genred(["analyze", "--taxonomy", "synth", "--db", db, file])
        XCTAssertEqual(gone.status, 2)
        XCTAssertTrue(gone.stderr.contains("synth: no such taxonomy"), gone.stderr)
    }

    func testNothingToLearnAndBadArgumentsExitWithTwo() throws {
        let dir = try TestAudio.makeTemporaryDirectory("genred-e2e-learn-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("library.sqlite").path
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("empty/jazz"), withIntermediateDirectories: true)
        let empty = try genred(["learn", "x", dir.appendingPathComponent("empty").path, "--db", db])
        XCTAssertEqual(empty.status, 2)
        XCTAssertTrue(empty.stderr.contains("x: nothing to learn: no audio in label sub-folders"), empty.stderr)
        let noFolders = try genred(["learn", "never-learned", "--db", db])
        XCTAssertEqual(noFolders.status, 2)
        XCTAssertTrue(noFolders.stderr.contains("no labelled FOLDER given"), noFolders.stderr)
        let slash = try genred(["learn", "a/b", dir.path, "--db", db])
        XCTAssertEqual(slash.status, 2)
        XCTAssertTrue(slash.stderr.contains("invalid taxonomy name"), slash.stderr)
        XCTAssertNotEqual(try genred(["learn", "export", "only-one"]).status, 0)
        let missing = try genred(["learn", "export", "nope", dir.appendingPathComponent("out").path, "--db", db])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("nope: no such taxonomy"), missing.stderr)
    }
}
