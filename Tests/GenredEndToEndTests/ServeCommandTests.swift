import Foundation
import GenredKit
import XCTest

/// A real `genred serve` over a library made by `genred retag`, asked by a real HTTP client.
final class ServeCommandTests: XCTestCase {
    static let dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-e2e-serve-\(UUID().uuidString)")
    static var music: URL { dir.appendingPathComponent("music") }
    static var db: String { dir.appendingPathComponent("state/library.sqlite").path }
    static let recording = "5b11f4ce-a62d-471e-81fc-a69a8278c7da"
    /// `café.wav` in Latin-1: a name that is not UTF-8.
    static let latin1Name = FilePath.string(Array("caf".utf8) + [0xE9] + Array(".wav".utf8))
    nonisolated(unsafe) static var server: ServeProcess?

    override class func setUp() {
        super.setUp()
        let fm = FileManager.default
        try? fm.createDirectory(at: music.appendingPathComponent("A"), withIntermediateDirectories: true)
        try? fm.createDirectory(at: music.appendingPathComponent("B"), withIntermediateDirectories: true)
        for (clip, name) in [("ballad", "A/ballad.wav"), ("rock", "B/rock.wav"), ("groove_44k_stereo", "B/groove-again.wav")] {
            try? fm.copyItem(at: AnalyzeCommandTests.audio.appendingPathComponent("\(clip).wav"), to: music.appendingPathComponent(name))
        }
        // A FLAC file carrying what media servers match on.
        _ = try? AnalyzeCommandTests.run(URL(fileURLWithPath: "/usr/bin/flac"), [
            "--silent", "-f", "-o", music.appendingPathComponent("A/groove.flac").path,
            "-T", "TITLE=Groove Ünderground", "-T", "ARTIST=The Testers", "-T", "ALBUM=Alpha",
            "-T", "MUSICBRAINZ_TRACKID=\(recording.uppercased())", "-T", "ISRC=us-rc1-76-07839",
            AnalyzeCommandTests.audio.appendingPathComponent("groove.wav").path,
        ])
        // bash writes the byte itself (Foundation would pass the carried scalar as UTF-8).
        _ = try? AnalyzeCommandTests.run(URL(fileURLWithPath: "/bin/bash"), [
            "-c", "cp \"$0\" \"$1\"/$'caf\\xe9.wav'", AnalyzeCommandTests.audio.appendingPathComponent("short.wav").path,
            music.appendingPathComponent("B").path,
        ])
        _ = try? AnalyzeCommandTests.genred(["retag", music.path, "--db", db])
        server = try? ServeProcess(["--db", db, "--listen", "127.0.0.1:0"])
    }

    override class func tearDown() {
        server?.stop()
        try? FileManager.default.removeItem(at: dir)
        super.tearDown()
    }

    private var server: ServeProcess { get throws { try XCTUnwrap(Self.server, "the server did not start") } }

    private func id(of name: String) throws -> Int {
        let tracks = try server.get("/api/tracks?limit=100").json()["tracks"] as? [[String: Any]] ?? []
        let track = try XCTUnwrap(tracks.first { ($0["path"] as? String)?.hasSuffix(name) == true }, "\(name) in \(tracks)")
        return try XCTUnwrap(track["id"] as? Int)
    }

    func testStatusSaysWhatStatusJSONSays() throws {
        let reply = try server.get("/api/status")
        XCTAssertEqual(reply.status, 200)
        let cli = try AnalyzeCommandTests.genred(["status", "--json", "--db", Self.db])
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(cli.stdout.utf8)) as? NSDictionary)
        XCTAssertEqual(try reply.json() as NSDictionary, expected)
        XCTAssertEqual(try reply.json()["analysed"] as? Int, 5)
    }

    func testTracksCarryWhatServersMatchOnAndCanBeSearched() throws {
        let all = try server.get("/api/tracks").json()
        XCTAssertEqual(all["total"] as? Int, 5)
        let tracks = try XCTUnwrap(all["tracks"] as? [[String: Any]])
        for key in ["id", "path", "title", "artist", "album", "duration_s", "genres", "musicbrainz_recording_id", "isrc"] {
            XCTAssertTrue(tracks.allSatisfy { $0.keys.contains(key) }, key)
        }
        let groove = try XCTUnwrap(tracks.first { $0["title"] as? String == "Groove Ünderground" })
        XCTAssertEqual(groove["musicbrainz_recording_id"] as? String, Self.recording, "stored in lower case")
        XCTAssertEqual(groove["isrc"] as? String, "USRC17607839", "stored without hyphens, upper case")
        XCTAssertEqual(groove["artist"] as? String, "The Testers")

        let search = try server.get("/api/tracks?q=underground").json()
        XCTAssertEqual((search["tracks"] as? [[String: Any]])?.map { $0["title"] as? String }, ["Groove Ünderground"], "accents are ignored")
        let genre = try server.get("/api/tracks?genre=jazz").json()["tracks"] as? [[String: Any]] ?? []
        XCTAssertTrue(genre.contains { ($0["path"] as? String)?.hasSuffix("ballad.wav") == true }, "\(genre)")
        let page = try server.get("/api/tracks?limit=2&offset=4").json()
        XCTAssertEqual((page["tracks"] as? [Any])?.count, 1)
        XCTAssertEqual(try server.get("/api/tracks?limit=0").status, 400)
    }

    func testNamesThatAreNotUTF8ComeBackAsTheirBytes() throws {
        let raw = try server.get("/api/tracks?q=caf").text
        XCTAssertTrue(raw.contains("caf\\udce9.wav"), "JSON carries the byte as \\udcNN: \(raw)")
        let playlist = try server.get("/api/playlist.m3u?q=caf")
        XCTAssertEqual(playlist.status, 200)
        XCTAssertEqual(playlist.header("Content-Type"), "audio/x-mpegurl")
        let expected = Data(FilePath.bytes(Self.music.path + "/B/" + Self.latin1Name + "\n"))
        XCTAssertNotNil(playlist.body.range(of: expected), "the M3U lists the file's exact bytes: \(playlist.text)")
    }

    func testTrackDetailHasScoresVotesTimelineAndTagHistory() throws {
        let id = try id(of: "groove.flac")
        let detail = try server.get("/api/tracks/\(id)").json()
        XCTAssertEqual(detail["windows"] as? Int, 4)
        XCTAssertEqual((detail["timeline"] as? [Any])?.count, 4)
        XCTAssertEqual((detail["scores"] as? [Any])?.count, 50)
        let genres = try XCTUnwrap(detail["genres"] as? [[String: Any]])
        XCTAssertEqual(genres.first?["name"] as? String, "Electronic")
        XCTAssertNotNil(genres.first?["vote"] as? Double)
        let writes = try XCTUnwrap(detail["tag_writes"] as? [[String: Any]])
        XCTAssertEqual(writes.count, 1, "retag wrote the genres once")
        XCTAssertEqual(detail["isrc"] as? String, "USRC17607839")
    }

    func testSimilarIsDescendingWithinZeroAndOneAndLeavesOutTheQuery() throws {
        let id = try id(of: "groove.flac")
        let reply = try server.get("/api/tracks/\(id)/similar?count=10").json()
        let matches = try XCTUnwrap(reply["matches"] as? [[String: Any]])
        XCTAssertEqual(matches.count, 4, "every other track")
        let ids = matches.compactMap { ($0["track"] as? [String: Any])?["id"] as? Int }
        XCTAssertFalse(ids.contains(id))
        let similarities = matches.compactMap { $0["similarity"] as? Double }
        XCTAssertEqual(similarities.count, 4)
        XCTAssertTrue(similarities.allSatisfy { (0...1).contains($0) }, "\(similarities)")
        XCTAssertEqual(similarities, similarities.sorted(by: >))
        // short.wav is two seconds of the same groove: the two nearest are the groove's.
        let nearest = matches.prefix(2).compactMap { ($0["track"] as? [String: Any])?["path"] as? String }
        XCTAssertTrue(nearest.contains(Self.music.path + "/B/groove-again.wav"), "the same music at another rate is near: \(matches)")
        XCTAssertGreaterThan(similarities[0], 0.5)
        XCTAssertTrue((matches[0]["reason"] as? String)?.hasPrefix("shared: ") == true)
        let one = try server.get("/api/tracks/\(id)/similar?count=1").json()
        XCTAssertEqual((one["matches"] as? [Any])?.count, 1)
    }

    func testPathHasExactlyCountDistinctTracksFromStartToEnd() throws {
        let from = try id(of: "ballad.wav"), to = try id(of: "rock.wav")
        for count in [2, 3, 5] {
            let matches = try XCTUnwrap(try server.get("/api/path?from=\(from)&to=\(to)&count=\(count)").json()["matches"] as? [[String: Any]])
            let ids = matches.compactMap { ($0["track"] as? [String: Any])?["id"] as? Int }
            XCTAssertEqual(ids.count, count)
            XCTAssertEqual(Set(ids).count, count, "no repeats: \(ids)")
            XCTAssertEqual(ids.first, from)
            XCTAssertEqual(ids.last, to)
            XCTAssertEqual(matches.first?["similarity"] as? Double, 1)
            XCTAssertTrue(matches.compactMap { $0["similarity"] as? Double }.allSatisfy { (0...1).contains($0) })
        }
        XCTAssertEqual(try server.get("/api/path?from=\(from)&to=\(to)&count=6").status, 400, "only 5 tracks")
        XCTAssertEqual(try server.get("/api/path?from=\(from)&to=\(from)&count=3").status, 400)
        XCTAssertEqual(try server.get("/api/path?from=\(from)&to=999999").status, 404)
        XCTAssertEqual(try server.get("/api/path?from=\(from)").status, 400)
    }

    func testAudioAnswersRangesSoABrowserCanSeek() throws {
        let id = try id(of: "groove.flac")
        let file = try Data(contentsOf: Self.music.appendingPathComponent("A/groove.flac"))
        let whole = try server.get("/api/tracks/\(id)/audio")
        XCTAssertEqual(whole.status, 200)
        XCTAssertEqual(whole.header("Content-Type"), "audio/flac")
        XCTAssertEqual(whole.header("Accept-Ranges"), "bytes")
        XCTAssertEqual(whole.body, file)

        let part = try server.get("/api/tracks/\(id)/audio", headers: ["Range": "bytes=100-1123"])
        XCTAssertEqual(part.status, 206)
        XCTAssertEqual(part.header("Content-Range"), "bytes 100-1123/\(file.count)")
        XCTAssertEqual(part.body, file[100..<1124])
        let tail = try server.get("/api/tracks/\(id)/audio", headers: ["Range": "bytes=-10"])
        XCTAssertEqual(tail.status, 206)
        XCTAssertEqual(tail.body, file.suffix(10))
        let open = try server.get("/api/tracks/\(id)/audio", headers: ["Range": "bytes=\(file.count - 5)-"])
        XCTAssertEqual(open.body, file.suffix(5))
        let outside = try server.get("/api/tracks/\(id)/audio", headers: ["Range": "bytes=\(file.count)-"])
        XCTAssertEqual(outside.status, 416)
        XCTAssertEqual(outside.header("Content-Range"), "bytes */\(file.count)")
        XCTAssertEqual(try server.get("/api/tracks/999999/audio").status, 404)
    }

    func testLookupFindsTheServersSongByItsIdentifiers() throws {
        let id = try id(of: "groove.flac")
        func found(_ query: String) throws -> (String?, [Int]) {
            let o = try server.get("/api/lookup?" + query).json()
            return (o["matched_by"] as? String, (o["matches"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } ?? [])
        }
        XCTAssertEqual(try found("mbid=\(Self.recording.uppercased())").1, [id])
        XCTAssertEqual(try found("isrc=USRC17607839").0, "isrc")
        XCTAssertEqual(try found("title=groove+underground&artist=the%20TESTERS").1, [id])
        XCTAssertEqual(try found("path=A/groove.flac").1, [id], "a library-relative path matches the end of a path")
        let absolute = Self.music.path + "/A/groove.flac"
        XCTAssertEqual(try found("path=" + absolute.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!).0, "path")
        XCTAssertEqual(try found("mbid=00000000-0000-0000-0000-000000000000&isrc=USRC17607839").0, "isrc",
                       "the first key that finds a track decides")
        XCTAssertEqual(try server.get("/api/lookup?title=nothing+like+it").status, 404)
        XCTAssertEqual(try server.get("/api/lookup").status, 400)
    }

    func testErrorsAreJSONWithTheRightStatus() throws {
        for (path, status) in [("/api/tracks/999999", 404), ("/api/tracks/abc", 400), ("/api/tracks/999999/similar", 404),
                               ("/api/nowhere", 404), ("/api/tracks/1/similar?count=zero", 400), ("/api/map?colour=mood", 400),
                               ("/api/map?colour=taxonomy:mine", 400), ("/api/map?features=pixels", 400),
                               ("/api/playlist.m3u?ids=1,x", 400)] {
            let reply = try server.get(path)
            XCTAssertEqual(reply.status, status, path)
            XCTAssertNotNil(try reply.json()["error"] as? String, path)
        }
    }

    func testMapIsKeptUntilTheLibraryChanges() throws {
        let first = try server.get("/api/map?colour=folder").json()
        XCTAssertEqual(first["count"] as? Int, 5)
        XCTAssertEqual(first["iterations"] as? Int, 1000, "no [map] in the config: the default")
        let legend = try XCTUnwrap(first["legend"] as? [[String: Any]])
        XCTAssertEqual(Set(legend.compactMap { $0["key"] as? String }), [Self.music.path + "/A", Self.music.path + "/B"])
        let again = try server.get("/api/map?colour=folder").json()
        XCTAssertEqual(again["points"] as? NSArray, first["points"] as? NSArray, "the same map, from the cache")
        // Colouring another way reuses the map: the same places.
        let byAlbum = try server.get("/api/map?colour=album").json()
        XCTAssertEqual((byAlbum["points"] as? [[String: Any]])?.map { $0["x"] as? Double }, (first["points"] as? [[String: Any]])?.map { $0["x"] as? Double })

        // The same library in another database, which a retag then changes while a server reads it.
        let copy = Self.dir.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        let copyDB = copy.appendingPathComponent("library.sqlite").path
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: Self.db + suffix) {
            try FileManager.default.copyItem(atPath: Self.db + suffix, toPath: copyDB + suffix)
        }
        // This one takes its map's settings from a config file.
        let config = copy.appendingPathComponent("genred.toml")
        try "[map]\niterations = 300\nseed = 5\n".write(to: config, atomically: true, encoding: .utf8)
        let reader = try ServeProcess(["--db", copyDB, "--listen", "127.0.0.1:0", "--config", config.path])
        defer { reader.stop() }
        let configured = try reader.get("/api/map").json()
        XCTAssertEqual(configured["count"] as? Int, 5)
        XCTAssertEqual(configured["iterations"] as? Int, 300, "[map] iterations from the config")
        let extra = Self.dir.appendingPathComponent("more")
        try FileManager.default.createDirectory(at: extra, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: AnalyzeCommandTests.audio.appendingPathComponent("groove.wav"), to: extra.appendingPathComponent("groove.wav"))
        let retag = try AnalyzeCommandTests.genred(["retag", "--dry-run", extra.path, "--db", copyDB])
        XCTAssertEqual(retag.status, 0, retag.stderr)
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertEqual(try reader.get("/api/map").json()["count"] as? Int, 6, "a new map for the changed library")
        XCTAssertEqual(try reader.get("/api/tracks").json()["total"] as? Int, 6)
    }

    func testTheDatabaseIsOnlyRead() throws {
        let files = [Self.db, Self.db + "-wal"]
        func digests() -> [Data?] { files.map { FileManager.default.contents(atPath: $0) } }
        let before = digests()
        // Each must really be answered: a server that failed every request would read nothing.
        for path in ["/api/status", "/api/tracks", "/api/map", "/api/tracks/1", "/api/tracks/1/similar"] {
            let response = try server.get(path)
            XCTAssertEqual(response.status, 200, path)
            XCTAssertNotNil(try? response.json(), "\(path): \(response.text.prefix(200))")
        }
        let lookup = try server.get("/api/lookup?title=x")
        XCTAssertTrue([200, 404].contains(lookup.status), "lookup: \(lookup.status)")
        XCTAssertNotNil(try? lookup.json(), lookup.text)
        XCTAssertEqual(digests(), before, "serving changed no byte of the database")
    }

    func testATokenGuardsTheAPI() throws {
        let guarded = try ServeProcess(["--db", Self.db, "--listen", "127.0.0.1:0"], environment: ["GENRED_SERVE_TOKEN": "s3cret"])
        defer { guarded.stop() }
        let none = try guarded.get("/api/status")
        XCTAssertEqual(none.status, 401)
        XCTAssertNotNil(try none.json()["error"])
        XCTAssertEqual(none.header("WWW-Authenticate"), "Bearer realm=\"genred\"")
        XCTAssertEqual(try guarded.get("/api/status", headers: ["Authorization": "Bearer wrong"]).status, 401)
        XCTAssertEqual(try guarded.get("/api/tracks/1/audio", headers: ["Authorization": "Bearer s3cre"]).status, 401)
        XCTAssertEqual(try guarded.get("/api/status", headers: ["Authorization": "Bearer s3cret"]).status, 200)
        XCTAssertEqual(try guarded.get("/").status, 200, "the page holds no library data; it asks for the token")
    }

    func testAnOpenAddressWithoutATokenIsRefused() throws {
        let run = try AnalyzeCommandTests.genred(["serve", "--db", Self.db, "--listen", "0.0.0.0:0"])
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("needs a token"), run.stderr)
        let bad = try AnalyzeCommandTests.genred(["serve", "--db", Self.db, "--listen", "localhost"])
        XCTAssertNotEqual(bad.status, 0, "a port is required")
    }

    /// Headless Chromium loads the page, sees the map drawn, clicks a point, and the track starts
    /// loading while its neighbours appear. The screenshot is kept under .build/test-artifacts.
    func testTheWebAppPlaysAClickedPointAndListsItsNeighbours() throws {
        let artifacts = AnalyzeCommandTests.repository.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("web-app.png")
        try? FileManager.default.removeItem(at: screenshot)
        let script = AnalyzeCommandTests.repository.appendingPathComponent("Tests/browser/web_app_test.py")
        let run = try AnalyzeCommandTests.run(URL(fileURLWithPath: "/usr/bin/python3"),
                                              [script.path, try server.baseURL.absoluteString, screenshot.path])
        let output = String(decoding: run.stdout + run.stderr, as: UTF8.self)
        print("web app in Chromium:\n\(output)screenshot: \(screenshot.path)")
        XCTAssertEqual(run.status, 0, output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: screenshot.path), "screenshot at \(screenshot.path)")
    }

    /// genred-serve.service keeps every sandbox setting of genred.service but the ones that
    /// cut the network off.
    func testTheServeUnitHasTheDaemonsSandboxWithTheNetwork() throws {
        func settings(_ name: String) throws -> Set<String> {
            let text = try String(contentsOf: AnalyzeCommandTests.repository.appendingPathComponent("systemd/\(name)"), encoding: .utf8)
            let sandbox = text.components(separatedBy: "# Sandbox")[1].components(separatedBy: "[Install]")[0]
            // The first line is the rest of the section's heading.
            return Set(sandbox.split(separator: "\n").dropFirst().map(String.init).filter { !$0.hasPrefix("#") && $0.contains("=") })
        }
        let daemon = try settings("genred.service"), serve = try settings("genred-serve.service")
        let network: Set = ["PrivateNetwork=yes", "RestrictAddressFamilies=AF_UNIX", "ReadWritePaths=-/srv/music"]
        XCTAssertEqual(daemon.subtracting(network), serve.subtracting(["RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"]))
        XCTAssertTrue(serve.contains("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"))
        XCTAssertFalse(serve.contains { $0.hasPrefix("PrivateNetwork") || $0.hasPrefix("ReadWritePaths") })
    }
}
