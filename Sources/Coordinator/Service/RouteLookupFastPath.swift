import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Answers `GET /v1/users/{user}/route` on the connection's event loop when everything the
/// answer needs is held in memory, and hands every other request on to the API unchanged.
///
/// A route lookup is the one request a proxy makes for every login, thousands a second.
/// Through the API's router each one is passed from the event loop to Swift's concurrency
/// pool and its response back, and at 10 000 lookups a second those thread switches were
/// about a quarter of the coordinator's CPU. Here a lookup is answered within the read that
/// brought it.
///
/// Only the plain success is answered here: a `GET` of exactly that path (no query string,
/// no `%`-encoding, no `Connection` header), a bearer token held by the ``RouteDirectory``
/// whose role may see the user's tenant (admin, or that tenant's token), and the user's route
/// held. Everything else (a refusal, a route not held, any other request) goes on to the API,
/// which answers it as it would without this handler; the body and headers answered here are
/// the API's for the same lookup (`RouteRepresentation`; `Content-Type: application/json`,
/// `Content-Length` and `Date`, as Hummingbird writes them).
///
/// HTTP/1.1 answers requests in order: while a request handed on has not been answered, the
/// next ones are handed on too.
final class RouteLookupFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let routes: RouteDirectory
    private let logger: Logger
    /// Requests handed on whose response has not ended yet.
    private var handedOn = 0
    /// The answer to the request being read, sent at its end; its parts are not handed on.
    private var answer: (body: [UInt8], path: String, started: ContinuousClock.Instant)?

    init(routes: RouteDirectory, logger: Logger) {
        self.routes = routes
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let request):
            if handedOn == 0, let body = heldAnswer(request) {
                answer = (body, request.path ?? "", .now)
                return
            }
            handedOn += 1
        case .body:
            if answer != nil { return }
        case .end:
            if let (body, path, started) = answer {
                answer = nil
                respond(context: context, body: body, path: path, started: started)
                return
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), handedOn > 0 { handedOn -= 1 }
        context.write(data, promise: promise)
    }

    /// The route's JSON when this request is a lookup this handler may answer, else nil.
    private func heldAnswer(_ request: HTTPRequest) -> [UInt8]? {
        guard request.method == .get, let path = request.path, request.headerFields[.connection] == nil,
            let user = Self.user(inRoutePath: path),
            let header = request.headerFields[.authorization],
            let secret = AuthenticationMiddleware.bearerSecret(header),
            let token = routes.heldToken(secret: secret),
            let route = routes.heldRoute(user: user),
            // The API's own rule (an agent token is refused too; the API says so).
            (try? Access.requireTenant(route.tenant, token.role, to: "look up routes")) != nil
        else { return nil }
        return Array(RouteRepresentation(route).json)
    }

    /// The user of `/v1/users/{user}/route` when it is a valid user name as written, else nil
    /// (user names hold no `%` or `?`, so a `%`-encoded name or a query string is nil).
    static func user(inRoutePath path: String) -> CoordinatorName? {
        let prefix = "/v1/users/".utf8, suffix = "/route".utf8
        let bytes = path.utf8
        guard bytes.count > prefix.count + suffix.count, bytes.starts(with: prefix), bytes.reversed().starts(with: suffix.reversed())
        else { return nil }
        let name = bytes.dropFirst(prefix.count).dropLast(suffix.count)
        return try? CoordinatorName(String(decoding: name, as: UTF8.self), kind: .user)
    }

    private func respond(context: ChannelHandlerContext, body: [UInt8], path: String, started: ContinuousClock.Instant) {
        var head = HTTPResponse(status: .ok)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.count)
        head.headerFields[.date] = HTTPDate.now()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if logger.logLevel <= .info {
            RequestLogMiddleware.log(method: "GET", path: path, status: 200, elapsed: .now - started, to: logger)
        }
    }
}

/// The current time as an HTTP `Date` header value (RFC 9110 §5.6.7, IMF-fixdate:
/// `Sun, 06 Nov 1994 08:49:37 GMT`), made once a second.
enum HTTPDate {
    private static let cached = Mutex<(second: Int, text: String)>((-1, ""))

    static func now() -> String {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        let second = Int(clock.tv_sec)
        if let text = cached.withLock({ $0.second == second ? $0.text : nil }) { return text }
        let text = format(second)
        cached.withLock { $0 = (second, text) }
        return text
    }

    /// `seconds` since the epoch as IMF-fixdate.
    static func format(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
