import Dsync

/// What `duplex agent` needs to serve dsync to its peer: the server's settings and where
/// sync states are kept.
///
/// It is read by ``load(path:environment:)`` from one file, YAML (`.yaml`, `.yml`) or JSON
/// (`.json`), with `DUPLEX_*` environment variables overriding the file. The file has two
/// sections, and a third when the agent runs a replicator (`ops/config/agent.yaml` is a
/// commented example):
///
/// ```yaml
/// dsync:
///   listen: 0.0.0.0:7445         # host:port, [v6-address]:port, or :port (all IPv4 addresses)
///   mail_root: /var/vmail/%d/%n/Maildir   # required; %u user, %n name before @, %d domain, %% %
///   lock_timeout: 30             # seconds to wait for a user's sync lock (0 to 86400)
///   idle_timeout: 120            # seconds without a frame before a connection is closed (more than 0, up to 86400)
///   state_dir: /var/lib/duplex/sync      # where sync states are kept
///   sync_socket: /run/duplex/sync.sock    # optional; runs `duplex sync --agent` (mode 0600)
/// tls:
///   certificate: /etc/duplex/tls/host.pem   # required; this host's chain, PEM
///   key: /etc/duplex/tls/host.key           # required; its private key, PEM, mode 0600
///   ca: /etc/duplex/tls/ca.pem              # required; the CAs a peer's chain must lead to
///   allowed_peers: [hostb.example.com]      # required; DNS names a peer's certificate may carry
/// replicator:                    # optional; there, the agent runs a replicator
///   peer: tls://hostb.example.com:7445      # required in the section; the other host's agent
///   users_file: /etc/duplex/users           # one user per line, # comments
///   max_conns: 10                # syncs at once; max_full_syncs: max_conns/4 full ones
///   full_sync_interval: 86400    # seconds; failure_retry_interval 300, failure_retry_cap 3600
///   notify_fifo: /run/dovecot/replication-notify-fifo   # Dovecot's replication plugin
///   notify_socket: /run/dovecot/replication-notify      # its `sync` requests (sync_timeout: 10)
///   notify_user: vmail           # owner of both (notify_group, notify_mode "0600")
///   admin_socket: /run/duplex/replicator.sock
///   state_file: /var/lib/duplex/replicator.state
///   state_save_interval: 60      # seconds between saves of the queue (1 to 86400)
/// coordinator:                   # optional, with a replicator; the pair's users from the coordinator
///   url: https://coordinator.example.com:7447   # required in the section
///   token_file: /etc/duplex/agent.token         # required; an agent:PAIR token
///   pair: eu-1                   # required; this host's pair and name there
///   host: mail1a.example.com
///   cache_file: /var/lib/duplex/coordinator-users   # the local copy of the list
/// ```
///
/// See ``ReplicatorConfiguration`` for the replicator's settings and
/// ``CoordinatorLinkConfiguration`` for the coordinator's.
///
/// Each key's environment variable is `DUPLEX_` followed by the key in capitals with `_`
/// for `.`: `DUPLEX_DSYNC_MAIL_ROOT`, `DUPLEX_TLS_CA`, `DUPLEX_TLS_ALLOWED_PEERS` (a
/// comma-separated list). Relative paths, from the file or the environment, are taken
/// from the configuration file's directory. A key the agent does not know is an error.
public struct AgentConfiguration: Sendable, Equatable {
    /// How the agent serves dsync: address, TLS files, mail roots, timeouts, and (with a
    /// replicator) the replicator's sync states for its peer's syncs.
    public var dsync: DsyncServerConfiguration
    /// The directory the per-user sync states are kept in.
    public var stateDirectory: String
    /// The unix socket on which the agent runs `duplex sync --agent SOCKET` for the command
    /// (``AgentSyncSocket``), nil when `dsync.sync_socket` is not set.
    public var syncSocket: String?
    /// The replicator the agent runs, nil when the file has no `replicator:` section.
    public var replicator: ReplicatorConfiguration?
    /// How the agent follows the coordinator, nil when the file has no `coordinator:` section.
    public var coordinator: CoordinatorLinkConfiguration?

    /// Where sync states are kept unless configured.
    public static let defaultStateDirectory = "/var/lib/duplex/sync"

    public init(
        dsync: DsyncServerConfiguration, stateDirectory: String = AgentConfiguration.defaultStateDirectory,
        replicator: ReplicatorConfiguration? = nil, coordinator: CoordinatorLinkConfiguration? = nil
    ) {
        self.dsync = dsync
        // The peer's replicator starts from this host's state when it is the later one.
        self.dsync.pairState = replicator.map { DsyncPairState(directory: stateDirectory, peer: $0.peer) }
        self.stateDirectory = stateDirectory
        self.replicator = replicator
        self.coordinator = coordinator
    }
}
