/// Why a request of the agent to the coordinator did not succeed, or why its local copy of
/// the user list cannot be used.
///
/// Descriptions name the coordinator's URL or the cache file and never carry the token.
struct CoordinatorLinkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, stable for logs and tests.
    enum Code: String, Sendable {
        /// No answer: the connection, TLS or the read failed (the client's error says which).
        case unreachable
        /// The coordinator answered 5xx: its database is down, or it failed.
        case unavailable
        /// The coordinator refused the request (4xx): a revoked token, an unknown pair or
        /// host, a body it does not take.
        case refused
        /// The answer is not what the API promises.
        case badAnswer
        /// The cache file cannot be read or written, or is corrupt.
        case badCache
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}
