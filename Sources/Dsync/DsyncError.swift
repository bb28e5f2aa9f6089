import MailStore

/// An error from the sync engine, with a stable code and context.
public struct DsyncError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The user's sync lock was not free in time; safe to retry.
        case lockTimeout
        /// A side changed during the sync; it converged as far as it could, run again.
        case changedDuringSync
        /// Corrupt input: a state file, a Maildir, a frame.
        case badData
        /// The sync would propagate a mass disappearance and was refused.
        case massLoss
        /// The user's mail root does not exist on a side.
        case noSuchUser
        /// Invalid arguments.
        case usage
        /// The operating system refused access to a mail root, lock or state file.
        case permissionDenied
        /// The peer cannot be reached (connection refused, no route, name unknown, timeout
        /// while connecting).
        case peerUnreachable
        /// The peer broke the dsync protocol: a malformed, unexpected or corrupt frame, a
        /// body whose size or SHA-256 digest is not the announced one, an unknown protocol
        /// major version, or the connection closing in the middle of an exchange.
        case protocolError
        /// Mutual TLS failed: no certificate, one from an untrusted CA, or a peer identity
        /// that is not allowed.
        case authenticationFailed
        /// Anything else.
        case io

        /// The exit code of `duplex sync` (doveadm's codes where it has one).
        public var exitCode: Int32 {
            switch self {
            case .changedDuringSync: 2
            case .usage: 64
            case .badData, .massLoss: 65
            case .noSuchUser: 67
            case .peerUnreachable: 68
            case .lockTimeout: 75
            case .protocolError: 76
            case .permissionDenied, .authenticationFailed: 77
            case .io: 74
            }
        }
    }

    public var code: Code
    public var message: String
    /// The user the sync was for.
    public var user: String?

    public init(_ code: Code, _ message: String, user: String? = nil) {
        self.code = code
        self.message = message
        self.user = user
    }

    public var description: String {
        (user.map { "user \($0): " } ?? "") + message
    }

    /// Maps a store error to the sync's codes.
    static func from(_ error: MailStoreError, user: String?) -> DsyncError {
        let code: Code
        switch error.code {
        case .lockTimeout: code = .lockTimeout
        case .badData, .invalidArgument: code = .badData
        case .uidNotAvailable, .alreadyExists, .notFound: code = .changedDuringSync
        case .permissionDenied: code = .permissionDenied
        default: code = .io
        }
        return DsyncError(code, error.description, user: user)
    }
}
