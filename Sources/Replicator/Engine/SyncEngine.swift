import Dsync

/// What runs one sync of a user with the peer host: the native TLS dsync, or Dovecot's
/// `doveadm sync`.
public protocol SyncEngine: Sendable {
    /// A short name for status and logs (`native`, `doveadm`).
    var name: String { get }

    /// Syncs `user` with the peer, a full sync when `full`. Never throws: every way a sync
    /// can end is an outcome.
    func sync(user: String, full: Bool) async -> SyncResult

    /// Syncs `user` with the peer after an operator decided about a mass disappearance that
    /// held it (`duplex replicator release USER --restore|--accept`).
    ///
    /// - Parameter massExpunge: ``MassExpungeResolution/hold`` for an ordinary sync;
    ///   `accept` or `restore` as the operator decided.
    func sync(user: String, full: Bool, massExpunge: MassExpungeResolution) async -> SyncResult
}

extension SyncEngine {
    /// An engine without a mass-loss guard of its own (Dovecot's `doveadm sync` has none, so it
    /// never holds a user) has nothing to decide: the sync is an ordinary one.
    public func sync(user: String, full: Bool, massExpunge: MassExpungeResolution) async -> SyncResult {
        await sync(user: user, full: full)
    }
}

/// How a sync ended, with what it moved.
public struct SyncResult: Sendable, Equatable {
    public var outcome: SyncOutcome
    /// Messages and bytes copied to the peer and from it.
    public var messagesSent = 0
    public var messagesReceived = 0
    public var bytesSent: Int64 = 0
    public var bytesReceived: Int64 = 0
    /// Conflicts the sync resolved: UIDs both sides had given to different messages (both
    /// kept under fresh UIDs), and names two different mailboxes claimed (one renamed).
    public var uidConflicts = 0
    public var nameConflicts = 0

    public init(_ outcome: SyncOutcome) {
        self.outcome = outcome
    }
}
