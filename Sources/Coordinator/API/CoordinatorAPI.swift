import Hummingbird
import Logging
import NIOCore

/// The coordinator's HTTP API v1 (docs/coordinator-api.md): tenants, pairs, users, routes,
/// moves, status, agents and tokens over one ``CoordinatorStore``.
///
/// Every request but `GET /healthz` needs a bearer token (``AuthenticationMiddleware``);
/// what a token's role may do is checked before anything changes (``Access``). Bodies are
/// JSON objects of at most ``maximumBodySize`` bytes, read strictly (``JSONObjectReader``):
/// an unknown, missing or mistyped field, or a name against the naming rules, is refused
/// with 400 naming the field, and nothing changes. Errors have one shape (``APIError``).
/// Each request is logged once answered, without its token (``RequestLogMiddleware``).
public struct CoordinatorAPI: Sendable {
    /// The longest request body read, in bytes (1 MiB); a longer one is refused with 413.
    public static let maximumBodySize = 1 << 20
    /// The longest `mask` of a user listing, in UTF-8 bytes (a user name's limit).
    static let maximumMaskLength = 255

    let store: any CoordinatorStore
    /// The progress of the moves this coordinator runs, served with each move; `nil` when it
    /// runs none.
    let moveProgress: MoveProgressBoard?
    /// Deletes old copies of moved users (`POST /v1/users/{user}/purge-old`); `nil` when this
    /// coordinator has no moves configuration (no certificate to reach agents with).
    let purger: MovePurger?
    /// Routes and verified tokens held in memory (PostgreSQL only); `nil` reads the store on
    /// every request.
    let routes: RouteDirectory?

    /// The API over `store`.
    ///
    /// - Parameters:
    ///   - moveProgress: the leader's view of its running moves, shown as each move's
    ///     `progress` (null without it).
    ///   - purger: serves `purge-old`; without it the route answers 503.
    public init(store: any CoordinatorStore, moveProgress: MoveProgressBoard? = nil, purger: MovePurger? = nil) {
        self.init(store: store, moveProgress: moveProgress, purger: purger, routes: nil)
    }

    /// The API over `store`, answering route lookups and token checks from `routes` where it
    /// holds them.
    init(store: any CoordinatorStore, moveProgress: MoveProgressBoard?, purger: MovePurger?, routes: RouteDirectory?) {
        self.store = store
        self.moveProgress = moveProgress
        self.purger = purger
        self.routes = routes
    }

    /// The router with every route of the API and its middleware.
    public func makeRouter() -> Router<CoordinatorRequestContext> {
        let router = Router(context: CoordinatorRequestContext.self)
        // Middleware applies to the routes added after it; the order is outermost first:
        // the log sees the final status, errors become the API's shape, then the token.
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: ErrorResponseMiddleware())
        router.add(middleware: AuthenticationMiddleware(store: store, routes: routes))
        addHealthRoute(to: router)
        addTenantRoutes(to: router)
        addPairRoutes(to: router)
        addUserRoutes(to: router)
        addPurgeRoute(to: router)
        addStatusRoute(to: router)
        addAgentRoutes(to: router)
        addTokenRoutes(to: router)
        return router
    }

    // MARK: Reading requests

    /// The request's body as a JSON object to read fields from.
    ///
    /// - Throws: `tooLarge` over ``maximumBodySize``; `badRequest` for a body that is empty,
    ///   not JSON or not an object.
    static func body(of request: Request) async throws(APIError) -> JSONObjectReader {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodySize)
        } catch is NIOTooManyBytesError {
            throw APIError(.tooLarge, "the body is over \(maximumBodySize) bytes")
        } catch {
            throw .badRequest("the body could not be read: the connection ended while it was sent")
        }
        return try JSONObjectReader(body: Array(buffer.readableBytesView))
    }

    /// The path parameter `parameter` as a name of `kind`.
    ///
    /// - Throws: `badRequest` naming the parameter and the rule the name breaks.
    static func name(_ parameter: String, _ kind: CoordinatorName.Kind, in context: CoordinatorRequestContext) throws(APIError)
        -> CoordinatorName
    {
        guard let raw = context.parameters.get(parameter) else {
            throw .badRequest("the path has no \(parameter)")
        }
        // Names never contain '%', so a '%' here is percent-encoding to undo.
        let text = raw.utf8.contains(UInt8(ascii: "%")) ? (raw.removingPercentEncoding ?? raw) : raw
        do {
            return try CoordinatorName(text, kind: kind)
        } catch {
            throw .badRequest("path parameter \(parameter): \(error)")
        }
    }

    /// The path parameter `parameter` as an id (a positive whole number).
    static func id(_ parameter: String, in context: CoordinatorRequestContext) throws(APIError) -> Int64 {
        guard let text = context.parameters.get(parameter), let id = Int64(text), id > 0 else {
            throw .badRequest("path parameter \(parameter) must be a positive whole number")
        }
        return id
    }

    /// The query parameter `name` (Hummingbird has percent-decoded it), or `nil` when absent.
    static func query(_ name: String, of request: Request) -> String? {
        request.uri.queryParameters[name[...]].map(String.init)
    }

    /// The query parameter `name` as a whole number in `range`, or `defaultValue` when absent.
    static func integerQuery(
        _ name: String, of request: Request, in range: ClosedRange<Int64>, default defaultValue: Int64
    ) throws(APIError) -> Int64 {
        guard let text = query(name, of: request) else { return defaultValue }
        guard let value = Int64(text), range.contains(value) else {
            throw .badRequest("query parameter \(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(text.debugDescription)")
        }
        return value
    }

    /// The query parameter `name` as a name of `kind`, or `nil` when absent.
    static func nameQuery(_ name: String, _ kind: CoordinatorName.Kind, of request: Request) throws(APIError) -> CoordinatorName? {
        guard let text = query(name, of: request) else { return nil }
        return try JSONObjectReader.name(text, kind, field: "query parameter \(name)")
    }
}
