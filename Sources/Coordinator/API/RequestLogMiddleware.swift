import Hummingbird
import Logging

/// Logs every request once it is answered: method, path, status and duration in
/// milliseconds, at `info` (5xx at `error`). Neither headers (the bearer token) nor bodies
/// nor the query string are logged.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = CoordinatorRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        Self.log(
            method: request.method.rawValue, path: request.uri.path, status: response.status.code, elapsed: .now - start,
            to: context.logger)
        return response
    }

    /// Logs one answered request (also for those `RouteLookupFastPath` answers).
    static func log(method: String, path: String, status: Int, elapsed: Duration, to logger: Logger) {
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let metadata: Logger.Metadata = [
            "method": "\(method)", "path": "\(path)", "status": "\(status)", "duration_ms": "\((milliseconds * 10).rounded() / 10)",
        ]
        logger.log(level: status >= 500 ? .error : .info, "request", metadata: metadata)
    }
}
