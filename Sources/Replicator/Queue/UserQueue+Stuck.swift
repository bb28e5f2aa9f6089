/// Why a user counts as stuck, and since when: a sync that has run (or waited for its
/// lock) longer than the failure retry interval, or failures without a success in between
/// for longer than that.
public struct StuckSync: Sendable, Equatable, Codable {
    /// What keeps the user stuck.
    public enum Reason: String, Sendable, Equatable, Codable {
        /// Its sync has been running (or waiting for the user's lock) since ``StuckSync/since``.
        case running
        /// Its syncs have failed since ``StuckSync/since``, with no success in between.
        case failing
    }

    public var reason: Reason
    /// Since when, Unix seconds: the running sync's start, or the first failure of the run.
    public var since: Int64

    public init(reason: Reason, since: Int64) {
        self.reason = reason
        self.since = since
    }
}

extension UserQueue {
    /// Whether `name` is stuck at `now` (Unix seconds): its sync has run longer than
    /// ``ReplicatorSettings/failureRetryInterval``, or it has failed continuously for
    /// longer than that; nil when it is not, is held (an operator decides), or is unknown.
    /// When both hold, the longer-standing one is reported.
    public func stuck(_ name: String, now: Int64) -> StuckSync? {
        records.slot(of: name).flatMap { stuck(records[$0], now: now) }
    }

    /// How many users are stuck at `now` (a scan of every user).
    public func stuckCount(now: Int64) -> Int {
        records.usedSlots.count { stuck(records[$0], now: now) != nil }
    }

    func stuck(_ record: Records.Record, now: Int64) -> StuckSync? {
        guard !record.flags.contains(.held) else { return nil }
        let limit = settings.failureRetryInterval
        var found: StuckSync?
        if record.flags.contains(.failed), record.failingSince > 0, now - record.failingSince > limit {
            found = StuckSync(reason: .failing, since: record.failingSince)
        }
        if record.running != nil, now - record.lastFastSync > limit, record.lastFastSync < (found?.since ?? .max) {
            found = StuckSync(reason: .running, since: record.lastFastSync)
        }
        return found
    }
}
