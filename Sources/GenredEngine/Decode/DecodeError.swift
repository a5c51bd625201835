/// Why a file's audio could not be read.
public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The file could not be opened or read (the text is the system's reason).
        case unreadable(String)
        /// The file has zero bytes.
        case empty
        /// The content matches no audio format genred reads.
        case notAudio
        /// The decoder rejected the data.
        case corrupt(String)
        /// The audio ends before the length its headers announce.
        case truncated(String)
        /// The file decodes to no samples at all.
        case noAudio
        /// A recognised container holding something genred cannot decode.
        case unsupported(String)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var reasonText: String {
        switch reason {
        case .unreadable(let why): "cannot read file: \(why)"
        case .empty: "file is empty (0 bytes)"
        case .notAudio: "not an audio file (no known audio format signature)"
        case .corrupt(let why): "corrupt audio data: \(why)"
        case .truncated(let why): "truncated audio: \(why)"
        case .noAudio: "file contains no audio samples"
        case .unsupported(let why): "unsupported audio: \(why)"
        }
    }

    public var description: String { "\(path): \(reasonText)" }
}
