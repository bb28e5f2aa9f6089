#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A notification input that cannot start, with a stable code and the path concerned.
public struct NotifyInputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; stable across releases.
    public enum Code: String, Sendable {
        /// Something other than a fifo is at the fifo's path.
        case notAFifo
        /// Something other than a socket is at the socket's path.
        case notASocket
        /// Another process listens on the socket's path (another agent, Dovecot's aggregator).
        case inUse
        /// The fifo or socket cannot be made, opened or listened on.
        case cannotCreate
        /// The owner, group or mode cannot be set.
        case cannotSetAccess
    }

    /// The stable code.
    public var code: Code
    /// The fifo or socket.
    public var path: String
    /// What is wrong, with the system's reason where there is one.
    public var message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// `PATH: MESSAGE`.
    public var description: String { "\(path): \(message)" }

    /// An error for the failed system call `call`, with `errno`'s text.
    static func system(_ code: Code, path: String, _ call: String) -> NotifyInputError {
        NotifyInputError(code, path: path, "\(call) failed: \(String(cString: strerror(errno)))")
    }
}
