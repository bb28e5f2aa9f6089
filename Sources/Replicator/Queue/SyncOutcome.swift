/// How one sync of a user ended, as the replicator needs to know it.
public enum SyncOutcome: Sendable, Equatable {
    /// Both sides hold the same mail; `bytes` and `messages` were transferred.
    case success(messages: Int = 0, bytes: Int64 = 0)
    /// A side changed during the sync (dsync exit 2): retried at once, a few times.
    case changedDuringSync
    /// The user does not exist (or is not to be replicated) on a side: removed from the queue.
    case noSuchUser(String)
    /// The mass-loss guard refused to propagate a mass disappearance: the user is held
    /// until an operator decides.
    case held(String)
    /// Anything else (lock timeout, peer unreachable, I/O): retried with back-off.
    case failure(String)
}

/// What the queue tells the caller to do with a user whose sync was started.
public struct SyncStart: Sendable, Equatable {
    public var user: String
    /// A full sync (compare everything) instead of an incremental one.
    public var full: Bool
}
