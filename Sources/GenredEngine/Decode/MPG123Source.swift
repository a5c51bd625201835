import CMPG123

/// MPEG audio (layers I-III) through libmpg123, as 32-bit float with gapless trimming.
final class MPG123Source: AudioSource {
    let sampleRate: Int
    let channels: Int
    private let file: InputFile
    private var handle: OpaquePointer?
    /// Samples per channel the LAME/Info tag announces; nil when the file has none.
    private let announcedFrames: Int?
    private var ended = false
    /// libmpg123's complaint when an error stopped decoding part-way.
    private var stoppedBy: String?
    /// Set while libmpg123 delivers audio in a format other than the stream's first (see `read`).
    private var foreignFormat: (rate: Int, channels: Int)?
    private var foreignFrames = 0
    private var scratch = [Float](repeating: 0, count: 8192)

    /// Shortfall against the announced length tolerated before calling the file truncated (one layer III frame).
    static let lengthTolerance = 1152

    /// Calls in a row that deliver nothing and do not end the stream before decoding is given up.
    static let maxIdleReads = 1000

    init(_ file: InputFile) throws(DecodeError) {
        self.file = file
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
        // By default libmpg123 gives up after 1 KB without a frame header, so junk in the middle of a
        // file ends decoding there. Searching to the end of the file instead lets it pick up the frames
        // after the junk; on an intact file no resync happens, so nothing it decodes changes.
        mpg123_param2(handle, Int32(MPG123_RESYNC_LIMIT.rawValue), -1, 0)
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

    /// Reads decoded frames. Junk in the stream can look like frame headers of another sample rate or
    /// channel count; libmpg123 then switches its output format for those frames. Their samples cannot
    /// join the stream's, so they are read into a scratch buffer and dropped (and counted) until the
    /// stream's own format comes back.
    func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) throws(DecodeError) -> Int {
        guard let handle else { return 0 }
        let frameBytes = channels * MemoryLayout<Float>.size
        var filled = 0
        var idle = 0
        while filled < frames, !ended {
            var done = 0
            let rc: Int32
            if let foreign = foreignFormat {
                rc = scratch.withUnsafeMutableBytes { mpg123_read(handle, $0.baseAddress, $0.count, &done) }
                foreignFrames += done / (foreign.channels * MemoryLayout<Float>.size)
            } else {
                rc = mpg123_read(handle, buffer + filled * channels, (frames - filled) * frameBytes, &done)
                filled += done / frameBytes
            }
            switch rc {
            case MPG123_OK.rawValue:
                idle = done == 0 ? idle + 1 : 0
                if idle >= Self.maxIdleReads {
                    stoppedBy = "mpg123 stopped delivering audio"
                    ended = true
                }
            case MPG123_DONE.rawValue:
                ended = true
            case MPG123_NEW_FORMAT.rawValue:
                var rate = 0
                var channels: Int32 = 0
                var encoding: Int32 = 0
                mpg123_getformat(handle, &rate, &channels, &encoding)
                let own = rate == sampleRate && Int(channels) == self.channels && encoding == MPG123_ENC_FLOAT_32.rawValue
                foreignFormat = own ? nil : (rate, max(1, Int(channels)))
            default:
                stoppedBy = "mpg123: \(String(cString: mpg123_strerror(handle)))"
                ended = true
            }
        }
        return filled
    }

    func finish(framesRead: Int) -> [DamageNote] {
        var notes: [DamageNote] = []
        let of = announcedFrames.map { " of \($0)" } ?? ""
        if let stoppedBy {
            notes.append(.corrupt("decoding stopped after \(framesRead)\(of) frames (\(stoppedBy))"))
        }
        let structure = MPEGFrameScan.scan(file)
        notes += structure.notes(unit: "an MPEG frame")
        if stoppedBy == nil, let announcedFrames, framesRead + Self.lengthTolerance < announcedFrames {
            notes.append(structure.isEmpty
                ? .truncated("decoding ended after \(framesRead) of the \(announcedFrames) frames the LAME tag announces")
                : .corrupt(DamageNote.missing(framesRead, of: announcedFrames, sampleRate: sampleRate)))
        }
        if foreignFrames > 0 {
            notes.append(.corrupt("\(foreignFrames) frames that decoded in another format dropped"))
        }
        return notes
    }
}
