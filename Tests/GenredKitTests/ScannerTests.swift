import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class ScannerTests: XCTestCase {
    func testScanFindsAudioAndSkipsHiddenPartialAndOtherFiles() throws {
        let root = try Fixtures.temporaryDirectory()
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("Artist/Album"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        let wav = try Data(contentsOf: URL(fileURLWithPath: Fixtures.audio("short")))
        for name in ["Artist/Album/01.wav", "Artist/Album/.02.wav.Xyz12", "Artist/Album/03.wav.part", ".git/x.wav",
                     "Artist/Album/no-extension", "Artist/Album/04.flac.crdownload"] {
            try wav.write(to: root.appendingPathComponent(name))
        }
        try Data("cover".utf8).write(to: root.appendingPathComponent("Artist/Album/cover.jpg"))
        try Data("not audio".utf8).write(to: root.appendingPathComponent("Artist/Album/broken.mp3"))
        try Data("aac".utf8).write(to: root.appendingPathComponent("Artist/Album/05.m4a"))
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("Artist/link.wav").path,
                                  withDestinationPath: root.appendingPathComponent("Artist/Album/01.wav").path)

        let entries = try LibraryScanner().scan([root.path])
        let base = root.standardizedFileURL.path
        XCTAssertEqual(entries, [
            .candidate(base + "/Artist/Album/01.wav"),
            .unsupported(base + "/Artist/Album/05.m4a"),
            .candidate(base + "/Artist/Album/broken.mp3"),
            .candidate(base + "/Artist/Album/no-extension"),
        ])
    }

    func testMissingRootIsAnError() {
        XCTAssertThrowsError(try LibraryScanner().scan(["/nonexistent/music"])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/music"))
        }
    }

    func testIgnoredNames() {
        XCTAssertTrue(LibraryScanner.isIgnoredName(".DS_Store"))
        XCTAssertTrue(LibraryScanner.isIgnoredName("song.mp3.PART"))
        XCTAssertTrue(LibraryScanner.isIgnoredName("song.flac~"))
        XCTAssertFalse(LibraryScanner.isIgnoredName("song.mp3"))
    }
}
