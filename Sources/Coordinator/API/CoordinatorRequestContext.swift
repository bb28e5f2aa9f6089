import Hummingbird

/// The context of one API request: Hummingbird's core storage and, once
/// ``AuthenticationMiddleware`` has checked the bearer token, the token's role.
public struct CoordinatorRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The verified token, `nil` before authentication (and for `GET /healthz`).
    public var token: TokenRecord?

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// The longest body Hummingbird's own decoding reads; the API reads bodies itself with
    /// the same limit (``CoordinatorAPI/maximumBodySize``).
    public var maxUploadSize: Int { CoordinatorAPI.maximumBodySize }

    /// The role of the verified token.
    ///
    /// - Throws: `unauthorized` when no token was verified (a route wired without the
    ///   authentication middleware must not act as anyone).
    func role() throws(APIError) -> TokenRole {
        guard let token else { throw APIError(.unauthorized, "no bearer token was verified for this request") }
        return token.role
    }
}
