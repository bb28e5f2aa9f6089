/// The scheduling settings of a replicator (all durations in whole seconds).
public struct ReplicatorSettings: Sendable, Equatable {
    /// How often each user gets a full sync (default 24 h, Dovecot's
    /// `replication_full_sync_interval`). Each user's full syncs keep a fixed phase within
    /// the interval, derived from the user's name, so they are spread evenly.
    public var fullSyncInterval: Int64 = 86_400
    /// Concurrent syncs (Dovecot's `replication_max_conns`, default 10).
    public var maxConnections = 10
    /// Concurrent full syncs, at most; nil means a quarter of ``maxConnections`` (at least 1).
    public var maxFullSyncsSetting: Int?
    /// The wait before retrying a failed sync (default 5 min, Dovecot's fixed 300 s); it
    /// doubles with every further failure up to ``failureRetryCap``, with a jitter of up to
    /// ``failureRetryJitter`` of it.
    public var failureRetryInterval: Int64 = 300
    /// The longest wait between retries (default 1 h).
    public var failureRetryCap: Int64 = 3600
    /// The share of a retry wait used as jitter (0.1 = up to 10 % later), derived from the
    /// user's name and failure count so that it is spread but reproducible.
    public var failureRetryJitter = 0.1
    /// "Changed during sync" is retried at once this many times before it counts as a
    /// failure.
    public var changedDuringSyncRetries = 3
    /// Dovecot's shared namespace (default `shared/$user/`): a change notified with the name
    /// of a mailbox in it queues the mailbox's owner instead of the user who made it (see
    /// ``SharedNamespace``); nil when the mail system has no shared namespace.
    public var sharedNamespace: SharedNamespace? = .dovecotDefault

    public init() {}

    /// The effective cap on concurrent full syncs.
    public var maxFullSyncs: Int { maxFullSyncsSetting ?? max(1, maxConnections / 4) }
}
