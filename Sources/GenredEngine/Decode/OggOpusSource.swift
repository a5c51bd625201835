import COpus
#if canImport(Glibc)
import Glibc
#endif

/// Ogg Opus with one or two channels (channel mapping family 0: nearly every Opus music file) through
/// libopus's single-stream decoder, with libogg reading the pages.
///
/// libsndfile decodes Opus with libopus's multistream decoder. In libopus 1.3 every multistream call
/// asks each stream's decoder size, and that runs CPUID several times per packet of 20 ms. A virtual
/// machine traps CPUID (about 5 µs each on a KVM guest), and there it was half of libsndfile's Opus
/// decoding time. With one stream, the single-stream decoder computes the same samples without it.
///
/// The samples are libsndfile's, bit for bit, and `OggOpusTests` compares the two at every decoding
/// rate and frame size. It uses the same decoding rate (the lowest of 8, 12, 16, 24 and 48 kHz not
/// below the header's input rate), header gain, pre-skip, granule offset, end trimming and length
/// cap, following RFC 7845 §4 as libsndfile 1.2 applies it.
///
/// Only whole, plain files take this path: libsndfile must have opened the file and agree on its
/// rate, channels and length, and the page walk must find no damage, no junk and no pages of another
/// stream. Anything else stays with libsndfile, as before.
final class OggOpusSource: AudioSource {
    let sampleRate: Int
    let channels: Int
    private let file: InputFile
    /// libsndfile's view of the file, closed: its length and damage rules apply unchanged.
    private let reference: SndFileSource
    /// 48 kHz over the decoding rate.
    private let factor: UInt64
    /// Samples at 48 kHz that the encoder put before the audio (RFC 7845 §4.2).
    private var preskip: UInt64 = 0
    /// Frames returned so far; libsndfile returns no more than the length it announced.
    private var delivered = 0
    private var decoder: OpaquePointer?
    private var sync = ogg_sync_state()
    private var stream = ogg_stream_state()
    private var streamReady = false
    private var fileOffset = 0
    /// No page follows (the end-of-stream page was read, or the file ended).
    private var pagesEnded = false
    /// The packets that ended on the last page read, and the next one to decode.
    private var packets: [ogg_packet] = []
    private var nextPacket = 0
    /// Whether the last page read ends the stream.
    private var pageIsLast = false
    /// The granule position of the last page read, and where the next packet starts (48 kHz).
    private var pagePosition: UInt64 = 0
    private var packetPosition: UInt64 = 0
    /// The frame size asked of libopus: 20 ms, grown to the longest packet so far, as libsndfile
    /// asks it. A packet of 0 bytes (a lost frame) is concealed at this length.
    private var frameSize: Int
    /// The last packet's samples, and the part of them still to return.
    private var decoded: [Float]
    private var position = 0
    private var end = 0
    private var stoppedBy: String?

    /// The fast path for `file`, or nil when libsndfile (`reference`, just opened on it) should decode it.
    static func open(_ file: InputFile, reference: SndFileSource) -> OggOpusSource? {
        let walk = OggPageScan.walk(file)
        reference.walkedStructure = walk.findings  // a file declined here is not walked twice
        guard walk.findings.isEmpty, walk.otherStreamPages == 0, reference.channels <= 2 else { return nil }
        let source = OggOpusSource(file, reference: reference)
        guard source.readHeaders(lastGranule: walk.lastGranule) else {
            source.release()
            return nil
        }
        reference.close()  // its metadata stays; its decoder is not needed
        return source
    }

    private init(_ file: InputFile, reference: SndFileSource) {
        self.file = file
        self.reference = reference
        sampleRate = reference.sampleRate
        channels = reference.channels
        factor = UInt64(max(1, 48000 / max(1, reference.sampleRate)))
        frameSize = 20 * reference.sampleRate / 1000
        decoded = [Float](repeating: 0, count: 5760 * max(1, reference.channels))
        ogg_sync_init(&sync)
    }

    deinit { release() }

    func close() {
        release()
        reference.close()
    }

    /// Frees what this source holds, leaving `reference` open (it decodes when this path declines).
    private func release() {
        if let decoder { opus_decoder_destroy(decoder) }
        decoder = nil
        if streamReady { ogg_stream_clear(&stream) }
        streamReady = false
        ogg_sync_clear(&sync)
    }

    /// Reads the identification and comment headers and the first audio page; false when the file is
    /// not one this path decodes exactly as libsndfile does.
    private func readHeaders(lastGranule: Int64?) -> Bool {
        var page = ogg_page()
        guard nextPage(&page, anyStream: true), ogg_page_bos(&page) != 0, ogg_page_packets(&page) == 1 else { return false }
        ogg_stream_init(&stream, ogg_page_serialno(&page))
        streamReady = true
        ogg_stream_pagein(&stream, &page)
        var packet = ogg_packet()
        guard ogg_stream_packetout(&stream, &packet) == 1, packet.bytes == 19 else { return false }
        let head = UnsafeBufferPointer(start: packet.packet, count: 19)
        guard head.starts(with: AudioContainer.opus.oggSignature!), head[8] <= 1, head[18] == 0 else { return false }
        let headerChannels = Int(head[9])
        preskip = UInt64(head[10]) | UInt64(head[11]) << 8
        let inputRate = Int(head[12]) | Int(head[13]) << 8 | Int(head[14]) << 16 | Int(head[15]) << 24
        let gain = Int32(Int16(bitPattern: UInt16(head[16]) | UInt16(head[17]) << 8))
        let decodeRate = inputRate > 24000 ? 48000 : inputRate > 16000 ? 24000 : inputRate > 12000 ? 16000
            : inputRate > 8000 ? 12000 : 8000
        guard (1...2).contains(headerChannels), headerChannels == channels, decodeRate == sampleRate else { return false }

        // The comment header: one packet, from the second page on; libsndfile has checked its contents.
        while ogg_stream_packetout(&stream, &packet) != 1 {
            guard nextPage(&page, anyStream: false) else { return false }
            ogg_stream_pagein(&stream, &page)
        }
        var error: Int32 = 0
        decoder = opus_decoder_create(Int32(sampleRate), Int32(channels), &error)
        guard let decoder, error == OPUS_OK else { return false }
        _ = genred_opus_set_gain(decoder, gain)

        // The first audio page fixes the granule offset (RFC 7845 §4.5): its granule position less the
        // samples of the packets that end on it, unless it is also the last page.
        guard unpackPage() else { return false }
        var duration: UInt64 = 0
        for packet in packets {
            let n = opus_packet_get_nb_samples(packet.packet, Int32(clamping: packet.bytes), 48000)
            if n > 0 { duration += UInt64(n) }
        }
        guard duration > 0 else { return false }
        if !pageIsLast {
            guard duration <= pagePosition else { return false }
            packetPosition = pagePosition - duration
        } else if duration < pagePosition {
            return false
        }
        // libsndfile's length: the last granule position, less the offset and the pre-skip.
        var frames: Int?
        if let lastGranule, lastGranule != -1 {
            let count = Int64(bitPattern: (UInt64(bitPattern: lastGranule) &- packetPosition &- preskip) / factor)
            frames = count == Int64.max ? nil : Int(count)
        }
        return frames == reference.announcedFrames
    }

    /// The next good page of the file (of this stream, unless `anyStream`); false at the end.
    private func nextPage(_ page: inout ogg_page, anyStream: Bool) -> Bool {
        while !pagesEnded {
            let found = ogg_sync_pageout(&sync, &page)
            if found == 1 {
                if !anyStream, Int(ogg_page_serialno(&page)) != stream.serialno { continue }
                pageIsLast = ogg_page_eos(&page) != 0
                pagesEnded = pageIsLast
                return true
            }
            if found < 0 { continue }  // bytes skipped to the next capture pattern
            let chunk = 65536
            guard let buffer = ogg_sync_buffer(&sync, chunk) else { return false }
            var n: Int
            repeat { n = pread(file.descriptor, buffer, chunk, off_t(fileOffset)) } while n < 0 && errno == EINTR
            if n < 0 {
                stoppedBy = "reading the file failed: \(InputFile.systemMessage(errno))"
                return false
            }
            if n == 0 { return false }
            ogg_sync_wrote(&sync, n)
            fileOffset += n
        }
        return false
    }

    /// Reads pages until packets end on one and takes them all; false when the stream has ended.
    private func unpackPage() -> Bool {
        packets.removeAll(keepingCapacity: true)
        nextPacket = 0
        var packet = ogg_packet()
        var page = ogg_page()
        while true {
            let result = ogg_stream_packetout(&stream, &packet)
            if result == 1 { packets.append(packet); continue }
            if result < 0 { continue }  // a hole: the page walk found none, so this does not happen
            if !packets.isEmpty { break }
            guard nextPage(&page, anyStream: false) else { return false }
            ogg_stream_pagein(&stream, &page)
        }
        packetPosition = pagePosition
        pagePosition = UInt64(bitPattern: packets[packets.count - 1].granulepos)
        return true
    }

    /// Decodes the next packet; false at the end of the audio or when decoding stopped.
    private func refill() -> Bool {
        guard stoppedBy == nil, let decoder else { return false }
        if nextPacket == packets.count, !unpackPage() { return false }
        let packet = packets[nextPacket]
        nextPacket += 1
        var count = decoded.withUnsafeMutableBufferPointer {
            opus_decode_float(decoder, packet.packet, Int32(clamping: packet.bytes), $0.baseAddress!, Int32(frameSize), 0)
        }
        if count == OPUS_BUFFER_TOO_SMALL {
            let needed = opus_packet_get_nb_samples(packet.packet, Int32(clamping: packet.bytes), Int32(sampleRate))
            guard needed <= 5760 else { return false }  // longer than Opus allows: libsndfile ends here too
            frameSize = Int(needed)
            count = decoded.withUnsafeMutableBufferPointer {
                opus_decode_float(decoder, packet.packet, Int32(clamping: packet.bytes), $0.baseAddress!, Int32(frameSize), 0)
            }
        }
        guard count >= 0 else {
            stoppedBy = "an Opus packet did not decode: \(String(cString: opus_strerror(count)))"
            return false
        }
        // The last page's granule position trims the padding after the audio; elsewhere it may not
        // fall short of the samples before it.
        // Granule arithmetic wraps, as libsndfile's unsigned 64-bit arithmetic does: a crafted
        // position near 2^64 must not trap.
        let packetEnd = packetPosition &+ UInt64(count) &* factor
        if packetEnd <= pagePosition {
            end = Int(count)
        } else if pageIsLast {
            end = max(Int(Int32(truncatingIfNeeded: pagePosition &- packetPosition)) / Int(factor), 0)
        } else {
            stoppedBy = "a page's granule position \(pagePosition) is less than the \(packetEnd) samples before it"
            return false
        }
        frameSize = max(frameSize, end)
        // The pre-skip: samples the encoder added before the audio. libsndfile compares it with the
        // granule position itself, not with the distance from the stream's first granule, so a stream
        // cut from a longer one keeps some or all of its pre-skip; the same is done here.
        position = packetPosition < preskip ? min(Int(preskip - packetPosition) / Int(factor), end) : 0
        packetPosition = packetEnd
        return true
    }

    func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) throws(DecodeError) -> Int {
        let wanted = min(frames, (reference.announcedFrames ?? Int.max) - delivered)
        var filled = 0
        while filled < wanted {
            if position == end, !refill() { break }
            let n = min(wanted - filled, end - position)
            decoded.withUnsafeBufferPointer { src in
                (buffer + filled * channels).update(from: src.baseAddress! + position * channels, count: n * channels)
            }
            position += n
            filled += n
        }
        delivered += filled
        return filled
    }

    func finish(framesRead: Int) -> [DamageNote] {
        reference.notes(framesRead: framesRead, stoppedBy: stoppedBy, structure: reference.walkedStructure)
    }
}
