import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

#if canImport(Glibc)
import Glibc
import GenredTestSupport
#endif

/// Paths keep their exact bytes: names that are not UTF-8, case, and NFC against NFD.
final class FilePathTests: XCTestCase {
    func testAnyNameRoundTripsThroughItsString() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let length = Int(rng.unit() * 24)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                var b = UInt8(truncatingIfNeeded: Int(rng.unit() * 256))
                if b == 0 || b == UInt8(ascii: "/") { b = 0xE9 }
                bytes.append(b)
            }
            let path = FilePath.string(bytes)
            XCTAssertEqual(FilePath.bytes(path), bytes, "\(bytes)")
            if let valid = String(validating: bytes, as: UTF8.self), !FilePath.carriesBytes(valid) {
                XCTAssertTrue(path.utf8.elementsEqual(valid.utf8), "a UTF-8 name is its own string")
            }
        }
    }

    func testLatin1NameIsCarriedAndShownEscaped() {
        let latin1: [UInt8] = Array("/music/caf".utf8) + [0xE9] + Array(".mp3".utf8)
        let path = FilePath.string(latin1)
        XCTAssertTrue(FilePath.carriesBytes(path))
        XCTAssertFalse(ExactPath(path) == ExactPath("/music/café.mp3"), "not the UTF-8 name")
        XCTAssertEqual(FilePath.display(path), "/music/caf\\xE9.mp3")
        XCTAssertEqual(JSONText.quote(path), "\"/music/caf\\udce9.mp3\"")
        XCTAssertEqual(JSONText.escapingCarriedBytes("{\"p\": \"\(path)\"}"), "{\"p\": \"/music/caf\\udce9.mp3\"}")
    }

    func testNamesSpellingTheCarryRangeRoundTrip() {
        let name = "x\u{10FF41}y"
        let path = FilePath.string(Array(name.utf8))
        XCTAssertEqual(FilePath.bytes(path), Array(name.utf8))
        XCTAssertNotEqual(FilePath.bytes(path), [UInt8(ascii: "x"), 0x41, UInt8(ascii: "y")])
    }

    func testNFCAndNFDSpellingsAreDifferentPaths() {
        let nfc = "/m/caf\u{E9}.flac", nfd = "/m/cafe\u{301}.flac"
        XCTAssertTrue(nfc == nfd, "Swift's String equality folds them")
        XCTAssertNotEqual(ExactPath(nfc), ExactPath(nfd))
        XCTAssertEqual(Set([ExactPath(nfc), ExactPath(nfd)]).count, 2)
        XCTAssertFalse(FilePath.isPath("/m/cafe\u{301}/a", inside: "/m/caf\u{E9}"))
    }

    func testInsideIsAByteAndComponentPrefix() {
        XCTAssertTrue(FilePath.isPath("/m/Live/a.mp3", inside: "/m/Live"))
        XCTAssertTrue(FilePath.isPath("/m/Live/a.mp3", inside: "/m/Live/"))
        XCTAssertTrue(FilePath.isPath("/m/Live", inside: "/m/Live"))
        XCTAssertFalse(FilePath.isPath("/m/live/a.mp3", inside: "/m/Live"))
        XCTAssertFalse(FilePath.isPath("/m/Lively/a.mp3", inside: "/m/Live"))
    }

    func testNormalizeKeepsCarriedBytes() {
        let path = FilePath.string(Array("/a/./b/../c".utf8) + [0xFF] + Array("//".utf8))
        XCTAssertEqual(FilePath.bytes(FilePath.normalize(path)), Array("/a/c".utf8) + [0xFF])
    }

    /// A file named in Latin-1 is found, stat'ed, decoded and tagged like any other.
    func testLatin1NamedFileIsScannedDecodedAndTagged() throws {
        let dir = try TestAudio.makeTemporaryDirectory("genred-paths")
        defer { try? FileManager.default.removeItem(at: dir) }
        let name: [UInt8] = Array("Bj".utf8) + [0xF6] + Array("rk.wav".utf8)
        let path = PathIO.join(dir.path, name)
        let wav = try Data(contentsOf: URL(fileURLWithPath: Fixtures.audio("short")))
        let fd = PathIO.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = wav.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)

        // The file on disk really has the Latin-1 byte in its name.
        let listed = try XCTUnwrap(PathIO.entries(dir.path)).map(\.name)
        XCTAssertTrue(listed.contains(name))

        let entries = try LibraryScanner().scan([dir.path])
        XCTAssertTrue(entries.contains(.candidate(path)), "\(entries)")
        XCTAssertNotNil(FileStat.of(path))
        let analysis = try Analyzer(bundle: Fixtures.bundle("msd-musicnn"), threads: 1).analyze(path)
        XCTAssertGreaterThan(analysis.windowCount, 0)

        let writer = TagWriter(backupDirectory: dir.appendingPathComponent("backup"))
        _ = try writer.write(path, container: .wav, values: [.genre: ["Rock"]])
        XCTAssertEqual(try writer.read(path, container: .wav).values(.genre), ["Rock"])
    }

    func testPlaylistTextIsWrittenWithExactBytes() throws {
        let dir = try TestAudio.makeTemporaryDirectory("genred-paths")
        defer { try? FileManager.default.removeItem(at: dir) }
        let listed = FilePath.string(Array("/music/caf".utf8) + [0xE9] + Array(".mp3".utf8))
        let file = dir.appendingPathComponent("list.m3u").path
        XCTAssertNil(PathIO.writeText("#EXTM3U\n\(listed)\n", to: file))
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        XCTAssertEqual(Array(data), Array("#EXTM3U\n/music/caf".utf8) + [0xE9] + Array(".mp3\n".utf8))
    }
}
