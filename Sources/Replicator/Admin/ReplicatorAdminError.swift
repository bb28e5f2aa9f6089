/// A failure of the replicator's admin socket, on the server or the client side.
public struct ReplicatorAdminError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; stable across releases.
    public enum Code: String, Sendable, Equatable {
        /// A request line the server cannot act on: not JSON, too long, an unknown command,
        /// a missing or malformed field. The server answers it and keeps the connection.
        case badRequest
        /// The replicator understood the request and refused it (`User not found`).
        case refused
        /// The server cannot take the socket path: it exists and is not a socket, another
        /// process serves it, or it cannot be bound, secured or renamed into place.
        case cannotListen
        /// The client cannot connect: no socket, nothing listening, permission denied.
        case cannotConnect
        /// The connection closed before the answer came.
        case disconnected
        /// No answer within the client's timeout.
        case timedOut
        /// The answer is not a response of this protocol (not JSON, too long, wrong shape).
        case badResponse
    }

    /// The stable failure code.
    public var code: Code
    /// What went wrong, in words; for ``Code/refused`` the replicator's own text.
    public var message: String
    /// The admin socket concerned, when known.
    public var socketPath: String?

    public init(_ code: Code, _ message: String, socketPath: String? = nil) {
        self.code = code
        self.message = message
        self.socketPath = socketPath
    }

    public var description: String {
        socketPath.map { "\($0): \(message)" } ?? message
    }
}
