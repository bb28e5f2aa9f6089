/// What a replicator's sync starts add up to since it was made: how many syncs of each kind
/// started, and the most of each kind that ran at once.
///
/// The replicator keeps it itself, as it starts syncs, so that nothing is missed before a
/// metrics reader attaches (the first syncs start as soon as the saved queue is loaded).
/// The peaks show that the caps held: after a restart, `peakRunningFull` stays at most
/// ``ReplicatorSettings/maxFullSyncs`` however many users are due for a full sync.
public struct SyncStartTally: Sendable, Equatable {
    /// Full syncs started.
    public private(set) var startedFull = 0
    /// Incremental (fast) syncs started.
    public private(set) var startedIncremental = 0
    /// The most full syncs that ran at once.
    public private(set) var peakRunningFull = 0
    /// The most incremental syncs that ran at once.
    public private(set) var peakRunningIncremental = 0

    public init() {}

    /// Counts the syncs just started, then the syncs running now (`running` in all, of which
    /// `runningFull` are full ones), the started ones included.
    mutating func started(_ starts: [SyncStart], running: Int, runningFull: Int) {
        for start in starts {
            if start.full { startedFull += 1 } else { startedIncremental += 1 }
        }
        peakRunningFull = max(peakRunningFull, runningFull)
        peakRunningIncremental = max(peakRunningIncremental, running - runningFull)
    }

    /// Syncs of one kind started.
    public func started(full: Bool) -> Int { full ? startedFull : startedIncremental }

    /// The most syncs of one kind that ran at once.
    public func peakRunning(full: Bool) -> Int { full ? peakRunningFull : peakRunningIncremental }
}
