import Foundation
import XCTest

/// The private PostgreSQL server of the tests (scripts/pg-test-server.sh): each call makes an
/// empty database on it and returns its URL.
enum PostgresServer {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/pg-test-server.sh").path

    static func newDatabase() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = ["newdb"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let problem = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // Not a skip: the PostgreSQL store is tested on every run (make test installs the server).
        guard process.terminationStatus == 0 else { throw Failure(description: "\(script) newdb failed: \(problem)") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }
}
