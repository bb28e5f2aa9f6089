import Foundation
import MailStoreTestSupport
import Testing

/// The whole system with real clients: two Dovecot 2.3 hosts serving IMAP on loopback, a
/// `duplex agent` beside each (mutual TLS, replicators pointing at each other), a `duplex
/// coordinator` on a private PostgreSQL placing the user on the pair, from which both agents
/// learn the user, and Python's imaplib as the client on both hosts at once
/// (`Tests/Fixtures/imap_activity.py`). After the replicators settle, IMAP on A and on B must
/// show the same folders, UIDVALIDITY, UIDs, messages and flags, with every appended message
/// there exactly once unless expunged, and `duplex status` must show both hosts heartbeating
/// and the user synced with no failure.
@Suite(.serialized) struct EndToEndIMAPTests {
    static let unavailableReason = EndToEndFleet.unavailableReason

    @Test(.enabled(if: unavailableReason == nil, "\(unavailableReason ?? "")"), .timeLimit(.minutes(15)))
    func imapClientsOnBothHosts_syncedByHand_seeTheSameMailOnBoth() async throws {
        try await EndToEndFleet.with(replicationPlugin: false) { fleet in
            try await fleet.withAgents(replicationPlugin: false) { agents in
                let driver = EndToEndIMAPDriver(fleet: fleet)
                try await fleet.waitUntilSettled(agents, since: 1)

                let seeded = Self.unixNow()
                try await driver.seed()
                try await fleet.replicateByHand(socket: agents.socketA)
                try await fleet.waitUntilSettled(agents, since: seeded)
                let start = try await driver.verify()
                #expect(start.result.status == 0, "after the seed:\n\(start.result.stdout)\(start.result.stderr)")

                let reports = try await driver.activity()
                // Nothing syncs without a notification or a request: the hosts differ now, and
                // the check says where (so a pass below is not the check seeing nothing).
                let unsynced = try await driver.verify()
                #expect(unsynced.result.status == 1, "\(unsynced.result.stdout)\(unsynced.result.stderr)")
                #expect(unsynced.result.stdout.contains("LIST differs"), "\(unsynced.result.stdout)")
                #expect(unsynced.summary["A"] != unsynced.summary["B"])

                let changed = Self.unixNow()
                try await fleet.replicateByHand(socket: agents.socketA)
                let settled = try await fleet.waitUntilSettled(agents, since: changed)
                let end = try await driver.verify()
                #expect(end.result.status == 0, "after the sync:\n\(end.result.stdout)\(end.result.stderr)\n\(agents.syncLog)")
                try Self.expectConverged(end.summary, reports: reports, seedReport: driver.seedReport)
                try await fleet.waitForCoordinatorView(settled: settled, connected: agents.connected)
            }
        }
    }

    @Test(.enabled(if: unavailableReason == nil, "\(unavailableReason ?? "")"), .timeLimit(.minutes(15)))
    func imapClientsOnBothHosts_replicatedThroughDovecotsPlugin_seeTheSameMailOnBoth() async throws {
        try await EndToEndFleet.with(replicationPlugin: true) { fleet in
            try await fleet.withAgents(replicationPlugin: true) { agents in
                let driver = EndToEndIMAPDriver(fleet: fleet)
                try await fleet.waitUntilSettled(agents, since: 1)

                let seeded = Self.unixNow()
                try await driver.seed()
                try await fleet.waitUntilSettled(agents, since: seeded)
                let start = try await driver.verify()
                #expect(start.result.status == 0, "after the seed:\n\(start.result.stdout)\(start.result.stderr)")

                let marks = (a: agents.a.logMark, b: agents.b.logMark)
                let changed = Self.unixNow()
                let reports = try await driver.activity()
                let settled = try await fleet.waitUntilSettled(agents, since: changed)
                let end = try await driver.verify()
                #expect(end.result.status == 0, "after the activity:\n\(end.result.stdout)\(end.result.stderr)\n\(agents.syncLog)")
                try Self.expectConverged(end.summary, reports: reports, seedReport: driver.seedReport)
                try await fleet.waitForCoordinatorView(settled: settled, connected: agents.connected)
                // No sync was asked for by hand: each host's Dovecot told its own agent.
                #expect(Self.heardFromDovecot(agents.a.log(since: marks.a)), "agent A heard nothing from Dovecot A")
                #expect(Self.heardFromDovecot(agents.b.log(since: marks.b)), "agent B heard nothing from Dovecot B")
            }
        }
    }

    // MARK: Checks

    /// Both hosts' summaries are the same, and hold every message appended (seed and
    /// activity) and not expunged, no more: the figures besides the driver's own check.
    static func expectConverged(
        _ summary: [String: EndToEndIMAPDriver.HostSummary], reports: [String: EndToEndIMAPDriver.Report], seedReport: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let a = try #require(summary["A"], sourceLocation: sourceLocation)
        let b = try #require(summary["B"], sourceLocation: sourceLocation)
        #expect(a == b, "A: \(a)\nB: \(b)", sourceLocation: sourceLocation)
        let seed = try JSONDecoder().decode(
            [String: EndToEndIMAPDriver.Report].self, from: Data(contentsOf: URL(fileURLWithPath: seedReport)))
        let all = Array(seed.values) + Array(reports.values)
        let appended = Set(all.flatMap(\.appended.keys))
        let expunged = Set(all.flatMap(\.expunged))
        #expect(expunged.count >= 3, "the scenario expunges on both hosts: \(all.map(\.failed))", sourceLocation: sourceLocation)
        #expect(a.messages.values.reduce(0, +) == appended.subtracting(expunged).count, "\(a.messages)", sourceLocation: sourceLocation)
        // The folder renamed on A while B appended into it holds B's messages too.
        #expect(a.folders.contains("Archive/Projects-2024") && !a.folders.contains("Projects"), "\(a.folders)", sourceLocation: sourceLocation)
        #expect(a.folders.contains("Archive/Receipts") && a.folders.contains("Travel"), "\(a.folders)", sourceLocation: sourceLocation)
        let intoRenamed = reports["B"]?.appended.filter { $0.value == "Projects" }.count ?? 0
        #expect((a.messages["Archive/Projects-2024"] ?? 0) == 3 + intoRenamed, "\(a.messages)", sourceLocation: sourceLocation)
    }

    /// Whether an agent's debug log shows Dovecot's replication plugin reaching it: a
    /// `low` or `high` notification (fifo or socket), or a save's `sync` request on the
    /// socket. Either may be all a host sends: the plugin holds `low` and `high` back for
    /// half a second and drops them when a `sync` request succeeds meanwhile.
    static func heardFromDovecot(_ log: String) -> Bool {
        log.contains("[Replicator] notification") || log.contains("[Replicator] sync request answered")
    }

    static func unixNow() -> Int64 { Int64(Date().timeIntervalSince1970) }
}
