import Dsync

/// How the leading coordinator runs moves: its dsync client identity, where the moves' sync
/// states live, and how many moves run at once.
///
/// The coordinator syncs the old pair's host with the new pair's hosts itself, as a dsync
/// client of their agents: each agent must trust ``trustedCA``'s chain and list the name
/// in the coordinator's certificate among its `tls.allowed_peers`; the coordinator in turn
/// requires each agent's certificate to name the host as the pair records it (its
/// ``PairHost/name``), as `duplex tls init --hosts` issues them.
public struct MoveConfiguration: Sendable, Equatable {
    /// PEM file with the coordinator's dsync client certificate first, then intermediates.
    public var certificateChain: String
    /// PEM file with its private key.
    public var privateKey: String
    /// PEM file with the CA certificates an agent's chain must lead to.
    public var trustedCA: String
    /// Directory of the moves' sync states (one subdirectory per move, removed when the move
    /// is over) and of the pending catch-up syncs (`catch-up/<move id>`).
    public var stateDirectory: String
    /// Moves run at once by the leader, manual ones and those of draining pairs together
    /// (default 2, at least 1).
    public var maxConcurrentMoves: Int
    /// How long after the switch the catch-up sync from the old pair runs (default 60 s):
    /// long enough for proxies' and delivery agents' route caches to expire.
    public var catchUpDelay: Duration
    /// Copy rounds at most before the final sync (default 5, at least 1).
    public var maxCopyRounds: Int
    /// A copy round that copied at most this many messages ends the copying (default 50):
    /// the final sync then has little left to do.
    public var settledMessages: Int
    /// How long each sync waits for the user's lock on each host (default 60 s).
    public var lockTimeout: Duration
    /// How long the leader waits before trying a failed step again (default 30 s).
    public var retryInterval: Duration
    /// How often the leader looks for new moves and draining pairs (default 5 s).
    public var pollInterval: Duration
    /// How long to wait for an agent to accept a connection (default 10 s).
    public var connectTimeout: Duration
    /// With nothing from an agent for this long, its connection is dropped (default 120 s).
    public var readTimeout: Duration

    public init(
        certificateChain: String, privateKey: String, trustedCA: String, stateDirectory: String,
        maxConcurrentMoves: Int = 2, catchUpDelay: Duration = .seconds(60), maxCopyRounds: Int = 5,
        settledMessages: Int = 50, lockTimeout: Duration = .seconds(60), retryInterval: Duration = .seconds(30),
        pollInterval: Duration = .seconds(5), connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(120)
    ) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustedCA = trustedCA
        self.stateDirectory = stateDirectory
        self.maxConcurrentMoves = max(1, maxConcurrentMoves)
        self.catchUpDelay = catchUpDelay
        self.maxCopyRounds = max(1, maxCopyRounds)
        self.settledMessages = max(0, settledMessages)
        self.lockTimeout = lockTimeout
        self.retryInterval = retryInterval
        self.pollInterval = pollInterval
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
    }

    /// The TLS files for a connection to `host`'s agent: its certificate must name the host.
    func tls(for host: PairHost) -> DsyncTLSFiles {
        DsyncTLSFiles(
            certificateChain: certificateChain, privateKey: privateKey, trustedCA: trustedCA,
            allowedPeers: [host.name.value])
    }
}
