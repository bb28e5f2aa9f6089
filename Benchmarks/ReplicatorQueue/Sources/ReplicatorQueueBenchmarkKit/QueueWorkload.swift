import Replicator

/// The work the benchmarks measure, shared by the figure table (`replicator-queue-bench`)
/// and the ordo-one/benchmark target, so that both measure the same thing.
public enum QueueWorkload {
    /// The time the workloads start at (Unix seconds).
    public static let start: Int64 = 1_800_000_000

    /// A user name as long as a real address (too long for Swift's inline small strings,
    /// as real ones are).
    public static func userName(_ index: Int) -> String {
        "user\(index)@example.com"
    }

    /// A queue with `users` users added at `now`, as at a first start.
    public static func makeQueue(users: Int, now: Int64 = start, settings: ReplicatorSettings = ReplicatorSettings()) -> UserQueue {
        var queue = UserQueue(settings: settings)
        for index in 0..<users { queue.add(userName(index), now: now) }
        return queue
    }

    /// Gives every user a pending `low` request at `now`, as a burst of notifications.
    public static func notifyAll(_ queue: inout UserQueue, users: Int, now: Int64) {
        for index in 0..<users { queue.notify(userName(index), priority: .low, now: now) }
    }

    /// Start and finish cycles with a no-op engine (every sync succeeds at once) until
    /// `decisions` syncs were started or nothing is due at `now`.
    ///
    /// - Returns: the syncs started (one scheduling decision each).
    @discardableResult
    public static func decide(_ queue: inout UserQueue, decisions: Int, now: Int64) -> Int {
        var made = 0
        while made < decisions {
            let starts = queue.start(now: now)
            if starts.isEmpty { break }
            made += starts.count
            for start in starts { queue.finished(start.user, .success(), now: now) }
        }
        return made
    }
}

/// A sync engine that syncs nothing: every sync succeeds at once.
public struct NoOpSyncEngine: SyncEngine {
    public init() {}

    public var name: String { "no-op" }

    public func sync(user: String, full: Bool) async -> SyncResult {
        SyncResult(.success())
    }
}
