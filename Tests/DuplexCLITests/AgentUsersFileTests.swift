import Foundation
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

/// The replicator's users from `replicator.users_file` (reloaded on SIGHUP, `noreplicate`
/// respected) and `replicator.import_dovecot_db`, against the built `duplex agent`. Its peer
/// is a port where nothing listens: syncs fail and users stay queued, which is all these
/// tests look at (through the admin socket).
@Suite struct AgentUsersFileTests {
    /// The configuration of the fixture's agent with a replicator section of `lines`.
    private func writeConfiguration(_ fixture: AgentFixture, _ lines: [String]) throws {
        try fixture.writeConfiguration()
        let base = try String(contentsOfFile: fixture.configurationPath, encoding: .utf8)
        let section = ([
            "peer: tls://127.0.0.1:1", "admin_socket: \(adminSocket(fixture))", "http_listen: 127.0.0.1:0",
            "state_file: \(fixture.directory.appending("replicator.state"))", "failure_retry_interval: 3600",
        ] + lines).map { "  " + $0 }.joined(separator: "\n")
        try fixture.write(base + "replicator:\n" + section + "\n", to: fixture.configurationPath)
    }

    private func adminSocket(_ fixture: AgentFixture) -> String { fixture.directory.appending("admin.sock") }

    /// The users the agent's replicator knows, sorted.
    private func queuedUsers(_ fixture: AgentFixture) async throws -> [String] {
        let response = try await ReplicatorAdminClient(socketPath: adminSocket(fixture)).send(.status(mask: "*"))
        return (response.users ?? []).map(\.username).sorted()
    }

    /// Asks until the queue is `expected` (a removal follows a sync that ends at once, but
    /// after the answer of the request that queued it); a generous bound guards a hang.
    private func expectQueue(_ fixture: AgentFixture, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var users: [String] = []
        for _ in 0..<3600 {
            users = try await queuedUsers(fixture)
            if users == expected { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the queue is \(users), not \(expected)", sourceLocation: sourceLocation)
    }

    /// Sends SIGHUP and waits for the users file's outcome in the log.
    private func reload(_ agent: RunningAgent, expecting text: String) async throws -> String {
        let mark = agent.logMark
        agent.process.send(SIGHUP)
        return try await agent.waitForLog(text, since: mark)
    }

    @Test func usersFile_reloadedOnSIGHUP_addsAndRemovesUsers_skipsNoreplicate_andABadFileChangesNothing() async throws {
        try await AgentFixture.with { fixture in
            let users = fixture.directory.appending("users")
            try fixture.write("alice\nbob\ncarol noreplicate\n", to: users)
            try writeConfiguration(fixture, ["users_file: \(users)"])
            try await fixture.withAgent { agent in
                try await agent.waitForLog("users from the users file")
                try await expectQueue(fixture, ["alice", "bob"])
                // Known from elsewhere than the file: a reload leaves it.
                #expect(try await ReplicatorAdminClient(socketPath: adminSocket(fixture)).send(.add(mask: "dave")).count == 1)

                try fixture.write("# pair 1\nalice\ncarol\nerin\nbob\tnoreplicate=yes\nfrank noreplicate=no\n", to: users)
                let log = try await reload(agent, expecting: "users file reloaded")
                #expect(log.contains("reloaded TLS certificates"), "the TLS files are reloaded too: \(log)")
                #expect(log.contains("added=3") && log.contains("removed=1") && log.contains("noreplicate=1"), "\(log)")
                try await expectQueue(fixture, ["alice", "carol", "dave", "erin", "frank"])

                // A noreplicate user that comes back (a notification, an admin request) is
                // never synced: its sync ends at once and removes it again.
                #expect(try await ReplicatorAdminClient(socketPath: adminSocket(fixture)).send(.replicate(mask: "bob", priority: .high)).count == 1)
                try await agent.waitForLog("user removed from replication")
                try await expectQueue(fixture, ["alice", "carol", "dave", "erin", "frank"])

                // A bad line: reported with the file and line, nothing changes.
                try fixture.write("alice\ngina smith\n", to: users)
                let refused = try await reload(agent, expecting: "reload failed")
                #expect(refused.contains("\(users):2: a user name cannot contain a space: \"gina smith\""), "\(refused)")
                #expect(!refused.contains("users file reloaded"), "\(refused)")
                #expect(try await queuedUsers(fixture) == ["alice", "carol", "dave", "erin", "frank"])

                // Fixed, the next SIGHUP applies it against the last applied list.
                try fixture.write("alice\n", to: users)
                _ = try await reload(agent, expecting: "users file reloaded")
                try await expectQueue(fixture, ["alice", "dave"])
            }
        }
    }

    @Test func importDovecotDB_atFirstStartOnly_importsItsUsers_andReportsBadLines() async throws {
        try await AgentFixture.with { fixture in
            let database = fixture.directory.appending("replicator.db")
            try fixture.write(
                "alice\t1\t1795969616\t1795969616\t1795969616\t0\tAQAAAJcN\t1795969616\n"
                    + "bob\t7\t1795969616\t1795969616\t1795969616\t0\tAQAAAJcN\t1795969616\n"
                    + "carol\t0\t1795969616\t1795969616\t1795969616\t1\tAQAAAJcN\n",
                to: database)
            try writeConfiguration(fixture, ["import_dovecot_db: \(database)"])
            let stateFile = fixture.directory.appending("replicator.state")
            try await fixture.withAgent { agent in
                let log = try await agent.waitForLog("imported Dovecot's replicator database")
                #expect(log.contains("users=2") && log.contains("problems=1"), "\(log)")
                #expect(log.contains("\(database):2: "), "the bad line is named: \(log)")
                #expect(try await queuedUsers(fixture) == ["alice", "carol"])
                #expect(FileManager.default.fileExists(atPath: stateFile), "the import was not saved at once")
            }

            // With a state file, the database is not read again.
            try fixture.write("dave\t0\t1795969616\t1795969616\t1795969616\t0\tAQAAAJcN\t1795969616\n", to: database)
            try await fixture.withAgent { agent in
                let log = try await agent.waitForLog("replicator state loaded")
                #expect(!log.contains("imported Dovecot's replicator database"), "\(log)")
                #expect(try await queuedUsers(fixture) == ["alice", "carol"])
            }
        }
    }

    @Test func importDovecotDB_isNamedInTheConfiguration_andAMissingFileImportsNothing() async throws {
        try await AgentFixture.with { fixture in
            try writeConfiguration(fixture, ["import_dovecot_db: replicator.db"])
            let loaded = try await AgentConfiguration.load(path: fixture.configurationPath, environment: [:]).configuration
            #expect(loaded.replicator?.importDovecotDatabase == fixture.directory.appending("replicator.db"))
            try await fixture.withAgent { agent in
                let log = try await agent.waitForLog("no replicator state to load")
                #expect(log.contains("Dovecot's replicator database to import does not exist"), "\(log)")
                #expect(try await queuedUsers(fixture) == [])
            }
        }
    }

    @Test(arguments: [
        ("alice\n  bob noreplicate  \ncarol noreplicate=0\ndave\tnoreplicate=\n", ["alice", "carol"], ["bob", "dave"]),
        ("erin noreplicate=No\nfrank noreplicate=yes noreplicate=false\n", ["erin"], ["frank"]),
    ])
    func usersFile_noreplicate_isDovecotsBoolean(text: String, users: [String], noReplicate: [String]) throws {
        #expect(try UsersFile.parse(text, path: "users") == UsersFile.Contents(users: users, noReplicate: noReplicate))
    }

    @Test func usersFile_aWordAfterTheNameOtherThanNoreplicate_isASpaceInTheName() {
        let error = #expect(throws: InvalidSetting.self) { try UsersFile.parse("alice noreplicat\n", path: "users") }
        #expect(error?.reason == "users:1: a user name cannot contain a space: \"alice noreplicat\"")
    }
}
