import Foundation
import GenredKit
import Hummingbird
import Logging
import Synchronization

/// Why `genred serve` did not start.
public struct ServeError: Error, Sendable, CustomStringConvertible {
    public let address: String
    public let reason: String

    public var description: String { "cannot serve on \(address): \(reason)" }
}

/// `genred serve`: the library's HTTP API and web app over one `LibraryQuery`.
public struct LibraryServer: Sendable {
    public struct Settings: Sendable {
        public var address = ListenAddress.default
        /// Every /api/ request must carry `Authorization: Bearer TOKEN` when set.
        public var token: String?
        public var databasePath: String
        /// The model's label groups (genre, mood), for track details.
        public var groups: [String: [String]] = [:]
        /// How `/api/map` computes its maps (`[map]` in the config).
        public var map = MapSettings()

        public init(databasePath: String) {
            self.databasePath = databasePath
        }
    }

    public let settings: Settings
    public let query: LibraryQuery
    let maps: MapCache

    /// Refuses an address other machines can reach unless a token guards it.
    public init(settings: Settings, query: LibraryQuery) throws(ServeError) {
        if !settings.address.isLoopback && (settings.token ?? "").isEmpty {
            throw ServeError(address: settings.address.description,
                             reason: "an address other machines can reach needs a token (--token or GENRED_SERVE_TOKEN)")
        }
        self.settings = settings
        self.query = query
        maps = MapCache(query: query, options: settings.map.options)
    }

    /// Serves until SIGINT or SIGTERM. `onListening` gets the address actually bound (the
    /// port the system chose for port 0).
    public func run(onListening: @escaping @Sendable (ListenAddress) -> Void) async throws {
        let router = makeRouter()
        let host = settings.address.host
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: settings.address.port), serverName: "genred/\(genredVersion)"),
            onServerRunning: { channel in
                onListening(ListenAddress(host: host, port: channel.localAddress?.port ?? 0))
            },
            logger: Self.quietLogger
        )
        try await app.runService()
    }

    /// The routes behind the token guard: what `run` serves, and what tests ask in process.
    package func makeRouter() -> Router<ServeContext> {
        let router = Router(context: ServeContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: GuardMiddleware(token: settings.token.flatMap { $0.isEmpty ? nil : $0 }))
        addRoutes(to: router)
        return router
    }

    package static var quietLogger: Logger {
        var logger = Logger(label: "genred-serve")
        logger.logLevel = .warning
        return logger
    }

    /// Runs the server from synchronous code (the CLI's commands are synchronous): the calling
    /// thread waits while Swift's concurrency runtime serves.
    public func runBlocking(onListening: @escaping @Sendable (ListenAddress) -> Void) throws {
        let outcome = Mutex<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await run(onListening: onListening) } catch { outcome.withLock { $0 = error } }
            done.signal()
        }
        done.wait()
        if let error = outcome.withLock({ $0 }) { throw error }
    }
}

/// A request's context: the server's, made from its channel, or one made without a connection
/// for a request answered in process.
package struct ServeContext: RequestContext {
    package var coreContext: CoreRequestContextStorage

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    package init(logger: Logger) {
        coreContext = .init(source: Unconnected(logger: logger))
    }

    private struct Unconnected: RequestContextSource {
        let logger: Logger
    }
}

/// Checks the token on /api/ requests and answers every error as JSON.
///
/// The page at / carries no library data (it asks the API for everything), so a browser can
/// open it before it has the token; it then sends the token with each request.
struct GuardMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let token, request.uri.path.hasPrefix("/api") {
            let given = request.headers[.authorization] ?? ""
            guard Self.constantTimeEqual(given, "Bearer " + token) else {
                return APIError(.unauthorized, "missing or wrong token: send Authorization: Bearer TOKEN",
                                headers: [.wwwAuthenticate: "Bearer realm=\"genred\""]).response
            }
        }
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as QueryError {
            return APIError(error).response
        } catch let error as HTTPError {
            return APIError(error.status, error.body ?? error.status.reasonPhrase.lowercased()).response
        } catch {
            return APIError(.internalServerError, "\(error)").response
        }
    }

    /// Compares without returning early, so the time taken does not tell how much of a guess was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}

/// Maps are computed on a thread of their own (t-SNE takes seconds to minutes and would hold a
/// thread of the concurrency pool, of which a 2-core machine has two); requests for a map being
/// computed wait for the same result.
final class MapCache: Sendable {
    let query: LibraryQuery
    let options: TSNEOptions
    private let running = Mutex<[String: Task<LibraryMap, Never>]>([:])

    init(query: LibraryQuery, options: TSNEOptions) {
        self.query = query
        self.options = options
    }

    func map(_ snapshot: LibrarySnapshot, features: MapFeatures) async -> LibraryMap {
        if let cached = query.cachedMap(snapshot, features: features) { return cached }
        let key = "\(features.rawValue)|\(snapshot.stamp?.tracks ?? -1)|\(snapshot.stamp?.lastUpdate?.timeIntervalSince1970 ?? 0)"
        let task = running.withLock { tasks in
            if let task = tasks[key] { return task }
            let query = self.query, options = self.options
            let task = Task<LibraryMap, Never> {
                await withCheckedContinuation { continuation in
                    Thread.detachNewThread {
                        continuation.resume(returning: query.computeMap(snapshot, features: features, options: options))
                    }
                }
            }
            tasks[key] = task
            return task
        }
        let map = await task.value
        _ = running.withLock { $0.removeValue(forKey: key) }
        return map
    }
}
