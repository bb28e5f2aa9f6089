import Foundation
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

/// `duplex status`: the fleet table, the per-pair replicator tables, and both against a
/// real `duplex coordinator`.
@Suite struct StatusCommandTests {
    @Test func statusExample_rendersPairsTotalsLagsAndFailedUsers() throws {
        let status = try CoordinatorJSON.decode(APIStatus.self, from: Array(CoordinatorAPIExamples.status.utf8))
        let now = Date(timeIntervalSince1970: CoordinatorAPIExamples.now)
        #expect(StatusCommand.render(status, now: now) == """
            PAIR   STATE     HOST A                   HOST B                     USERS  CAPACITY  SYNC  HIGH  LOW  FULL DUE  FAILED  HELD    LAG
            eu-1   active    mail1a.example.com (up)  mail1b.example.com (down)     20     50000     0     1    3         4       1     0  3m12s
            eu-2   draining  mail1a.example.com (up)  mail1b.example.com (down)      0       100     0     0    0         0       0     2      -
            total                                                                   20     50100     0     1    3         4       1     2  3m12s

            users whose last sync failed:
            USER             PAIR  HOST                SINCE  ERROR
            bob@example.com  eu-1  mail1b.example.com  1h00m  peer unreachable

            """)
    }

    @Test(arguments: [(0, "0s"), (59, "59s"), (192, "3m12s"), (3600, "1h00m"), (7_500, "2h05m"), (273_600, "3d04h"), (-5, "0s")])
    func lag_isTwoUnitsAtMost(seconds: Int64, text: String) {
        #expect(CoordinatorJSON.lag(seconds: seconds) == text)
    }

    @Test func pairTable_isTheReplicatorsTable_perHost_fromTheReports() throws {
        let pair = try CoordinatorJSON.decode(APIPair.self, from: Array(CoordinatorAPIExamples.pair.utf8))
        let alice = try CoordinatorJSON.decode(APIUser.self, from: Array(CoordinatorAPIExamples.userWithStatus.utf8))
        let now = Date(timeIntervalSince1970: CoordinatorAPIExamples.now)
        let text = StatusCommand.render(pair: pair, users: [alice], now: now, verbose: false, width: 80)
        let nowSeconds = Int64(CoordinatorAPIExamples.now)
        // The same formatter as `duplex replicator status MASK`, fed what host A reported.
        let expectedA = ReplicatorTables.users(
            [ReplicatorAdminUserStatus(
                username: "alice@example.com", priority: .high, lastFastSync: nowSeconds - 80, lastFullSync: nowSeconds - 10_800,
                lastSuccessfulSync: nowSeconds - 192, failed: true, lastError: "peer unreachable")],
            now: nowSeconds, verbose: false, width: 80)
        let expectedB = ReplicatorTables.users([ReplicatorAdminUserStatus(username: "alice@example.com")], now: nowSeconds, verbose: false, width: 80)
        #expect(text == "host mail1a.example.com (a, up):\n" + expectedA + "\nhost mail1b.example.com (b, down):\n" + expectedB)
        #expect(expectedA.contains("alice@example.com") && expectedA.contains("high") && expectedA.contains("00:03:12"))
    }

    @Test(arguments: [
        (["status", "a*"], "a MASK needs --pair P"),
        (["status", "--verbose"], "--verbose applies to --pair only"),
        (["status", "--tenant=-x"], "must start with a lower-case letter or a digit"),
        (["status", "--pair", "eu-1", "a b"], "not a user name with * and ? wildcards"),
    ])
    func badArguments_exit64WithTheReason_beforeAnyRequest(arguments: [String], message: String) throws {
        try OfflineCoordinator.expectUsageError(arguments, message)
    }

    @Test func fleetAndPairStatus_againstARealCoordinator() async throws {
        let server = try await CoordinatorServer()
        _ = try server.json(["tenant", "add", "example"])
        _ = try server.json(["pair", "add", "eu-1", "--host-a", "a1=tls://127.0.0.1:7445", "--host-b", "b1=tls://127.0.0.2:7445", "--capacity", "10"])
        for name in ["alice@example.com", "bob@example.com"] {
            _ = try server.json(["user", "assign", name, "--tenant", "example"])
        }
        let status = try server.json(["status"])
        #expect(Set(status.keys) == ["pairs", "totals", "failed_users"])
        let pairs = try #require(status["pairs"] as? [[String: Any]])
        #expect(pairs.map { $0["pair"] as? String } == ["eu-1"])
        #expect(pairs.first?["users"] as? Int == 2)

        let table = try server.duplex(["status"])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("PAIR   STATE   HOST A") == true, "\(table.stdout)")
        #expect(lines.contains { $0.hasPrefix("eu-1 ") && $0.hasSuffix("never") }, "no report yet: \(table.stdout)")
        #expect(lines.contains { $0.hasPrefix("total ") }, "\(table.stdout)")

        let perPair = try server.duplex(["status", "--pair", "eu-1", "*"])
        #expect(perPair.status == 0, "\(perPair.stderr)")
        #expect(perPair.stdout.hasPrefix("host a1 (a, "), "\(perPair.stdout)")
        #expect(perPair.stdout.contains("\nhost b1 (b, "))
        #expect(perPair.stdout.components(separatedBy: "alice@example.com").count == 3)
        let perPairJSON = try server.json(["status", "--pair", "eu-1", "b*"])
        #expect((perPairJSON["users"] as? [[String: Any]])?.map { $0["name"] as? String } == ["bob@example.com"])
        #expect((perPairJSON["pair"] as? [String: Any])?["name"] as? String == "eu-1")

        let tenantStatus = try server.json(["status", "--tenant", "example"])
        #expect((tenantStatus["pairs"] as? [[String: Any]])?.first?["users"] as? Int == 2)
        let unknown = try server.duplex(["status", "--pair", "eu-9"])
        #expect(unknown.status == 68, "\(unknown.stderr)")
    }
}
