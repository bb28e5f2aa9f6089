import Hummingbird

/// Checks the bearer token of every request except `GET /healthz` and puts the token's
/// record in the context.
///
/// `Authorization: Bearer SECRET` is required; a missing header, another scheme, or a secret
/// the store does not know (or has revoked) is refused with 401 before any handler runs. The
/// store keeps only the secrets' SHA-256 digests and looks a secret up by its digest, so no
/// comparison of secrets happens here and timing reveals nothing about stored ones. The
/// secret is never logged. With a ``RouteDirectory``, a token the store verified is held in
/// memory (by digest) until any token changes, at most a minute.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = CoordinatorRequestContext

    let store: any CoordinatorStore
    let routes: RouteDirectory?

    /// Paths served without a token.
    static let openPaths: Set<String> = ["/healthz"]

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, "no Authorization header; send Authorization: Bearer SECRET")
        }
        guard let secret = Self.bearerSecret(header) else {
            throw APIError(.unauthorized, "the Authorization header must be Bearer SECRET")
        }
        let verified: TokenRecord?
        if let routes {
            verified = try await routes.verifyToken(secret: secret)
        } else {
            verified = try await store.verifyToken(secret: secret)
        }
        guard let token = verified else {
            throw APIError(.unauthorized, "the bearer token is unknown or revoked")
        }
        var context = context
        context.token = token
        return try await next(request, context)
    }

    /// The secret of `Bearer SECRET` (the scheme in any case, then a space; spaces or tabs
    /// around the secret), or `nil` for another scheme or no secret. Byte by byte: it runs on
    /// every request, where Foundation's case folding and trimming cost more than the lookup.
    static func bearerSecret(_ header: String) -> String? {
        let blanks: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\t")]
        let bytes = Array(header.utf8)
        let scheme = Array("bearer".utf8)
        guard bytes.count > scheme.count, bytes[scheme.count] == UInt8(ascii: " ") else { return nil }
        for (byte, expected) in zip(bytes, scheme) where byte | 0x20 != expected { return nil }
        let value = bytes[scheme.count...].drop(while: blanks.contains)
        let trimmed = value.reversed().drop(while: blanks.contains).reversed()
        return trimmed.isEmpty ? nil : String(decoding: trimmed, as: UTF8.self)
    }
}
