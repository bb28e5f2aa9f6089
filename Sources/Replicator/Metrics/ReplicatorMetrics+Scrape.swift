import Prometheus

extension ReplicatorMetrics {
    /// The upper bounds of the replication lag buckets, in seconds (1 min … 1 week).
    static let lagBuckets: [Double] = [60, 300, 900, 1800, 3600, 7200, 21_600, 86_400, 172_800, 604_800]

    /// Every metric in Prometheus' text format (version 0.0.4), the queue gauges and the
    /// lag read from `replicator` now (the lag at most once per ``lagRefreshInterval``).
    public func exposition(for replicator: Replicator) async -> [UInt8] {
        let statistics = await replicator.statistics()
        let syncs = await replicator.syncStatus()
        queued["sync"]?.set(Int64(statistics.queuedSync))
        queued["high"]?.set(Int64(statistics.queuedHigh))
        queued["low"]?.set(Int64(statistics.queuedLow))
        queued["failed"]?.set(Int64(statistics.queuedFailed))
        queued["full_resync"]?.set(Int64(statistics.queuedFullResync))
        waitingFailed.set(Int64(statistics.waitingFailed))
        known.set(Int64(statistics.totalUsers))
        held.set(Int64(statistics.held))
        stuck.set(Int64(statistics.stuck))
        for full in [false, true] {
            running[full]?.set(Int64(syncs.count { $0.type == Self.kind(full) }))
        }
        recordStarts(await replicator.startTally)
        var text = registry.emitToBuffer()
        text.append(contentsOf: await lagExposition(for: replicator))
        return text
    }

    /// Brings the started counters and the peak gauges up to `tally`.
    private func recordStarts(_ tally: SyncStartTally) {
        recordedStarts.withLock { recorded in
            // Two scrapes may read the tally in one order and get here in the other: the
            // older tally (fewer starts) changes nothing.
            guard tally.startedFull >= recorded.startedFull, tally.startedIncremental >= recorded.startedIncremental else { return }
            for full in [false, true] {
                started[full]?.increment(by: Int64(tally.started(full: full) - recorded.started(full: full)))
                peakRunning[full]?.set(Int64(tally.peakRunning(full: full)))
            }
            recorded = tally
        }
    }

    /// The lag histogram's text, reused while younger than ``lagRefreshInterval``.
    private func lagExposition(for replicator: Replicator) async -> [UInt8] {
        let now = replicator.clock.now
        if let cached = lag.withLock({ $0 }), now >= cached.computedAt, now - cached.computedAt < lagRefreshInterval {
            return cached.exposition
        }
        // A copy of the queue: the scan below runs here, not on the replicator.
        let queue = await replicator.queue
        let exposition = Self.lagExposition(of: queue.users, now: now)
        lag.withLock { $0 = (now, exposition) }
        return exposition
    }

    /// `duplex_replicator_replication_lag_seconds` (now − last successful sync, for the
    /// users that had one) and `duplex_replicator_never_synced_users`, in a registry made
    /// for this one reading (a histogram cannot be emptied).
    static func lagExposition(of users: some Sequence<ReplicationUser>, now: Int64) -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        let histogram = registry.makeValueHistogram(
            descriptor: descriptor("replication_lag", "seconds", "Time since each user's last successful sync began, at the last reading."),
            labels: [], buckets: lagBuckets)
        var neverSynced: Int64 = 0
        for user in users {
            if user.lastSuccessfulSync > 0 {
                histogram.record(Double(max(0, now - user.lastSuccessfulSync)))
            } else {
                neverSynced += 1
            }
        }
        registry.makeGauge(descriptor: descriptor("never_synced", "users", "Users without a successful sync yet, at the last reading."))
            .set(neverSynced)
        return registry.emitToBuffer()
    }
}
