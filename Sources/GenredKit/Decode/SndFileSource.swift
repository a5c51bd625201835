import CSndFile

/// WAV, AIFF, FLAC, Ogg Vorbis and Opus through libsndfile.
final class SndFileSource: AudioSource {
    let sampleRate: Int
    let channels: Int
    private let path: String
    private let container: AudioContainer
    private var handle: OpaquePointer?
    /// Frames the headers announce; nil when unknown.
    private let announcedFrames: Int?
    private let isOgg: Bool
    private var framesSoFar = 0
    /// Bytes the WAV/AIFF header claims beyond the end of the file.
    private let headerShortfall: Int

    init(_ file: InputFile, container: AudioContainer) throws(DecodeError) {
        path = file.path
        self.container = container
        var info = SF_INFO()
        guard let handle = sf_open_fd(file.descriptor, Int32(SFM_READ), &info, 0) else {
            let code = sf_error(nil)
            let message = Self.plainMessage(String(cString: sf_strerror(nil)))
            let reason: DecodeError.Reason = switch Int(code) {
            case SF_ERR_UNSUPPORTED_ENCODING: .unsupported(message)
            case SF_ERR_SYSTEM: .unreadable(message)
            default: .corrupt(message)
            }
            throw DecodeError(path: file.path, reason: reason)
        }
        self.handle = handle
        guard info.channels > 0, info.samplerate > 0 else {
            sf_close(handle)
            self.handle = nil
            throw DecodeError(path: file.path, reason: .corrupt("header gives \(info.channels) channels at \(info.samplerate) Hz"))
        }
        sampleRate = Int(info.samplerate)
        channels = Int(info.channels)
        announcedFrames = info.frames == Int64.max ? nil : Int(info.frames)
        isOgg = info.format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_OGG)
        headerShortfall = (try? PCMHeader.dataShortfall(file)) ?? 0
    }

    deinit { close() }

    func close() {
        if let handle { sf_close(handle) }
        handle = nil
    }

    func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) throws(DecodeError) -> Int {
        guard let handle else { return 0 }
        let n = Int(sf_readf_float(handle, buffer, sf_count_t(frames)))
        if sf_error(handle) != 0 {
            let message = Self.plainMessage(String(cString: sf_strerror(handle)))
            let reached = framesSoFar + max(n, 0)
            if let announcedFrames, reached < announcedFrames {
                throw DecodeError(path: path, reason: .truncated(
                    "decoding stopped after \(reached) of \(announcedFrames) frames (\(message))"))
            }
            throw DecodeError(path: path, reason: .corrupt(message))
        }
        framesSoFar += max(n, 0)
        return max(n, 0)
    }

    /// libsndfile's text without its "Error : " prefix and final full stop.
    static func plainMessage(_ text: String) -> String {
        var text = Substring(text)
        if text.hasPrefix("Error : ") { text = text.dropFirst(8) }
        if text.hasSuffix(".") { text = text.dropLast() }
        return String(text)
    }

    func finish(framesRead: Int) throws(DecodeError) {
        if headerShortfall > 1 {
            throw DecodeError(path: path, reason: .truncated(
                "the data chunk is \(headerShortfall) bytes longer than the file holds"))
        }
        if let announcedFrames, framesRead < announcedFrames {
            throw DecodeError(path: path, reason: .truncated(
                "decoding stopped after \(framesRead) of \(announcedFrames) frames"))
        }
        if isOgg, announcedFrames == nil {
            throw DecodeError(path: path, reason: .truncated(
                "the Ogg stream ends without its end-of-stream page after \(framesRead) frames"))
        }
    }
}

/// Reads the sizes a RIFF/RIFX WAV or AIFF/AIFC header declares for its sample data.
enum PCMHeader {
    /// How many bytes the sample-data chunk claims beyond the end of the file (0 when it fits or the format has no such chunk).
    static func dataShortfall(_ file: InputFile) throws(DecodeError) -> Int {
        let head = try file.bytes(at: 0, count: 12)
        guard head.count == 12 else { return 0 }
        let id = String(decoding: head[0..<4], as: UTF8.self)
        let form = String(decoding: head[8..<12], as: UTF8.self)
        let bigEndian: Bool
        let dataID: String
        switch (id, form) {
        case ("RIFF", "WAVE"): (bigEndian, dataID) = (false, "data")
        case ("RIFX", "WAVE"): (bigEndian, dataID) = (true, "data")
        case ("FORM", "AIFF"), ("FORM", "AIFC"): (bigEndian, dataID) = (true, "SSND")
        default: return 0
        }
        var offset = 12
        while offset + 8 <= file.size {
            let header = try file.bytes(at: offset, count: 8)
            guard header.count == 8 else { return 0 }
            let size = header[4..<8].reduce(0) { $0 << 8 | Int($1) }
            let chunkSize = bigEndian ? size : Int(UInt32(size).byteSwapped)
            let available = file.size - (offset + 8)
            if String(decoding: header[0..<4], as: UTF8.self) == dataID {
                // 0 and 0xFFFFFFFF mean "length unknown" (streamed or RF64-style writers).
                guard chunkSize != 0, chunkSize != 0xFFFF_FFFF else { return 0 }
                return max(0, chunkSize - available)
            }
            offset += 8 + chunkSize + (chunkSize & 1)
        }
        return 0
    }
}
