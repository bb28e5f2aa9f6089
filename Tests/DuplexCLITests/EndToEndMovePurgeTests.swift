import Foundation
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

/// A user's move between two pairs of real `duplex agent` processes, run by a real `duplex
/// coordinator` on PostgreSQL, then `duplex user purge-old`: the old pair's copies are
/// deleted by their own agents, the new pair's copies stay identical to what the user had,
/// the route points at the new pair, and purging again does nothing and says so.
@Suite(.serialized) struct EndToEndMovePurgeTests {
    static let unavailableReason = EndToEndMoveFleet.unavailableReason

    @Test(.enabled(if: unavailableReason == nil, "\(unavailableReason ?? "")"), .timeLimit(.minutes(15)))
    func moveThenPurgeOld_deletesTheOldPairsCopiesKeepsTheNewOnesAndPurgingAgainIsANoOp() async throws {
        try await EndToEndMoveFleet.with { fleet in
            try await fleet.fillFirstPair(count: 30)
            let before = try await fleet.snapshot("p1-a.test")
            #expect(try await fleet.snapshot("p1-b.test") == before, "the old pair's copies differ before the move")
            #expect(before.contains("\"messages\""), "\(before)")

            try await fleet.withAgents { agents in
                let moved = try await fleet.coordinatorAnswer(APIMove.self, ["user", "move", EndToEndMoveFleet.user, "--to", "p2", "--wait"])
                #expect(moved.phase == "finished" && moved.from == "p1" && moved.to == "p2", "\(moved)")

                // The catch-up sync runs right after the switch (no delay configured); until it
                // has, purge-old refuses (exit 73) and deletes nothing.
                let purge = try await purgeOnceCaughtUp(fleet)
                #expect(!purge.alreadyPurged && purge.pair == "p1" && purge.move.id == moved.id, "\(purge)")
                #expect(purge.hosts.map(\.host).sorted() == ["p1-a.test", "p1-b.test"], "\(purge.hosts)")
                #expect(purge.hosts.allSatisfy { $0.existed }, "\(purge.hosts)")
                #expect(purge.move.purgedAt != nil)
                for host in ["p1-a.test", "p1-b.test"] {
                    #expect(!FileManager.default.fileExists(atPath: fleet.mailRoot(host)), "\(host) keeps \(fleet.mailRoot(host))")
                }
                for host in ["p2-a.test", "p2-b.test"] {
                    #expect(try await fleet.snapshot(host) == before, "\(host)'s copy is not the user's mail")
                }

                let route = try await fleet.coordinatorAnswer(APIRoute.self, ["user", "route", EndToEndMoveFleet.user])
                #expect(route.pair == "p2" && route.epoch == 2, "\(route)")
                #expect(Set([route.preferredHost.name, route.otherHost.name]) == ["p2-a.test", "p2-b.test"], "\(route)")
                let user = try await fleet.coordinatorAnswer(APIUser.self, ["user", "show", EndToEndMoveFleet.user])
                #expect(user.pair == "p2" && user.state == "active", "\(user)")

                // Again: the move records the purge; nothing is asked of the agents.
                let again = try await fleet.coordinatorRun(["user", "purge-old", EndToEndMoveFleet.user])
                #expect(again.status == 0, "\(again.status): \(again.stderr)")
                #expect(again.stdout.contains("note      already purged; nothing was done"), "\(again.stdout)")
                let againJSON = try await fleet.coordinatorAnswer(APIPurge.self, ["user", "purge-old", EndToEndMoveFleet.user])
                #expect(againJSON.alreadyPurged && againJSON.hosts.isEmpty && againJSON.move.purgedAt == purge.move.purgedAt, "\(againJSON)")
                for host in ["p2-a.test", "p2-b.test"] {
                    #expect(try await fleet.snapshot(host) == before, "\(host)'s copy changed after the second purge")
                }
                // The old pair's replicators drop the user from the coordinator's list and bring
                // nothing back; the new pair's replicate it.
                for host in EndToEndMoveFleet.hosts {
                    let expected = host.hasPrefix("p1") ? [String]() : [EndToEndMoveFleet.user]
                    try await waitForReplicatedUsers(expected, fleet, host: host, agent: agents[host])
                }
                for host in ["p1-a.test", "p1-b.test"] {
                    #expect(!FileManager.default.fileExists(atPath: fleet.mailRoot(host)), "\(host) has \(fleet.mailRoot(host)) again")
                }
            }
        }
    }

    /// Waits (polling; five minutes at most, a hang guard) until the replicator of `host`
    /// replicates exactly `users` (`duplex replicator status '*'` on its admin socket).
    private func waitForReplicatedUsers(_ users: [String], _ fleet: EndToEndMoveFleet, host: String, agent: RunningAgent?) async throws {
        let deadline = ContinuousClock.now + .seconds(300)
        var known: [String] = []
        while ContinuousClock.now < deadline {
            let result = try await EndToEndMoveFleet.run(
                ["replicator", "status", "*", "--socket", fleet.directory.appending("\(host)-replicator.sock"), "--json"])
            try #require(result.status == 0, "duplex replicator status on \(host): \(result.stdout)\(result.stderr)")
            known = try JSONDecoder().decode([ReplicatorAdminUserStatus].self, from: Data(result.stdout.utf8)).map(\.username)
            if known == users { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        Issue.record("\(host) replicates \(known), not \(users); its log:\n\(agent?.log.suffix(6000) ?? "")")
    }

    /// `duplex user purge-old USER --json`, asked again while it answers that the move's
    /// catch-up has not run yet (exit 73); a hang guard of five minutes.
    private func purgeOnceCaughtUp(_ fleet: EndToEndMoveFleet) async throws -> APIPurge {
        let deadline = ContinuousClock.now + .seconds(300)
        while true {
            let result = try await fleet.coordinatorRun(["user", "purge-old", EndToEndMoveFleet.user, "--json"])
            if result.status == 0 { return try CoordinatorJSON.decode(APIPurge.self, from: Array(result.stdout.utf8)) }
            try #require(result.status == 73 && ContinuousClock.now < deadline, "duplex user purge-old exited \(result.status): \(result.stderr)")
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
