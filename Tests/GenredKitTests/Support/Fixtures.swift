import Foundation
import XCTest
@testable import GenredEngine
@testable import GenredKit
@testable import GenredLibrary
@testable import GenredServices

/// Paths to the committed fixtures and model bundles.
enum Fixtures {
    static let root: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    static func audio(_ name: String) -> String { root.appendingPathComponent("audio/\(name).wav").path }

    static func golden(_ name: String) throws -> SafeTensors {
        try SafeTensors(data: Data(contentsOf: root.appendingPathComponent("golden/\(name).safetensors")))
    }

    /// The repository's `models/` folder.
    static let modelsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models")

    nonisolated(unsafe) private static var cache: [String: ModelBundle] = [:]
    private static let lock = NSLock()

    /// A shipped bundle, loaded once per test run.
    static func bundle(_ name: String) throws -> ModelBundle {
        try lock.withLock {
            if let b = cache[name] { return b }
            let b = try ModelBundle.load(directory: modelsDirectory.appendingPathComponent(name))
            cache[name] = b
            return b
        }
    }

    static func tensor(_ file: SafeTensors, _ name: String, file path: StaticString = #filePath, line: UInt = #line) throws -> SafeTensors.Tensor {
        try XCTUnwrap(file.tensors[name], "fixture lacks tensor \(name)", file: path, line: line)
    }

    /// Log-mel frames of a file through genred's decoder and feature stage.
    static func logMel(_ path: String) throws -> [Float] {
        let mel = LogMelSpectrogram()
        var frames: [Float] = []
        _ = try AudioDecoding.stream(path) { chunk in mel.push(chunk) { frames.append(contentsOf: $0) } }
        mel.finish { frames.append(contentsOf: $0) }
        return frames
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("genred-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
