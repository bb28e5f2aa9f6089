import Hummingbird
import Logging

/// Turns every error a handler or an inner middleware throws into the API's one error shape
/// (`{"error": {"code", "message"}}`) with its status: ``APIError`` as it is, a
/// ``CoordinatorStoreError`` by its code (``APIError/init(_:)``), Hummingbird's own errors
/// (no such route) by their status, anything else as a 500 whose detail goes to the log only.
struct ErrorResponseMiddleware: RouterMiddleware {
    typealias Context = CoordinatorRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as CoordinatorStoreError {
            if error.code == .unavailable || error.code == .corrupt {
                context.logger.error("store: \(error)", metadata: ["cause": "\(error.cause.map { "\($0)" } ?? "none")"])
            }
            return APIError(error).response
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                return APIError(.notFound, "no route \(request.method.rawValue) \(request.uri.path)").response
            case .contentTooLarge:
                return APIError(.tooLarge, "the body is over \(CoordinatorAPI.maximumBodySize) bytes").response
            case .badRequest:
                return APIError(.badRequest, error.body ?? "bad request").response
            default:
                context.logger.error("request failed: \(error)")
                return APIError(.internal, "the request failed (\(error.status.code))").response
            }
        } catch {
            context.logger.error("request failed: \(error)")
            return APIError(.internal, "the request failed; see the coordinator's log").response
        }
    }
}
