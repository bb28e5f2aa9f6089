/// Why a request to the coordinator failed before an HTTP answer could be read, or why
/// the answer could not be used.
///
/// Descriptions name the coordinator's URL and never carry the token.
public struct CoordinatorClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, stable for scripts and exit codes.
    public enum Code: String, Hashable, Sendable {
        /// The connection could not be made (refused, no route, name not resolved, connect timeout).
        case cannotConnect
        /// The TLS handshake failed: most often the coordinator's certificate is not trusted.
        case tlsFailed
        /// No answer (or no more of it) within the read timeout.
        case timedOut
        /// The connection closed before the whole answer arrived.
        case disconnected
        /// The answer is larger than the configured maximum.
        case responseTooLarge
        /// The answer is not what the API promises (not HTTP, not the documented JSON).
        case badResponse
        /// A local file (the CA) could not be used.
        case badConfiguration
    }

    public let code: Code
    /// The coordinator's URL.
    public let url: String
    /// What happened, for people.
    public let reason: String

    public init(_ code: Code, url: String, reason: String) {
        self.code = code
        self.url = url
        self.reason = reason
    }

    public var description: String {
        switch code {
        case .cannotConnect: "cannot connect to the coordinator at \(url): \(reason)"
        case .tlsFailed: "TLS with the coordinator at \(url) failed: \(reason)"
        case .timedOut: "the coordinator at \(url) did not answer in time: \(reason)"
        case .disconnected: "the coordinator at \(url) closed the connection before answering completely"
        case .responseTooLarge: "the coordinator at \(url) sent an answer larger than \(reason)"
        case .badResponse: "the coordinator at \(url) sent a bad answer: \(reason)"
        case .badConfiguration: reason
        }
    }
}
