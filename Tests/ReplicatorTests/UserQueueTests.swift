import Testing

@testable import Replicator

@Suite struct UserQueueTests {
    let t0: Int64 = 1_800_000_000

    func queue(maxConnections: Int = 10, maxFull: Int? = nil) -> UserQueue {
        var settings = ReplicatorSettings()
        settings.maxConnections = maxConnections
        settings.maxFullSyncsSetting = maxFull
        return UserQueue(settings: settings)
    }

    /// A user synced fully and successfully at `at`, with nothing pending.
    func synced(_ q: inout UserQueue, _ name: String, at: Int64) {
        q.notify(name, priority: .low, now: at)
        let starts = q.start(now: at)
        #expect(starts.contains { $0.user == name })
        q.finished(name, .success(), now: at)
    }

    @Test func neverSyncedUsersComeFirst_thenByAgedPriority() {
        var q = queue(maxConnections: 1)
        for name in ["old", "new-high", "new-low"] { synced(&q, name, at: t0 - 10_000) }
        q.notify("new-high", priority: .high, now: t0)
        q.notify("old", priority: .low, now: t0 - 500)  // low, 500 s older than the high one
        q.notify("fresh", priority: .low, now: t0)       // never synced
        var order: [String] = []
        for step in 0..<3 {
            let starts = q.start(now: t0 + Int64(step))
            #expect(starts.count == 1)
            order += starts.map(\.user)
            q.finished(starts[0].user, .success(), now: t0 + Int64(step))
        }
        // Never synced first; then high (aged 30 min) before a low only 500 s older (aged 15 min).
        #expect(order == ["fresh", "new-high", "old"])
    }

    @Test func aLowRequestWaitingLongerThanTheAgingDifference_overtakesAHighOne() {
        var q = queue(maxConnections: 1)
        for name in ["patient", "urgent"] { synced(&q, name, at: t0 - 100_000) }
        q.notify("patient", priority: .low, now: t0 - 1000)
        q.notify("urgent", priority: .high, now: t0 + 0)
        // low at t0-1000 counts as t0-1900; high at t0 counts as t0-1800.
        #expect(q.start(now: t0).map(\.user) == ["patient"])
    }

    @Test func aChangeDuringARunningSync_makesExactlyOneMoreSync() {
        var q = queue()
        synced(&q, "alice", at: t0 - 100)
        q.notify("alice", priority: .low, now: t0)
        #expect(q.start(now: t0).map(\.user) == ["alice"])
        q.notify("alice", priority: .high, now: t0 + 1)
        q.notify("alice", priority: .low, now: t0 + 2)
        #expect(q.start(now: t0 + 2).isEmpty, "never two syncs of one user at once")
        q.finished("alice", .success(), now: t0 + 3)
        #expect(q.start(now: t0 + 3).map(\.user) == ["alice"])
        q.finished("alice", .success(), now: t0 + 4)
        #expect(q.start(now: t0 + 5).isEmpty)
    }

    @Test func failuresBackOffExponentially_withJitter_capped() {
        var q = queue()
        synced(&q, "bob", at: t0 - 100)
        var now = t0
        var waits: [Int64] = []
        q.notify("bob", priority: .low, now: now)
        for _ in 0..<6 {
            #expect(q.start(now: now).map(\.user) == ["bob"])
            q.finished("bob", .failure("peer unreachable"), now: now)
            let next = q.nextSyncTime("bob", now: now)!
            waits.append(next - now)
            #expect(q.start(now: next - 1).isEmpty)
            now = next
        }
        for (wait, base) in zip(waits, [300, 600, 1200, 2400, 3600, 3600] as [Int64]) {
            #expect(wait >= base && wait <= base + base / 10, "wait \(wait) for base \(base)")
        }
        #expect(q.user("bob")?.lastError == "peer unreachable" && q.user("bob")?.failureCount == 6)
        q.finished("bob", .success(), now: now)  // not running: ignored
        _ = q.start(now: now)
        q.finished("bob", .success(), now: now)
        #expect(q.user("bob")?.failureCount == 0 && q.user("bob")?.lastSyncFailed == false)
    }

    @Test func changedDuringSync_isRetriedAtOnce_aFewTimes_thenCountsAsAFailure() {
        var q = queue()
        synced(&q, "carol", at: t0 - 100)
        q.notify("carol", priority: .low, now: t0)
        for attempt in 0...3 {
            #expect(q.start(now: t0 + Int64(attempt)).map(\.user) == ["carol"], "attempt \(attempt)")
            q.finished("carol", .changedDuringSync, now: t0 + Int64(attempt))
        }
        #expect(q.user("carol")?.lastSyncFailed == true)
        #expect(q.start(now: t0 + 10).isEmpty)
    }

    @Test func fullSyncsAreCapped_andNeverHoldBackFastSyncs() {
        var q = queue(maxConnections: 4, maxFull: 1)
        for i in 0..<10 { q.add("idle\(i)", now: t0) }  // never synced: due for a full sync
        for i in 0..<3 { synced(&q, "busy\(i)", at: t0 - 100) }
        for i in 0..<3 { q.notify("busy\(i)", priority: .low, now: t0) }
        let starts = q.start(now: t0)
        #expect(starts.count == 4)
        #expect(starts.filter(\.full).count == 1)
        #expect(Set(starts.filter { !$0.full }.map(\.user)) == ["busy0", "busy1", "busy2"])
    }

    @Test func afterARestartOf10000Users_fullSyncsSpreadOverTheInterval_andStayCapped() {
        var settings = ReplicatorSettings()
        settings.maxConnections = 8
        var q = UserQueue(settings: settings)
        // A restart: 10 000 users, all fully synced within one hour a day ago.
        for i in 0..<10_000 {
            var user = ReplicationUser(name: "user\(i)@example.com")
            user.lastFullSync = t0 - 86_400 - Int64(i % 3600)
            user.lastFastSync = user.lastFullSync
            user.lastSuccessfulSync = user.lastFullSync
            user.lastUpdate = user.lastFullSync
            q.restore(user, now: t0)
        }
        var perHour = [Int](repeating: 0, count: 24)
        var running: [String] = []
        var maxFullRunning = 0
        var now = t0
        while now < t0 + 86_400 {
            for start in q.start(now: now) {
                #expect(start.full)
                perHour[Int((now - t0) / 3600)] += 1
                running.append(start.user)
            }
            maxFullRunning = max(maxFullRunning, q.runningFullCount)
            // Each sync takes 10 s.
            now += 10
            for name in running { q.finished(name, .success(), now: now) }
            running = []
        }
        #expect(maxFullRunning <= settings.maxFullSyncs)
        #expect(perHour.reduce(0, +) >= 9_900, "nearly every user got its full sync within the day")
        // Evenly spread: no hour has more than twice its share.
        #expect(perHour.max()! < 2 * 10_000 / 24, "per hour: \(perHour)")
    }

    @Test func noSuchUser_removesTheUser_andHeldUsersWaitForRelease() {
        var q = queue()
        q.notify("gone", priority: .low, now: t0)
        q.notify("suspect", priority: .low, now: t0)
        let starts = q.start(now: t0)
        #expect(starts.count == 2)
        let kept = q.finished("gone", .noSuchUser("no mail root"), now: t0)
        #expect(!kept)
        #expect(q.user("gone") == nil)
        q.finished("suspect", .held("120 of 200 messages vanished"), now: t0)
        q.notify("suspect", priority: .high, now: t0 + 1)
        let whileHeld = q.start(now: t0 + 100_000)
        #expect(whileHeld.isEmpty, "held users never sync")
        let released = q.releaseHold("suspect", now: t0 + 100_001)
        #expect(released)
        let afterRelease = q.start(now: t0 + 100_001)
        #expect(afterRelease == [SyncStart(user: "suspect", full: true)])
    }

    @Test func forcedFullSync_waitsForAFullSlot() {
        var q = queue(maxConnections: 3, maxFull: 1)
        synced(&q, "a", at: t0 - 100)
        synced(&q, "b", at: t0 - 100)
        q.notify("a", priority: .low, forceFull: true, now: t0)
        q.notify("b", priority: .low, forceFull: true, now: t0)
        let first = q.start(now: t0)
        #expect(first.count == 1 && first[0].full)
        q.finished(first[0].user, .success(), now: t0 + 1)
        let second = q.start(now: t0 + 1)
        #expect(second.count == 1 && second[0].full && second[0].user != first[0].user)
    }
}
