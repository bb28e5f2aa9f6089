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

/// Waits until `condition` holds, asking every 5 ms.
///
/// The event comes from another task, which a whole run on a loaded machine may not run for
/// minutes (other tests' blocking work holds the cooperative pool's few threads): the ten
/// minutes guard a hang only, a passing run never comes near them.
func eventually(
    _ what: String, guard limit: Duration = .seconds(600), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async -> Bool
) async {
    let deadline = ContinuousClock.now.advanced(by: limit)
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try? await Task.sleep(for: .milliseconds(5))
    }
    if await condition() { return }
    Issue.record("not seen within \(limit): \(what)", sourceLocation: sourceLocation)
}

/// The syncs `replicator` has started so far, once it has surely looked at its queue since
/// the calls made before this one: `barrier`, a user of its own, is queued and its sync seen
/// to start, then ended. The replicator starts every due user in one pass and counts the
/// starts in ``Replicator/startTally`` in that pass, so a sync that was wrongly due would be
/// counted by then too, however slowly the machine ran the replicator's task. The count
/// includes the barrier's sync.
func startsAfterAPass(_ replicator: Replicator, _ engine: ScriptedEngine, barrier: String) async -> Int {
    await replicator.notify(barrier, priority: .high)
    await eventually("\(barrier)'s sync") { engine.started.contains { $0.hasPrefix(barrier) } }
    let tally = await replicator.startTally
    await eventually("\(barrier)'s sync ended") { engine.end(barrier) }
    return tally.started(full: true) + tally.started(full: false)
}

/// Whether `user`'s change request with a waiter (priority `sync`) has reached the queue:
/// ``Replicator/notifyAndWait(_:)`` registers its waiter in the same step.
func hasWaiter(_ replicator: Replicator, _ user: String) async -> Bool {
    await replicator.userStatus(UserMask(user)).first?.priority == .sync
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
            await eventually("the waiter's request queued") { await hasWaiter(replicator, "alice") }
            await replicator.notify("alice", priority: .low)
            await replicator.notify("alice", priority: .high)
            #expect(await startsAfterAPass(replicator, engine, barrier: "zed") == 2, "never two syncs of one user at once")
            await eventually("first sync ended") { engine.end("alice") }
            await eventually("exactly one more sync") { engine.started.filter { $0.hasPrefix("alice") }.count == 2 }
            await eventually("second sync ended") { engine.end("alice") }
            #expect(await waited, "the waiter is answered by the sync after its request")
            #expect(await startsAfterAPass(replicator, engine, barrier: "yan") == 4, "no sync of alice after the second")
            #expect(engine.started.filter { $0.hasPrefix("alice") }.count == 2)
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
            #expect(await startsAfterAPass(replicator, engine, barrier: "zed") == 2, "no retry before the back-off")
            clock.advance(by: 200)
            await eventually("the retry") { engine.started.filter { $0.hasPrefix("bob") }.count == 2 }
            await eventually("retry ended") { engine.end("bob") }
            await eventually("success recorded") { await replicator.userStatus(UserMask("bob")).first?.failed == false }
            let statistics = await replicator.statistics()
            #expect(statistics.totalUsers == 2 && statistics.waitingFailed == 0, "bob and the barrier")
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
            await eventually("the waiter's request queued") { await hasWaiter(replicator, "carol") }
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
