import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

final class ExampleConfigTests: XCTestCase {
    /// config/genred.toml documents the defaults: it must parse to exactly them.
    func testExampleConfigParsesToTheDefaults() throws {
        let path = Fixtures.modelsDirectory.deletingLastPathComponent().appendingPathComponent("config/genred.toml").path
        var parsed = try Configuration.load(path: path)
        parsed.source = nil
        XCTAssertEqual(parsed, Configuration())
    }
}
