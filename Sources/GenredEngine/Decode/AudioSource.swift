/// One decoder's view of a file: interleaved float frames at the file's own rate.
protocol AudioSource: AnyObject {
    var sampleRate: Int { get }
    var channels: Int { get }
    /// Fills `buffer` with up to `frames` interleaved frames; returns 0 at the end of the audio, and
    /// from then on. A decoding error part-way also ends the audio: the source keeps it as a damage note.
    func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) throws(DecodeError) -> Int
    /// Once `read` has returned 0: what was wrong with the file (nothing when it decoded whole).
    func finish(framesRead: Int) -> [DamageNote]
    /// Frees the decoder; called before the file descriptor is closed.
    func close()
}
