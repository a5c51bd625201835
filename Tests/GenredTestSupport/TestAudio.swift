import Foundation
import GenredKit

/// Synthetic audio for both test targets: deterministic signals, hand-written WAV files and the Debian encoders.
public enum TestAudio {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// A fresh, empty directory under the system temp directory.
    public static func makeTemporaryDirectory(_ label: String = "genred-tests") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Interleaved 16-bit samples of a deterministic test signal.
    ///
    /// Each channel mixes a few sines (different per channel), a slow amplitude swell and a little
    /// seeded noise, peaking near half scale so that lossy encoders never clip.
    public static func signal(seconds: Double, sampleRate: Int, channels: Int) -> [Int16] {
        let frames = Int(seconds * Double(sampleRate))
        var samples = [Int16](repeating: 0, count: frames * channels)
        var seed: UInt32 = 0x1234_5678
        for i in 0..<frames {
            let t = Double(i) / Double(sampleRate)
            let swell = 0.6 + 0.4 * sin(2 * .pi * 0.5 * t)
            for c in 0..<channels {
                let base = 220.0 * Double(c + 1)
                var x = 0.25 * sin(2 * .pi * base * t)
                x += 0.12 * sin(2 * .pi * (base * 2.5 + 37) * t + Double(c))
                x += 0.06 * sin(2 * .pi * 3150 * t)
                seed = seed &* 1_664_525 &+ 1_013_904_223
                x += 0.02 * (Double(seed >> 8) / Double(1 << 24) - 0.5)
                samples[i * channels + c] = Int16((x * swell * 32767).rounded())
            }
        }
        return samples
    }

    /// Interleaved 16-bit samples of a pure sine.
    public static func sine(frequency: Double, seconds: Double, sampleRate: Int, amplitude: Double = 0.5) -> [Int16] {
        let frames = Int(seconds * Double(sampleRate))
        return (0..<frames).map { i in
            Int16((amplitude * 32767 * sin(2 * .pi * frequency * Double(i) / Double(sampleRate))).rounded())
        }
    }

    /// The bytes of a canonical 16-bit PCM RIFF/WAVE file.
    public static func wavData(_ samples: [Int16], channels: Int, sampleRate: Int) -> Data {
        var data = Data()
        func append32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        func append16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        let dataBytes = UInt32(samples.count * 2)
        data.append(contentsOf: Array("RIFF".utf8))
        append32(36 + dataBytes)
        data.append(contentsOf: Array("WAVEfmt ".utf8))
        append32(16)
        append16(1)  // PCM
        append16(UInt16(channels))
        append32(UInt32(sampleRate))
        append32(UInt32(sampleRate * channels * 2))
        append16(UInt16(channels * 2))
        append16(16)
        data.append(contentsOf: Array("data".utf8))
        append32(dataBytes)
        for s in samples { append16(UInt16(bitPattern: s)) }
        return data
    }

    public static func writeWAV(_ url: URL, _ samples: [Int16], channels: Int, sampleRate: Int) throws {
        try wavData(samples, channels: channels, sampleRate: sampleRate).write(to: url)
    }

    /// Runs an encoder found on PATH, throwing a clear message when it is missing or fails.
    public static func run(_ tool: String, _ arguments: [String]) throws {
        guard let executable = which(tool) else {
            throw Failure(description: "encoder '\(tool)' not found on PATH (install lame, flac, vorbis-tools, opus-tools, sox)")
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(tool) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): "
                + String(decoding: message, as: UTF8.self))
        }
    }

    public static func which(_ tool: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(tool)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Decodes a whole file into memory (a damaged one too, unless `allowDamage` is false).
    public static func decode(_ url: URL, targetRate: Int = 16000, chunkFrames: Int = 32768,
                       allowDamage: Bool = true) throws(DecodeError) -> ([Float], DecodedAudio) {
        var samples: [Float] = []
        let info = try AudioDecoding.stream(url.path, targetRate: targetRate, chunkFrames: chunkFrames, allowDamage: allowDamage) {
            samples.append(contentsOf: $0)
        }
        return (samples, info)
    }

    /// Largest normalised cross-correlation of `a` and `b` over lags up to `maxLag` samples.
    public static func correlation(_ a: [Float], _ b: [Float], maxLag: Int = 64) -> Double {
        var best = -1.0
        for lag in -maxLag...maxLag {
            var dot = 0.0, na = 0.0, nb = 0.0
            let start = max(0, -lag), end = min(a.count, b.count - lag)
            guard end > start else { continue }
            for i in start..<end {
                let x = Double(a[i]), y = Double(b[i + lag])
                dot += x * y
                na += x * x
                nb += y * y
            }
            if na > 0, nb > 0 { best = max(best, dot / (na * nb).squareRoot()) }
        }
        return best
    }
}
