import Testing

@testable import Replicator

/// A notification or an admin command that reaches the replicator before its saved queue
/// is loaded (the inputs start with the replicator) must not make the user lose its saved
/// sync history, nor be lost itself.
@Suite struct ReplicationUserRestoringTests {
    /// A user whose last full sync was an hour ago and who had nothing pending.
    func savedSettledUser(_ name: String, now: Int64) -> ReplicationUser {
        var user = ReplicationUser(name: name)
        (user.lastUpdate, user.lastFastSync, user.lastFullSync, user.lastSuccessfulSync) = (now - 3600, now - 3600, now - 3600, now - 3600)
        return user
    }

    @Test func notificationBeforeTheSavedQueueIsLoaded_keepsTheSavedHistory_andTheRequest() async {
        let clock = ManualClock()
        let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: clock, logger: silent)
        await replicator.notify("alice", priority: .high)
        await replicator.replicate(UserMask("bob"), priority: .low, forceFull: true)
        let saved = [savedSettledUser("alice", now: clock.now), savedSettledUser("bob", now: clock.now), savedSettledUser("carol", now: clock.now)]
        await replicator.restore(saved)

        let queue = await replicator.queue
        let alice = queue.user("alice")
        #expect(alice?.priority == .high, "the request that came first")
        #expect(alice?.lastUpdate == clock.now)
        #expect(alice?.lastFullSync == saved[0].lastFullSync && alice?.lastSuccessfulSync == saved[0].lastSuccessfulSync)
        #expect(alice?.lastFastSync == saved[0].lastFastSync)
        #expect(!queue.fullDue("alice", now: clock.now), "its full sync was an hour ago: the next one is incremental")
        #expect(queue.user("bob")?.forceFullSync == true && queue.user("bob")?.priority == .low)
        #expect(queue.user("bob")?.lastSuccessfulSync == saved[1].lastSuccessfulSync)
        #expect(queue.user("carol") == saved[2], "a user nothing came for is put back as saved")
        #expect(queue.count == 3)
    }

    @Test func savedRequestAndHold_survive_aLowerRequestThatCameFirst() {
        let now: Int64 = 1_800_000_000
        var saved = savedSettledUser("alice", now: now)
        saved.priority = .sync
        saved.lastUpdate = now - 10
        saved.held = true
        saved.holdReason = "most of INBOX vanished"
        var known = ReplicationUser(name: "alice")
        known.priority = .low
        known.lastUpdate = now

        let restored = saved.restored(keeping: known)
        #expect(restored.priority == .sync)
        #expect(restored.lastUpdate == now)
        #expect(restored.held && restored.holdReason == "most of INBOX vanished")
        #expect(restored.lastFullSync == now - 3600)
    }

    @Test func aSyncThatBeganBeforeTheLoad_givesItsOutcome_theSavedTimesStay() {
        let now: Int64 = 1_800_000_000
        var saved = savedSettledUser("alice", now: now)
        saved.lastSyncFailed = true
        saved.failureCount = 3
        saved.lastFailure = now - 3600
        saved.lastError = "peer unreachable"
        var known = ReplicationUser(name: "alice")
        known.lastUpdate = now - 2
        known.lastFastSync = now - 2
        known.lastSuccessfulSync = now - 2

        let restored = saved.restored(keeping: known)
        #expect(restored.lastFastSync == now - 2 && restored.lastSuccessfulSync == now - 2)
        #expect(restored.lastFullSync == now - 3600, "that sync was not a full one")
        #expect(!restored.lastSyncFailed && restored.failureCount == 0 && restored.lastError == nil)
    }
}
