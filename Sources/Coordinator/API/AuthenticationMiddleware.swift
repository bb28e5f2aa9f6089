import Hummingbird

/// Checks the bearer token of every request except `GET /healthz` and puts the token's
/// record in the context.
///
/// `Authorization: Bearer SECRET` is required; a missing header, another scheme, or a secret
/// the store does not know (or has revoked) is refused with 401 before any handler runs. The
/// store keeps only the secrets' SHA-256 digests and looks a secret up by its digest, so no
/// comparison of secrets happens here and timing reveals nothing about stored ones. The
/// secret is never logged.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = CoordinatorRequestContext

    let store: any CoordinatorStore

    /// Paths served without a token.
    static let openPaths: Set<String> = ["/healthz"]

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, "no Authorization header; send Authorization: Bearer SECRET")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError(.unauthorized, "the Authorization header must be Bearer SECRET")
        }
        let secret = parts[1].trimmingCharacters(in: .whitespaces)
        guard let token = try await store.verifyToken(secret: secret) else {
            throw APIError(.unauthorized, "the bearer token is unknown or revoked")
        }
        var context = context
        context.token = token
        return try await next(request, context)
    }
}
