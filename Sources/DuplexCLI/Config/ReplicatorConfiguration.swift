import Replicator

/// What the agent's replicator does: the peer it keeps this host's users in sync with,
/// its users, its schedule, where Dovecot's notifications come in, and where its admin
/// socket and saved state are.
///
/// Read from the `replicator:` section of the agent's configuration; the section being
/// there (even empty, or only through a `DUPLEX_REPLICATOR_*` variable) is what makes the
/// agent run a replicator, and then `peer` is required. The peer is dialled with the
/// agent's own `tls` files: its certificate must carry one of `tls.allowed_peers`.
public struct ReplicatorConfiguration: Sendable, Equatable {
    /// The other host's agent, `tls://HOST:PORT`.
    public var peer: String
    /// The file the users came from, if any.
    public var usersFile: String?
    /// The users known at start (from ``usersFile``), in file order.
    public var users: [String]
    /// The users ``usersFile`` lists with `noreplicate`: never synced, and removed from the
    /// queue when it knows them.
    public var noReplicateUsers: [String] = []
    /// Dovecot 2.3's `replicator.db` to import when ``stateFile`` does not exist yet (the
    /// first start after Dovecot's replicator); nil imports nothing.
    public var importDovecotDatabase: String?
    /// Concurrency, full-sync interval and retry back-off.
    public var settings: ReplicatorSettings
    /// Dovecot's `replication-notify-fifo` to read, if any.
    public var notifyFifo: String?
    /// Dovecot's `replication-notify` socket to serve, if any.
    public var notifySocket: String?
    /// Owner, group and mode of the fifo and the socket.
    public var notifyAccess: NotifyPathAccess
    /// Seconds a `sync` request on the socket waits for its sync.
    public var syncTimeout: Int64
    /// The admin socket (`duplex replicator …`).
    public var adminSocket: String
    /// Where the queue is saved.
    public var stateFile: String
    /// Seconds between two saves of the queue while the agent runs (it is saved at shutdown
    /// too): what a crash can lose at most.
    public var stateSaveInterval = ReplicatorConfiguration.defaultStateSaveInterval
    /// The HTTP endpoint (Dovecot 2.4 events, /v1/status, /healthz, /metrics): address and port.
    public var httpHost = "127.0.0.1"
    public var httpPort = 7446

    public static let defaultAdminSocket = "/run/duplex/replicator.sock"
    public static let defaultStateFile = "/var/lib/duplex/replicator.state"
    /// A minute, as Dovecot's replicator saves its `replicator.db`.
    public static let defaultStateSaveInterval: Int64 = 60

    public init(
        peer: String, usersFile: String? = nil, users: [String] = [], settings: ReplicatorSettings = ReplicatorSettings(),
        notifyFifo: String? = nil, notifySocket: String? = nil, notifyAccess: NotifyPathAccess = NotifyPathAccess(),
        syncTimeout: Int64 = NotifySocketInput.defaultSyncTimeout, adminSocket: String = ReplicatorConfiguration.defaultAdminSocket,
        stateFile: String = ReplicatorConfiguration.defaultStateFile
    ) {
        self.peer = peer
        self.usersFile = usersFile
        self.users = users
        self.settings = settings
        self.notifyFifo = notifyFifo
        self.notifySocket = notifySocket
        self.notifyAccess = notifyAccess
        self.syncTimeout = syncTimeout
        self.adminSocket = adminSocket
        self.stateFile = stateFile
    }
}
