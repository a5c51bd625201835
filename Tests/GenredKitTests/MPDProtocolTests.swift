import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredServices

/// The parts of the MPD client that need no MPD: addresses, quoting and error lines.
final class MPDProtocolTests: XCTestCase {
    func testAddresses() throws {
        XCTAssertEqual(try MPDAddress(parsing: "/run/user/1000/mpd/socket"), .socket("/run/user/1000/mpd/socket"))
        XCTAssertEqual(try MPDAddress(parsing: "@mpd"), .socket("@mpd"))
        XCTAssertEqual(try MPDAddress(parsing: "music.lan"), .tcp(host: "music.lan", port: 6600))
        XCTAssertEqual(try MPDAddress(parsing: "music.lan:6601"), .tcp(host: "music.lan", port: 6601))
        XCTAssertEqual(try MPDAddress(parsing: "[::1]:6602"), .tcp(host: "::1", port: 6602))
        XCTAssertThrowsError(try MPDAddress(parsing: "host:port"))
        XCTAssertThrowsError(try MPDAddress(parsing: ":6600"))

        let (a, p) = try MPDAddress.fromEnvironment(["MPD_HOST": "secret@music.lan", "MPD_PORT": "6610"])
        XCTAssertEqual(a, .tcp(host: "music.lan", port: 6610))
        XCTAssertEqual(p, "secret")
        XCTAssertEqual(try MPDAddress.fromEnvironment(["MPD_HOST": "/tmp/s"]).0, .socket("/tmp/s"))
        XCTAssertEqual(try MPDAddress.fromEnvironment([:]).0, .tcp(host: "localhost", port: 6600))
    }

    func testArgumentsAreQuotedFromTheirBytes() {
        XCTAssertEqual(MPDConnection.quote(#"a "b" \c"#), Array(#""a \"b\" \\c""#.utf8))
        let latin1 = FilePath.string(Array("caf".utf8) + [0xE9] + Array(".flac".utf8))
        XCTAssertEqual(MPDConnection.quote(latin1), [0x22] + Array("caf".utf8) + [0xE9] + Array(".flac".utf8) + [0x22])
        XCTAssertEqual(MPDConnection.line("add", ["x y"]), Array("add \"x y\"\n".utf8))
    }

    func testErrorLines() {
        let ack = MPDConnection.parseACK("ACK [50@0] {add} No such directory")
        XCTAssertEqual(ack?.code, 50)
        XCTAssertEqual(ack?.command, "add")
        XCTAssertEqual(ack?.message, "No such directory")
        XCTAssertNil(MPDConnection.parseACK("OK"))
        let error = MPDError("/run/mpd/socket", .refused(code: 50, command: "add", message: "No such directory"))
        XCTAssertEqual(error.description, "MPD at /run/mpd/socket refused add: No such directory (error 50)")
        XCTAssertFalse(error.isConnectionProblem)
        XCTAssertTrue(MPDError("x", .unreachable("connection closed")).isConnectionProblem)
    }

    func testRelativePaths() {
        XCTAssertEqual(Radio.relative("/srv/music/A/b.flac", to: "/srv/music"), "A/b.flac")
        XCTAssertNil(Radio.relative("/srv/musicbox/b.flac", to: "/srv/music"))
        XCTAssertNil(Radio.relative("/srv/music", to: "/srv/music"))
        XCTAssertEqual(PlaylistWriter.relative("/srv/music/A/b.flac", from: "/srv/music/Playlists"), "../A/b.flac")
        XCTAssertEqual(PlaylistWriter.relative("/srv/music/Playlists/b.flac", from: "/srv/music/Playlists"), "b.flac")
        XCTAssertEqual(PlaylistWriter.relative("/other/b.flac", from: "/srv/music/Playlists"), "../../../other/b.flac")
    }
}
