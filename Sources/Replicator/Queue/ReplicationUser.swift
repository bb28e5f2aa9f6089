/// One user as the replicator knows it (Dovecot 2.3's user record, plus retry and hold
/// state). Times are Unix seconds; 0 means never.
public struct ReplicationUser: Sendable, Equatable, Codable {
    /// The user name as the mail system knows it (`alice@example.com`).
    public let name: String
    /// The highest priority notified since the last sync started.
    public var priority: ReplicationPriority = .none
    /// When the priority was last raised (or the user added).
    public var lastUpdate: Int64 = 0
    /// When the last sync (of any kind) started.
    public var lastFastSync: Int64 = 0
    /// When the last full sync started.
    public var lastFullSync: Int64 = 0
    /// When the last sync that succeeded started.
    public var lastSuccessfulSync: Int64 = 0
    /// Whether the last sync failed.
    public var lastSyncFailed = false
    /// Failures in a row (for the back-off).
    public var failureCount = 0
    /// When the last failure happened.
    public var lastFailure: Int64 = 0
    /// When the current run of failures began, the first failure since the last success
    /// (0 when the last sync did not fail). Not in the state file: a restored failing
    /// user counts from its last failure.
    public var failingSince: Int64 = 0
    /// The last error, for status.
    public var lastError: String?
    /// The next sync must be a full one (`replicate -f`).
    public var forceFullSync = false
    /// "Changed during sync" retries used since the last success or failure.
    public var changedRetries = 0
    /// Held by the mass-loss guard until an operator releases it: never synced meanwhile.
    public var held = false
    /// Why it is held.
    public var holdReason: String?

    public init(name: String) {
        self.name = name
    }
}
