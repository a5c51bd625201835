import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// A real `genred serve` on a free loopback port, and a real HTTP client for it.
final class ServeProcess {
    let process = Process()
    let baseURL: URL
    private let output = Pipe()

    /// Starts the server and waits for its `listening on http://...` line.
    init(_ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = AnalyzeCommandTests.binary
        process.arguments = ["serve"] + arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        var seen = Data()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
            let text = String(decoding: seen, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
               let url = line.split(separator: " ").dropFirst(2).first.flatMap({ URL(string: String($0)) }) {
                baseURL = url
                return
            }
        }
        process.terminate()
        throw TestFailure("genred serve did not start: \(String(decoding: seen, as: UTF8.self))")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        /// The body as an object. Foundation rejects the lone surrogates (`\udcNN`) that carry
        /// the bytes of names that are not UTF-8, so they are read as the text `%udcNN` here.
        func json() throws -> [String: Any] {
            let readable = Data(text.replacingOccurrences(of: "\\udc", with: "%udc").utf8)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: readable) as? [String: Any], "not a JSON object: \(text)")
        }
        func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }
    }

    /// GET `path` (with its query) and wait for the whole reply.
    func get(_ path: String, headers: [String: String] = [:]) throws -> Reply {
        var request = URLRequest(url: URL(string: path, relativeTo: baseURL)!)
        request.cachePolicy = .reloadIgnoringLocalCacheData
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Reply, Error> = .failure(URLError(.timedOut))
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                result = .failure(error)
            } else if let http = response as? HTTPURLResponse {
                var fields: [String: String] = [:]
                for (k, v) in http.allHeaderFields { fields["\(k)"] = "\(v)" }
                result = .success(Reply(status: http.statusCode, headers: fields, body: data ?? Data()))
            }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + 120) == .timedOut { task.cancel() }
        return try result.get()
    }
}

/// A test's set-up that did not happen: a failure, never a skip, so that a regression cannot
/// pass as "skipped".
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
