import Foundation
import MailStore
import MailStoreTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The replicator end to end: two `duplex agent` processes on loopback, each with a
/// replicator pointing at the other, and a private Dovecot 2.3 as host A's mail server whose
/// replication plugin notifies agent A. Changes made through Dovecot on A reach B's Maildir
/// with no sync started by hand.
@Suite(.serialized) struct AgentReplicationTests {
    static let user = "alice"

    @Test(.enabled(if: DovecotInstance.isAvailable, "needs dovecot-core and root"), .timeLimit(.minutes(10)))
    func dovecotChangesOnHostA_reachHostB_throughAgentAsReplicator() async throws {
        try await ReplicatingPair.with { pair in
            let dovecot = pair.dovecot
            try await pair.withAgents { a, _ in
                // A delivery: with replication_sync_timeout the plugin asks on the socket and
                // waits for the answer; "+" means the mail is on B when the save returns.
                let guid = "replicated-1@duplex.test"
                let started = ContinuousClock.now
                let save = try dovecot.doveadm(
                    ["save", "-u", Self.user, "-m", "INBOX"],
                    stdin: Data("Message-ID: <\(guid)>\r\nSubject: replicated\r\n\r\nfrom host A\r\n".utf8))
                let took = started.duration(to: .now)
                #expect(took < .seconds(ReplicatingPair.syncTimeout), "a save waits for its sync, not for the timeout (\(took))")
                #expect(!save.stderr.contains("replication"), "the plugin reported a failed sync request: \(save.stderr)")
                let onA = try dovecot.fetch(user: Self.user, mailbox: "INBOX")
                #expect(onA.count == 1)
                #expect(try pair.messagesOnB("INBOX").map(\.guid) == onA.map(\.guid), "on B as soon as the save returned")
                try await a.waitForLog("sync request answered +")

                // A new mailbox comes through the fifo (priority low), then a flag change.
                try dovecot.createMailbox(user: Self.user, mailbox: "Work")
                try await pair.poll("Work on B") { try pair.mailboxesOnB().contains("Work") }
                try dovecot.flags(user: Self.user, mailbox: "INBOX", uid: 1, action: .add, flags: ["\\Flagged"])
                try await pair.poll("\\Flagged on B") {
                    try pair.messagesOnB("INBOX").first?.flags.system.contains(.flagged) == true
                }
                // Another save, the plugin's own UID on A is B's.
                try dovecot.save(user: Self.user, mailbox: "Work", message: "Subject: second\r\n\r\nbody\r\n")
                let work = try dovecot.fetch(user: Self.user, mailbox: "Work")
                #expect(try pair.messagesOnB("Work").map(\.uid) == work.map(\.uid))
                #expect(try pair.messagesOnB("Work").map(\.guid) == work.map(\.guid))
                #expect(!a.log.contains("notification skipped"), "\(a.log)")
            }
            // Stopped gracefully, A saved its queue with the user in it.
            let state = try String(contentsOfFile: pair.directory.appending("a-replicator.state"), encoding: .utf8)
            #expect(state.contains(Self.user))
        }
    }
}

/// Host A (a private Dovecot whose replication plugin notifies agent A) and host B (a plain
/// Maildir root), their certificates, and the two agents' configurations.
struct ReplicatingPair {
    let directory: TemporaryDirectory
    let dovecot: DovecotInstance
    let certificates: AgentFixture

    /// Dovecot's `replication_sync_timeout` (seconds); the agent's `sync_timeout` is one less.
    /// Long, so that the save's sync ends well within it however loaded the machine is: a
    /// save taking this long waited for the timeout, not for its sync.
    static let syncTimeout: Int64 = 120

    var fifoPath: String { dovecot.baseDirectory + "/replication-notify-fifo" }
    var socketPath: String { dovecot.baseDirectory + "/replication-notify" }
    var rootB: String { directory.appending("b/\(AgentReplicationTests.user)") }

    static func with(_ body: (ReplicatingPair) async throws -> Void) async throws {
        try await DovecotInstance.withInstance(prefix: "duplex-repl-dovecot") { dovecot in
            try await TemporaryDirectory.with(prefix: "duplex-replication") { directory in
                let certificates = AgentFixture(directory: directory)
                try certificates.makeCertificates("certs")
                let pair = ReplicatingPair(directory: directory, dovecot: dovecot, certificates: certificates)
                try pair.enableReplicationPlugin()
                try await body(pair)
            }
        }
    }

    /// Turns on Dovecot's replication plugin for host A, notifying agent A instead of
    /// Dovecot's own aggregator and replicator.
    ///
    /// The master has created the aggregator's listeners (`replication-notify-fifo`,
    /// `replication-notify`) at start; they are removed so that agent A makes its own there
    /// and the aggregator is never started (nothing can reach it). The settings go at the
    /// end of `dovecot.conf`, which each `doveadm -c` reads anew.
    func enableReplicationPlugin() throws {
        for path in [fifoPath, socketPath] where unlink(path) != 0 && errno != ENOENT {
            throw DovecotTestError.io("cannot remove \(path): \(String(cString: strerror(errno)))")
        }
        let settings = """

            # Replication to agent A (mail_replica only has to be non-empty).
            mail_plugins = $mail_plugins notify replication
            plugin {
              mail_replica = tcp:dummy
              replication_sync_timeout = \(Self.syncTimeout)
            }

            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dovecot.configPath))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    // MARK: Agents

    /// Runs `body` while agent B (port chosen by the system) and agent A (on a port found
    /// free beforehand, since B's replicator needs it) run; stops both with SIGTERM and
    /// expects clean exits.
    func withAgents(_ body: (RunningAgent, RunningAgent) async throws -> Void) async throws {
        let portA = try Self.freeLoopbackPort()
        let b = try await start(
            "b", listen: "127.0.0.1:0", mailRoot: directory.appending("b") + "/%n", identity: "host-b.test", peerName: "host-a.test",
            peer: "tls://127.0.0.1:\(portA)", notify: [])
        defer { b.process.stop() }
        let a = try await start(
            "a", listen: "127.0.0.1:\(portA)", mailRoot: dovecot.homeRoot + "/%u/Maildir", identity: "host-a.test",
            peerName: "host-b.test", peer: b.endpoint,
            notify: [
                "notify_fifo: \(fifoPath)", "notify_socket: \(socketPath)", "notify_user: vmail",
                "sync_timeout: \(Self.syncTimeout - 1)",
            ])
        defer { a.process.stop() }
        try await body(a, b)
        for (name, agent) in [("A", a), ("B", b)] {
            let status = await agent.process.stop(within: .seconds(120))
            #expect(status == 0, "agent \(name) did not stop cleanly on SIGTERM (status \(status)); its log:\n\(agent.log)")
        }
    }

    /// Writes `NAME.yaml` and starts `duplex agent` on it, logging at debug level.
    private func start(
        _ name: String, listen: String, mailRoot: String, identity: String, peerName: String, peer: String, notify: [String]
    ) async throws -> RunningAgent {
        let yaml = certificates.hostSections(name, listen: listen, mailRoot: mailRoot, identity: identity, peerName: peerName) + """
            replicator:
              peer: \(peer)
              admin_socket: \(directory.appending("\(name)-replicator.sock"))
              http_listen: 127.0.0.1:0
              state_file: \(directory.appending("\(name)-replicator.state"))
            \(notify.map { "  " + $0 }.joined(separator: "\n"))

            """
        return try await certificates.startAgent(name, yaml: yaml)
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freeLoopbackPort() throws -> Int { try LoopbackPort.free() }

    // MARK: Host B's mail

    func messagesOnB(_ mailbox: String) throws -> [MessageInfo] {
        guard FileManager.default.fileExists(atPath: rootB) else { return [] }
        let store = MailStore(root: rootB)
        let name = try MailboxName(mailbox)
        guard try store.listMailboxes().contains(where: { $0.name == name }) else { return [] }
        return try store.listMessages(in: name)
    }

    func mailboxesOnB() throws -> [String] {
        guard FileManager.default.fileExists(atPath: rootB) else { return [] }
        return try MailStore(root: rootB).listMailboxes().map(\.name.description)
    }

    /// Checks `condition` every 100 ms; the three minutes guard a hang only.
    func poll(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () throws -> Bool) async throws {
        let limit = Duration.seconds(180)
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if (try? condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        if (try? condition()) == true { return }
        Issue.record("\(what) did not happen within \(limit); Dovecot's log:\n\(dovecot.log())", sourceLocation: sourceLocation)
    }
}
