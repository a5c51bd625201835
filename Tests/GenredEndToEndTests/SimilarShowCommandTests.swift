import Foundation
import XCTest

/// Retag a small generated library, then ask `similar` and `show` about it.
final class SimilarShowCommandTests: XCTestCase {
    private static let dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-e2e-similar-\(UUID().uuidString)")

    override class func setUp() {
        super.setUp()
        let music = dir.appendingPathComponent("music")
        try? FileManager.default.createDirectory(at: music.appendingPathComponent("A"), withIntermediateDirectories: true)
        try? FileManager.default.createDirectory(at: music.appendingPathComponent("B"), withIntermediateDirectories: true)
        for (clip, name) in [("groove", "A/groove.wav"), ("ballad", "A/ballad.wav"), ("rock", "B/rock.wav"),
                             ("groove_44k_stereo", "B/groove-again.wav")] {
            try? FileManager.default.copyItem(at: AnalyzeCommandTests.audio.appendingPathComponent("\(clip).wav"),
                                              to: music.appendingPathComponent(name))
        }
        _ = try? AnalyzeCommandTests.genred(["retag", "--dry-run", music.path, "--db", db])
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: dir)
        super.tearDown()
    }

    private static var db: String { dir.appendingPathComponent("state/library.sqlite").path }
    private func path(_ p: String) -> String { Self.dir.appendingPathComponent("music/\(p)").path }
    private func genred(_ args: [String]) throws -> AnalyzeCommandTests.Run { try AnalyzeCommandTests.genred(args + ["--db", Self.db]) }

    func testTheSameMusicAtAnotherRateIsTheNearest() throws {
        let run = try genred(["similar", path("A/groove.wav"), "--json", "-n", "3"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let rows = try run.lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows.first?["path"] as? String, path("B/groove-again.wav"))
        XCTAssertNotNil(rows.first?["distance"] as? Double)
        XCTAssertTrue((rows.first?["reason"] as? String)?.contains("Electronic") == true, "\(rows)")
    }

    func testLikeAndPlaylist() throws {
        let m3u = Self.dir.appendingPathComponent("like.m3u").path
        let run = try genred(["similar", "--like", "jazz", "-n", "2", "--m3u", m3u])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines.count, 3, run.stdout)
        XCTAssertTrue(run.lines.dropFirst().first?.contains(path("A/ballad.wav")) == true, run.stdout)
        let playlist = try String(contentsOfFile: m3u, encoding: .utf8)
        XCTAssertTrue(playlist.hasPrefix("#EXTM3U\n#EXTINF:10,ballad.wav\n\(path("A/ballad.wav"))\n"), playlist)
    }

    func testUnderLimitsTheCandidates() throws {
        let run = try genred(["similar", path("A/groove.wav"), "--under", Self.dir.appendingPathComponent("music/A").path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.lines.count, 2, run.stdout)
        XCTAssertTrue(run.lines.last?.contains("ballad.wav") == true, run.stdout)
    }

    func testShowGivesScoresVotesAndTimeline() throws {
        let run = try genred(["show", path("A/groove.wav")])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("4 windows of 3.0 s"), run.stdout)
        XCTAssertTrue(run.stdout.contains("Electronic") && run.stdout.contains("100%"), run.stdout)
        XCTAssertTrue(run.stdout.contains("timeline:\n    0:00    Electronic"), run.stdout)
        XCTAssertTrue(run.stdout.contains("    0:09    "), run.stdout)

        let json = try genred(["show", "--json", path("B/rock.wav")])
        let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(o["windows"] as? Int, 3)
        XCTAssertEqual((o["timeline"] as? [Any])?.count, 3)
        XCTAssertEqual(((o["genres"] as? [[String: Any]])?.first)?["name"] as? String, "Electronic")
    }

    func testMapWritesCSVSVGAndHTMLDeterministically() throws {
        let csv = Self.dir.appendingPathComponent("map.csv").path, again = Self.dir.appendingPathComponent("again.csv").path
        let svg = Self.dir.appendingPathComponent("map.svg").path, html = Self.dir.appendingPathComponent("map.html").path
        let run = try genred(["map", "--csv", csv, "--svg", svg, "--html", html, "--seed", "7"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("4 tracks mapped by embedding"), run.stdout)
        XCTAssertTrue(run.stderr.contains("perplexity 30 lowered"), "small collections get a note: \(run.stderr)")
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        let rows = text.split(whereSeparator: \.isNewline)
        XCTAssertEqual(rows.count, 5, text)
        XCTAssertTrue(rows[0].hasPrefix("path,title,artist,album,x,y,top_genre,Rock,Pop"), String(rows[0]))
        XCTAssertTrue(text.contains(path("A/ballad.wav")))
        for file in [svg, html] {
            let page = try String(contentsOfFile: file, encoding: .utf8)
            XCTAssertTrue(page.contains("Electronic") && page.contains("Jazz"), file)
            XCTAssertFalse(page.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"), "\(file) reaches no network")
        }
        _ = try genred(["map", "--csv", again, "--seed", "7"])
        XCTAssertEqual(try String(contentsOfFile: again, encoding: .utf8), text, "same seed, same map")
        XCTAssertTrue(run.stdout.contains("1000 iterations"), run.stdout)

        // [map] in the config gives the defaults; the options override them.
        let config = Self.dir.appendingPathComponent("map.toml").path
        try "[map]\nseed = 7\n".write(toFile: config, atomically: true, encoding: .utf8)
        XCTAssertEqual(try genred(["map", "--csv", again, "--config", config]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: again, encoding: .utf8), text, "the config's seed, the same map")
        try "[map]\nseed = 7\niterations = 250\n".write(toFile: config, atomically: true, encoding: .utf8)
        let fewer = try genred(["map", "--csv", again, "--config", config])
        XCTAssertTrue(fewer.stdout.contains("250 iterations"), fewer.stdout)
        XCTAssertNotEqual(try String(contentsOfFile: again, encoding: .utf8), text, "fewer steps, another map")
        let overridden = try genred(["map", "--csv", again, "--config", config, "--iterations", "1000"])
        XCTAssertTrue(overridden.stdout.contains("1000 iterations"), overridden.stdout)
        XCTAssertEqual(try String(contentsOfFile: again, encoding: .utf8), text, "--iterations overrides the config")

        let genres = try genred(["map", "--features", "genres", "--under", Self.dir.appendingPathComponent("music/A").path, "--csv", again])
        XCTAssertEqual(genres.status, 0, genres.stderr)
        XCTAssertTrue(genres.stdout.contains("2 tracks mapped by genres"), genres.stdout)
    }

    func testUnknownTrackIsAClearError() throws {
        let run = try genred(["show", "/nowhere/x.flac"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("not in the library database"), run.stderr)
        let similar = try genred(["similar", "/nowhere/x.flac"])
        XCTAssertEqual(similar.status, 2)
    }
}
