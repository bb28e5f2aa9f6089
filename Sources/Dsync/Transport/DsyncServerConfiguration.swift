import MailStore

/// How a host serves dsync to its peer (`duplex agent`).
public struct DsyncServerConfiguration: Sendable, Equatable {
    /// Address to listen on (`127.0.0.1`, `::`, a host name).
    public var host: String
    /// TCP port; 0 picks a free one (tests).
    public var port: Int
    /// This host's identity and whom it accepts.
    public var tls: DsyncTLSFiles
    /// Where a user's mail root is, e.g. `/var/vmail/%d/%n/Maildir` (see ``MailRootTemplate``).
    public var mailRoot: MailRootTemplate
    /// How long a connection may wait for a user's sync lock before it answers "lock timeout".
    public var lockTimeout: Duration
    /// A connection with no frame from the peer for this long is closed.
    public var idleTimeout: Duration
    /// How the served mail roots are written (fsync, lock timeouts, host name in file names).
    public var store: MailStoreConfiguration
    /// Where this host's replicator keeps its sync states and whom it syncs with, so that
    /// the peer's replicator can start from the later of the two hosts' states
    /// (``DsyncPairState``); nil serves none (a host without a replicator).
    public var pairState: DsyncPairState?

    /// The port `duplex agent` listens on unless configured.
    public static let defaultPort = 7445

    public init(
        host: String = "0.0.0.0", port: Int = DsyncServerConfiguration.defaultPort, tls: DsyncTLSFiles,
        mailRoot: MailRootTemplate, lockTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(120),
        store: MailStoreConfiguration = MailStoreConfiguration(), pairState: DsyncPairState? = nil
    ) {
        self.store = store
        self.pairState = pairState
        self.host = host
        self.port = port
        self.tls = tls
        self.mailRoot = mailRoot
        self.lockTimeout = lockTimeout
        self.idleTimeout = idleTimeout
    }
}

/// The sync states a host's replicator saves, as the host's agent serves them to its peer.
///
/// Both hosts of a pair run a replicator and either may sync a user; each saves the common
/// state it agreed on. A host whose last sync of a user is older than its peer's must not
/// plan against its own state: a message the peer's later sync brought here, and the peer
/// has expunged since, would look new here and be copied back. So a replicator's sync asks
/// the peer for its state's header with the lock and, when the peer's
/// ``SyncState/Header/generation`` is larger, plans against the peer's state instead.
/// Dovecot keeps the same knowledge in each mailbox's index (the last common UID and
/// modseq of both sides), so either host's dsync starts from it.
public struct DsyncPairState: Sendable, Equatable {
    /// The replicator's state directory.
    public var directory: String
    /// The replicator's peer as its syncs name it (`tls://HOST:PORT`): with the user and
    /// the user's mail root it names the state file.
    public var peer: String

    public init(directory: String, peer: String) {
        self.directory = directory
        self.peer = peer
    }

    /// The state store of `user`, whose mail root here is `root`.
    public func store(user: String, root: String) -> SyncStateStore {
        SyncStateStore(directory: directory, user: user, sideA: root, sideB: peer)
    }
}
