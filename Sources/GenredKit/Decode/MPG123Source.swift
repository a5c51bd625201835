import CMPG123

/// MPEG audio (layers I-III) through libmpg123, as 32-bit float with gapless trimming.
final class MPG123Source: AudioSource {
    let sampleRate: Int
    let channels: Int
    private let path: String
    private var handle: OpaquePointer?
    /// Samples per channel the LAME/Info tag announces; nil when the file has none.
    private let announcedFrames: Int?
    private var ended = false

    /// Shortfall against the announced length tolerated before calling the file truncated (one layer III frame).
    static let lengthTolerance = 1152

    init(_ file: InputFile) throws(DecodeError) {
        path = file.path
        var code: Int32 = 0
        guard let handle = mpg123_new(nil, &code) else {
            throw DecodeError(path: file.path, reason: .unsupported("mpg123: \(String(cString: mpg123_plain_strerror(code)))"))
        }
        self.handle = handle
        func fail(_ why: String) -> DecodeError {
            mpg123_close(handle)
            mpg123_delete(handle)
            return DecodeError(path: file.path, reason: .corrupt(why))
        }

        let flags = Int(MPG123_QUIET.rawValue | MPG123_GAPLESS.rawValue)
        mpg123_param2(handle, Int32(MPG123_ADD_FLAGS.rawValue), flags, 0)
        mpg123_format_none(handle)
        var rates: UnsafePointer<Int>?
        var rateCount = 0
        mpg123_rates(&rates, &rateCount)
        for i in 0..<rateCount {
            mpg123_format(handle, rates![i], Int32(MPG123_MONO.rawValue | MPG123_STEREO.rawValue), Int32(MPG123_ENC_FLOAT_32.rawValue))
        }
        guard mpg123_open_fd(handle, file.descriptor) == MPG123_OK.rawValue else {
            throw fail("mpg123: \(String(cString: mpg123_strerror(handle)))")
        }
        var rate = 0
        var channels: Int32 = 0
        var encoding: Int32 = 0
        guard mpg123_getformat(handle, &rate, &channels, &encoding) == MPG123_OK.rawValue else {
            throw fail("no decodable MPEG audio frames (mpg123: \(String(cString: mpg123_strerror(handle))))")
        }
        guard encoding == MPG123_ENC_FLOAT_32.rawValue, rate > 0, channels == 1 || channels == 2 else {
            throw fail("mpg123 offered \(channels) channels at \(rate) Hz, encoding \(encoding)")
        }
        sampleRate = rate
        self.channels = Int(channels)

        // Only a LAME/Info tag states the length; without one mpg123 guesses from the file size.
        var delay = -1
        var unused = 0.0
        mpg123_getstate2(handle, Int32(MPG123_ENC_DELAY.rawValue), &delay, &unused)
        let length = mpg123_length(handle)
        announcedFrames = delay >= 0 && length > 0 ? Int(length) : nil
    }

    deinit { close() }

    func close() {
        if let handle {
            mpg123_close(handle)
            mpg123_delete(handle)
        }
        handle = nil
    }

    func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) throws(DecodeError) -> Int {
        guard let handle else { return 0 }
        let frameBytes = channels * MemoryLayout<Float>.size
        var filled = 0
        while filled < frames, !ended {
            var done = 0
            let rc = mpg123_read(handle, buffer + filled * channels, (frames - filled) * frameBytes, &done)
            filled += done / frameBytes
            switch rc {
            case MPG123_OK.rawValue:
                break
            case MPG123_DONE.rawValue:
                ended = true
            case MPG123_NEW_FORMAT.rawValue:
                var rate = 0
                var channels: Int32 = 0
                var encoding: Int32 = 0
                mpg123_getformat(handle, &rate, &channels, &encoding)
                if rate != sampleRate || Int(channels) != self.channels || encoding != MPG123_ENC_FLOAT_32.rawValue {
                    throw DecodeError(path: path, reason: .unsupported(
                        "the stream changes format mid-way (\(self.channels) ch at \(sampleRate) Hz to \(channels) ch at \(rate) Hz)"))
                }
            default:
                throw DecodeError(path: path, reason: .corrupt("mpg123: \(String(cString: mpg123_strerror(handle)))"))
            }
        }
        return filled
    }

    func finish(framesRead: Int) throws(DecodeError) {
        if let announcedFrames, framesRead + Self.lengthTolerance < announcedFrames {
            throw DecodeError(path: path, reason: .truncated(
                "decoding stopped after \(framesRead) of the \(announcedFrames) frames the LAME tag announces"))
        }
    }
}
