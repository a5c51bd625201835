#if canImport(Glibc)
import Glibc
#endif
import GenredKit
import Hummingbird

/// A byte range of a file, from an HTTP `Range` header.
struct ByteRange: Equatable {
    var start: Int
    /// Inclusive.
    var end: Int
    var length: Int { end - start + 1 }

    /// The range `header` asks for in a file of `size` bytes: nil for none (or one that asks for
    /// several ranges, which is answered whole, as RFC 9110 allows); `.failure` when it cannot be
    /// satisfied (416).
    static func parse(_ header: String?, size: Int) -> Result<ByteRange, APIError>? {
        guard let header, header.hasPrefix("bytes=") else { return nil }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        let unsatisfiable = APIError(.rangeNotSatisfiable, "range \(spec) lies outside the file's \(size) bytes",
                                     headers: [.contentRange: "bytes */\(size)"])
        if first.isEmpty {
            // The last N bytes.
            guard let n = Int(last), n > 0 else { return .failure(unsatisfiable) }
            guard size > 0 else { return .failure(unsatisfiable) }
            return .success(ByteRange(start: max(0, size - n), end: size - 1))
        }
        guard let start = Int(first), start >= 0 else { return nil }
        guard start < size else { return .failure(unsatisfiable) }
        if last.isEmpty { return .success(ByteRange(start: start, end: size - 1)) }
        guard let end = Int(last), end >= start else { return nil }
        return .success(ByteRange(start: start, end: min(end, size - 1)))
    }
}

extension LibraryServer {
    /// The MIME types of the containers genred reads (`AudioContainer`), as browsers expect them.
    static func contentType(format: String?) -> String {
        switch format {
        case "mp3": "audio/mpeg"
        case "flac": "audio/flac"
        case "ogg-vorbis": "audio/ogg"
        case "opus": "audio/ogg; codecs=opus"
        case "wav": "audio/wav"
        case "aiff": "audio/aiff"
        default: "application/octet-stream"
        }
    }

    /// A library file's bytes, whole or the range asked for (206), so a browser can seek. The
    /// file is the one the database names for the id: nothing in the request is a path.
    func audio(_ id: Int64, range rangeHeader: String?) throws -> Response {
        let record: TrackRecord?
        do { record = try query.store.track(id: id) } catch { throw APIError(.internalServerError, "\(error)") }
        guard let record else { throw APIError(.notFound, "id \(id): no track with that id") }
        let path = record.path
        guard let info = PathIO.stat(path), info.st_mode & S_IFMT == S_IFREG else {
            throw APIError(.notFound, "id \(id): the file is gone (\(FilePath.display(path)))")
        }
        let size = Int(info.st_size)
        var headers: HTTPFields = [.acceptRanges: "bytes", .contentType: Self.contentType(format: record.format)]
        var status = HTTPResponse.Status.ok
        var asked = ByteRange(start: 0, end: size - 1)
        switch ByteRange.parse(rangeHeader, size: size) {
        case .success(let r)?:
            asked = r
            status = .partialContent
            headers[.contentRange] = "bytes \(r.start)-\(r.end)/\(size)"
        case .failure(let error)?:
            throw error
        case nil:
            break
        }
        let range = asked
        let body = ResponseBody(contentLength: max(0, range.length)) { writer in
            let fd = PathIO.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw APIError(.internalServerError, "cannot open the file") }
            defer { close(fd) }
            var offset = range.start
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while offset <= range.end {
                let want = min(chunk.count, range.end - offset + 1)
                let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
                if n < 0 && errno == EINTR { continue }
                // A file cut short meanwhile: stop, and the client sees the connection end early.
                guard n > 0 else { throw APIError(.internalServerError, "the file changed while it was read") }
                try await writer.write(ByteBuffer(bytes: chunk[0..<n]))
                offset += n
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }
}
