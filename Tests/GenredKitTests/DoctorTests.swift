import Foundation
import GRDB
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

/// `genred doctor`: every problem it knows, made on purpose, is found and comes with a fix; a
/// sound set-up has none.
final class DoctorTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try Fixtures.temporaryDirectory()
    }

    /// A machine with room to spare, unless a test says otherwise.
    private func system(watches: Int? = 1_000_000, instances: Int? = 128, inUse: Int? = 1, free: Int64? = 100 << 30,
                        writable: @escaping @Sendable (String) -> Bool = { _ in true },
                        unit: (enabled: String, active: String)? = nil, unitProperties: [String: String] = [:],
                        nativeReduced: Bool? = nil) -> Doctor.System {
        let unitState = unit.map { (enabled: $0.enabled, active: $0.active) }
        var system = Doctor.System(inotify: InotifyLimits(maxUserWatches: watches, maxUserInstances: instances, maxQueuedEvents: 16384),
                                   inotifyInstancesInUse: { inUse }, freeBytes: { _ in free }, isWritable: writable,
                                   unitState: { _ in unitState }, unitProperty: { _, name in unitProperties[name] })
        if let nativeReduced {
            system.precisionKernel = { _ in (nativeReduced, nativeReduced ? "oneDNN on AMX, kernel brg:avx512_core_amx" : "oneDNN on AVX2: no matmul for this shape") }
        }
        return system
    }

    /// A config naming `roots` and a database beside it, plus `extra` lines.
    private func config(roots: [String], database: String? = nil, extra: String = "") throws -> String {
        let db = database ?? dir.appendingPathComponent("library.sqlite").path
        let text = """
            [library]
            roots = [\(roots.map { "\"\($0)\"" }.joined(separator: ", "))]
            database = "\(db)"
            \(extra)
            """
        let path = dir.appendingPathComponent("genred.toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A music folder with `folders` sub-folders, one FLAC-named file in each.
    private func music(folders: Int = 2) throws -> String {
        let root = dir.appendingPathComponent("music")
        for i in 0..<folders {
            let sub = root.appendingPathComponent("album \(i)")
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: sub.appendingPathComponent("track.flac"))
        }
        return root.path
    }

    private func problems(_ checks: [Doctor.Check], area: String) -> [Doctor.Check] {
        checks.filter { $0.area == area && $0.status == .problem }
    }

    func testASoundSetUpHasNothingToFix() throws {
        let root = try music()
        let path = try config(roots: [root])
        _ = try LibraryStore(path: dir.appendingPathComponent("library.sqlite").path)
        let checks = Doctor(configPath: path, system: system(unit: ("enabled", "active"))).run()
        XCTAssertEqual(checks.filter { $0.status == .problem }, [])
        let newest = try XCTUnwrap(SQLiteEngine.migrator.migrations.last)
        XCTAssertEqual(newest, "v7-analysis-precision")
        XCTAssertTrue(checks.contains { $0.area == "database" && $0.detail.contains("integrity ok, schema \(newest)") }, "\(checks)")
        XCTAssertTrue(checks.contains { $0.area == "roots" && $0.detail.contains("3 folders, 2 files") }, "\(checks)")
        XCTAssertTrue(checks.contains { $0.area == "model" && $0.detail.contains("msd-musicnn") && $0.detail.contains("verified") })
        XCTAssertTrue(checks.contains { $0.area == "blas" && !$0.detail.isEmpty })
        XCTAssertTrue(checks.contains { $0.area == "service" && $0.status == .ok })
    }

    func testEveryUnknownSettingIsNamed() throws {
        let path = try config(roots: [try music()], extra: "[tags]\nmax_genre = 2\n[watch]\nsettle = 3\n")
        let found = problems(Doctor(configPath: path, system: system()).run(), area: "config")
        XCTAssertEqual(found.count, 2, "\(found)")
        XCTAssertTrue(found[0].detail.contains("tags.max_genre") && found[0].detail.contains("known here"), found[0].detail)
        XCTAssertTrue(found[1].detail.contains("watch.settle"), found[1].detail)
        XCTAssertNotNil(found[0].fix)
    }

    func testAConfigThatDoesNotParseIsAProblem() throws {
        let path = dir.appendingPathComponent("bad.toml").path
        try "[library\nroots = 3".write(toFile: path, atomically: true, encoding: .utf8)
        let found = problems(Doctor(configPath: path, system: system()).run(), area: "config")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].detail.contains(path), found[0].detail)
    }

    func testMoreFoldersThanInotifyWatchesIsAProblemWithTheSysctlLine() throws {
        let path = try config(roots: [try music(folders: 5)])
        let found = problems(Doctor(configPath: path, system: system(watches: 4)).run(), area: "inotify")
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertTrue(found[0].detail.contains("6 folders") && found[0].detail.contains("max_user_watches = 4"), found[0].detail)
        XCTAssertTrue(found[0].fix!.contains("sysctl fs.inotify.max_user_watches=524288"), found[0].fix!)
        XCTAssertTrue(found[0].fix!.contains("/etc/sysctl.d/"), found[0].fix!)
        // Close to the limit is a problem too: other programs of the user share it.
        XCTAssertEqual(problems(Doctor(configPath: path, system: system(watches: 6)).run(), area: "inotify").count, 1)
        XCTAssertEqual(problems(Doctor(configPath: path, system: system(watches: 100)).run(), area: "inotify").count, 0)
    }

    func testNoInotifyInstanceLeftIsAProblem() throws {
        let path = try config(roots: [try music()])
        let found = problems(Doctor(configPath: path, system: system(instances: 128, inUse: 128)).run(), area: "inotify")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].fix!.contains("fs.inotify.max_user_instances="), found[0].fix!)
    }

    func testRootsThatAreMissingNotFoldersOrAbsentAreProblems() throws {
        let file = dir.appendingPathComponent("song.flac").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let path = try config(roots: [dir.appendingPathComponent("unplugged").path, file])
        let found = problems(Doctor(configPath: path, system: system()).run(), area: "roots")
        XCTAssertEqual(found.map(\.detail), ["\(dir.appendingPathComponent("unplugged").path): does not exist", "\(file): not a folder"])
        XCTAssertTrue(found.allSatisfy { $0.fix != nil })

        let none = try config(roots: [])
        let empty = problems(Doctor(configPath: none, system: system()).run(), area: "roots")
        XCTAssertEqual(empty.count, 1)
        XCTAssertTrue(empty[0].fix!.contains("[library] roots"))
    }

    func testFilesTheUserCannotWriteAreAProblem() throws {
        let path = try config(roots: [try music()])
        let found = problems(Doctor(configPath: path, system: system(writable: { !$0.hasSuffix(".flac") })).run(), area: "roots")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].detail.contains("2 file(s) or folder(s) not writable"), found[0].detail)
        XCTAssertTrue(found[0].fix!.contains("ReadWritePaths="))
    }

    func testADatabaseFromANewerGenredIsAProblemAndStaysUnchanged() throws {
        let db = dir.appendingPathComponent("library.sqlite").path
        do {
            let store = try LibraryStore(path: db)
            try (store.engine as! SQLiteEngine).pool.write {
                try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999-from-the-future')")
            }
            _ = try (store.engine as! SQLiteEngine).pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let path = try config(roots: [try music()], database: db)
        let found = problems(Doctor(configPath: path, system: system()).run(), area: "database")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].detail.contains("newer version of genred"), found[0].detail)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before)
        // Nor does a command that writes change it.
        XCTAssertThrowsError(try LibraryStore(path: db))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before)
    }

    func testADamagedDatabaseIsAProblem() throws {
        let db = dir.appendingPathComponent("library.sqlite").path
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: db))
        let path = try config(roots: [try music()], database: db)
        let found = problems(Doctor(configPath: path, system: system()).run(), area: "database")
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertNotNil(found[0].fix)
    }

    func testLittleFreeSpaceIsAProblem() throws {
        let path = try config(roots: [try music()])
        let found = problems(Doctor(configPath: path, system: system(free: 200 << 20)).run(), area: "disk")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].detail.contains("200 MiB free"), found[0].detail)
    }

    func testAReducedPrecisionTheUnitKeepsFromRunningIsAProblem() throws {
        let path = try config(roots: [try music()], extra: "[analysis]\nprecision = \"bf16\"\n")
        _ = try LibraryStore(path: dir.appendingPathComponent("library.sqlite").path)
        // Native here, and the unit forbids executable memory: oneDNN could not make its kernels there.
        let sandboxed = Doctor(configPath: path, system: system(unit: ("enabled", "active"), unitProperties: ["MemoryDenyWriteExecute": "yes"],
                                                                nativeReduced: true)).run()
        let found = problems(sandboxed, area: "precision")
        XCTAssertEqual(found.count, 1, "\(sandboxed)")
        XCTAssertTrue(found.first?.detail.contains("genred.service has MemoryDenyWriteExecute=yes") == true, "\(found)")
        XCTAssertTrue(found.first?.fix?.contains("MemoryDenyWriteExecute=no") == true, "\(found)")
        // Allowed by the unit: fine, with the kernel named.
        let allowed = Doctor(configPath: path, system: system(unit: ("enabled", "active"), unitProperties: ["MemoryDenyWriteExecute": "no"],
                                                              nativeReduced: true)).run()
        XCTAssertTrue(allowed.contains { $0.area == "precision" && $0.status == .ok && $0.detail.contains("brg:avx512_core_amx") }, "\(allowed)")
        // No native kernel: fp32 runs whatever the unit says, which is worth a note, not a fix.
        let plain = Doctor(configPath: path, system: system(unit: ("enabled", "active"), unitProperties: ["MemoryDenyWriteExecute": "yes"],
                                                            nativeReduced: false)).run()
        XCTAssertEqual(problems(plain, area: "precision"), [])
        XCTAssertTrue(plain.contains { $0.area == "precision" && $0.status == .note && $0.detail.contains("analysis runs fp32") }, "\(plain)")
        // fp32 (the default) is not checked at all.
        let fp32 = Doctor(configPath: try config(roots: [try music()]), system: system(unitProperties: ["MemoryDenyWriteExecute": "yes"], nativeReduced: true)).run()
        XCTAssertFalse(fp32.contains { $0.area == "precision" }, "\(fp32)")
    }

    func testAFailedUnitIsAProblem() throws {
        let path = try config(roots: [try music()])
        let found = problems(Doctor(configPath: path, system: system(unit: ("enabled", "failed"))).run(), area: "service")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].fix!.contains("journalctl -u genred.service"))
        let absent = Doctor(configPath: path, system: system(unit: nil)).run().filter { $0.area == "service" }
        XCTAssertEqual(absent.map(\.status), [.note])
    }

    func testADamagedModelInUseIsAProblem() throws {
        let bundle = dir.appendingPathComponent("damaged-bundle")
        try FileManager.default.copyItem(at: AnalyzeRepository.models.appendingPathComponent("msd-musicnn"), to: bundle)
        let weights = bundle.appendingPathComponent("weights.safetensors")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: weights)
        let path = try config(roots: [try music()], extra: "[analysis]\nmodel = \"\(bundle.path)\"\n")
        let found = problems(Doctor(configPath: path, system: system()).run(), area: "model")
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertTrue(found[0].detail.contains("sha256"), found[0].detail)
    }
}

/// The repository's own folders, found from this file's path.
enum AnalyzeRepository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = root.appendingPathComponent("models")
}
