import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices
import GenredTestSupport

final class TagWriterTests: XCTestCase {
    private var directory: URL!
    private var backups: URL!

    override func setUpWithError() throws {
        directory = try TestAudio.makeTemporaryDirectory("genred-tags")
        backups = directory.appendingPathComponent("backups", isDirectory: true)
    }

    override func tearDownWithError() throws {
        _ = try? TestAudio.run("chmod", ["-R", "u+w", directory.path])
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - Making files

    private enum Format: String, CaseIterable {
        case mp3, flac, ogg, opus, wav, aiff

        var container: AudioContainer {
            switch self {
            case .mp3: .mp3
            case .flac: .flac
            case .ogg: .oggVorbis
            case .opus: .opus
            case .wav: .wav
            case .aiff: .aiff
            }
        }
    }

    /// A short stereo file of the format, with no tags.
    private func make(_ format: Format, _ name: String = "track") throws -> URL {
        let wav = directory.appendingPathComponent("\(name)-source.wav")
        try TestAudio.writeWAV(wav, TestAudio.signal(seconds: 1.5, sampleRate: 44100, channels: 2), channels: 2, sampleRate: 44100)
        let url = directory.appendingPathComponent("\(name).\(format.rawValue)")
        switch format {
        case .mp3: try TestAudio.run("lame", ["--quiet", "-b", "128", wav.path, url.path])
        case .flac: try TestAudio.run("flac", ["--silent", "-f", "-o", url.path, wav.path])
        case .ogg: try TestAudio.run("oggenc", ["--quiet", "-o", url.path, wav.path])
        case .opus: try TestAudio.run("opusenc", ["--quiet", wav.path, url.path])
        case .wav: try FileManager.default.copyItem(at: wav, to: url)
        case .aiff: try TestAudio.run("sox", [wav.path, url.path])
        }
        try FileManager.default.removeItem(at: wav)
        return url
    }

    private func writer(afterSave: (@Sendable (String) -> Void)? = nil) -> TagWriter {
        TagWriter(id3v23Separator: "/", backupDirectory: backups, afterSave: afterSave)
    }

    private func bytes(_ url: URL) throws -> Data { try Data(contentsOf: url) }

    private func inode(_ url: URL) throws -> UInt64 {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
    }

    private func samples(_ url: URL) throws -> [Float] {
        try TestAudio.decode(url, targetRate: 44100).0
    }

    private func backupFiles() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: backups.path)) ?? []
    }

    private func assertTagError(
        _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line, _ check: (TagError.Reason) -> Bool
    ) {
        do {
            try body()
            XCTFail("expected a TagError", file: file, line: line)
        } catch let error as TagError {
            XCTAssertTrue(check(error.reason), "unexpected \(error)", file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    // MARK: - Separate values per format

    private func assertWritesSeparateValues(_ format: Format, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try make(format)
        let result = try writer().write(url.path, container: format.container,
                                        values: [.genre: ["Rock", "Pop"], .mood: ["Happy", "Energetic"]])
        XCTAssertEqual(result.after.values(.genre), ["Rock", "Pop"], file: file, line: line)
        XCTAssertEqual(result.after.values(.mood), ["Happy", "Energetic"], file: file, line: line)
        let report = try TagInspector.read(url)
        switch format {
        case .mp3, .wav, .aiff:
            XCTAssertEqual(report.id3, "2.4", file: file, line: line)
            XCTAssertEqual(report.frames("TCON").count, 1, file: file, line: line)
            XCTAssertEqual(report.text("TCON"), ["Rock", "Pop"], file: file, line: line)
            XCTAssertEqual(report.text("TMOO"), ["Happy", "Energetic"], file: file, line: line)
        case .flac, .ogg, .opus:
            XCTAssertEqual(report.comments("GENRE"), ["Rock", "Pop"], file: file, line: line)
            XCTAssertEqual(report.comments("MOOD"), ["Happy", "Energetic"], file: file, line: line)
        }
        XCTAssertEqual(result.inode, try inode(url), file: file, line: line)
        XCTAssertTrue(backupFiles().isEmpty, "backup left behind", file: file, line: line)
    }

    func testGenresAndMoodsAreSeparateValuesInMP3() throws { try assertWritesSeparateValues(.mp3) }
    func testGenresAndMoodsAreSeparateCommentsInFLAC() throws { try assertWritesSeparateValues(.flac) }
    func testGenresAndMoodsAreSeparateCommentsInOggVorbis() throws { try assertWritesSeparateValues(.ogg) }
    func testGenresAndMoodsAreSeparateCommentsInOpus() throws { try assertWritesSeparateValues(.opus) }
    func testGenresAndMoodsAreSeparateValuesInWAVThroughID3v2() throws { try assertWritesSeparateValues(.wav) }
    func testGenresAndMoodsAreSeparateValuesInAIFFThroughID3v2() throws { try assertWritesSeparateValues(.aiff) }

    // MARK: - ID3v2 versions

    func testID3v23FileStaysV23WithJoinedValues() throws {
        let url = try make(.mp3)
        try TagInspector.edit(url, """
            t = ID3()
            t.add(TIT2(encoding=1, text="Title"))
            t.add(TPE1(encoding=1, text="Artist"))
            t.add(TXXX(encoding=1, desc="MyField", text="kept"))
            t.add(TCON(encoding=1, text="Jazz"))
            t.save(path, v2_version=3)
            """)
        let before = try TagInspector.read(url)
        XCTAssertEqual(before.id3, "2.3")
        XCTAssertEqual(try writer().read(url.path, container: .mp3).id3v2Version, 3)

        let result = try writer().write(url.path, container: .mp3, values: [.genre: ["Rock", "Pop"], .mood: ["Calm", "Dark"]])
        let after = try TagInspector.read(url)
        XCTAssertEqual(after.id3, "2.3")
        XCTAssertEqual(after.text("TCON"), ["Rock/Pop"])
        XCTAssertEqual(after.text("TXXX:MOOD"), ["Calm/Dark"], "v2.3 has no TMOO: mood goes to TXXX:MOOD")
        XCTAssertTrue(after.frames("TMOO").isEmpty)
        for key in ["TIT2", "TPE1", "TXXX:MyField"] {
            XCTAssertEqual(after.frames.first { $0.key == key }, before.frames.first { $0.key == key }, key)
        }
        XCTAssertEqual(result.after.id3v2Version, 3)
        XCTAssertEqual(result.after.values(.genre), ["Rock", "Pop"])
        XCTAssertEqual(result.after.values(.mood), ["Calm", "Dark"])
    }

    func testV23TagWithTMOOIsUndoneWhenOnlyGenreIsWritten() throws {
        // TagLib drops TMOO frames when it writes ID3v2.3; verification notices and the write is undone.
        let url = try make(.mp3)
        try TagInspector.edit(url, "t = ID3(); t.add(TIT2(encoding=1, text='T')); t.add(TMOO(encoding=1, text='Calm')); t.save(path, v2_version=3)")
        let original = try bytes(url)
        assertTagError({ _ = try writer().write(url.path, container: .mp3, values: [.genre: ["Rock"]]) }) {
            if case .verificationFailed(let what) = $0 { what.contains("MOOD") } else { false }
        }
        XCTAssertEqual(try bytes(url), original)

        // Writing MOOD too replaces the TMOO frame with TXXX:MOOD.
        _ = try writer().write(url.path, container: .mp3, values: [.genre: ["Rock"], .mood: ["Calm"]])
        let report = try TagInspector.read(url)
        XCTAssertEqual(report.id3, "2.3")
        XCTAssertEqual(report.text("TXXX:MOOD"), ["Calm"])
        XCTAssertTrue(report.frames("TMOO").isEmpty)
    }

    func testV23MoodInTXXXIsReplacedAndRemovedNotDuplicated() throws {
        // Under ID3v2.3 MOOD lives in a TXXX frame; rewriting it must replace that frame, and
        // writing no value (as undo does for a field that was empty) must remove it.
        let url = try make(.mp3)
        try TagInspector.edit(url, "t = ID3(); t.add(TIT2(encoding=1, text='T')); t.add(TXXX(encoding=1, desc='MOOD', text='Old')); t.save(path, v2_version=3)")
        _ = try writer().write(url.path, container: .mp3, values: [.mood: ["New"]])
        var report = try TagInspector.read(url)
        XCTAssertEqual(report.id3, "2.3")
        XCTAssertEqual(report.frames.filter { $0.key == "TXXX:MOOD" }.count, 1)
        XCTAssertEqual(report.text("TXXX:MOOD"), ["New"])
        _ = try writer().write(url.path, container: .mp3, values: [.mood: []])
        report = try TagInspector.read(url)
        XCTAssertTrue(report.frames.filter { $0.key == "TXXX:MOOD" }.isEmpty)
        XCTAssertEqual(report.text("TIT2"), ["T"])
    }

    func testID3v24FileStaysV24() throws {
        let url = try make(.mp3)
        try TagInspector.edit(url, "t = ID3(); t.add(TIT2(encoding=3, text='T')); t.save(path, v2_version=4)")
        _ = try writer().write(url.path, container: .mp3, values: [.genre: ["Rock"]])
        XCTAssertEqual(try TagInspector.read(url).id3, "2.4")
    }

    func testMP3WithoutTagGetsID3v24AndKeepsItsID3v1Tag() throws {
        let wav = directory.appendingPathComponent("v1.wav")
        try TestAudio.writeWAV(wav, TestAudio.signal(seconds: 1, sampleRate: 44100, channels: 1), channels: 1, sampleRate: 44100)
        let url = directory.appendingPathComponent("v1.mp3")
        try TestAudio.run("lame", ["--quiet", "--id3v1-only", "--tt", "Old title", "--tg", "Blues", wav.path, url.path])
        let before = try TagInspector.read(url)
        XCTAssertNil(before.id3)
        XCTAssertNotNil(before.id3v1)

        let result = try writer().write(url.path, container: .mp3, values: [.genre: ["Rock", "Pop"]])
        let after = try TagInspector.read(url)
        XCTAssertEqual(after.id3, "2.4")
        XCTAssertEqual(after.text("TCON"), ["Rock", "Pop"])
        XCTAssertEqual(after.id3v1, before.id3v1, "the ID3v1 tag is neither rewritten nor stripped")
        XCTAssertEqual(result.after.otherTags["ID3v1"]?["GENRE"], ["Blues"])
    }

    func testValuesContainingTheV23SeparatorAreRefused() throws {
        let url = try make(.mp3)
        try TagInspector.edit(url, "t = ID3(); t.add(TIT2(encoding=1, text='T')); t.save(path, v2_version=3)")
        let original = try bytes(url)
        assertTagError({ _ = try writer().write(url.path, container: .mp3, values: [.genre: ["AC/DC style"]]) }) {
            if case .invalidValues = $0 { true } else { false }
        }
        XCTAssertEqual(try bytes(url), original)
    }

    // MARK: - Everything else stays

    func testCustomMP3FramesSurviveByteForByte() throws {
        let url = try make(.mp3)
        let png = "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a0f5a4c50000000049454e44ae426082"
        try TagInspector.edit(url, """
            t = ID3()
            t.add(TIT2(encoding=3, text="Title"))
            t.add(TPE1(encoding=3, text="Artist"))
            t.add(TMOO(encoding=3, text="Melancholic"))
            t.add(TXXX(encoding=3, desc="MyField", text="custom value"))
            t.add(COMM(encoding=3, lang="eng", desc="", text="a comment"))
            t.add(COMM(encoding=3, lang="deu", desc="", text="ein Kommentar"))
            t.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=bytes.fromhex("\(png)")))
            t.add(PRIV(owner="example.org", data=b"\\x00\\x01private"))
            t.save(path, v2_version=4)
            """)
        let before = try TagInspector.read(url)
        _ = try writer().write(url.path, container: .mp3, values: [.genre: ["Electronic", "Ambient"]])
        let after = try TagInspector.read(url)
        XCTAssertEqual(after.frames.filter { $0.id != "TCON" }, before.frames, "every frame but TCON is byte-for-byte the same")
        XCTAssertEqual(after.text("TCON"), ["Electronic", "Ambient"])
    }

    func testCustomFLACCommentsAndPictureSurvive() throws {
        let url = try make(.flac)
        try TagInspector.edit(url, """
            f = FLAC(path)
            f["TITLE"] = "Title"
            f["ARTIST"] = ["Artist One", "Artist Two"]
            f["MYFIELD"] = "custom value"
            p = Picture(); p.type = 3; p.mime = "image/png"; p.data = b"\\x89PNG fake picture bytes"
            f.add_picture(p)
            f.save()
            """)
        let before = try TagInspector.read(url)
        _ = try writer().write(url.path, container: .flac, values: [.genre: ["Rock", "Pop"]])
        let after = try TagInspector.read(url)
        func sorted(_ c: [[String]]) -> [[String]] { c.sorted { $0.joined(separator: "\u{1}") < $1.joined(separator: "\u{1}") } }
        XCTAssertEqual(sorted(after.comments.filter { $0[0].uppercased() != "GENRE" }), sorted(before.comments))
        XCTAssertEqual(after.pictures, before.pictures)
        XCTAssertEqual(after.comments("ARTIST"), ["Artist One", "Artist Two"], "value order within a key is kept")
    }

    func testFieldsNotWrittenAreUntouched() throws {
        let url = try make(.flac)
        try TagInspector.edit(url, "f = FLAC(path); f['TITLE'] = 'T'; f['ARTIST'] = 'A'; f['MOOD'] = ['Sad', 'Calm']; f.save()")
        let result = try writer().write(url.path, container: .flac, values: [.genre: ["Jazz"]])
        let after = try TagInspector.read(url)
        XCTAssertEqual(after.comments("MOOD"), ["Sad", "Calm"])
        XCTAssertEqual(after.comments("TITLE"), ["T"])
        XCTAssertEqual(after.comments("ARTIST"), ["A"])
        XCTAssertEqual(after.comments("GENRE"), ["Jazz"])
        XCTAssertEqual(result.before.values(.mood), ["Sad", "Calm"])
        XCTAssertEqual(result.after.values(.mood), ["Sad", "Calm"])

        let mp3 = try make(.mp3, "mp3")
        try TagInspector.edit(mp3, "t = ID3(); t.add(TIT2(encoding=3, text='T')); t.add(TMOO(encoding=3, text=['Sad'])); t.save(path)")
        _ = try writer().write(mp3.path, container: .mp3, values: [.genre: ["Jazz"]])
        let mp3After = try TagInspector.read(mp3)
        XCTAssertEqual(mp3After.text("TMOO"), ["Sad"])
        XCTAssertEqual(mp3After.text("TIT2"), ["T"])
    }

    func testEmptyArrayRemovesTheField() throws {
        let mp3 = try make(.mp3)
        try TagInspector.edit(mp3, "t = ID3(); t.add(TIT2(encoding=3, text='T')); t.add(TCON(encoding=3, text=['Rock', 'Pop'])); t.save(path)")
        let result = try writer().write(mp3.path, container: .mp3, values: [.genre: []])
        XCTAssertTrue(try TagInspector.read(mp3).frames("TCON").isEmpty)
        XCTAssertEqual(try TagInspector.read(mp3).text("TIT2"), ["T"])
        XCTAssertEqual(result.before.values(.genre), ["Rock", "Pop"])
        XCTAssertEqual(result.after.values(.genre), [])

        let flac = try make(.flac, "flac")
        try TagInspector.edit(flac, "f = FLAC(path); f['GENRE'] = ['Rock', 'Pop']; f['MOOD'] = 'Calm'; f.save()")
        _ = try writer().write(flac.path, container: .flac, values: [.genre: [], .mood: []])
        let report = try TagInspector.read(flac)
        XCTAssertEqual(report.comments("GENRE"), [])
        XCTAssertEqual(report.comments("MOOD"), [])
    }

    func testWAVInfoChunkSurvives() throws {
        let url = try make(.wav)
        // Append a LIST/INFO chunk by hand (INAM and IGNR).
        var data = try bytes(url)
        func chunk(_ id: String, _ body: [UInt8]) -> [UInt8] {
            var b = Array(id.utf8)
            withUnsafeBytes(of: UInt32(body.count).littleEndian) { b.append(contentsOf: $0) }
            return b + body + (body.count % 2 == 1 ? [0] : [])
        }
        let info = chunk("LIST", Array("INFO".utf8) + chunk("INAM", Array("Old title\0".utf8)) + chunk("IGNR", Array("Blues\0".utf8)))
        data.append(contentsOf: info)
        data.replaceSubrange(4..<8, with: withUnsafeBytes(of: UInt32(data.count - 8).littleEndian) { Array($0) })
        try data.write(to: url)
        let before = try TagInspector.read(url)

        let result = try writer().write(url.path, container: .wav, values: [.genre: ["Rock", "Pop"]])
        let after = try TagInspector.read(url)
        XCTAssertEqual(after.chunks.filter { $0[0] == "LIST" }, before.chunks.filter { $0[0] == "LIST" })
        XCTAssertEqual(after.text("TCON"), ["Rock", "Pop"])
        XCTAssertEqual(result.after.otherTags["RIFF INFO"]?["GENRE"], ["Blues"])
    }

    // MARK: - Refusals

    func testAnMP3WithJunkBeforeItsFirstFrameIsNotWrittenUnlessDamagedAudioIsAllowed() throws {
        let source = try make(.mp3)
        var generator = SeededGenerator(seed: 3)
        let junk = Data((0..<3000).map { _ in UInt8(truncatingIfNeeded: generator.next() >> 56) })
        let url = directory.appendingPathComponent("junk-front.mp3")
        try (junk + Data(contentsOf: source)).write(to: url)
        let original = try bytes(url)
        assertTagError({ _ = try writer().write(url.path, container: .mp3, values: [.genre: ["Rock"]]) }) {
            if case .undecodable(let why) = $0 { why.contains("junk before the first MPEG frame") } else { false }
        }
        XCTAssertEqual(try bytes(url), original, "not a byte changed")
        XCTAssertTrue(backupFiles().isEmpty)

        // write_damaged: written, the audio that decodes left exactly as it was (the writer verifies it).
        var allowed = writer()
        allowed.allowsDamagedAudio = true
        let audio = try samples(url)
        _ = try allowed.write(url.path, container: .mp3, values: [.genre: ["Rock"]])
        XCTAssertEqual(try TagInspector.read(url).text("TCON"), ["Rock"])
        XCTAssertEqual(try samples(url), audio)
    }

    func testReadOnlyFileIsRefusedAndUnchanged() throws {
        let url = try make(.flac)
        try TestAudio.run("chmod", ["444", url.path])
        let original = try bytes(url)
        assertTagError({ _ = try writer().write(url.path, container: .flac, values: [.genre: ["Rock"]]) }) {
            if case .readOnly = $0 { true } else { false }
        }
        XCTAssertEqual(try bytes(url), original)
        XCTAssertTrue(backupFiles().isEmpty)
    }

    func testFileInReadOnlyFolderIsWrittenInPlace() throws {
        let folder = directory.appendingPathComponent("locked", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let source = try make(.mp3)
        let url = folder.appendingPathComponent("track.mp3")
        try FileManager.default.moveItem(at: source, to: url)
        let audio = try samples(url)
        try TestAudio.run("chmod", ["555", folder.path])

        // The backup folder lies elsewhere: the in-place write needs no folder write access.
        let result = try writer().write(url.path, container: .mp3, values: [.genre: ["Rock"]])
        XCTAssertEqual(try TagInspector.read(url).text("TCON"), ["Rock"])
        XCTAssertEqual(result.inode, try inode(url))
        XCTAssertEqual(try samples(url), audio)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["track.mp3"])

        // A read-only backup folder stops the write before the file is touched.
        let lockedBackups = directory.appendingPathComponent("locked-backups", isDirectory: true)
        try FileManager.default.createDirectory(at: lockedBackups, withIntermediateDirectories: true)
        try TestAudio.run("chmod", ["555", lockedBackups.path])
        let original = try bytes(url)
        assertTagError({
            _ = try TagWriter(backupDirectory: lockedBackups).write(url.path, container: .mp3, values: [.genre: ["Pop"]])
        }) { if case .readOnly(let why) = $0 { why.contains("backup folder") } else { false } }
        XCTAssertEqual(try bytes(url), original)
    }

    func testCorruptMP3IsNotWritten() throws {
        let url = directory.appendingPathComponent("corrupt.mp3")
        var garbage = Data("ID3".utf8) + Data([4, 0, 0, 0, 0, 0, 0])
        var seed: UInt32 = 7
        for _ in 0..<40_000 {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            garbage.append(UInt8(truncatingIfNeeded: seed >> 24))
        }
        try garbage.write(to: url)
        assertTagError({ _ = try writer().write(url.path, container: .mp3, values: [.genre: ["Rock"]]) }) {
            switch $0 {
            case .cannotOpen, .undecodable: true
            default: false
            }
        }
        XCTAssertEqual(try bytes(url), garbage)
        XCTAssertTrue(backupFiles().isEmpty)
    }

    func testTruncatedFLACIsNotWritten() throws {
        let url = try make(.flac)
        let whole = try bytes(url)
        let truncated = whole.prefix(whole.count / 2)
        try truncated.write(to: url)
        assertTagError({ _ = try writer().write(url.path, container: .flac, values: [.genre: ["Rock"]]) }) {
            switch $0 {
            case .cannotOpen, .undecodable: true
            default: false
            }
        }
        XCTAssertEqual(try bytes(url), truncated)
    }

    func testMissingFileIsAnIOError() {
        let path = directory.appendingPathComponent("missing.flac").path
        assertTagError({ _ = try writer().write(path, container: .flac, values: [.genre: ["Rock"]]) }) {
            if case .io = $0 { true } else { false }
        }
    }

    // MARK: - Audio and identity

    func testAudioAndInodeAreUnchangedByAWrite() throws {
        for format in Format.allCases {
            let url = try make(format, "audio-\(format.rawValue)")
            let audio = try samples(url)
            let node = try inode(url)
            let result = try writer().write(url.path, container: format.container,
                                            values: [.genre: ["Rock", "Pop"], .mood: ["Happy"]])
            XCTAssertEqual(try samples(url), audio, format.rawValue)
            XCTAssertEqual(try inode(url), node, format.rawValue)
            XCTAssertEqual(result.inode, node, format.rawValue)
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            XCTAssertEqual(result.size, (attributes[.size] as? NSNumber)?.int64Value, format.rawValue)
        }
    }

    // MARK: - The audio hash from the analysis

    func testTheAnalysisDecodeGivesTheWritersAudioHashForEveryFormat() throws {
        let analyzer = Analyzer(bundle: try Fixtures.bundle("msd-musicnn"), threads: 1)
        for format in Format.allCases {
            let url = try make(format, "hash-\(format.rawValue)")
            let analysed = try analyzer.analyze(url.path).audio.sourceDigest
            XCTAssertEqual(analysed, try writer().audioDigest(url.path, when: "in the test"), format.rawValue)
            XCTAssertEqual(try AudioFingerprint.of(url.path).audio.sourceDigest, analysed, format.rawValue)
        }
    }

    func testAKnownAudioHashIsUsedOnlyForTheFileItWasMadeFrom() throws {
        for (format, trailing) in [(Format.flac, false), (.ogg, false), (.ogg, true)] {
            let url = try make(format, "known-\(format.rawValue)-\(trailing)")
            // Bytes after the end-of-stream page, which the decoder ignores, leave an Ogg file
            // without an audio digest.
            if trailing { try (bytes(url) + Data(repeating: 0x41, count: 64)).write(to: url) }
            let stat = try XCTUnwrap(FileStat.of(url.path))
            let real = try writer().audioDigest(url.path, when: "in the test")
            // A hash for another state of the file is not taken.
            var stale = stat
            stale.ctimeNs -= 1
            let prepared = try writer().prepare(url.path, container: format.container, values: [.genre: ["Rock"]],
                                                knownAudio: KnownAudio(digest: "wrong", stat: stale))
            XCTAssertEqual(prepared.audioDigest, real, format.rawValue)
            // Even a wrong hash for the right stat cannot let a write through unchecked. Where the
            // audio has a digest of its bytes (FLAC's frames, Ogg's audio pages), it is taken while
            // preparing and again after the save, so the write stands on it and is right. Without
            // one, the file is decoded after the save and compared with the wrong hash, so the
            // write is undone.
            let original = try bytes(url), audio = try samples(url)
            let misled = try writer().prepare(url.path, container: format.container, values: [.genre: ["Rock"]],
                                              knownAudio: KnownAudio(digest: "wrong", stat: stat))
            XCTAssertEqual(misled.audioDigest, "wrong", format.rawValue)
            let copy = try writer().backup(misled)
            defer { copy.remove() }
            if !trailing {
                XCTAssertNotNil(misled.audioBytes)
                XCTAssertEqual(try writer().commit(misled, backup: copy).audioProof, .bytes)
                XCTAssertEqual(try samples(url), audio)
                XCTAssertEqual(try TagInspector.read(url).comments("GENRE"), ["Rock"])
            } else {
                XCTAssertNil(misled.audioBytes)
                assertTagError({ _ = try writer().commit(misled, backup: copy) }) {
                    if case .verificationFailed(let what) = $0 { what.contains("audio") } else { false }
                }
                XCTAssertEqual(try bytes(url), original)
            }
        }
    }

    // MARK: - The audio's bytes

    func testAWriteProvesTheAudioByItsBytesWhereTheContainerKeepsThemApart() throws {
        for format in Format.allCases {
            let url = try make(format, "proof-\(format.rawValue)")
            let audio = try samples(url)
            let before = AudioRegions.digest(url.path, container: format.container)
            let result = try writer().write(url.path, container: format.container, values: [.genre: ["Rock"], .mood: ["Calm"]])
            XCTAssertEqual(try samples(url), audio, format.rawValue)
            XCTAssertNotNil(before, format.rawValue)
            XCTAssertEqual(AudioRegions.digest(url.path, container: format.container), before, format.rawValue)
            XCTAssertEqual(result.audioProof, .bytes, format.rawValue)
        }
    }

    /// The offset and length of each Ogg page of `data`.
    private func oggPages(_ data: Data) -> [(offset: Int, length: Int)] {
        var pages: [(Int, Int)] = []
        var offset = 0
        let b = [UInt8](data)
        while offset + 27 <= b.count, b[offset..<(offset + 4)].elementsEqual("OggS".utf8) {
            let segments = Int(b[offset + 26])
            let length = 27 + segments + b[(offset + 27)..<(offset + 27 + segments)].reduce(0) { $0 + Int($1) }
            pages.append((offset, length))
            offset += length
        }
        return pages
    }

    /// `data` with `change` applied to the page at `index` and the page's checksum made right again.
    private func editPage(_ data: Data, _ index: Int, _ change: (inout [UInt8], Int) -> Void) -> Data {
        var b = [UInt8](data)
        let page = oggPages(data)[index]
        change(&b, page.offset)
        let crc = OggPageScan.crc(b[page.offset..<(page.offset + page.length)])
        for k in 0..<4 { b[page.offset + 22 + k] = UInt8((crc >> (8 * UInt32(k))) & 0xFF) }
        return Data(b)
    }

    func testTheOggDigestLeavesOutTheCommentAndThePageNumbersAndNothingElse() throws {
        for format in [Format.ogg, .opus] {
            let url = try make(format, "pages")
            let name = format.rawValue
            func digest() -> String? { AudioRegions.digest(url.path, container: format.container) }
            let plain = try XCTUnwrap(digest(), name)
            let original = try bytes(url), pageCount = oggPages(original).count
            // A comment of 70,000 bytes spans pages of its own: every audio page is renumbered.
            let audio = try samples(url)
            let result = try writer().write(url.path, container: format.container, values: [.genre: [String(repeating: "G", count: 70_000)]])
            XCTAssertEqual(result.audioProof, .bytes, name)
            XCTAssertGreaterThanOrEqual(oggPages(try bytes(url)).count, pageCount + 1, "\(name): the comment took pages of its own")
            XCTAssertEqual(digest(), plain, name)
            XCTAssertEqual(try samples(url), audio, name)

            // Both encoders put the identification header on page 0 and the comment (and Vorbis's
            // setup) header on page 1; the audio starts on page 2.
            let firstAudio = 2, last = pageCount - 1, lastLength = oggPages(original)[last].length
            let changes: [(what: String, page: Int, change: (inout [UInt8], Int) -> Void)] = [
                ("an audio byte", last, { b, at in b[at + lastLength - 1] ^= 0x01 }),
                ("the last granule position", last, { b, at in b[at + 6] ^= 0x01 }),
                ("the identification header", 0, { b, at in b[at + 28 + 12] ^= 0x01 }),
                ("a page number", firstAudio, { b, at in b[at + 18] ^= 0x01 }),
            ]
            for change in changes {
                let edited = editPage(original, change.page, change.change)
                try edited.write(to: url)
                let now = digest()
                if change.what == "a page number" {
                    XCTAssertNil(now, "\(name): \(change.what): the pages no longer follow each other")
                } else {
                    XCTAssertNotNil(now, "\(name): \(change.what)")
                    XCTAssertNotEqual(now, plain, "\(name): \(change.what)")
                }
            }
            // An audio byte changed without its checksum: the page is not whole.
            var broken = original
            broken[oggPages(original)[last].offset + 40] ^= 0x01
            try broken.write(to: url)
            XCTAssertNil(digest(), "\(name): a page whose checksum is wrong")
            // Bytes after the end, or a comment header the decoders would refuse: no digest.
            try (original + Data(repeating: 0, count: 10)).write(to: url)
            XCTAssertNil(digest(), "\(name): bytes after the end-of-stream page")
            try original.write(to: url)
            XCTAssertEqual(digest(), plain, name)
        }
    }

    /// Every Ogg Vorbis and Opus file under the folders in `GENRED_OGG_CORPUS` (colon-separated),
    /// copied and tagged: each has an audio digest, keeps it through the write, and decodes to the
    /// same samples. For checking real collections by hand.
    func testEveryOggFileOfACorpusIsProvedByItsPages() throws {
        guard let folders = ProcessInfo.processInfo.environment["GENRED_OGG_CORPUS"] else {
            throw XCTSkip("set GENRED_OGG_CORPUS to folders of Ogg Vorbis and Opus files")
        }
        var checked = 0, withoutDigest: [String] = []
        for folder in folders.split(separator: ":") {
            let walker = FileManager.default.enumerator(atPath: String(folder))
            while let name = walker?.nextObject() as? String {
                let container: AudioContainer
                if name.hasSuffix(".opus") { container = .opus } else if name.hasSuffix(".ogg") { container = .oggVorbis } else { continue }
                let copy = directory.appendingPathComponent("corpus-\(checked).\(name.hasSuffix(".opus") ? "opus" : "ogg")")
                try FileManager.default.copyItem(at: URL(fileURLWithPath: String(folder)).appendingPathComponent(name), to: copy)
                defer { try? FileManager.default.removeItem(at: copy) }
                checked += 1
                guard let before = AudioRegions.digest(copy.path, container: container) else {
                    withoutDigest.append(name)
                    continue
                }
                let audio = try samples(copy)
                let result = try writer().write(copy.path, container: container, values: [.genre: ["Corpus \(checked)"]])
                XCTAssertEqual(result.audioProof, .bytes, name)
                XCTAssertEqual(AudioRegions.digest(copy.path, container: container), before, name)
                XCTAssertEqual(try samples(copy), audio, name)
            }
        }
        print("Ogg corpus: \(checked) files, \(withoutDigest.count) without a digest: \(withoutDigest.prefix(10))")
        XCTAssertGreaterThan(checked, 0)
    }

    func testACommentHeaderIsCheckedAsTheDecodersReadIt() {
        func packet(_ container: AudioContainer, vendor: Int, comments: [Int], framing: UInt8? = 1, claimed: Int? = nil,
                    vendorClaimed: Int? = nil) -> [UInt8] {
            func le(_ n: Int) -> [UInt8] { (0..<4).map { UInt8((n >> (8 * $0)) & 0xFF) } }
            var p = container == .oggVorbis ? [3] + Array("vorbis".utf8) : Array("OpusTags".utf8)
            p += le(vendorClaimed ?? vendor) + [UInt8](repeating: 0x76, count: vendor) + le(claimed ?? comments.count)
            for c in comments { p += le(c) + [UInt8](repeating: 0x63, count: c) }
            if let framing { p.append(framing) }
            return p
        }
        XCTAssertTrue(AudioRegions.commentIsWellFormed(packet(.oggVorbis, vendor: 5, comments: [3, 0, 10]), container: .oggVorbis))
        XCTAssertFalse(AudioRegions.commentIsWellFormed(packet(.oggVorbis, vendor: 5, comments: [3], framing: 0), container: .oggVorbis),
                       "Vorbis needs its framing bit")
        XCTAssertFalse(AudioRegions.commentIsWellFormed(packet(.oggVorbis, vendor: 5, comments: [3], framing: nil), container: .oggVorbis))
        XCTAssertFalse(AudioRegions.commentIsWellFormed(packet(.oggVorbis, vendor: 5, comments: [3], claimed: 2), container: .oggVorbis),
                       "more comments counted than the packet holds")
        XCTAssertTrue(AudioRegions.commentIsWellFormed(packet(.opus, vendor: 8, comments: [4], framing: nil), container: .opus))
        XCTAssertFalse(AudioRegions.commentIsWellFormed(Array(packet(.opus, vendor: 8, comments: [40], framing: nil).dropLast(1)), container: .opus),
                       "a comment that runs past the packet")
        XCTAssertFalse(AudioRegions.commentIsWellFormed(packet(.opus, vendor: 8, comments: [], vendorClaimed: 0xFFFF_FFFF), container: .opus))
        XCTAssertFalse(AudioRegions.commentIsWellFormed(packet(.oggVorbis, vendor: 2, comments: []), container: .opus), "the other format's signature")
    }

    /// Flips one byte `back` bytes before the end of the file.
    private func flip(_ url: URL, back: Int) throws {
        var data = try bytes(url)
        data[data.count - back] ^= 0x01
        try data.write(to: url)
    }

    func testTheAudioBytesLeaveOutTheTagsAndNothingElse() throws {
        func digest(_ url: URL, _ format: Format) -> String? { AudioRegions.digest(url.path, container: format.container) }

        // MP3: ID3v2 before, APEv2 and ID3v1 after the frames.
        let mp3 = try make(.mp3, "regions")
        let plain = try XCTUnwrap(digest(mp3, .mp3))
        try TagInspector.edit(mp3, "t = ID3(); t.add(TIT2(encoding=3, text='A title')); t.save(path)")
        try TagInspector.edit(mp3, "from mutagen.apev2 import APEv2; a = APEv2(); a['Title'] = 'ape'; a.save(path)")
        try TagInspector.edit(mp3, "t = ID3(path); t.save(path, v1=2)")
        let tagged = try bytes(mp3)
        XCTAssertEqual(String(decoding: tagged.suffix(128).prefix(3), as: UTF8.self), "TAG")
        XCTAssertEqual(digest(mp3, .mp3), plain, "tags before and after the frames are left out")
        try flip(mp3, back: 1200)
        XCTAssertNotEqual(digest(mp3, .mp3), plain, "a byte of the last frame counts")

        // FLAC: a changed comment is left out; STREAMINFO and the frames count.
        let flac = try make(.flac, "regions")
        let flacPlain = try XCTUnwrap(digest(flac, .flac))
        try TagInspector.edit(flac, "f = FLAC(path); f['TITLE'] = 'T' * 5000; f.save()")
        XCTAssertEqual(digest(flac, .flac), flacPlain)
        var data = try bytes(flac)
        data[8 + 10] ^= 0x01   // inside STREAMINFO (after "fLaC" and its 4-byte header)
        try data.write(to: flac)
        XCTAssertNotEqual(digest(flac, .flac), flacPlain)

        // WAV: a LIST chunk after the data is left out; the samples count.
        let wav = try make(.wav, "regions")
        let wavPlain = try XCTUnwrap(digest(wav, .wav))
        data = try bytes(wav)
        data.append(contentsOf: Array("LIST".utf8) + [8, 0, 0, 0] + Array("INFOxxxx".utf8))
        data.replaceSubrange(4..<8, with: withUnsafeBytes(of: UInt32(data.count - 8).littleEndian) { Array($0) })
        try data.write(to: wav)
        XCTAssertEqual(digest(wav, .wav), wavPlain)
        try flip(wav, back: 16 + 100)
        XCTAssertNotEqual(digest(wav, .wav), wavPlain)

        // AIFF: the sound data counts.
        let aiff = try make(.aiff, "regions")
        let aiffPlain = try XCTUnwrap(digest(aiff, .aiff))
        try flip(aiff, back: 100)
        XCTAssertNotEqual(digest(aiff, .aiff), aiffPlain)

        // Not a FLAC file after all, and a chunk that runs past the end: no digest, so the writer decodes.
        XCTAssertNil(digest(mp3, .flac))
        data = try bytes(try make(.wav, "short"))
        data.replaceSubrange(16..<20, with: [0xFF, 0xFF, 0, 0])   // the fmt chunk claims 65535 bytes
        let broken = directory.appendingPathComponent("broken.wav")
        try data.prefix(2000).write(to: broken)
        XCTAssertNil(digest(broken, .wav))
    }

    // MARK: - Undo

    func testVerificationFailureRestoresTheOriginalBytes() throws {
        let url = try make(.flac)
        try TagInspector.edit(url, "f = FLAC(path); f['TITLE'] = 'T'; f.save()")
        let original = try bytes(url)
        let node = try inode(url)
        // Damage the audio after the save: overwrite bytes near the end of the file.
        let damaging = writer { path in
            guard let handle = FileHandle(forUpdatingAtPath: path) else { return }
            let end = handle.seekToEndOfFile()
            handle.seek(toFileOffset: end - 2000)
            handle.write(Data(repeating: 0x5A, count: 1000))
            handle.closeFile()
        }
        assertTagError({ _ = try damaging.write(url.path, container: .flac, values: [.genre: ["Rock"]]) }) {
            if case .verificationFailed(let what) = $0 { what.contains("audio") } else { false }
        }
        XCTAssertEqual(try bytes(url), original)
        XCTAssertEqual(try inode(url), node)
        XCTAssertTrue(backupFiles().isEmpty)
    }

    func testChangedUnwrittenFieldIsNamedAndUndone() throws {
        let url = try make(.mp3)
        try TagInspector.edit(url, "t = ID3(); t.add(TIT2(encoding=3, text='Title')); t.save(path)")
        let original = try bytes(url)
        let damaging = writer { path in
            try? TagInspector.edit(URL(fileURLWithPath: path), "t = ID3(path); t.add(TIT2(encoding=3, text='Changed')); t.save()")
        }
        assertTagError({ _ = try damaging.write(url.path, container: .mp3, values: [.genre: ["Rock"]]) }) {
            if case .verificationFailed(let what) = $0 { what.contains("TITLE") } else { false }
        }
        XCTAssertEqual(try bytes(url), original)
    }
}
