import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class BundleTests: XCTestCase {
    func testShippedBundlesLoadWithTheirLabels() throws {
        for name in ModelBundle.builtInNames {
            let bundle = try Fixtures.bundle(name)
            XCTAssertEqual(bundle.name, name)
            XCTAssertEqual(bundle.labels.count, 50)
            XCTAssertEqual(bundle.network.parameterCount, 792_079)
            XCTAssertEqual(bundle.network.embeddingSize, 200)
            // Every label belongs to exactly one group.
            let grouped = bundle.manifest.groups.values.flatMap { $0 }
            XCTAssertEqual(grouped.count, 50)
            XCTAssertEqual(Set(grouped), Set(bundle.labels))
        }
        let msd = try Fixtures.bundle("msd-musicnn")
        XCTAssertEqual(msd.manifest.displayNames[msd.labels.firstIndex(of: "rnb")!], "R&B")
        XCTAssertFalse(msd.manifest.labelIndices(inGroup: "genre").isEmpty)
        XCTAssertFalse(msd.manifest.labelIndices(inGroup: "mood").isEmpty)
    }

    func testBundleIsFoundByNameThroughTheSearchPath() throws {
        setenv("GENRED_MODELS", Fixtures.modelsDirectory.path, 1)
        defer { unsetenv("GENRED_MODELS") }
        XCTAssertEqual(try ModelBundle.locate("mtt-musicnn").standardizedFileURL,
                       Fixtures.modelsDirectory.appendingPathComponent("mtt-musicnn").standardizedFileURL)
    }

    func testUnknownBundleNameIsAClearError() {
        XCTAssertThrowsError(try ModelBundle.load("no-such-model")) { error in
            let e = error as! BundleError
            guard case .notFound = e.reason else { return XCTFail("\(e)") }
            XCTAssertTrue(e.description.contains("no-such-model"))
        }
    }

    /// A copy of the MSD bundle in a temporary directory, to damage.
    private func copyOfBundle() throws -> URL {
        let dir = try Fixtures.temporaryDirectory().appendingPathComponent("msd-copy")
        try FileManager.default.copyItem(at: Fixtures.modelsDirectory.appendingPathComponent("msd-musicnn"), to: dir)
        return dir
    }

    func testDamagedWeightsFailTheChecksum() throws {
        let dir = try copyOfBundle()
        let weights = dir.appendingPathComponent("weights.safetensors")
        var data = try Data(contentsOf: weights)
        data[data.count - 10] ^= 0xFF
        try data.write(to: weights)
        XCTAssertThrowsError(try ModelBundle.load(directory: dir)) { error in
            guard case .checksumMismatch = (error as! BundleError).reason else { return XCTFail("\(error)") }
        }
    }

    func testManifestWithMissingKeyNamesIt() throws {
        let dir = try copyOfBundle()
        let url = dir.appendingPathComponent("manifest.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        json.removeValue(forKey: "labels")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        XCTAssertThrowsError(try ModelBundle.load(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("labels"), "\(error)")
        }
    }

    func testManifestLabelCountMustMatchTheNetwork() throws {
        let dir = try copyOfBundle()
        let url = dir.appendingPathComponent("manifest.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        json["labels"] = Array((json["labels"] as! [String]).prefix(49))
        json["display_names"] = Array((json["display_names"] as! [String]).prefix(49))
        json["groups"] = [String: [String]]()
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        XCTAssertThrowsError(try ModelBundle.load(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("49 labels"), "\(error)")
        }
    }

    func testUnsupportedFormatVersionIsRefused() throws {
        let dir = try copyOfBundle()
        let url = dir.appendingPathComponent("manifest.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        json["format_version"] = 7
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        XCTAssertThrowsError(try ModelBundle.load(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("format_version 7"), "\(error)")
        }
    }

    func testSafeTensorsRejectsTruncatedData() throws {
        let data = try Data(contentsOf: Fixtures.modelsDirectory.appendingPathComponent("msd-musicnn/weights.safetensors"))
        XCTAssertThrowsError(try SafeTensors(data: data.prefix(4)))
        XCTAssertThrowsError(try SafeTensors(data: data.prefix(data.count / 2)))
    }

    func testSHA256MatchesKnownVectors() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(SHA256.hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // Fed in uneven pieces, the same digest.
        var hasher = SHA256()
        var offset = 0
        for piece in [1, 63, 64, 65, 1000, 7] + [Int](repeating: 99_800, count: 10) where offset < million.count {
            let end = min(offset + piece, million.count)
            million[offset..<end].withUnsafeBytes { hasher.update($0) }
            offset = end
        }
        million[offset...].withUnsafeBytes { hasher.update($0) }
        XCTAssertEqual(hasher.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
