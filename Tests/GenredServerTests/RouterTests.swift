import Foundation
import Hummingbird
import Synchronization
import XCTest
@testable import GenredKit
@testable import GenredServer

/// `genred serve`'s routes answered in process: each request goes through the same router,
/// token guard and error mapping that `run` serves, without a socket. The end-to-end tests
/// (ServeCommandTests) run the real server; these check each answer's status and body.
final class RouterTests: XCTestCase {
    nonisolated(unsafe) private static var directory: URL!
    nonisolated(unsafe) private static var query: LibraryQuery!
    private static let tracks = 30

    override class func setUp() {
        super.setUp()
        do {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("genred-router-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let bundle = try ModelBundle.load(ModelBundle.defaultName)
            let store = try LibraryStore(path: directory.appendingPathComponent("library.sqlite").path)
            try store.fillSynthetic(count: tracks, manifest: bundle.manifest)
            query = LibraryQuery(store: store, manifest: bundle.manifest, settings: TagSettings())
        } catch {
            XCTFail("could not make the library: \(error)")
        }
    }

    override class func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
        super.tearDown()
    }

    private func client(token: String? = nil) throws -> Client {
        let query = try XCTUnwrap(Self.query, "the library was not made")
        var settings = LibraryServer.Settings(databasePath: Self.directory.appendingPathComponent("library.sqlite").path)
        settings.token = token
        return Client(responder: try LibraryServer(settings: settings, query: query).makeRouter().buildResponder())
    }

    func testThePageIsServedWithItsPolicy() async throws {
        let page = try await client().get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.headers[.contentType], "text/html; charset=utf-8")
        XCTAssertEqual(page.headers[.contentSecurityPolicy], WebApp.contentSecurityPolicy)
        XCTAssertTrue(page.text.hasPrefix("<!doctype html>") || page.text.hasPrefix("<!DOCTYPE html>"), String(page.text.prefix(80)))
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/GenredServer/Web/index.html")
        XCTAssertEqual(page.body, Array(try Data(contentsOf: source)), "the page is Web/index.html, byte for byte")
        let head = try await client().send(.head, "/")
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty, "HEAD answers without a body")
    }

    func testTracksArePagedAndCounted() async throws {
        let page = try await client().get("/api/tracks?limit=7&offset=5")
        XCTAssertEqual(page.status, 200)
        let json = try page.json()
        XCTAssertEqual(json["total"] as? Int, Self.tracks)
        XCTAssertEqual(json["offset"] as? Int, 5)
        let tracks = try XCTUnwrap(json["tracks"] as? [[String: Any]])
        XCTAssertEqual(tracks.count, 7)
        XCTAssertEqual(Set(tracks.compactMap { $0["id"] as? Int }).count, 7, "seven different tracks")
        let beyond = try await client().get("/api/tracks?offset=\(Self.tracks)")
        XCTAssertEqual(try (beyond.json()["tracks"] as? [Any])?.count, 0)
    }

    func testATrackAndItsNeighbours() async throws {
        let one = try await client().get("/api/tracks/3")
        XCTAssertEqual(one.status, 200)
        XCTAssertEqual(try one.json()["id"] as? Int, 3)
        XCTAssertEqual(try one.json()["title"] as? String, "Track 2")
        let similar = try await client().get("/api/tracks/3/similar?count=4")
        XCTAssertEqual(similar.status, 200)
        let matches = try XCTUnwrap(similar.json()["matches"] as? [[String: Any]])
        XCTAssertEqual(matches.count, 4)
        let ids = matches.compactMap { ($0["track"] as? [String: Any])?["id"] as? Int }
        XCTAssertEqual(ids.count, 4)
        XCTAssertFalse(ids.contains(3), "a track is not its own neighbour")
        let scores = matches.compactMap { $0["similarity"] as? Double }
        XCTAssertEqual(scores, scores.sorted(by: >), "most similar first")
    }

    func testAPathRunsFromItsFirstTrackToItsLast() async throws {
        let path = try await client().get("/api/path?from=2&to=25&count=6")
        XCTAssertEqual(path.status, 200, path.text)
        let steps = try XCTUnwrap(path.json()["matches"] as? [[String: Any]])
        let ids = steps.compactMap { ($0["track"] as? [String: Any])?["id"] as? Int }
        XCTAssertEqual(ids.count, 6)
        XCTAssertEqual(ids.first, 2)
        XCTAssertEqual(ids.last, 25)
        XCTAssertEqual(Set(ids).count, 6, "no track twice")
    }

    func testAPlaylistNamesTheTracksInOrder() async throws {
        let playlist = try await client().get("/api/playlist.m3u?ids=4,1,9")
        XCTAssertEqual(playlist.status, 200, playlist.text)
        let paths = playlist.text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertEqual(paths.map { String($0.split(separator: "/").last ?? "") }, ["track 3.flac", "track 0.flac", "track 8.flac"])
    }

    func testBadRequestsAreJSONErrorsWithTheirStatus() async throws {
        let client = try client()
        for (path, status) in [("/api/tracks/abc", 400), ("/api/tracks/99999", 404), ("/api/tracks/99999/similar", 404),
                               ("/api/tracks?limit=0", 400), ("/api/tracks/1/similar?count=x", 400),
                               ("/api/path?from=1", 400), ("/api/map?features=nope", 400), ("/api/lookup", 400),
                               ("/api/nothing-here", 404)] {
            let answer = try await client.get(path)
            XCTAssertEqual(answer.status, status, "\(path): \(answer.text)")
            XCTAssertNotNil(try? answer.json()["error"] as? String, "\(path) answers a JSON error: \(answer.text)")
        }
    }

    func testTheTokenGuardsOnlyTheAPI() async throws {
        let guarded = try client(token: "s3cret")
        let none = try await guarded.get("/api/status")
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual(none.headers[.wwwAuthenticate], "Bearer realm=\"genred\"")
        XCTAssertNotNil(try none.json()["error"] as? String)
        let wrong = try await guarded.get("/api/tracks", headers: [.authorization: "Bearer s3cre"])
        XCTAssertEqual(wrong.status, 401, "a prefix of the token is not the token")
        let right = try await guarded.get("/api/tracks", headers: [.authorization: "Bearer s3cret"])
        XCTAssertEqual(right.status, 200)
        XCTAssertEqual(try right.json()["total"] as? Int, Self.tracks)
        let page = try await guarded.get("/")
        XCTAssertEqual(page.status, 200, "the page carries no library data")
        let open = try await client().get("/api/tracks")
        XCTAssertEqual(open.status, 200, "without a token set, none is asked for")
    }
}

/// Sends requests straight to a responder and collects the whole answer.
private struct Client {
    let responder: RouterResponder<ServeContext>

    struct Answer {
        let status: Int
        let headers: HTTPFields
        let body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], "not a JSON object: \(text.prefix(200))")
        }
    }

    func get(_ path: String, headers: HTTPFields = [:]) async throws -> Answer {
        try await send(.get, path, headers: headers)
    }

    func send(_ method: HTTPRequest.Method, _ path: String, headers: HTTPFields = [:]) async throws -> Answer {
        let request = Request(head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path, headerFields: headers),
                              body: RequestBody(buffer: ByteBuffer()))
        let response = try await responder.respond(to: request, context: ServeContext(logger: LibraryServer.quietLogger))
        let sink = Sink()
        try await response.body.write(SinkWriter(sink: sink))
        return Answer(status: response.status.code, headers: response.headers, body: sink.bytes.withLock { $0 })
    }

    final class Sink: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    struct SinkWriter: ResponseBodyWriter {
        let sink: Sink
        func write(_ buffer: ByteBuffer) async throws {
            sink.bytes.withLock { $0 += buffer.readableBytesView }
        }
        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
