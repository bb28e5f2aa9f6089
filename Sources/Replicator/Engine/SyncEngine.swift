/// What runs one sync of a user with the peer host: the native TLS dsync, or Dovecot's
/// `doveadm sync`.
public protocol SyncEngine: Sendable {
    /// A short name for status and logs (`native`, `doveadm`).
    var name: String { get }

    /// Syncs `user` with the peer, a full sync when `full`. Never throws: every way a sync
    /// can end is an outcome.
    func sync(user: String, full: Bool) async -> SyncResult
}

/// How a sync ended, with what it moved.
public struct SyncResult: Sendable, Equatable {
    public var outcome: SyncOutcome
    /// Messages and bytes copied to the peer and from it.
    public var messagesSent = 0
    public var messagesReceived = 0
    public var bytesSent: Int64 = 0
    public var bytesReceived: Int64 = 0

    public init(_ outcome: SyncOutcome) {
        self.outcome = outcome
    }
}
