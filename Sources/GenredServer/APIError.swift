import GenredKit
import Hummingbird

/// An HTTP error answered as `{"error": "..."}`, so every failure a client sees has a JSON body.
struct APIError: Error, HTTPResponseError, Sendable {
    let status: HTTPResponse.Status
    let message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    static func badParameter(_ name: String, _ why: String) -> APIError { APIError(.badRequest, "\(name): \(why)") }

    /// The status a query layer error stands for: no such track (or no analysis of it) is 404,
    /// a bad parameter 400.
    init(_ error: QueryError) {
        switch error.reason {
        case .unknownTrack, .noAnalysis, .emptyLibrary: self.init(.notFound, error.description)
        case .badParameter: self.init(.badRequest, error.description)
        case .analysisFailed: self.init(.internalServerError, error.description)
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }

    var response: Response {
        var response = Responses.json(JSONLine.object([("error", .string(message))]), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// Response builders.
enum Responses {
    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        // JSONLine leaves no carried byte in its text (they become \udcNN), so this is UTF-8.
        bytes(Array(text.utf8), contentType: "application/json; charset=utf-8", status: status)
    }

    static func bytes(_ bytes: [UInt8], contentType: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = contentType
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
