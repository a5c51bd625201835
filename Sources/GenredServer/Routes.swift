import Foundation
import GenredKit
import Hummingbird

extension LibraryServer {
    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/") { _, _ in
            Responses.bytes(Array(WebApp.html.utf8), contentType: "text/html; charset=utf-8",
                            headers: [.contentSecurityPolicy: WebApp.contentSecurityPolicy])
        }
        router.get("/api/status") { _, _ in
            let report: StatusReport
            do { report = try StatusReport.gather(databasePath: settings.databasePath) } catch {
                throw APIError(.internalServerError, "\(error)")
            }
            return Responses.json(report.json())
        }
        router.get("/api/tracks") { request, _ in try tracks(QueryParameters(request.uri.query)) }
        router.get("/api/tracks/:id") { _, context in try track(try Self.id(context)) }
        router.get("/api/tracks/:id/similar") { request, context in
            try similar(try Self.id(context), QueryParameters(request.uri.query))
        }
        router.get("/api/tracks/:id/audio") { request, context in try audio(try Self.id(context), range: request.headers[.range]) }
        router.get("/api/path") { request, _ in try path(QueryParameters(request.uri.query)) }
        router.get("/api/map") { request, _ in try await map(QueryParameters(request.uri.query)) }
        router.get("/api/lookup") { request, _ in try lookup(QueryParameters(request.uri.query)) }
        router.get("/api/playlist.m3u") { request, _ in try playlist(QueryParameters(request.uri.query)) }
    }

    static func id(_ context: some RequestContext) throws(APIError) -> Int64 {
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text) else { throw .badParameter("id", "\(text) is not a track id") }
        return id
    }

    func snapshot() throws(APIError) -> LibrarySnapshot {
        do { return try query.snapshot() } catch { throw APIError(.internalServerError, "\(error)") }
    }

    /// The row of an analysed track; 404 for an id the library does not have or has not analysed.
    func row(_ id: Int64, in snapshot: LibrarySnapshot, parameter: String = "id") throws(APIError) -> Int {
        guard let row = snapshot.row(id: id) else {
            throw APIError(.notFound, "\(parameter) \(id): no analysed track with that id")
        }
        return row
    }

    // MARK: Tracks

    func tracks(_ p: QueryParameters) throws -> Response {
        let limit = try p.int("limit", default: 100, in: 1...10_000)
        let offset = try p.int("offset", default: 0, in: 0...Int(Int32.max))
        let s = try snapshot()
        let rows = s.search(text: p.string("q"), genre: p.string("genre"))
        let page = rows.dropFirst(offset).prefix(limit)
        return Responses.json(JSONLine.object([
            ("total", .int(rows.count)), ("offset", .int(offset)), ("limit", .int(limit)),
            ("tracks", .array(page.map { .raw(s.summary(row: $0).json) })),
        ]))
    }

    func track(_ id: Int64) throws -> Response {
        let record: TrackRecord?
        do { record = try query.store.track(id: id) } catch { throw APIError(.internalServerError, "\(error)") }
        guard let record else { throw APIError(.notFound, "id \(id): no track with that id") }
        do {
            let detail = try TrackDetail.load(record: record, store: query.store, model: query.manifest.name,
                                              groups: settings.groups, top: 3)
            return Responses.json(detail.json(extended: true))
        } catch let error as QueryError {
            guard case .noAnalysis = error.reason else { throw error }
            // Known but not analysed (it failed, or waits in the queue): what the store has.
            return Responses.json(JSONLine.object([
                ("id", .int(Int(id))), ("path", .string(record.path)), ("title", JSONLine.string(record.title)),
                ("artist", JSONLine.string(record.artist)), ("album", JSONLine.string(record.album)),
                ("duration_s", record.duration.map { .number($0) } ?? .raw("null")), ("model", .string(query.manifest.name)),
                ("analysed", .bool(false)), ("last_error", JSONLine.string(record.lastError)),
            ]))
        }
    }

    // MARK: Similarity

    func similar(_ id: Int64, _ p: QueryParameters) throws -> Response {
        let count = try p.int("count", default: 10, in: 1...500)
        let sameAlbum = try p.bool("same_album", default: true)
        let s = try snapshot()
        let i = try row(id, in: s)
        let subject = SimilarTracks.subject(row: i, of: s.index)
        let matches = SimilarTracks.nearest(to: subject, in: s.index, count: count, sameAlbum: sameAlbum)
        return Responses.json(JSONLine.object([
            ("track", .raw(s.summary(row: i).json)),
            ("matches", .array(matches.map { m in
                .raw(JSONLine.object([
                    ("track", .raw(s.summary(row: m.index).json)), ("similarity", .float(m.similarity)),
                    ("distance", .float(m.distance)), ("reason", .string(SimilarTracks.reason(m.shared))),
                    ("shared", .array(m.shared.map { .string($0) })),
                ]))
            })),
        ]))
    }

    func pathSteps(_ p: QueryParameters, in s: LibrarySnapshot) throws -> [PathStep] {
        let from = try row(try p.id("from"), in: s, parameter: "from")
        let to = try row(try p.id("to"), in: s, parameter: "to")
        let count = try p.int("count", default: 25, in: 2...SimilarityIndex.maximumPathLength)
        return try s.index.path(from: from, to: to, count: count)
    }

    func path(_ p: QueryParameters) throws -> Response {
        let s = try snapshot()
        let steps = try pathSteps(p, in: s)
        return Responses.json(JSONLine.object([
            ("matches", .array(steps.map { step in
                .raw(JSONLine.object([
                    ("track", .raw(s.summary(row: step.row).json)), ("similarity", .float(step.similarity)),
                    ("step_similarity", .float(step.stepSimilarity)), ("reason", .string(SimilarTracks.reason(step.shared))),
                ]))
            })),
        ]))
    }

    // MARK: Map

    func map(_ p: QueryParameters) async throws -> Response {
        guard let features = MapFeatures(rawValue: p.string("features") ?? "embedding") else {
            throw APIError.badParameter("features", "must be one of \(MapFeatures.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let colouring = try MapColouring(parameter: p.string("colour") ?? p.string("color") ?? "genre")
        let s = try snapshot()
        // An unknown taxonomy is refused before the map is computed.
        var labels: [Int64: String] = [:]
        if case .taxonomy(let name) = colouring { labels = try query.taxonomyLabels(name, snapshot: s) }
        let map = await maps.map(s, features: features)
        let (keys, legend) = colouring.keys(map, labels: labels)
        var points: [JSONLine.Value] = []
        points.reserveCapacity(map.points.count)
        for (i, point) in map.points.enumerated() {
            let name = Playlist.displayName(path: point.path, title: point.title, artist: point.artist)
            points.append(.raw(JSONLine.object([
                ("id", .int(Int(map.ids[i]))), ("x", .float(point.x)), ("y", .float(point.y)), ("c", .int(keys[i])),
                ("name", .string(name)),
            ])))
        }
        return Responses.json(JSONLine.object([
            ("features", .string(features.rawValue)), ("colour", .string(colouring.parameter)),
            ("colours", .array(query.colourNames().map { .string($0) })),
            ("count", .int(map.points.count)), ("kl_divergence", .number(map.klDivergence)),
            ("perplexity", .number(map.perplexityUsed)), ("iterations", .int(map.iterations)), ("note", JSONLine.string(map.note)),
            ("legend", .array(legend.enumerated().map { i, entry in
                .raw(JSONLine.object([("key", .string(entry.key)), ("count", .int(entry.count)), ("colour", .string(Self.colour(i)))]))
            })),
            ("points", .array(points)),
        ]))
    }

    /// The legend's colours: the map palette first, then hues a golden angle apart.
    static func colour(_ i: Int) -> String {
        if i < MapWriter.palette.count { return MapWriter.palette[i] }
        return "hsl(\(Int(Double(i) * 137.508) % 360), 45%, 55%)"
    }

    // MARK: Lookup and playlists

    func lookup(_ p: QueryParameters) throws -> Response {
        let keys = ["path", "mbid", "isrc", "title"]
        guard keys.contains(where: { p.string($0) != nil }) else {
            throw APIError.badParameter("lookup", "give path, mbid, isrc or title (with artist)")
        }
        let s = try snapshot()
        guard let found = s.lookup(path: p.string("path"), mbid: p.string("mbid"), isrc: p.string("isrc"),
                                   title: p.string("title"), artist: p.string("artist"), duration: try p.double("duration")) else {
            throw APIError(.notFound, "no analysed track matches")
        }
        return Responses.json(JSONLine.object([
            ("matched_by", .string(found.key.rawValue)),
            ("matches", .array(found.rows.map { .raw(s.summary(row: $0).json) })),
        ]))
    }

    /// Any list the API gives, as an M3U playlist: `ids=1,2,3`, `similar=ID&count=N`,
    /// `from=ID&to=ID&count=N` (a path), or a search (`q`, `genre`, `limit`, `offset`).
    func playlist(_ p: QueryParameters) throws -> Response {
        let s = try snapshot()
        var rows: [Int]
        if let ids = p.string("ids") {
            rows = []
            for part in ids.split(separator: ",") {
                guard let id = Int64(part.trimmingCharacters(in: .whitespaces)) else {
                    throw APIError.badParameter("ids", "\(part) is not a track id")
                }
                rows.append(try row(id, in: s))
            }
        } else if p.string("similar") != nil {
            let i = try row(try p.id("similar"), in: s, parameter: "similar")
            let count = try p.int("count", default: 10, in: 1...500)
            rows = [i] + SimilarTracks.nearest(to: SimilarTracks.subject(row: i, of: s.index), in: s.index, count: count, sameAlbum: true)
                .map(\.index)
        } else if p.string("from") != nil || p.string("to") != nil {
            rows = try pathSteps(p, in: s).map(\.row)
        } else {
            let limit = try p.int("limit", default: 1000, in: 1...100_000)
            let offset = try p.int("offset", default: 0, in: 0...Int(Int32.max))
            rows = Array(s.search(text: p.string("q"), genre: p.string("genre")).dropFirst(offset).prefix(limit))
        }
        let text = Playlist.m3u(rows.map { s.playlistEntry(row: $0) })
        // The listed paths are the files' exact bytes, as `genred similar --m3u` writes them.
        return Responses.bytes(FilePath.bytes(text), contentType: "audio/x-mpegurl",
                               headers: [.contentDisposition: "attachment; filename=\"genred.m3u\""])
    }
}
