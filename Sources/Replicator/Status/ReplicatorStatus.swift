/// The overview of `duplex replicator status` (the seven counters of Dovecot's
/// `doveadm replicator status`, reference §4.2, with the same meaning).
public struct ReplicatorStatistics: Sendable, Equatable, Codable {
    /// Users with a pending `sync`, `high` or `low` request.
    public var queuedSync = 0
    public var queuedHigh = 0
    public var queuedLow = 0
    /// Users with nothing pending whose failed sync is due for a retry now.
    public var queuedFailed = 0
    /// Users with nothing pending due for their full sync now.
    public var queuedFullResync = 0
    /// Users whose last sync failed, waiting for their retry time.
    public var waitingFailed = 0
    /// All known users.
    public var totalUsers = 0
    /// Users held by the mass-loss guard (not in Dovecot's list).
    public var held = 0
    /// Syncs running now (not in Dovecot's list).
    public var running = 0
    /// Users stuck longer than the failure retry interval: a sync running (or waiting for
    /// its lock) that long, or failing that long without a success (see ``StuckSync``; not
    /// in Dovecot's list).
    public var stuck = 0

    public init() {}

    /// The lines in Dovecot's order and words.
    public var lines: [(label: String, count: Int)] {
        [
            ("Queued 'sync' requests", queuedSync),
            ("Queued 'high' requests", queuedHigh),
            ("Queued 'low' requests", queuedLow),
            ("Queued 'failed' requests", queuedFailed),
            ("Queued 'full resync' requests", queuedFullResync),
            ("Waiting 'failed' requests", waitingFailed),
            ("Total number of known users", totalUsers),
        ]
    }
}

/// One row of `duplex replicator status MASK` (Dovecot's columns, reference §4.3).
public struct ReplicationUserStatus: Sendable, Equatable, Codable {
    public var username: String
    public var priority: ReplicationPriority
    /// Unix seconds; 0 never.
    public var lastFastSync: Int64
    public var lastFullSync: Int64
    public var lastSuccessfulSync: Int64
    public var failed: Bool
    /// Seconds until the next sync is due (0 when due or running).
    public var nextSyncSeconds: Int64
    public var lastError: String?
    public var held: Bool
    public var running: Bool
    /// Why and since when the user is stuck; nil when it is not.
    public var stuck: StuckSync? = nil
}

/// One row of `duplex replicator dsync-status`: a running sync.
public struct SyncSlotStatus: Sendable, Equatable, Codable {
    public var username: String
    /// `full` or `incremental`.
    public var type: String
    /// Seconds it has run.
    public var seconds: Int64
    /// It has run longer than the failure retry interval (the user is stuck).
    public var stuck = false

    public init(username: String, type: String, seconds: Int64, stuck: Bool = false) {
        self.username = username
        self.type = type
        self.seconds = seconds
        self.stuck = stuck
    }
    private enum CodingKeys: String, CodingKey {
        case username, type, seconds, stuck
    }

    /// Reads a slot; one without `stuck` (from an agent that predates it) is not stuck.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            username: try container.decode(String.self, forKey: .username), type: try container.decode(String.self, forKey: .type),
            seconds: try container.decode(Int64.self, forKey: .seconds),
            stuck: try container.decodeIfPresent(Bool.self, forKey: .stuck) ?? false)
    }
}
