/// One decoder's view of a file: interleaved float frames at the file's own rate.
protocol AudioSource: AnyObject {
    var sampleRate: Int { get }
    var channels: Int { get }
    /// Fills `buffer` with up to `frames` interleaved frames; returns 0 only at the end of the audio.
    func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) throws(DecodeError) -> Int
    /// Checks, once `read` has returned 0, that the audio was complete.
    func finish(framesRead: Int) throws(DecodeError)
    /// Frees the decoder; called before the file descriptor is closed.
    func close()
}
