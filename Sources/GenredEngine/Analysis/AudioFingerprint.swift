/// A fingerprint of a track's audio that ignores its tags: SHA-256 of the decoded 16 kHz
/// mono signal, quantized to 16 bits so that rounding noise between decoder builds rarely
/// matters. A moved, renamed or retagged file keeps its fingerprint.
package struct AudioFingerprint {
    private var hasher = SHA256()
    private var scratch = [Int16](repeating: 0, count: 4096)

    public init() {}

    public mutating func add(_ samples: UnsafeBufferPointer<Float>) {
        var offset = 0
        while offset < samples.count {
            let n = min(scratch.count, samples.count - offset)
            for i in 0..<n {
                let v = (samples[offset + i] * 32767).rounded()
                scratch[i] = Int16(littleEndian: Int16(max(-32768, min(32767, v))))
            }
            scratch.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<(n * 2)])) }
            offset += n
        }
    }

    mutating func finalize() -> String { hasher.finalizeHex() }

    /// Decodes `path` (without analysing it) and returns its fingerprint and audio facts. Like the
    /// analysis, it takes what a damaged file decodes to (`audio.damage` says so), so that both give a
    /// damaged file the same fingerprint.
    public static func of(_ path: String) throws(DecodeError) -> (fingerprint: String, audio: DecodedAudio) {
        var fp = AudioFingerprint()
        let audio = try AudioDecoding.stream(path, allowDamage: true, sourceDigest: true) { fp.add($0) }
        return (fp.finalize(), audio)
    }
}
