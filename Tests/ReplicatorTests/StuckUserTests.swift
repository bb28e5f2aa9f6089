import Foundation
import HummingbirdTesting
import Testing

@testable import Replicator

/// A user is stuck when its sync has run (or waited for its lock) longer than the failure
/// retry interval, or it has failed without a success for longer than that: counted in the
/// status, the HTTP status and a metric, marked on its row and its sync slot.
@Suite struct StuckUserTests {
    let t0: Int64 = 1_800_000_000

    func queue() -> UserQueue {
        var settings = ReplicatorSettings()
        settings.failureRetryInterval = 300
        settings.failureRetryCap = 3600
        return UserQueue(settings: settings)
    }

    @Test func aSyncRunningLongerThanTheRetryInterval_isStuck_fromItsStart() {
        var q = queue()
        q.notify("alice", priority: .low, now: t0)
        #expect(q.start(now: t0).map(\.user) == ["alice"])
        #expect(q.stuck("alice", now: t0 + 300) == nil, "exactly the interval is not longer than it")
        #expect(q.stuck("alice", now: t0 + 301) == StuckSync(reason: .running, since: t0))
        #expect(q.stuckCount(now: t0 + 301) == 1)
        q.finished("alice", .success(), now: t0 + 400)
        #expect(q.stuck("alice", now: t0 + 400) == nil)
        #expect(q.stuckCount(now: t0 + 400) == 0)
    }

    @Test func failuresWithoutASuccess_areStuck_onceTheyLastLongerThanTheRetryInterval() {
        var q = queue()
        q.notify("bob", priority: .low, now: t0)
        var now = t0
        // First failure at t0, then retries on the back-off: 300 s, then 600 s…
        for _ in 0..<3 {
            #expect(q.start(now: now).map(\.user) == ["bob"])
            q.finished("bob", .failure("peer unreachable"), now: now)
            if now == t0 { #expect(q.stuck("bob", now: now + 300) == nil, "one retry interval of failing is not stuck yet") }
            now = q.nextSyncTime("bob", now: now)!
        }
        #expect(q.stuck("bob", now: now) == StuckSync(reason: .failing, since: t0), "failing since the first failure")
        // Its retry runs: still stuck, and still since the first failure (the longer one).
        #expect(q.start(now: now).map(\.user) == ["bob"])
        #expect(q.stuck("bob", now: now + 1) == StuckSync(reason: .failing, since: t0))
        q.finished("bob", .success(), now: now + 2)
        #expect(q.stuck("bob", now: now + 2) == nil)
        #expect(q.user("bob")?.failingSince == 0)

        // A new run of failures counts from its own start.
        q.notify("bob", priority: .low, now: now + 10)
        #expect(q.start(now: now + 10).map(\.user) == ["bob"])
        q.finished("bob", .failure("peer unreachable"), now: now + 10)
        #expect(q.stuck("bob", now: now + 310) == nil)
        #expect(q.stuck("bob", now: now + 311) == StuckSync(reason: .failing, since: now + 10))
    }

    @Test func heldUsers_areNotStuck_andARestoredFailingUserCountsFromItsLastFailure() {
        var q = queue()
        q.notify("carol", priority: .low, now: t0)
        _ = q.start(now: t0)
        q.finished("carol", .held("mass loss: 60 of 100 messages vanished"), now: t0)
        #expect(q.stuck("carol", now: t0 + 86_400) == nil, "an operator decides about held users")

        var saved = ReplicationUser(name: "dave")
        saved.lastFastSync = t0 - 1000
        saved.lastSyncFailed = true
        saved.failureCount = 4
        saved.lastFailure = t0 - 1000
        q.restore(saved, now: t0)
        #expect(q.user("dave")?.failingSince == t0 - 1000)
        #expect(q.stuck("dave", now: t0) == StuckSync(reason: .failing, since: t0 - 1000))
    }

    // MARK: The replicator's status, HTTP status and metrics

    @Test func aHangingSync_showsAsStuck_inEveryStatus_onTheInjectedClock() async throws {
        let clock = ManualClock(now: t0)
        let engine = ScriptedEngine()
        let replicator = Replicator(queue: queue(), engine: engine, clock: clock, logger: silent)
        let metrics = ReplicatorMetrics()
        let service = ReplicatorHTTPService(port: 0, replicator: replicator, metrics: metrics, logger: silent)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await replicator.run() }
            await replicator.notify("alice", priority: .high)
            await eventually("alice's sync") { engine.started.count == 1 }
            clock.advance(by: 300)
            #expect(await replicator.statistics().stuck == 0)
            #expect(await replicator.syncStatus().first?.stuck == false)

            clock.advance(by: 1)
            let statistics = await replicator.statistics()
            #expect(statistics.stuck == 1 && statistics.running == 1)
            #expect(await replicator.userStatus(UserMask("alice")).first?.stuck == StuckSync(reason: .running, since: t0))
            let slot = try #require(await replicator.syncStatus().first)
            #expect(slot.stuck && slot.seconds == 301)

            try await service.makeApplication().test(.router) { client in
                let status = try await client.execute(uri: "/v1/status", method: .get)
                let object = try JSONSerialization.jsonObject(with: Data(String(buffer: status.body).utf8)) as? [String: Any]
                #expect(object?["stuck"] as? Int == 1)
            }
            let scraped = try await service.scrape()
            #expect(scraped.types["duplex_replicator_stuck_users"] == "gauge")
            #expect(scraped["duplex_replicator_stuck_users"] == 1)

            await eventually("the sync ends") { engine.end("alice") }
            await eventually("no longer stuck") { await replicator.statistics().stuck == 0 }
            await replicator.stop()
        }
    }
}
