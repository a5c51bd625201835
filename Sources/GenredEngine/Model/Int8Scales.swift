import Foundation

/// The calibrated steps of int8-static activations: per network product (each Winograd point of each
/// timbral convolution, each banded temporal convolution, each time tap of each mid-end
/// convolution), the largest input value that quantizes without clamping, over 127.
///
/// Made once per model bundle by `genred bench calibrate` from real music and kept beside the
/// weights as `int8-scales.json`, tied to them by the weights' SHA-256 (docs/model-bundle.md).
public struct Int8Scales: Codable, Sendable, Equatable {
    public static let fileName = "int8-scales.json"
    public static let format = "genred-int8-scales"

    public var format = Int8Scales.format
    public var formatVersion = 1
    public var weightsSHA256: String
    /// What the scales were measured on, for people.
    public var calibration: Calibration
    public var winograd: [[Float]]
    public var temporal: [Float]
    public var midend: [[Float]]

    public struct Calibration: Codable, Sendable, Equatable {
        public var files: [String]
        public var windows: Int
        public var statistic: String
    }

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", weightsSHA256 = "weights_sha256", calibration, winograd, temporal, midend
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The scales kept with `bundle`, checked against its weights and its network's shape.
    public static func load(for bundle: ModelBundle) throws(Failure) -> Int8Scales {
        let url = bundle.directory.appendingPathComponent(fileName)
        let scales: Int8Scales
        do {
            scales = try JSONDecoder().decode(Int8Scales.self, from: Data(contentsOf: url))
        } catch let error as DecodingError {
            throw Failure(description: "\(url.path): not a valid int8 scales file (\(error))")
        } catch {
            throw Failure(description: "\(url.path): no int8 scales for this bundle (genred bench calibrate makes them)")
        }
        guard scales.format == format, scales.formatVersion == 1 else {
            throw Failure(description: "\(url.path): format \(scales.format) \(scales.formatVersion) is not \(format) 1")
        }
        guard scales.weightsSHA256 == bundle.manifest.weights.sha256 else {
            throw Failure(description: "\(url.path): made for other weights (SHA-256 \(scales.weightsSHA256.prefix(12))…); calibrate again")
        }
        let n = bundle.network
        let shapeFits = scales.winograd.count == n.timbral.count
            && zip(scales.winograd, n.timbralFast).allSatisfy { $0.count == $1.transform.points }
            && scales.temporal.count == n.temporal.count
            && scales.midend.count == n.midend.count && zip(scales.midend, n.midend).allSatisfy { $0.count == $1.kernelTime }
        let all = scales.winograd.joined() + scales.temporal + scales.midend.joined()
        guard shapeFits, all.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw Failure(description: "\(url.path): does not fit the network of \(bundle.manifest.name) \(bundle.manifest.version)")
        }
        return scales
    }
}

/// Records, while fp32 windows run, the largest |input| of each network product per window
/// (one thread; `MusicnnWorkspace.recorder`), for `Int8Scales`.
final class ActivationRecorder {
    private(set) var winograd: [[[Float]]]
    private(set) var temporal: [[Float]]
    private(set) var midend: [[[Float]]]
    private var current: (winograd: [[Float]], temporal: [Float], midend: [[Float]])
    private(set) var windows = 0

    init(network n: MusicnnNetwork) {
        current = (n.timbralFast.map { [Float](repeating: 0, count: $0.transform.points) },
                   [Float](repeating: 0, count: n.temporal.count),
                   n.midend.map { [Float](repeating: 0, count: $0.kernelTime) })
        winograd = current.winograd.map { $0.map { _ in [] } }
        temporal = current.temporal.map { _ in [] }
        midend = current.midend.map { $0.map { _ in [] } }
    }

    private static func largest(_ a: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int) -> Float {
        var m: Float = 0
        for r in 0..<rows {
            let row = a + r * stride
            for c in 0..<columns { m = max(m, abs(row[c])) }
        }
        return m
    }

    func winograd(_ conv: Int, point: Int, _ a: UnsafePointer<Float>, rows: Int, columns: Int) {
        current.winograd[conv][point] = max(current.winograd[conv][point], Self.largest(a, rows: rows, columns: columns, stride: columns))
    }

    func temporal(_ conv: Int, _ a: UnsafePointer<Float>, count: Int) {
        current.temporal[conv] = max(current.temporal[conv], Self.largest(a, rows: 1, columns: count, stride: count))
    }

    func midend(_ conv: Int, tap: Int, _ a: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int) {
        current.midend[conv][tap] = max(current.midend[conv][tap], Self.largest(a, rows: rows, columns: columns, stride: stride))
    }

    /// Closes a window: its maxima join the lists.
    func endWindow() {
        for c in current.winograd.indices { for p in current.winograd[c].indices { winograd[c][p].append(current.winograd[c][p]); current.winograd[c][p] = 0 } }
        for c in current.temporal.indices { temporal[c].append(current.temporal[c]); current.temporal[c] = 0 }
        for c in current.midend.indices { for t in current.midend[c].indices { midend[c][t].append(current.midend[c][t]); current.midend[c][t] = 0 } }
        windows += 1
    }

    /// The scales: per product, the `quantile` of the per-window maxima, over 127.
    func scales(weightsSHA256: String, files: [String], quantile: Double) -> Int8Scales {
        func step(_ maxima: [Float]) -> Float {
            let sorted = maxima.sorted()
            guard !sorted.isEmpty else { return 1 }
            let index = min(sorted.count - 1, Int((quantile * Double(sorted.count - 1)).rounded()))
            return max(sorted[index], .leastNormalMagnitude) / 127
        }
        return Int8Scales(weightsSHA256: weightsSHA256,
                          calibration: .init(files: files, windows: windows,
                                             statistic: String(format: "%g quantile of each window's largest |input|, over 127", quantile)),
                          winograd: winograd.map { $0.map(step) }, temporal: temporal.map(step), midend: midend.map { $0.map(step) })
    }
}

extension Int8Scales {
    /// Calibrates `bundle`'s int8 steps on `files` (real music, not the tracks the agreement is
    /// measured on), analysed in fp32 on one thread: per product, the `quantile` of each
    /// window's largest |input|, over 127. `progress` hears each file once it is done.
    public static func calibrate(bundle: ModelBundle, files: [String], quantile: Double = 0.999,
                                 progress: (String, Result<Int, any Error>) -> Void = { _, _ in }) -> Int8Scales {
        let analyzer = Analyzer(bundle: bundle, threads: 1)
        let recorder = ActivationRecorder(network: bundle.network)
        analyzer.workspaces[0].recorder = recorder
        defer { analyzer.workspaces[0].recorder = nil }
        var used: [String] = []
        for path in files {
            do {
                let result = try analyzer.analyze(path)
                used.append(URL(fileURLWithPath: path).lastPathComponent)
                progress(path, .success(result.windowCount))
            } catch {
                progress(path, .failure(error))
            }
        }
        return recorder.scales(weightsSHA256: bundle.manifest.weights.sha256, files: used, quantile: quantile)
    }

    /// The file's text: sorted keys, two-space indent, one trailing newline.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self) + Data("\n".utf8)
    }
}
