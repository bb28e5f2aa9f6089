import Foundation
import Replicator
import Testing

@testable import DuplexCLI

/// The agent's per-user report says whether the user's periodic full sync is due, as the
/// replicator's statistics count "Queued 'full resync' requests", and sends it as
/// `full_sync_due`.
@Suite struct CoordinatorStatusReportTests {
    private func row(
        priority: ReplicationPriority = .none, failed: Bool = false, held: Bool = false, running: Bool = false, nextSyncSeconds: Int64 = 0
    ) throws -> ReplicationUserStatus {
        let object: [String: Any] = [
            "username": "alice@example.com", "priority": priority.rawValue, "lastFastSync": 1_795_969_616, "lastFullSync": 1_795_900_000,
            "lastSuccessfulSync": 1_795_969_616, "failed": failed, "nextSyncSeconds": nextSyncSeconds, "held": held, "running": running,
        ]
        return try JSONDecoder().decode(ReplicationUserStatus.self, from: JSONSerialization.data(withJSONObject: object))
    }

    @Test func fullSyncDue_onlyForAnIdleUserWhoseNextSyncTimeHasCome() throws {
        #expect(CoordinatorStatusReport(userID: 1, status: try row()).fullSyncDue)
        #expect(!CoordinatorStatusReport(userID: 1, status: try row(nextSyncSeconds: 30)).fullSyncDue, "not yet")
        #expect(!CoordinatorStatusReport(userID: 1, status: try row(priority: .high)).fullSyncDue, "queued: counted by its priority")
        #expect(!CoordinatorStatusReport(userID: 1, status: try row(failed: true)).fullSyncDue, "a retry, counted as failed")
        #expect(!CoordinatorStatusReport(userID: 1, status: try row(held: true)).fullSyncDue, "held until an operator decides")
        #expect(!CoordinatorStatusReport(userID: 1, status: try row(running: true)).fullSyncDue, "running now")
        #expect(!CoordinatorStatusReport(userID: 1, status: nil).fullSyncDue, "unknown to the replicator")
    }

    @Test func fullSyncDue_isSentAsFullSyncDue() throws {
        let due = CoordinatorStatusReport(userID: 7, status: try row())
        let idle = CoordinatorStatusReport(userID: 8, status: try row(nextSyncSeconds: 600))
        let bodies = try CoordinatorStatusReporter.bodies(host: "mail1a.example.com", reports: [due, idle])
        let body = try #require(bodies.first).body
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let reports = try #require(object["reports"] as? [[String: Any]])
        #expect(reports.map { $0["full_sync_due"] as? Bool } == [true, false])
    }
}
