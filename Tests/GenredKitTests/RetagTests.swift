import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices
import GenredTestSupport

/// `retag` over a small library of real files, checked with an independent reader (mutagen).
final class RetagTests: XCTestCase {
    private var root: URL!
    private var state: URL!

    override func setUpWithError() throws {
        root = try TestAudio.makeTemporaryDirectory("genred-retag-lib")
        state = try TestAudio.makeTemporaryDirectory("genred-retag-state")
    }

    override func tearDownWithError() throws {
        for url in [root, state].compactMap({ $0 }) {
            _ = try? Process.run(URL(fileURLWithPath: "/bin/chmod"), arguments: ["-R", "u+w", url.path]).waitUntilExit()
            try? FileManager.default.removeItem(at: url)
        }
    }

    /// A file of the bundled music-like clip `clip`, encoded by `tool` into `name` under the library.
    @discardableResult
    private func add(_ name: String, clip: String = "groove") throws -> URL {
        let url = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let source = Fixtures.audio(clip)
        switch url.pathExtension {
        case "flac": try TestAudio.run("flac", ["--silent", "-f", "-o", url.path, source])
        case "mp3": try TestAudio.run("lame", ["--quiet", "-b", "128", source, url.path])
        case "ogg": try TestAudio.run("oggenc", ["--quiet", "-o", url.path, source])
        case "opus": try TestAudio.run("opusenc", ["--quiet", source, url.path])
        default: try FileManager.default.copyItem(atPath: source, toPath: url.path)
        }
        return url
    }

    private func store() throws -> LibraryStore { try LibraryStore(path: state.appendingPathComponent("library.sqlite").path) }

    private func retag(policy: TagPolicy = .fill, dryRun: Bool = false, threshold: Float? = nil,
                       store given: LibraryStore? = nil) throws -> RetagSummary {
        var options = RetagOptions(backupDirectory: state.appendingPathComponent("backup"))
        options.settings.policy = policy
        if let threshold { options.settings.genreThreshold = threshold }
        options.dryRun = dryRun
        options.jobs = 2
        let retagger = try Retagger(store: given ?? store(), bundle: Fixtures.bundle("msd-musicnn"), options: options)
        return try retagger.run(roots: [root.path]) { _ in }
    }

    private func checksums() throws -> [String: String] {
        var sums: [String: String] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: root.path)! {
            let url = root.appendingPathComponent(path)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else { continue }
            sums[path] = SHA256.hex(try Data(contentsOf: url))
        }
        return sums
    }

    /// The genre the MSD model gives the bundled groove clip (checked against the reference in GoldenTests).
    private let grooveGenre = "Electronic"

    func testFillWritesEmptyFieldsAndLeavesHandSetGenresAlone() throws {
        let flac = try add("A/groove.flac")
        let ogg = try add("A/handset.ogg")
        try TestAudio.run("vorbiscomment", ["-w", "-t", "GENRE=Trip-Hop", "-t", "TITLE=Mine", ogg.path])
        let opus = try add("B/groove.opus")
        let summary = try retag()
        XCTAssertEqual(summary.files, 3)
        XCTAssertEqual(summary.analysed, 3)
        XCTAssertEqual(summary.tagged, 2)
        XCTAssertEqual(summary.leftAlone, 1)
        XCTAssertEqual(summary.failed, 0, "\(summary.failures)")

        let flacTags = try TagInspector.read(flac)
        XCTAssertEqual(flacTags.comments("GENRE").first, grooveGenre)
        XCTAssertGreaterThanOrEqual(flacTags.comments("GENRE").count, 1)
        XCTAssertEqual(try TagInspector.read(opus).comments("GENRE").first, grooveGenre)
        let handset = try TagInspector.read(ogg)
        XCTAssertEqual(handset.comments("GENRE"), ["Trip-Hop"])
        XCTAssertEqual(handset.comments("TITLE"), ["Mine"])

        // The journal has one entry per write, with the previous (empty) values.
        let entries = try store().journalEntries(run: summary.runID)
        XCTAssertEqual(Set(entries.map(\.path)), [flac.path, opus.path])
        XCTAssertTrue(entries.allSatisfy { $0.previousValues["GENRE"] == [] })
    }

    func testEachAnalysedFileReportsWhereItsTimeWent() throws {
        // At 44.1 kHz, so the resampler has work; as MP3, so the write proves the audio by its bytes.
        let wav = root.appendingPathComponent("44k.wav")
        try TestAudio.run("sox", [Fixtures.audio("groove"), "-r", "44100", wav.path])
        try TestAudio.run("lame", ["--quiet", "-b", "128", wav.path, root.appendingPathComponent("groove44.mp3").path])
        try FileManager.default.removeItem(at: wav)
        var options = RetagOptions(backupDirectory: state.appendingPathComponent("backup"))
        options.jobs = 1
        var reports: [FileReport] = []
        let summary = try Retagger(store: store(), bundle: Fixtures.bundle("msd-musicnn"), options: options)
            .run(roots: [root.path]) { if case .finished(let r) = $0 { reports.append(r) } }
        XCTAssertEqual(summary.tagged, 1, "\(summary.failures)")
        let t = try XCTUnwrap(reports.first).timings
        for (stage, seconds) in [("decode", t.decode), ("resample", t.resample), ("mel", t.features),
                                 ("inference", t.inference), ("store", t.store), ("tag write", t.tagWrite)] {
            XCTAssertGreaterThan(seconds, 0, stage)
        }
        XCTAssertEqual(t.total, t.decode + t.resample + t.features + t.inference + t.store + t.tagWrite, accuracy: 1e-12)

        // A second run analyses nothing and reports no time.
        reports.removeAll()
        _ = try Retagger(store: store(), bundle: Fixtures.bundle("msd-musicnn"), options: options)
            .run(roots: [root.path]) { if case .finished(let r) = $0 { reports.append(r) } }
        XCTAssertEqual(reports.map(\.timings.total).reduce(0, +), 0)
    }

    func testSecondRunOverAnUnchangedFolderAnalysesAndWritesNothing() throws {
        try add("x/one.flac")
        try add("x/two.mp3", clip: "ballad")
        XCTAssertEqual(try retag().analysed, 2)
        let before = try checksums()
        let second = try retag()
        XCTAssertEqual(second.analysed, 0)
        XCTAssertEqual(second.upToDate, 2)
        XCTAssertEqual(second.tagged, 0)
        XCTAssertEqual(try checksums(), before)
    }

    func testRetaggedOrMovedFileKeepsItsAnalysis() throws {
        let flac = try add("x/one.flac")
        XCTAssertEqual(try retag().analysed, 1)
        // Someone edits an unrelated tag: the audio fingerprint still matches.
        try TestAudio.run("metaflac", ["--set-tag=COMMENT=hello", flac.path])
        let edited = try retag()
        XCTAssertEqual(edited.analysed, 0)
        XCTAssertEqual(edited.failed, 0)
        // And the file is renamed into another folder.
        let moved = root.appendingPathComponent("y/renamed.flac")
        try FileManager.default.createDirectory(at: moved.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: flac, to: moved)
        let after = try retag()
        XCTAssertEqual(after.analysed, 0)
        XCTAssertEqual(after.moved, 1)
        let s = try store()
        XCTAssertNil(try s.track(path: flac.path))
        let track = try XCTUnwrap(s.track(path: moved.path))
        XCTAssertNotNil(try s.analysis(trackID: track.id!, model: "msd-musicnn"))
    }

    func testChangedSettingsRedecideTagsFromStoredScores() throws {
        let flac = try add("x/one.flac")
        XCTAssertEqual(try retag(threshold: 0.99).tagged, 0, "nothing scores that high")
        XCTAssertTrue(try TagInspector.read(flac).comments("GENRE").isEmpty)
        let again = try retag(threshold: 0.2)
        XCTAssertEqual(again.analysed, 0)
        XCTAssertEqual(again.tagged, 1)
        XCTAssertEqual(try TagInspector.read(flac).comments("GENRE").first, grooveGenre)
    }

    func testMergeAddsAndOverwriteReplaces() throws {
        let merged = try add("m/merge.flac")
        try TestAudio.run("metaflac", ["--set-tag=GENRE=Krautrock", merged.path])
        XCTAssertEqual(try retag(policy: .merge).tagged, 1)
        XCTAssertEqual(try TagInspector.read(merged).comments("GENRE").prefix(2), ["Krautrock", grooveGenre])

        try TestAudio.run("metaflac", ["--remove-tag=GENRE", "--set-tag=GENRE=Krautrock", merged.path])
        XCTAssertEqual(try retag(policy: .overwrite).tagged, 1)
        let genres = try TagInspector.read(merged).comments("GENRE")
        XCTAssertEqual(genres.first, grooveGenre)
        XCTAssertFalse(genres.contains("Krautrock"))
    }

    func testDryRunChangesNoFileByteAndNoJournal() throws {
        try add("d/a.flac")
        try add("d/b.mp3")
        try add("d/c.wav", clip: "rock")
        let before = try checksums()
        let summary = try retag(dryRun: true)
        XCTAssertEqual(summary.tagged, 3, "three files would be tagged")
        XCTAssertNil(summary.runID)
        XCTAssertEqual(try checksums(), before)
        XCTAssertTrue(try store().journalEntries(includeUndone: true).isEmpty)
    }

    func testUndoRestoresThePreviousValuesExactly() throws {
        let mp3 = try add("u/handset.mp3")
        try TagInspector.edit(mp3, "t = ID3(); t.add(TIT2(encoding=3, text='Song')); t.add(TCON(encoding=3, text=['Jazz', 'Swing'])); t.add(TXXX(encoding=3, desc='MyField', text='keep')); t.save(path, v2_version=4)")
        let flac = try add("u/empty.flac")
        let framesBefore = try TagInspector.read(mp3).frames
        let flacBefore = try TagInspector.read(flac)

        let summary = try retag(policy: .overwrite)
        XCTAssertEqual(summary.tagged, 2)
        XCTAssertEqual(try TagInspector.read(mp3).text("TCON")?.first, grooveGenre)

        let s = try store()
        let writer = TagWriter(backupDirectory: state.appendingPathComponent("backup"))
        let outcomes = try Undoer(store: s, writer: writer).undo(.run(summary.runID!), dryRun: false) { _ in }
        XCTAssertEqual(outcomes.count, 2)
        XCTAssertTrue(outcomes.allSatisfy { $0.error == nil && $0.skipped == nil }, "\(outcomes)")
        XCTAssertEqual(try TagInspector.read(mp3).frames, framesBefore, "every frame as before, byte for byte")
        let flacAfter = try TagInspector.read(flac)
        XCTAssertEqual(flacAfter.comments("GENRE"), flacBefore.comments("GENRE"))
        XCTAssertEqual(flacAfter.comments("MOOD"), flacBefore.comments("MOOD"))
        XCTAssertTrue(try s.journalEntries(run: summary.runID).isEmpty, "entries are marked undone")
    }

    func testUndoLeavesAFieldEditedSinceAlone() throws {
        let flac = try add("u/a.flac")
        let summary = try retag()
        try TestAudio.run("metaflac", ["--remove-tag=GENRE", "--set-tag=GENRE=Chiptune", flac.path])
        let writer = TagWriter(backupDirectory: state.appendingPathComponent("backup"))
        let outcomes = try Undoer(store: store(), writer: writer).undo(.run(summary.runID!), dryRun: false) { _ in }
        XCTAssertNotNil(outcomes.first?.skipped)
        XCTAssertEqual(try TagInspector.read(flac).comments("GENRE"), ["Chiptune"])
    }

    func testID3v23StaysV23WithItsCustomFrames() throws {
        let mp3 = try add("v/old.mp3", clip: "groove")
        try TagInspector.edit(mp3, "t = ID3(); t.add(TIT2(encoding=1, text='Old')); t.add(TXXX(encoding=1, desc='Custom', text='x')); t.add(COMM(encoding=1, lang='eng', desc='', text='note')); t.add(APIC(encoding=0, mime='image/png', type=3, desc='', data=b'\\x89PNG fake')); t.add(PRIV(owner='genred.test', data=b'\\x00\\x01')); t.save(path, v2_version=3)")
        let before = try TagInspector.read(mp3)
        XCTAssertEqual(before.id3, "2.3")
        XCTAssertEqual(try retag().tagged, 1)
        let after = try TagInspector.read(mp3)
        XCTAssertEqual(after.id3, "2.3")
        XCTAssertEqual(after.text("TCON")?.count, 1, "v2.3: one joined value")
        XCTAssertTrue(after.text("TCON")?.first?.hasPrefix(grooveGenre) == true)
        for frame in before.frames {
            XCTAssertEqual(after.frames.first { $0.key == frame.key }, frame, "\(frame.key) kept byte for byte")
        }
    }

    func testReadOnlyAndCorruptFilesFailCleanlyAndStayUntouched() throws {
        let readOnly = try add("r/locked.flac")
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: readOnly.path)
        let corrupt = root.appendingPathComponent("r/corrupt.mp3")
        var garbage = Data([0xFF, 0xFB, 0x90, 0x64])
        garbage.append(Data((0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }))
        try garbage.write(to: corrupt)
        let zero = root.appendingPathComponent("r/empty.flac")
        _ = FileManager.default.createFile(atPath: zero.path, contents: Data())
        let fine = try add("r/fine.ogg")
        let before = try checksums()

        let summary = try retag()
        XCTAssertEqual(summary.tagged, 1)
        XCTAssertEqual(Set(summary.failures.map(\.path)), [readOnly.path, corrupt.path, zero.path])
        let reasons = Dictionary(uniqueKeysWithValues: summary.failures.map { ($0.path, $0.reason) })
        XCTAssertTrue(reasons[readOnly.path]!.contains("read-only") || reasons[readOnly.path]!.contains("write"), reasons[readOnly.path]!)
        XCTAssertTrue(reasons[zero.path]!.contains("empty"), reasons[zero.path]!)
        var after = try checksums()
        XCTAssertNotEqual(after.removeValue(forKey: "r/fine.ogg"), before["r/fine.ogg"])
        var expected = before
        expected.removeValue(forKey: "r/fine.ogg")
        XCTAssertEqual(after, expected, "failed files are byte-for-byte unchanged")
        XCTAssertEqual(try TagInspector.read(fine).comments("GENRE").first, grooveGenre)
    }
}
