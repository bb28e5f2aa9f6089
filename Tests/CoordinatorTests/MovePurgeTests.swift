import Coordinator
import Dsync
import Foundation
import Testing

@testable import Coordinator

/// `duplex user purge-old`: the old pair's copy of a moved user is deleted by its real agents
/// over mutual TLS, on the user's id and the finished move's record, once and only when safe;
/// each with the coordinator's store on PostgreSQL and on SQLite.
@Suite(.serialized)
struct MovePurgeTests {
    /// Moves the fleet's user from p1 to p2 with its catch-up; returns the move.
    private func moveAndCatchUp(_ fleet: MoveFleet, to pair: String = "p2") async throws -> MoveRecord {
        let user = try await fleet.store.user(name(MoveFleet.user, .user))
        let move = try await fleet.store.createMove(user: user.id, to: name(pair, .pair))
        let executor = fleet.executor()
        _ = try await executor.run(move.id)
        try await executor.catchUp(move.id)
        return try await fleet.store.move(move.id)
    }

    private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    @Test(arguments: StoreDriver.allCases)
    func purgeOld_afterACaughtUpMove_deletesBothOldCopiesKeepsTheNewOnesAndIsIdempotent(_ driver: StoreDriver) async throws {
        try await MoveFleet.with(driver) { fleet in
            try await fleet.fillFirstPair(count: 40)
            let move = try await moveAndCatchUp(fleet)
            #expect(move.phase == .finished && move.caughtUpAt != nil && move.purgedAt == nil)
            let kept = try MailSnapshot(fleet.mailRoot("p2-a.test"))
            #expect(kept.messageCount == 40)

            let outcome = try await fleet.executor().purger.purgeOld(user: move.userID)
            #expect(!outcome.alreadyPurged)
            #expect(outcome.move.id == move.id && outcome.move.purgedAt != nil)
            #expect(outcome.hosts.map(\.host.value) == ["p1-a.test", "p1-b.test"])
            #expect(outcome.hosts.allSatisfy { $0.existed }, "\(outcome.hosts)")
            for host in ["p1-a.test", "p1-b.test"] {
                let root = fleet.mailRoot(host).root
                #expect(!exists(root), "\(host) keeps \(root)")
                #expect(!exists(DsyncPurge.trashPath(of: root)))
            }
            #expect(try MailSnapshot(fleet.mailRoot("p2-a.test")) == kept)
            #expect(try MailSnapshot(fleet.mailRoot("p2-b.test")) == kept)
            #expect(try await fleet.store.move(move.id).purgedAt == outcome.move.purgedAt)

            // Again: recorded already, nothing is asked of the agents.
            let again = try await fleet.executor().purger.purgeOld(user: move.userID)
            #expect(again.alreadyPurged && again.hosts.isEmpty && again.move.purgedAt == outcome.move.purgedAt)
            #expect(try MailSnapshot(fleet.mailRoot("p2-a.test")) == kept)
            // A catch-up marker left behind (a leader stopped between recording the catch-up
            // and forgetting it) is only forgotten: no sync with the purged hosts.
            let restarted = fleet.executor()
            try await restarted.catchUp(move.id)
            for host in ["p1-a.test", "p1-b.test"] { #expect(!exists(fleet.mailRoot(host).root), "\(host) got a mail root back") }
            #expect(try MailSnapshot(fleet.mailRoot("p2-a.test")) == kept)
            #expect(try MailSnapshot(fleet.mailRoot("p2-b.test")) == kept)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func purgeOld_withoutAFinishedMoveOrBeforeTheCatchUp_isRefusedAndChangesNothing(_ driver: StoreDriver) async throws {
        try await MoveFleet.with(driver) { fleet in
            try await fleet.fillFirstPair(count: 12)
            let before = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            let user = try await fleet.store.user(name(MoveFleet.user, .user))
            let purger = fleet.executor().purger
            let none = await expectStoreError(.conflict) { try await purger.purgeOld(user: user.id) }
            #expect(none?.description.contains("no finished move") == true, "\(String(describing: none))")

            let move = try await fleet.store.createMove(user: user.id, to: name("p2", .pair))
            let running = await expectStoreError(.conflict) { try await purger.purgeOld(user: user.id, move: move.id) }
            #expect(running?.description.contains("not finished") == true, "\(String(describing: running))")
            _ = try await fleet.executor().run(move.id)
            // Switched, but the catch-up sync has not run: mail delivered to p1 meanwhile
            // would be lost with its copy.
            let early = await expectStoreError(.conflict) { try await purger.purgeOld(user: user.id) }
            #expect(early?.description.contains("catch-up") == true, "\(String(describing: early))")
            await expectStoreError(.conflict) { try await fleet.store.recordPurge(move.id) }
            await expectStoreError(.notFound) { try await purger.purgeOld(user: user.id, move: MoveID(move.id.rawValue + 100)) }

            #expect(try MailSnapshot(fleet.mailRoot("p1-a.test")) == before)
            #expect(try MailSnapshot(fleet.mailRoot("p1-b.test")) == before)
            let after = try await fleet.store.move(move.id)
            #expect(after.purgedAt == nil && after.caughtUpAt == nil)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func purgeOld_ofTheMoveOffThePairTheUserIsBackOn_isRefusedAndTheLatestMoveIsPurged(_ driver: StoreDriver) async throws {
        try await MoveFleet.with(driver) { fleet in
            try await fleet.fillFirstPair(count: 20)
            let away = try await moveAndCatchUp(fleet, to: "p2")
            let back = try await moveAndCatchUp(fleet, to: "p1")
            #expect(try await fleet.store.user(id: away.userID).pair?.value == "p1")
            let live = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            #expect(live.messageCount == 20)

            let purger = fleet.executor().purger
            let refused = await expectStoreError(.conflict) { try await purger.purgeOld(user: away.userID, move: away.id) }
            #expect(refused?.description.contains("current pair") == true, "\(String(describing: refused))")
            #expect(try MailSnapshot(fleet.mailRoot("p1-a.test")) == live)
            #expect(try MailSnapshot(fleet.mailRoot("p1-b.test")) == live)

            // Without a move: the latest finished one, whose old pair is p2.
            let outcome = try await purger.purgeOld(user: away.userID)
            #expect(outcome.move.id == back.id && outcome.move.fromPair.value == "p2")
            #expect(!exists(fleet.mailRoot("p2-a.test").root) && !exists(fleet.mailRoot("p2-b.test").root))
            #expect(try MailSnapshot(fleet.mailRoot("p1-a.test")) == live)
            #expect(try await fleet.store.move(away.id).purgedAt == nil)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func purgeOld_ofARemovedUserWhoseNameWasReusedOnTheOldPair_neverTouchesTheNewUsersMail(_ driver: StoreDriver) async throws {
        try await MoveFleet.with(driver) { fleet in
            try await fleet.fillFirstPair(count: 10)
            let move = try await moveAndCatchUp(fleet)
            _ = try await fleet.store.removeUser(move.userID)
            // The name comes back on p1 as another user (a new id) whose mail root is the old one's path.
            _ = try await fleet.store.updatePair(name("p2", .pair), PairUpdate(state: .disabled))
            let reused = try await fleet.store.assign(user: name(MoveFleet.user, .user), tenant: name("example", .tenant)).user
            #expect(reused.id != move.userID && reused.pair?.value == "p1")
            let before = try MailSnapshot(fleet.mailRoot("p1-a.test"))

            let purger = fleet.executor().purger
            let removed = await expectStoreError(.conflict) { try await purger.purgeOld(user: move.userID) }
            #expect(removed?.description.contains("removed") == true, "\(String(describing: removed))")
            await expectStoreError(.conflict) { try await purger.purgeOld(user: reused.id) }
            await expectStoreError(.conflict) { try await fleet.store.recordPurge(move.id) }

            // An order naming the old user's id still reaches an agent that checks its list: refused.
            let order = DsyncPurgeOrder(
                user: MoveFleet.user, userID: move.userID.rawValue, epoch: 2, pair: "p1", move: move.id.rawValue,
                currentPair: "p2")
            let refused = await expectDsyncError(.usage) { try await fleet.purgeClient(to: "p1-a.test").purge(order) }
            #expect(refused?.message.contains("still on pair p1") == true, "\(String(describing: refused))")
            #expect(try MailSnapshot(fleet.mailRoot("p1-a.test")) == before)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func purgeOrder_fromThePeerHostForAnotherPairOrAUserStillOnThePair_isRefusedByTheAgent(_ driver: StoreDriver) async throws {
        try await MoveFleet.with(driver) { fleet in
            try await fleet.fillFirstPair(count: 5)
            let before = try MailSnapshot(fleet.mailRoot("p1-a.test"))
            let user = try await fleet.store.user(name(MoveFleet.user, .user))
            let order = DsyncPurgeOrder(
                user: MoveFleet.user, userID: user.id.rawValue, epoch: user.epoch, pair: "p1", move: 1, currentPair: "p2")

            let peer = await expectDsyncError(.authenticationFailed) {
                try await fleet.purgeClient(to: "p1-a.test", as: "p1-b.test").purge(order)
            }
            #expect(peer?.message.contains("may not order purges") == true, "\(String(describing: peer))")
            var elsewhere = order
            elsewhere.pair = "p2"
            let wrongPair = await expectDsyncError(.usage) { try await fleet.purgeClient(to: "p1-a.test").purge(elsewhere) }
            #expect(wrongPair?.message.contains("this host is of pair p1") == true, "\(String(describing: wrongPair))")
            let listed = await expectDsyncError(.usage) { try await fleet.purgeClient(to: "p1-a.test").purge(order) }
            #expect(listed?.message.contains("still on pair p1") == true, "\(String(describing: listed))")
            var current = order
            current.currentPair = "p1"
            await expectDsyncError(.usage) { try await fleet.purgeClient(to: "p1-a.test").purge(current) }

            #expect(try MailSnapshot(fleet.mailRoot("p1-a.test")) == before)
        }
    }
}

extension MoveFleet {
    /// A purge client toward `host`'s agent with the certificate of `identity`.
    func purgeClient(to host: String, as identity: String = "coordinator.test") throws -> DsyncPurgeClient {
        let tls = directory.appending("tls")
        return try DsyncPurgeClient(
            endpoint: "tls://127.0.0.1:\(ports[host]!)",
            tls: DsyncTLSFiles(
                certificateChain: tls + "/\(identity).pem", privateKey: tls + "/\(identity).key", trustedCA: tls + "/ca.pem",
                allowedPeers: [host]))
    }
}

/// Runs `body`, expecting a ``DsyncError`` with `code`; returns it.
@discardableResult
func expectDsyncError<T>(
    _ code: DsyncError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> DsyncError? {
    do {
        _ = try await body()
        Issue.record("expected a \(code) error, but it succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as DsyncError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a DsyncError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
