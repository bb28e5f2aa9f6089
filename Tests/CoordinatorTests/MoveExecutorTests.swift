import Coordinator
import Dsync
import Foundation
import MailStore
import Synchronization
import Testing

@testable import Coordinator

/// Moves of a user with mail between two pairs of real agents over mutual TLS (acceptance 5),
/// each with the coordinator's store on PostgreSQL and on SQLite.
@Suite(.serialized)
struct MoveExecutorTests {
    @Test(arguments: StoreDriver.allCases)
    func moveOfAUserWithMail_copiesItIdenticallyToBothNewHostsAndSwitchesTheRoute(_ driver: StoreDriver) async throws {
        try await MoveFleet.with(driver) { fleet in
            try await fleet.fillFirstPair(count: 320)
            let before = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            #expect(before == (try MailSnapshot(fleet.mailRoot("p1-b.test"))))
            let user = try await fleet.store.user(name(MoveFleet.user, .user))
            let versionOnP1 = try await fleet.store.pair(name("p1", .pair)).changeVersion
            let move = try await fleet.store.createMove(user: user.id, to: name("p2", .pair))

            let executor = fleet.executor()
            let switched = try await executor.run(move.id)
            #expect(switched.phase == .finished)
            // Mail delivered to the old pair while proxies still sent the user there.
            _ = try fleet.mailRoot("p1-a.test").saveMessage(in: .inbox, bytes: MoveFleet.message(999, user: MoveFleet.user))
            #expect(try executor.pendingCatchUps() == [move.id])
            try await executor.catchUp(move.id)
            #expect(try executor.pendingCatchUps().isEmpty)

            let old = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            let newA = try MailSnapshot(fleet.mailRoot("p2-a.test"))
            let newB = try MailSnapshot(fleet.mailRoot("p2-b.test"))
            #expect(old.messageCount == 321)
            #expect(newA == old, "p2-a:\n\(newA)\np1-a:\n\(old)")
            #expect(newB == old, "p2-b:\n\(newB)\np1-a:\n\(old)")
            #expect(newA.guidCounts.values.allSatisfy { $0 == 1 })
            // The catch-up synced both old hosts: the old pair keeps a complete copy on each.
            #expect(try MailSnapshot(fleet.mailRoot("p1-b.test")) == old)

            let route = try await fleet.store.route(user: user.name)
            #expect(route.pair.value == "p2")
            let after = try await fleet.store.user(id: user.id)
            #expect(after.pair?.value == "p2" && after.state == .active && after.epoch == user.epoch + 1)
            let feed = try await fleet.store.userChanges(pair: name("p1", .pair), since: versionOnP1, limit: 100)
            #expect(feed.changes.last.map { $0.userID == user.id && $0.kind == .gone } == true, "\(feed.changes)")
            let newFeed = try await fleet.store.userChanges(pair: name("p2", .pair), since: 0, limit: 100)
            #expect(newFeed.changes.contains { $0.userID == user.id && $0.kind != .gone })

            let progress = try #require(await executor.progress.progress(of: move.id))
            // 320 copied to each new host, the late message to both and to p1-b.
            #expect(progress.messagesCopied == 643, "\(progress)")
            #expect(progress.bytesCopied > 0 && !progress.catchUpPending && progress.lastError == nil)
            #expect(!FileManager.default.fileExists(atPath: executor.stateDirectory(of: move.id)))
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func moveWhoseCoordinatorStopsHalfWay_isResumedByTheNextLeaderAndLosesNothing(_ driver: StoreDriver) async throws {
        try await MoveFleet.with(driver) { fleet in
            try await fleet.fillFirstPair(count: 200)
            let before = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            let user = try await fleet.store.user(name(MoveFleet.user, .user))
            let move = try await fleet.store.createMove(user: user.id, to: name("p2", .pair))

            // The first coordinator copies to p2-a, then stops before p2-a ↔ p2-b.
            let (reached, reachedContinuation) = AsyncStream<Void>.makeStream()
            let first = MoveScheduler(
                executor: fleet.executor { _, a, b in
                    guard a.name.value == "p2-a.test", b.name.value == "p2-b.test" else { return }
                    reachedContinuation.yield()
                    // Stopped here: the coordinator's task is cancelled while it waits.
                    try await Task.sleep(for: .seconds(3600))
                })
            let coordinator = Task { await first.run() }
            var iterator = reached.makeAsyncIterator()
            _ = await iterator.next()
            coordinator.cancel()
            await coordinator.value

            let halfWay = try await fleet.store.move(move.id)
            #expect(halfWay.phase == .copying)
            #expect(try await fleet.store.route(user: user.name).pair.value == "p1")
            #expect(try MailSnapshot(fleet.mailRoot("p2-a.test")) == (try MailSnapshot(fleet.mailRoot("p1-a.test"))))
            #expect(try MailSnapshot(fleet.mailRoot("p2-a.test")).messageCount == before.messageCount)
            #expect(!FileManager.default.fileExists(atPath: fleet.mailRoot("p2-b.test").root))

            // The next leader resumes from the recorded phase.
            let second = MoveScheduler(executor: fleet.executor())
            let resumed = Task { await second.run() }
            defer { resumed.cancel() }
            try await waitUntil("the move finished and caught up") {
                let finished = try await fleet.store.move(move.id).phase == .finished
                return try finished && second.executor.pendingCatchUps().isEmpty
            }
            resumed.cancel()
            await resumed.value

            let old = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            #expect(old.messageCount == before.messageCount)
            for host in ["p2-a.test", "p2-b.test"] {
                let copy = try MailSnapshot(fleet.mailRoot(host))
                #expect(copy == old, "\(host):\n\(copy)")
                #expect(copy.guidCounts.values.allSatisfy { $0 == 1 })
            }
            #expect(try await fleet.store.route(user: user.name).pair.value == "p2")
            #expect(try await fleet.store.user(id: user.id).epoch == user.epoch + 1)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func moveRolledBackAfterACopy_leavesTheUserOnItsPairWithItsMailUntouched(_ driver: StoreDriver) async throws {
        try await MoveFleet.with(driver) { fleet in
            try await fleet.fillFirstPair(count: 60)
            let before = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            let user = try await fleet.store.user(name(MoveFleet.user, .user))
            let move = try await fleet.store.createMove(user: user.id, to: name("p2", .pair))
            #expect(try await fleet.store.pair(name("p2", .pair)).userCount == 1)

            let failing = fleet.executor { _, a, _ in
                if a.name.value == "p2-a.test" { throw MoveFleetError("p2-b.test is being replaced") }
            }
            await #expect(throws: MoveFleetError.self) { try await failing.run(move.id) }
            #expect(try await fleet.store.move(move.id).phase == .copying)

            let rolledBack = try await fleet.store.rollBackMove(move.id, error: "rolled back by an operator")
            #expect(rolledBack.phase == .rolledBack)
            // Running it again (a leader that had it in flight) only tidies up.
            #expect(try await fleet.executor().run(move.id).phase == .rolledBack)
            #expect(!FileManager.default.fileExists(atPath: failing.stateDirectory(of: move.id)))

            let after = try await fleet.store.user(id: user.id)
            #expect(after.pair?.value == "p1" && after.state == .active && after.epoch == user.epoch)
            #expect(try await fleet.store.pair(name("p2", .pair)).userCount == 0)
            #expect(try await fleet.store.route(user: user.name).pair.value == "p1")
            let oldAfter = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            #expect(oldAfter == before)
            #expect(try MailSnapshot(fleet.mailRoot("p1-a.test")).messageCount == before.messageCount)
            #expect(try MailSnapshot(fleet.mailRoot("p1-b.test")) == before)
            let feed = try await fleet.store.userChanges(pair: name("p2", .pair), since: 0, limit: 100)
            #expect(feed.changes.last.map { $0.userID == user.id && $0.kind == .gone } == true)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func drainingAPair_movesEveryUserOffItNoMoreThanTheBoundAtATime(_ driver: StoreDriver) async throws {
        let users = (1...5).map { "user\($0)@example.com" }
        try await MoveFleet.with(driver, users: users) { fleet in
            for user in users { try await fleet.fillFirstPair(user: user, count: 8) }
            let most = Mutex(0)
            let store = fleet.store
            let scheduler = MoveScheduler(
                executor: fleet.executor(maxConcurrentMoves: 2) { _, _, _ in
                    let unfinished = try await store.unfinishedMoves().count
                    most.withLock { $0 = max($0, unfinished) }
                })
            _ = try await fleet.store.updatePair(name("p1", .pair), PairUpdate(state: .draining))
            let leader = Task { await scheduler.run() }
            defer { leader.cancel() }
            try await waitUntil("p1 is empty and every catch-up ran") {
                let emptied = try await store.pair(name("p1", .pair)).userCount == 0
                let settled = try await store.unfinishedMoves().isEmpty
                return try emptied && settled && scheduler.executor.pendingCatchUps().isEmpty
            }
            leader.cancel()
            await leader.value
            #expect(most.withLock { $0 } == 2)
            for user in users {
                #expect(try await store.user(name(user, .user)).pair?.value == "p2")
                let copy = try MailSnapshot(fleet.mailRoot("p2-b.test", user: user))
                #expect(copy == (try MailSnapshot(fleet.mailRoot("p1-a.test", user: user))))
                #expect(copy.messageCount == 8)
            }
        }
    }
}

/// Waits until `condition` holds, checking every 50 ms; fails after a generous hang guard.
func waitUntil(
    _ what: String, guard limit: Duration = .seconds(300), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("hang guard: \(what) did not happen within \(limit)", sourceLocation: sourceLocation)
            throw MoveFleetError("hang guard: \(what)")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}
