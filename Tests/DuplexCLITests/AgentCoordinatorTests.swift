import Foundation
import MailStore
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

/// `duplex agent` following a real `duplex coordinator` (SQLite in a temporary directory,
/// TLS certificates made at test time): the pair's users reach the replicator, removals and
/// `noreplicate` are applied, status is pushed, and an outage of the coordinator, even
/// across a restart of the agent, never stops replication.
@Suite(.serialized) struct AgentCoordinatorTests {
    @Test func agent_followsTheCoordinator_andKeepsItsListThroughAnOutageAndARestart() async throws {
        let server = try await CoordinatorServer()
        try await AgentFixture.with { fixture in
            let setup = try CoordinatorAgentSetup(fixture: fixture, server: server)
            for name in ["alice@example.com", "bob@example.com", "carol@example.com"] {
                _ = try server.json(["user", "assign", name, "--tenant", "example"])
            }
            // bob's mail on this host, which his removal must leave alone.
            let bobRoot = fixture.directory.appending("b/bob")
            try FileManager.default.createDirectory(atPath: bobRoot, withIntermediateDirectories: true)
            _ = try MailStore(root: bobRoot).createMailbox(try MailboxName("INBOX"))
            try fixture.save(bobRoot, count: 3, prefix: "bob")
            let bobBefore = try fixture.guids(bobRoot)

            let agent = try await setup.startAgent()
            defer { agent.process.stop() }
            try await agent.waitForLog("coordinator connected")
            try await setup.expectQueue(["alice@example.com", "bob@example.com", "carol@example.com"])
            #expect(agent.log.contains("no local copy of the coordinator's user list"), "\(agent.log)")

            // Its replicator's status reaches the coordinator: the syncs fail (no peer).
            let reports = try await setup.waitForReports("alice@example.com") { reports in
                reports.contains { $0["host"] as? String == "host-b.test" && $0["failed"] as? Bool == true }
            }
            let report = try #require(reports.first { $0["host"] as? String == "host-b.test" })
            #expect(report["last_error"] is String && report["priority"] is String, "\(report)")
            let status = try server.json(["status"])
            let failed = status["failed_users"] as? [[String: Any]] ?? []
            #expect(failed.contains { $0["user"] as? String == "alice@example.com" && $0["host"] as? String == "host-b.test" }, "\(status)")

            // The agent registered and heartbeats: the coordinator's health check marks its
            // host up (it runs every 10 s; three minutes and more guard a hang).
            var health = ""
            for _ in 0..<1800 where health != "up" {
                health = (try server.json(["pair", "show", "eu-1"])["host_b"] as? [String: Any])?["health"] as? String ?? ""
                if health != "up" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(health == "up")

            // Removed in the coordinator: gone from the queue, the mail untouched.
            _ = try server.json(["user", "remove", "bob@example.com"])
            try await setup.expectQueue(["alice@example.com", "carol@example.com"])
            #expect(try fixture.guids(bobRoot) == bobBefore)

            // noreplicate: out of the queue, and never synced when something queues it.
            let patch = try await server.send(CoordinatorRequest(.patch, ["v1", "users", "carol@example.com"], json: ["noreplicate": true]))
            #expect(patch.status == 200, "\(String(decoding: patch.body, as: UTF8.self))")
            try await setup.expectQueue(["alice@example.com"])
            let mark = agent.logMark
            let admin = ReplicatorAdminClient(socketPath: setup.adminSocket)
            #expect(try await admin.send(.replicate(mask: "carol@example.com", priority: .high)).count == 1)
            let removal = try await agent.waitForLog("user removed from replication", since: mark)
            #expect(removal.contains("not to be replicated"), "\(removal)")
            try await setup.expectQueue(["alice@example.com"])

            // The coordinator stops: the agent says so once, keeps its list and runs on.
            let outage = agent.logMark
            server.stop()
            try await agent.waitForLog("coordinator unreachable", since: outage)
            try await waitForFailedRequests(3, agent, since: outage)
            #expect(agent.log(since: outage).components(separatedBy: "coordinator unreachable").count == 2, "logged once")
            #expect(agent.process.exitStatus() == nil)
            try await setup.expectQueue(["alice@example.com"])

            // Restarted while the coordinator is down, with no saved queue: the local copy
            // brings the users back.
            #expect(await agent.process.stop(within: .seconds(120)) == 0, "\(agent.log)")
            let cache = try String(contentsOfFile: setup.cacheFile, encoding: .utf8)
            #expect(cache.contains(" alice@example.com\n") && cache.contains(" carol@example.com noreplicate\n") && !cache.contains("bob"))
            try FileManager.default.removeItem(atPath: setup.stateFile)
            let restarted = try await setup.startAgent()
            defer { restarted.process.stop() }
            try await restarted.waitForLog("coordinator user list loaded from the local copy")
            try await setup.expectQueue(["alice@example.com"])
            try await restarted.waitForLog("coordinator unreachable")

            // Meanwhile, the coordinator's database changes (through one on another port).
            let side = try await server.startAnother(port: 0)
            let sideURL = "https://127.0.0.1:\(side.port)"
            let assign = try await server.send(
                CoordinatorRequest(.post, ["v1", "users"], json: ["name": "dave@example.com", "tenant": "example"]), url: sideURL)
            #expect(assign.status == 201)
            #expect(try await server.send(CoordinatorRequest(.delete, ["v1", "users", "alice@example.com"]), url: sideURL).status == 200)
            #expect(await side.process.stop(within: .seconds(120)) == 0)

            // Back on its address: the agent catches up.
            let back = try await server.startAnother(port: server.port)
            defer { back.process.stop() }
            try await restarted.waitForLog("coordinator reachable again")
            try await setup.expectQueue(["dave@example.com"])
            #expect(await restarted.process.stop(within: .seconds(120)) == 0, "\(restarted.log)")
            #expect(restarted.log.contains("coordinator link stopped"))
            let saved = try String(contentsOfFile: setup.cacheFile, encoding: .utf8)
            #expect(saved.contains(" dave@example.com\n") && !saved.contains("alice"), "\(saved)")
        }
    }

    @Test func corruptCache_isReportedWithPathAndLine_andTheListIsPulledFromVersionZero() async throws {
        let server = try await CoordinatorServer()
        try await AgentFixture.with { fixture in
            let setup = try CoordinatorAgentSetup(fixture: fixture, server: server)
            _ = try server.json(["user", "assign", "erin@example.com", "--tenant", "example"])
            try fixture.write("duplex-coordinator-users 1\npair eu-1\nversion 7\nuser 1 frank@example.com\nuser one gina\n", to: setup.cacheFile)
            let agent = try await setup.startAgent()
            defer { agent.process.stop() }
            let log = try await agent.waitForLog("coordinator connected")
            #expect(log.contains("\(setup.cacheFile):5: expected \"user ID NAME\""), "\(log)")
            #expect(log.contains("starting with an empty list and pulling it from version 0"), "\(log)")
            try await setup.expectQueue(["erin@example.com"])
            // Rewritten whole after the first batch.
            let cache = try await waitForCache(setup) { $0.contains(" erin@example.com\n") }
            #expect(try CoordinatorUserCache.parse(cache, path: setup.cacheFile).byName == ["erin@example.com": false])
        }
    }

    @Test func refusedToken_isLoggedOnce_andTheAgentReplicatesItsUsersFileMeanwhile() async throws {
        let server = try await CoordinatorServer()
        try await AgentFixture.with { fixture in
            let setup = try CoordinatorAgentSetup(fixture: fixture, server: server)
            // A tenant's token: every request of the agent is refused (403).
            let secret = try String(contentsOfFile: try server.tokenFile(role: "tenant:example"), encoding: .utf8)
            try fixture.write(secret, to: setup.tokenFile)
            let users = fixture.directory.appending("users")
            try fixture.write("henry@example.com\n", to: users)
            let text = try String(contentsOfFile: fixture.configurationPath, encoding: .utf8)
            try fixture.write(text.replacingOccurrences(of: "replicator:\n", with: "replicator:\n  users_file: \(users)\n"), to: fixture.configurationPath)
            let agent = try await setup.startAgent()
            defer { agent.process.stop() }
            let log = try await agent.waitForLog("coordinator unreachable")
            #expect(log.contains("403") && log.contains("forbidden"), "\(log)")
            try await setup.expectQueue(["henry@example.com"])
            try await waitForFailedRequests(3, agent)
            #expect(agent.log.components(separatedBy: "coordinator unreachable").count == 2, "logged once: \(agent.log)")
            #expect(!agent.log.contains(secret.trimmingCharacters(in: .whitespacesAndNewlines)), "no secret in the log")
        }
    }

    /// Waits until the agent's log after `mark` shows `count` failed requests to the
    /// coordinator (debug lines, one a retry): a warning logged once is then seen to stay
    /// once through retries that happened, not through a delay that a slow machine may fill
    /// with none.
    private func waitForFailedRequests(_ count: Int, _ agent: RunningAgent, since mark: Int = 0) async throws {
        let seen = await agent.process.waitForOutput(within: RunningAgent.patience) { _, _ in
            agent.log(since: mark).components(separatedBy: "coordinator request failed").count > count
        }
        try #require(seen, "fewer than \(count) failed requests to the coordinator; the log:\n\(agent.log(since: mark))")
    }

    /// The cache file's text once `check` holds for it.
    private func waitForCache(_ setup: CoordinatorAgentSetup, _ check: (String) -> Bool) async throws -> String {
        var text = ""
        for _ in 0..<3600 {
            text = (try? String(contentsOfFile: setup.cacheFile, encoding: .utf8)) ?? ""
            if check(text) { return text }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the cache is \(text)")
        return text
    }
}
