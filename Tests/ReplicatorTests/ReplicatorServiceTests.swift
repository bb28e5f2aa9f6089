import Logging
import Synchronization
import Testing

@testable import Replicator

/// An engine whose syncs end when the test says so (a fault injector, not a sync).
final class ScriptedEngine: SyncEngine, Sendable {
    var name: String { "scripted" }
    private let pending = Mutex<[String: [CheckedContinuation<SyncResult, Never>]]>([:])
    private let log = Mutex<[String]>([])

    func sync(user: String, full: Bool) async -> SyncResult {
        log.withLock { $0.append(user + (full ? " full" : "")) }
        return await withCheckedContinuation { continuation in
            pending.withLock { $0[user, default: []].append(continuation) }
        }
    }

    var started: [String] { log.withLock { $0 } }

    /// Ends the running sync of `user`; false when none runs (yet).
    func end(_ user: String, _ outcome: SyncOutcome = .success()) -> Bool {
        let continuation = pending.withLock { pending -> CheckedContinuation<SyncResult, Never>? in
            guard var list = pending[user], !list.isEmpty else { return nil }
            let first = list.removeFirst()
            pending[user] = list.isEmpty ? nil : list
            return first
        }
        continuation?.resume(returning: SyncResult(outcome))
        return continuation != nil
    }
}

final class StoppedFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

let silent = Logger(label: "replicator-test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Waits (real time, briefly) until `condition` holds.
func eventually(_ what: String, _ condition: () async -> Bool) async {
    for _ in 0..<500 {
        if await condition() { return }
        try? await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("timed out waiting for: \(what)")
}

@Suite struct ReplicatorServiceTests {
    @Test func notificationsDuringASync_coalesceIntoOneMoreSync_andWaitersAreAnswered() async throws {
        let clock = ManualClock()
        let engine = ScriptedEngine()
        let replicator = Replicator(queue: UserQueue(), engine: engine, clock: clock, logger: silent)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await replicator.run() }
            await replicator.notify("alice", priority: .high)
            await eventually("alice's first sync") { engine.started.count == 1 }
            // Changes while it runs: one waiter, two notifications.
            async let waited = replicator.notifyAndWait("alice")
            await replicator.notify("alice", priority: .low)
            await replicator.notify("alice", priority: .high)
            try await Task.sleep(for: .milliseconds(20))
            #expect(engine.started.count == 1, "never two syncs of one user at once")
            await eventually("first sync ended") { engine.end("alice") }
            await eventually("exactly one more sync") { engine.started.count == 2 }
            await eventually("second sync ended") { engine.end("alice") }
            #expect(await waited, "the waiter is answered by the sync after its request")
            try await Task.sleep(for: .milliseconds(20))
            #expect(engine.started.count == 2)
            await replicator.stop()
        }
    }

    @Test func failedSyncs_comeBackAfterTheBackOff_onTheInjectedClock() async throws {
        let clock = ManualClock()
        let engine = ScriptedEngine()
        let replicator = Replicator(queue: UserQueue(), engine: engine, clock: clock, logger: silent)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await replicator.run() }
            await replicator.notify("bob", priority: .low)
            await eventually("bob's sync") { engine.end("bob", .failure("peer unreachable")) }
            await eventually("failure recorded") { await replicator.userStatus(UserMask("bob")).first?.failed == true }
            clock.advance(by: 200)
            try await Task.sleep(for: .milliseconds(30))
            #expect(engine.started.count == 1, "no retry before the back-off")
            clock.advance(by: 200)
            await eventually("the retry") { engine.started.count == 2 }
            await eventually("retry ended") { engine.end("bob") }
            await eventually("success recorded") { await replicator.userStatus(UserMask("bob")).first?.failed == false }
            let statistics = await replicator.statistics()
            #expect(statistics.totalUsers == 1 && statistics.waitingFailed == 0)
            await replicator.stop()
        }
    }

    @Test func removingAUser_answersItsWaiters_andStopWaitsForRunningSyncs() async throws {
        let clock = ManualClock()
        let engine = ScriptedEngine()
        let replicator = Replicator(queue: UserQueue(), engine: engine, clock: clock, logger: silent)
        let stopped = StoppedFlag()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                await replicator.run()
                stopped.set()
            }
            await replicator.notify("carol", priority: .low)
            await eventually("carol syncs") { engine.started.count == 1 }
            async let waited = replicator.notifyAndWait("carol")
            try await Task.sleep(for: .milliseconds(20))
            await replicator.remove("carol")
            #expect(await waited == false)
            await replicator.stop()
            try await Task.sleep(for: .milliseconds(20))
            #expect(!stopped.isSet, "stop waits for the running sync")
            await eventually("sync ended") { engine.end("carol") }
            await eventually("run returned") { stopped.isSet }
        }
    }
}
