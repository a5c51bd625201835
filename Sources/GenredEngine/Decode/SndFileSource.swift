import CSndFile
#if canImport(Glibc)
import Glibc
#endif

/// WAV, AIFF, FLAC, Ogg Vorbis and Opus through libsndfile.
final class SndFileSource: AudioSource {
    let sampleRate: Int
    let channels: Int
    private let file: InputFile
    private let container: AudioContainer
    /// Where the stream begins in the file (past junk).
    private let start: Int
    /// The file from `start` on, as libsndfile reads it when `start` > 0.
    private let window: FileWindow?
    private var handle: OpaquePointer?
    /// Frames the headers announce; nil when unknown.
    let announcedFrames: Int?
    private let isOgg: Bool
    /// Bytes the WAV/AIFF header claims beyond the end of the file.
    private let headerShortfall: Int
    /// libsndfile's complaint when an error stopped decoding part-way.
    private var stoppedBy: String?
    /// The Ogg page walk, when `OggOpusSource` made it before declining the file.
    var walkedStructure: StructureFindings?

    /// Frames a stream may fall short of the length its header announces and still count as whole.
    ///
    /// For Ogg Vorbis and Opus libsndfile takes the length from the granule position of the last
    /// page, which the encoder writes, and then returns what the packets decode to. RFC 7845 §4.4 lets
    /// the end-of-stream granule only *trim* the last packet; an encoder that sets it past the samples
    /// its packets hold leaves a shortfall that no decoder can fill, with no audio lost. opusenc 0.1.10
    /// did this to `track12.opus` of Debian's warzone2100-music: granule 18,803,530 after packets
    /// holding 18,803,520 samples, so libsndfile announces 18,803,218 frames (less the 312-sample
    /// pre-skip) and decodes 18,803,208 (opusinfo: "Sample count behind granule").
    ///
    /// Audio is lost in whole packets (libogg drops a damaged page with all its packets), and a lost
    /// page also shows in the page walk (`OggPageScan`), so a shortfall below one packet is bookkeeping,
    /// not damage. The tolerance is the longest packet each codec allows:
    /// - Opus: 120 ms, 5,760 frames at the 48 kHz libsndfile decodes to (RFC 6716 §3.2.5: a packet
    ///   carries up to 120 ms of frames; a single frame is at most 60 ms).
    /// - Vorbis: 4,096 frames. A packet returns a quarter of the previous block plus a quarter of its
    ///   own, and the Vorbis I specification caps blocks at 8,192 samples.
    /// - FLAC, WAV and AIFF state the exact frame count: no tolerance.
    static func lengthTolerance(_ container: AudioContainer) -> Int {
        switch container {
        case .opus: 5760
        case .oggVorbis: 4096
        case .wav, .aiff, .flac, .mp3: 0
        }
    }

    /// `start`: where the stream begins, past junk (0 for a whole file).
    init(_ file: InputFile, container: AudioContainer, start: Int = 0) throws(DecodeError) {
        self.file = file
        self.container = container
        self.start = start
        var info = SF_INFO()
        // Past junk, libsndfile reads the file from `start` through callbacks that hide the
        // junk: its Ogg reader refuses a descriptor positioned inside a file.
        let opened: OpaquePointer?
        if start > 0 {
            let window = FileWindow(descriptor: file.descriptor, start: start, length: file.size - start)
            self.window = window
            opened = sf_open_virtual(&FileWindow.callbacks, Int32(SFM_READ), &info, Unmanaged.passUnretained(window).toOpaque())
        } else {
            window = nil
            opened = sf_open_fd(file.descriptor, Int32(SFM_READ), &info, 0)
        }
        guard let handle = opened else {
            let code = sf_error(nil)
            var message = Self.plainMessage(String(cString: sf_strerror(nil)))
            if start > 0 {
                let unit = container == .flac ? "a FLAC stream" : "an Ogg page"
                message = StructureFindings.junkNote(.init(offset: 0, length: start), unit: unit) + "; from there: \(message)"
            }
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
        guard let handle, stoppedBy == nil else { return 0 }
        let n = max(0, Int(sf_readf_float(handle, buffer, sf_count_t(frames))))
        if sf_error(handle) != 0 {
            // libsndfile's FLAC reader aborts the decoder on a lost sync and WAV/AIFF reads fail only on
            // I/O errors: nothing more will come, but what came so far is good audio.
            stoppedBy = Self.plainMessage(String(cString: sf_strerror(handle)))
        }
        return n
    }

    /// libsndfile's text without its "Error : " prefix and final full stop.
    static func plainMessage(_ text: String) -> String {
        var text = Substring(text)
        if text.hasPrefix("Error : ") { text = text.dropFirst(8) }
        if text.hasSuffix(".") { text = text.dropLast() }
        return String(text)
    }

    func finish(framesRead: Int) -> [DamageNote] {
        notes(framesRead: framesRead, stoppedBy: stoppedBy,
              structure: isOgg ? walkedStructure ?? OggPageScan.scan(file, from: start) : nil)
    }

    /// What was wrong with the file once `framesRead` frames decoded: `stoppedBy` is why decoding
    /// stopped early, `structure` the Ogg page walk (nil for other containers). `OggOpusSource` judges
    /// its files by the same rules.
    func notes(framesRead: Int, stoppedBy: String?, structure: StructureFindings?) -> [DamageNote] {
        var notes: [DamageNote] = []
        let of = announcedFrames.map { " of \($0)" } ?? ""
        if let stoppedBy {
            notes.append(.corrupt("decoding stopped after \(framesRead)\(of) frames (\(stoppedBy))"))
        }
        if let structure {
            notes += structure.notes(unit: "an Ogg page")
        } else if start > 0 {
            notes.insert(.corrupt(StructureFindings.junkNote(.init(offset: 0, length: start), unit: "a FLAC stream")), at: 0)
        }
        if headerShortfall > 1 {
            notes.append(.truncated("the data chunk claims \(headerShortfall) bytes more than the file holds"))
        }
        if stoppedBy == nil, let announcedFrames, framesRead + Self.lengthTolerance(container) < announcedFrames {
            notes.append(notes.isEmpty
                ? .truncated("decoding ended after \(framesRead) of the \(announcedFrames) frames the header announces")
                : .corrupt(DamageNote.missing(framesRead, of: announcedFrames, sampleRate: sampleRate)))
        }
        return notes
    }
}

/// The bytes of a file from `start` on, as a file of their own, for libsndfile's virtual I/O.
final class FileWindow {
    let descriptor: Int32
    let start: Int
    let length: Int
    var position = 0

    init(descriptor: Int32, start: Int, length: Int) {
        self.descriptor = descriptor
        self.start = start
        self.length = length
    }

    static func of(_ user: UnsafeMutableRawPointer?) -> FileWindow { Unmanaged<FileWindow>.fromOpaque(user!).takeUnretainedValue() }

    nonisolated(unsafe) static var callbacks = SF_VIRTUAL_IO(
        get_filelen: { user in sf_count_t(FileWindow.of(user).length) },
        seek: { offset, whence, user in
            let w = FileWindow.of(user)
            let base = whence == SEEK_CUR ? w.position : whence == SEEK_END ? w.length : 0
            w.position = max(0, min(w.length, base + Int(offset)))
            return sf_count_t(w.position)
        },
        read: { buffer, count, user in
            let w = FileWindow.of(user)
            let wanted = max(0, min(Int(count), w.length - w.position))
            guard wanted > 0, let buffer else { return 0 }
            let n = pread(w.descriptor, buffer, wanted, off_t(w.start + w.position))
            guard n > 0 else { return 0 }
            w.position += n
            return sf_count_t(n)
        },
        write: { _, _, _ in 0 },
        tell: { user in sf_count_t(FileWindow.of(user).position) })
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
