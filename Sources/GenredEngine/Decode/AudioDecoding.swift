import Dispatch

/// What `AudioDecoding.stream` found and delivered.
public struct DecodedAudio: Sendable, Equatable {
    public var container: AudioContainer
    var sourceSampleRate: Int
    public var channels: Int
    /// Frames decoded at the source rate (after gapless trimming).
    var sourceFrames: Int
    /// Mono samples delivered at the target rate.
    var outputSamples: Int
    /// What was wrong with the file, when it was damaged but audio still decoded: the samples are
    /// what decoded (see docs/damaged-files.md). Nil for a file that decoded whole.
    ///
    /// One or more notes joined by "; ", each such as "truncated: the file ends inside an Ogg page that
    /// starts at byte 1186304", "corrupt data skipped at byte 1596600 (8190 bytes)", "decoding stopped
    /// after 1318912 of 2646000 frames (flac decoder lost sync)" or "12 non-finite samples (NaN or
    /// infinity) replaced with silence".
    public var damage: String?
    /// With `stream(..., sourceDigest: true)`: the mono signal at the source rate, as the shape
    /// and a SHA-256 of the float samples. The tag writer proves a write left the audio alone by
    /// it; an analysis that computed it spares the writer one decode.
    package var sourceDigest: String?
    /// Seconds spent resampling (not part of what was decoded: `==` leaves it out).
    public var resampleSeconds = 0.0
    public var duration: Double { Double(sourceFrames) / Double(sourceSampleRate) }

    public static func == (a: DecodedAudio, b: DecodedAudio) -> Bool {
        a.container == b.container && a.sourceSampleRate == b.sourceSampleRate && a.channels == b.channels
            && a.sourceFrames == b.sourceFrames && a.outputSamples == b.outputSamples && a.damage == b.damage
            && a.sourceDigest == b.sourceDigest
    }

    public init(container: AudioContainer, sourceSampleRate: Int, channels: Int, sourceFrames: Int, outputSamples: Int,
                damage: String? = nil) {
        self.container = container
        self.sourceSampleRate = sourceSampleRate
        self.channels = channels
        self.sourceFrames = sourceFrames
        self.outputSamples = outputSamples
        self.damage = damage
    }
}

/// Decoding audio files to mono float32 at a fixed rate, as `librosa.load(path, sr=...)` does.
public enum AudioDecoding {
    /// Streams a file's audio as mono float32 at `targetRate`, in consecutive chunks.
    ///
    /// Channels are averaged; the result is resampled with libsoxr at high quality and trimmed or
    /// zero-padded to exactly `ceil(frames * targetRate / sourceRate)` samples. At the source rate the
    /// samples pass through untouched; a nil `targetRate` means the source rate.
    /// `body` may be called with chunks of any size, including none.
    ///
    /// A file that is cut short or has corrupt data in it throws once its audio has streamed, naming
    /// what is wrong, unless `allowDamage` is set: then it delivers what decodes and says what was
    /// wrong in `DecodedAudio.damage`, and only a file from which no audio at all decodes throws.
    /// Analysis allows damage (a few lost seconds do not change what a track sounds like); a caller
    /// that must not act on a damaged file, such as the tag writer, keeps the default.
    ///
    /// NaN and infinite samples (possible only in float WAV/AIFF) are replaced with silence and noted
    /// in `damage` either way, since one of them would make every score NaN.
    public static func stream(
        _ path: String, targetRate: Int? = 16000, chunkFrames: Int = 32768, allowDamage: Bool = false,
        sourceDigest: Bool = false, _ body: (UnsafeBufferPointer<Float>) -> Void
    ) throws(DecodeError) -> DecodedAudio {
        precondition((targetRate ?? 1) > 0 && chunkFrames > 0, "targetRate and chunkFrames must be positive")
        let file = try InputFile(path)
        defer { file.close() }
        let (container, start) = try identify(file)
        let source: any AudioSource
        if container == .mp3 {
            source = try MPG123Source(file)
        } else {
            let sndfile = try SndFileSource(file, container: container, start: start)
            // Plain Ogg Opus decodes faster past libsndfile, to the same samples (OggOpusSource).
            let fast = container == .opus && start == 0 ? OggOpusSource.open(file, reference: sndfile) : nil
            source = fast ?? sndfile
        }
        defer { source.close() }

        let channels = source.channels
        var output = try MonoOutput(path: path, sourceRate: source.sampleRate, targetRate: targetRate ?? source.sampleRate,
                                    chunkFrames: chunkFrames)
        var interleaved = [Float](repeating: 0, count: chunkFrames * channels)
        var mono = [Float](repeating: 0, count: chunkFrames)
        var sourceFrames = 0
        var nonFinite = 0
        var digest = sourceDigest ? SHA256() : nil
        while true {
            let n = try interleaved.withUnsafeMutableBufferPointer { buffer throws(DecodeError) in
                let n = try source.read(into: buffer.baseAddress!, frames: chunkFrames)
                nonFinite += silenceNonFinite(UnsafeMutableBufferPointer(rebasing: buffer[0..<(n * channels)]))
                return n
            }
            if n == 0 { break }
            sourceFrames += n
            try mono.withUnsafeMutableBufferPointer { out throws(DecodeError) in
                interleaved.withUnsafeBufferPointer { downmix($0, channels: channels, frames: n, into: out) }
                if digest != nil { digest!.update(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[0..<(n * 4)])) }
                try output.push(UnsafeBufferPointer(rebasing: out[0..<n]), to: body)
            }
        }
        var notes = source.finish(framesRead: sourceFrames)
        if nonFinite > 0 {
            notes.append(.repaired("\(nonFinite) non-finite sample\(nonFinite == 1 ? "" : "s") (NaN or infinity) replaced with silence"))
        }
        if sourceFrames == 0 {
            throw notes.first?.error(path: path) ?? DecodeError(path: path, reason: .noAudio)
        }
        if !allowDamage, let damage = notes.first(where: \.isDataDamage) {
            throw damage.error(path: path)
        }
        let delivered = try output.finish(to: body)
        var decoded = DecodedAudio(container: container, sourceSampleRate: source.sampleRate, channels: channels,
                                   sourceFrames: sourceFrames, outputSamples: delivered, damage: DamageNote.summary(notes))
        decoded.resampleSeconds = output.resampleSeconds
        if digest != nil {
            decoded.sourceDigest = "\(container.rawValue) \(source.sampleRate) Hz \(channels) ch \(sourceFrames) frames "
                + digest!.finalizeHex()
        }
        return decoded
    }

    /// Which container the content is (by magic bytes, not extension); nil when none matches.
    package static func sniff(_ path: String) throws(DecodeError) -> AudioContainer? {
        let file = try InputFile(path)
        defer { file.close() }
        if file.size == 0 { throw DecodeError(path: path, reason: .empty) }
        switch try ContainerSniffer.sniff(file) {
        case .audio(let container), .audioAfterJunk(let container, _): return container
        case .unsupportedOgg, .unknown: return nil
        }
    }

    /// The container and where its stream starts (0 unless junk precedes it).
    private static func identify(_ file: InputFile) throws(DecodeError) -> (AudioContainer, Int) {
        if file.size == 0 { throw DecodeError(path: file.path, reason: .empty) }
        switch try ContainerSniffer.sniff(file) {
        case .audio(let container): return (container, 0)
        case .audioAfterJunk(let container, let start): return (container, start)
        case .unsupportedOgg(let why): throw DecodeError(path: file.path, reason: .unsupported(why))
        case .unknown: throw DecodeError(path: file.path, reason: .notAudio)
        }
    }

    /// Replaces NaN and infinite samples with 0; returns how many there were.
    static func silenceNonFinite(_ samples: UnsafeMutableBufferPointer<Float>) -> Int {
        var count = 0
        for i in samples.indices where !samples[i].isFinite {
            samples[i] = 0
            count += 1
        }
        return count
    }

    /// Averages interleaved channels in float32 the way numpy's `mean(axis=0)` does: sum in order, then divide.
    static func downmix(_ input: UnsafeBufferPointer<Float>, channels: Int, frames: Int, into out: UnsafeMutableBufferPointer<Float>) {
        switch channels {
        case 1:
            for i in 0..<frames { out[i] = input[i] }
        case 2:
            for i in 0..<frames { out[i] = (input[2 * i] + input[2 * i + 1]) / 2 }
        default:
            let divisor = Float(channels)
            for i in 0..<frames {
                var sum = input[i * channels]
                for c in 1..<channels { sum += input[i * channels + c] }
                out[i] = sum / divisor
            }
        }
    }
}

/// Delivers mono samples at the target rate, holding back anything past the length librosa would return.
private struct MonoOutput {
    typealias Sink = (UnsafeBufferPointer<Float>) -> Void

    private let path: String
    private let sourceRate: Int
    private let ratio: Double
    private let resampler: Resampler?
    private var framesIn = 0
    private var delivered = 0
    /// Seconds inside the resampler, leaving out the time `body` took.
    private(set) var resampleSeconds = 0.0
    /// Resampled samples beyond what the input so far guarantees the final length will include.
    private var pending: [Float] = []

    init(path: String, sourceRate: Int, targetRate: Int, chunkFrames: Int) throws(DecodeError) {
        self.path = path
        self.sourceRate = sourceRate
        ratio = Double(targetRate) / Double(sourceRate)
        if sourceRate == targetRate {
            resampler = nil
        } else {
            do {
                resampler = try Resampler(from: sourceRate, to: targetRate, maxInput: chunkFrames)
            } catch {
                throw DecodeError(path: path, reason: .unsupported("cannot resample from \(sourceRate) Hz: \(error.message)"))
            }
        }
    }

    /// librosa's output length for `frames` input frames: `ceil(frames * (target / source))` in double precision.
    private func expectedLength(_ frames: Int) -> Int {
        Int((Double(frames) * ratio).rounded(.up))
    }

    mutating func push(_ samples: UnsafeBufferPointer<Float>, to body: Sink) throws(DecodeError) {
        framesIn += samples.count
        guard let resampler else {
            body(samples)
            delivered += samples.count
            return
        }
        let limit = expectedLength(framesIn)
        let start = DispatchTime.now().uptimeNanoseconds
        var inBody: UInt64 = 0
        do {
            try resampler.process(samples) { chunk in
                let t = DispatchTime.now().uptimeNanoseconds
                offer(chunk, limit: limit, to: body)
                inBody += DispatchTime.now().uptimeNanoseconds - t
            }
        } catch {
            throw DecodeError(path: path, reason: .corrupt("resampling failed: \(error.message)"))
        }
        resampleSeconds += Double(DispatchTime.now().uptimeNanoseconds - start - inBody) / 1e9
    }

    /// Flushes the resampler and pads to the exact length; returns the number of samples delivered.
    mutating func finish(to body: Sink) throws(DecodeError) -> Int {
        guard let resampler else { return delivered }
        let limit = expectedLength(framesIn)
        do {
            try resampler.flush { offer($0, limit: limit, to: body) }
        } catch {
            throw DecodeError(path: path, reason: .corrupt("resampling failed: \(error.message)"))
        }
        if delivered < limit {
            let zeros = [Float](repeating: 0, count: limit - delivered)
            zeros.withUnsafeBufferPointer { offer($0, limit: limit, to: body) }
        }
        return delivered
    }

    /// Passes on what fits under `limit`, keeping the order and holding back the rest.
    private mutating func offer(_ samples: UnsafeBufferPointer<Float>, limit: Int, to body: Sink) {
        if pending.isEmpty {
            let k = min(samples.count, max(0, limit - delivered))
            if k > 0 { body(UnsafeBufferPointer(rebasing: samples[0..<k])) }
            delivered += k
            pending.append(contentsOf: samples[k...])
        } else {
            pending.append(contentsOf: samples)
            let k = min(pending.count, max(0, limit - delivered))
            if k > 0 { pending.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<k])) } }
            delivered += k
            pending.removeFirst(k)
        }
    }
}
