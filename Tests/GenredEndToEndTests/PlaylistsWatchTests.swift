import Foundation
import GenredKit
import XCTest

/// `genred watch` with `[playlists] enabled`: playlists written at start, then coalesced.
final class PlaylistsWatchTests: DaemonTestCase {
    func testTheDaemonWritesPlaylistsAndCoalescesUpdates() throws {
        let manifest = try ModelBundle.load("msd-musicnn").manifest
        try FileManager.default.createDirectory(atPath: FilePath.parent(database), withIntermediateDirectories: true)
        // Tracks outside the watched folder, so the daemon's scan leaves them as they are.
        func rock(_ i: Int) -> SyntheticTrack {
            var e = [Float](repeating: 0, count: 200)
            e[0] = 10
            e[1] = Float(i)
            var s = [Float](repeating: 0.01, count: manifest.labels.count)
            s[manifest.labels.firstIndex(of: "rock")!] = 0.9
            return SyntheticTrack(path: dir.appendingPathComponent("elsewhere/r\(i).flac").path, artist: "A\(i)", embedding: e, scores: s)
        }
        try store().insertSynthetic((0..<3).map(rock), manifest: manifest)
        let folder = music.appendingPathComponent("Playlists").path
        try writeConfig(Self.baseConfig + """

            [playlists]
            enabled = true
            folder = "\(folder)"
            min_size = 2
            """)
        try startDaemon()
        var playlist = ""
        try waitFor("the playlists", timeout: 20) {
            playlist = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.first { $0.hasPrefix("Genre - ") } ?? ""
            return !playlist.isEmpty
        }
        let path = folder + "/" + playlist
        let first = try XCTUnwrap(PathIO.stat(path))
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("#EXTM3U\n# genred:"))
        let tracks = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertEqual(tracks.count, 3, "\(tracks)")
        XCTAssertTrue(tracks.allSatisfy { $0.hasPrefix("../../elsewhere/r") }, "relative to the playlists' folder: \(tracks)")

        // The library changes: the update waits for the minute since the last write to pass.
        try store().insertSynthetic([rock(3)], manifest: manifest)
        Thread.sleep(forTimeInterval: 6)
        XCTAssertEqual(PathIO.stat(path)?.st_ino, first.st_ino, "not rewritten within a minute of the last write")
        XCTAssertEqual(log.components(separatedBy: "playlists: wrote \(path)").count - 1, 1, log)
    }
}
