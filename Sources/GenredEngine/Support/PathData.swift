import Foundation

extension PathIO {
    /// Writes `data` to `file`, replacing it through a rename. Returns nil, or why it failed.
    package static func writeData(_ data: Data, to file: String) -> String? {
        writeBytes([UInt8](data), to: file)
    }

    /// The whole content of `file`; nil (errno set) when it cannot be read.
    package static func readData(_ file: String) -> Data? {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[0..<n])
        }
    }
}
