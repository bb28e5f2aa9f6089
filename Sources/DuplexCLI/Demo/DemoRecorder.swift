/// What the demo has seen happen: each host's finished syncs (what they moved, the
/// conflicts they resolved) and the replication lag of each change.
///
/// A change's lag runs from the moment it was on disk on one host to the end of the first
/// successful sync of its user that started after it, on either host of the pair (a sync
/// runs both ways, so it carries the changes of both hosts).
actor DemoRecorder {
    /// One pair's tallies.
    struct PairTally: Sendable {
        var syncsSucceeded = 0
        var syncsFailed = 0
        /// Syncs that found a side changing under them and were run again.
        var syncsRetried = 0
        var messages = 0
        var bytes: Int64 = 0
        var uidConflicts = 0
        var nameConflicts = 0
        /// Seconds, in the order the changes reached the other host.
        var lags: [Double] = []
        /// The last failure's reason.
        var lastFailure: String?
    }

    private(set) var pairs: [String: PairTally] = [:]
    /// Users with at least one successful sync.
    private(set) var syncedUsers: Set<String> = []
    /// Changes not yet carried to the other host: user → when each was made.
    private var pending: [String: [ContinuousClock.Instant]] = [:]

    /// Records a change of `user`'s mail made (on disk) at `instant`.
    func changed(_ user: String, at instant: ContinuousClock.Instant) {
        pending[user, default: []].append(instant)
    }

    /// Records a finished sync of `user` by a host of `pair` that ran from `start` to `end`.
    func finished(pair: String, user: String, start: ContinuousClock.Instant, end: ContinuousClock.Instant, result: SyncTally) {
        var tally = pairs[pair] ?? PairTally()
        switch result.kind {
        case .succeeded:
            tally.syncsSucceeded += 1
            tally.messages += result.messages
            tally.bytes += result.bytes
            tally.uidConflicts += result.uidConflicts
            tally.nameConflicts += result.nameConflicts
            syncedUsers.insert(user)
            if let changes = pending[user] {
                let carried = changes.filter { $0 < start }
                tally.lags += carried.map { Self.seconds(end - $0) }
                let left = changes.filter { $0 >= start }
                pending[user] = left.isEmpty ? nil : left
            }
        case .retried:
            tally.syncsRetried += 1
        case .failed(let reason):
            tally.syncsFailed += 1
            tally.lastFailure = reason
        }
        pairs[pair] = tally
    }

    /// Changes not yet carried to the other host.
    var pendingChanges: Int { pending.values.reduce(0) { $0 + $1.count } }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// One finished sync as the recorder counts it.
struct SyncTally: Sendable {
    enum Kind: Sendable {
        case succeeded
        case retried
        case failed(String)
    }

    var kind: Kind
    var messages = 0
    var bytes: Int64 = 0
    var uidConflicts = 0
    var nameConflicts = 0
}

/// The `p`-th percentile (0–100) of `values` by the nearest-rank method; nil when empty.
func demoPercentile(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}
