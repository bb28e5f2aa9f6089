/// One user as `status MASK` reports it on the admin socket and in
/// `duplex replicator status MASK --json`: ``ReplicationUserStatus`` with the priority by
/// name.
public struct ReplicatorAdminUserStatus: Sendable, Equatable, Codable {
    public var username: String
    public var priority: ReplicationPriority
    /// When the last sync of any kind started, Unix seconds; 0 never.
    public var lastFastSync: Int64
    /// When the last full sync started, Unix seconds; 0 never.
    public var lastFullSync: Int64
    /// When the last sync that succeeded started, Unix seconds; 0 never.
    public var lastSuccessfulSync: Int64
    /// Whether the last sync failed.
    public var failed: Bool
    /// Seconds until the next sync is due (0 when due, running or held).
    public var nextSyncSeconds: Int64
    /// The last error (for a held user, why it is held); nil when none.
    public var lastError: String?
    /// Held by the mass-loss guard until an operator releases it.
    public var held: Bool
    /// Its sync runs now.
    public var running: Bool
    /// Why and since when it is stuck (see ``StuckSync``); nil when it is not.
    public var stuck: StuckSync?

    public init(
        username: String, priority: ReplicationPriority = .none, lastFastSync: Int64 = 0, lastFullSync: Int64 = 0,
        lastSuccessfulSync: Int64 = 0, failed: Bool = false, nextSyncSeconds: Int64 = 0, lastError: String? = nil,
        held: Bool = false, running: Bool = false, stuck: StuckSync? = nil
    ) {
        self.username = username
        self.priority = priority
        self.lastFastSync = lastFastSync
        self.lastFullSync = lastFullSync
        self.lastSuccessfulSync = lastSuccessfulSync
        self.failed = failed
        self.nextSyncSeconds = nextSyncSeconds
        self.lastError = lastError
        self.held = held
        self.running = running
        self.stuck = stuck
    }

    /// The row of a replicator status.
    public init(_ status: ReplicationUserStatus) {
        self.init(
            username: status.username, priority: status.priority, lastFastSync: status.lastFastSync,
            lastFullSync: status.lastFullSync, lastSuccessfulSync: status.lastSuccessfulSync, failed: status.failed,
            nextSyncSeconds: status.nextSyncSeconds, lastError: status.lastError, held: status.held,
            running: status.running, stuck: status.stuck)
    }

    private enum CodingKeys: String, CodingKey {
        case username, priority, lastFastSync, lastFullSync, lastSuccessfulSync, failed, nextSyncSeconds, lastError
        case held, running, stuck
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .priority)
        guard let priority = ReplicationPriority(name: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .priority, in: container, debugDescription: "unknown priority \"\(name)\"")
        }
        self.init(
            username: try container.decode(String.self, forKey: .username), priority: priority,
            lastFastSync: try container.decode(Int64.self, forKey: .lastFastSync),
            lastFullSync: try container.decode(Int64.self, forKey: .lastFullSync),
            lastSuccessfulSync: try container.decode(Int64.self, forKey: .lastSuccessfulSync),
            failed: try container.decode(Bool.self, forKey: .failed),
            nextSyncSeconds: try container.decode(Int64.self, forKey: .nextSyncSeconds),
            lastError: try container.decodeIfPresent(String.self, forKey: .lastError),
            held: try container.decode(Bool.self, forKey: .held), running: try container.decode(Bool.self, forKey: .running),
            stuck: try container.decodeIfPresent(StuckSync.self, forKey: .stuck))
    }

    /// Every key is written, `lastError` and `stuck` as null when there is none: scripts see
    /// one shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(username, forKey: .username)
        try container.encode(priority.description, forKey: .priority)
        try container.encode(lastFastSync, forKey: .lastFastSync)
        try container.encode(lastFullSync, forKey: .lastFullSync)
        try container.encode(lastSuccessfulSync, forKey: .lastSuccessfulSync)
        try container.encode(failed, forKey: .failed)
        try container.encode(nextSyncSeconds, forKey: .nextSyncSeconds)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(held, forKey: .held)
        try container.encode(running, forKey: .running)
        try container.encode(stuck, forKey: .stuck)
    }
}
