import MailStore

/// One side of a sync: a user's mail on this host (``LocalReplica``) or on a peer over TLS
/// (``RemoteReplica``).
///
/// All calls happen while the sync holds the replica's user lock
/// (``withUserLock(timeout:_:)``).
public protocol Replica: Sendable {
    /// A short description for messages, e.g. the mail root or `tls://host:port`.
    var description: String { get }

    /// Runs `body` holding the user's sync lock on this replica.
    ///
    /// - Throws: ``DsyncError`` `lockTimeout` when it is not free within `timeout`.
    func withUserLock<T: Sendable>(timeout: Duration, _ body: @Sendable () async throws -> T) async throws -> T

    /// Runs `body` holding the user's lock on this replica taken as the second of a sync's
    /// two locks, while the first (the other replica's) is held: waiting for it up to
    /// `brief` only, unless the replica knows that its holder never waits the other way
    /// round (see ``RemoteReplica``), then up to `timeout`.
    ///
    /// - Throws: ``DsyncError`` `lockTimeout` when it is not free in time.
    func withSecondUserLock<T: Sendable>(timeout: Duration, brief: Duration, _ body: @Sendable () async throws -> T) async throws -> T

    /// Starts, in the background, whatever this replica's lock will need that depends on
    /// nothing of the sync (a peer's TLS context), so taking it later waits less. Errors
    /// surface at the lock. Most replicas need nothing: the default does nothing.
    func prepareConnection()

    /// Whether the replica has a mail root at all.
    func exists() async throws -> Bool

    /// Creates the user's mail root with an empty INBOX (a user's first sync to a host
    /// that has no mail of the user yet).
    ///
    /// - Throws: ``DsyncError`` when it cannot be created (or already exists).
    func create() async throws

    /// The stamps of every mailbox (a few `stat`s each; no message list).
    func stamp() async throws -> StoreStamp

    /// Reads every mailbox with its messages. A mailbox whose name (levels joined by `/`)
    /// is a key of `reusing` is not read: that view is taken as it is (the caller knows from
    /// the stamps that it did not change).
    func read(reusing: [String: MailboxView]) async throws -> ReplicaView

    /// Streams message bodies (whole RFC 5322 messages) with their received dates, in the
    /// order of `requests`. Bodies are not held in memory: see ``MessageBodyStream``.
    func bodies(_ requests: [BodyRequest]) async throws -> any MessageBodyStream

    /// Applies changes in order. Bodies for copies are fetched from `source`.
    ///
    /// - Returns: what was done.
    func apply(_ changes: [ReplicaChange], source: any Replica) async throws -> ApplyReport

    /// The header of the sync state the replica's host saved for this user with its
    /// replication peer, from that host's side (its side is A); nil when it keeps none or
    /// the replica has no host of its own (a local Maildir).
    func pairStateHeader() async throws -> SyncState.Header?

    /// The common view of the state ``pairStateHeader()`` returned, from that host's side.
    ///
    /// - Throws: ``DsyncError`` `noSuchUser` when the host keeps no state for the user.
    func pairStateView() async throws -> ReplicaView
}

/// What applying changes did on one side.
public struct ApplyReport: Sendable, Codable, Equatable {
    public var mailboxesCreated = 0
    public var mailboxesRenamed = 0
    public var mailboxesDeleted = 0
    public var messagesCopied = 0
    public var bytesCopied: Int64 = 0
    public var flagChanges = 0
    public var expunges = 0
    public var renumbered = 0
    public var subscriptionChanges = 0
    /// Changes that could not be made because the mailbox changed meanwhile (the sync
    /// must run again).
    public var skipped = 0

    public init() {}
}

extension Replica {
    public func prepareConnection() {}

    /// Replicas that cannot create a mail root (wrappers, sources of pushed bodies) say so.
    public func create() async throws {
        throw DsyncError(.usage, "\(description): cannot create a mail root here")
    }

    /// A replica on this host cannot tell who holds its lock: it waits briefly.
    public func withSecondUserLock<T: Sendable>(timeout: Duration, brief: Duration, _ body: @Sendable () async throws -> T) async throws -> T {
        try await withUserLock(timeout: brief, body)
    }

    /// Replicas without a host of their own keep no pair state.
    public func pairStateHeader() async throws -> SyncState.Header? { nil }

    public func pairStateView() async throws -> ReplicaView {
        throw DsyncError(.noSuchUser, "\(description) keeps no sync state of its own")
    }
}
