import Foundation
import MailStoreTestSupport
import Replicator
import Testing

extension EndToEndFleet {
    /// The two agents of the pair, A beside ``hostA`` and B beside ``hostB``.
    struct Agents {
        let a: RunningAgent
        let b: RunningAgent
        let socketA: String
        let socketB: String
        /// When both agents had connected to the coordinator (registered and pulled).
        var connected = ContinuousClock.now

        var both: [(name: String, agent: RunningAgent, socket: String)] { [("A", a, socketA), ("B", b, socketB)] }

        /// Both agents' log lines about syncs (not the debug chatter), for a failure message.
        var syncLog: String {
            both.map { name, agent, _ in
                let lines = agent.log.split(separator: "\n").filter {
                    !$0.contains("[ServiceLifecycle]") && ($0.contains("sync") || $0.contains("notification") || $0.contains("lock"))
                }
                return "--- agent \(name) ---\n" + lines.suffix(80).joined(separator: "\n")
            }.joined(separator: "\n")
        }
    }

    /// Registers the tenant and the pair with the coordinator, starts both agents, each with
    /// a replicator pointing at the other and a `coordinator:` section (its own agent token
    /// of the pair, no users file), assigns ``user`` once both are connected, and runs `body`
    /// when both replicators have learnt the user from the coordinator. With
    /// `replicationPlugin`, each host's Dovecot notifies its agent through the fifo and socket
    /// of its `base_dir`. Stops both with SIGTERM afterwards and expects clean exits.
    func withAgents(replicationPlugin: Bool, _ body: (Agents) async throws -> Void) async throws {
        let portA = try ReplicatingPair.freeLoopbackPort()
        let portB = try ReplicatingPair.freeLoopbackPort()
        try await registerPair(portA: portA, portB: portB)

        let certificates = AgentFixture(directory: directory)
        func start(_ name: String, host: EndToEndIMAPHost, port: Int, peerPort: Int, identity: String, peerName: String) async throws -> RunningAgent {
            let notify = replicationPlugin ? """
                  notify_fifo: \(host.notifyFifo)
                  notify_socket: \(host.notifySocket)
                  notify_user: vmail
                  sync_timeout: 2

                """ : ""
            // A peer that is not listening yet fails the first sync: retried after a second.
            // The link's intervals are a second: the user list, heartbeats and status reports
            // follow within seconds, not the production defaults' minutes.
            let tokenFile = try await agentTokenFile(host: identity)
            let yaml = certificates.hostSections(
                name, listen: "127.0.0.1:\(port)", mailRoot: host.mailRootTemplate, identity: identity, peerName: peerName) + """
                replicator:
                  peer: tls://127.0.0.1:\(peerPort)
                  admin_socket: \(directory.appending("\(name)-replicator.sock"))
                  http_listen: 127.0.0.1:0
                  state_file: \(directory.appending("\(name)-replicator.state"))
                  failure_retry_interval: 1
                  failure_retry_cap: 2
                \(notify)
                coordinator:
                  url: \(coordinatorURL)
                  token_file: \(tokenFile)
                  ca: \(caPath)
                  pair: \(Self.pair)
                  host: \(identity)
                  poll_interval: 1
                  heartbeat_interval: 1
                  status_interval: 1
                  cache_file: \(directory.appending("\(name)-coordinator-users"))

                """
            return try await certificates.startAgent(name, yaml: yaml)
        }
        let a = try await start("a", host: hostA, port: portA, peerPort: portB, identity: Self.hostNames.a, peerName: Self.hostNames.b)
        defer { a.process.stop() }
        let b = try await start("b", host: hostB, port: portB, peerPort: portA, identity: Self.hostNames.b, peerName: Self.hostNames.a)
        defer { b.process.stop() }
        var agents = Agents(a: a, b: b, socketA: directory.appending("a-replicator.sock"), socketB: directory.appending("b-replicator.sock"))
        for (name, agent, socket) in agents.both {
            try await agent.waitForLog("coordinator connected")
            // Nothing else names the user: no users file, no saved state, no notification yet.
            let known = try await replicatorAnswer([ReplicatorAdminUserStatus].self, ["status", "*"], socket: socket)
            #expect(known.isEmpty, "agent \(name) replicates \(known.map(\.username)) before the coordinator assigned anyone")
        }
        agents.connected = .now
        try await assignUser()
        for (name, agent, socket) in agents.both {
            try await waitUntilListed(socket: socket, agent: name)
            try await agent.waitForLog("coordinator user changes applied")
        }
        try await body(agents)
        for (name, agent, _) in agents.both {
            let status = await agent.process.stop(within: .seconds(120))
            #expect(status == 0, "agent \(name) did not stop cleanly on SIGTERM (status \(status)); its log:\n\(agent.log)")
        }
    }

    /// Waits (polling, at most `limit`) until the replicator on `socket` knows exactly
    /// ``user``: the coordinator's list reached it.
    func waitUntilListed(socket: String, agent name: String, limit: Duration = .seconds(300)) async throws {
        let deadline = ContinuousClock.now + limit
        var known: [String] = []
        while ContinuousClock.now < deadline {
            known = try await replicatorAnswer([ReplicatorAdminUserStatus].self, ["status", "*"], socket: socket).map(\.username)
            if known == [Self.user] { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw EndToEndFailure("agent \(name) replicates \(known), not [\(Self.user)], \(limit) after the assignment")
    }

    // MARK: The replicators

    /// `duplex replicator replicate -p high USER` on agent `socket`'s admin socket: a sync
    /// started by hand.
    func replicateByHand(socket: String) async throws {
        let result = try await Self.run(["replicator", "replicate", "-p", "high", Self.user, "--socket", socket, "--json"])
        try #require(result.status == 0, "duplex replicator replicate: \(result.stdout)\(result.stderr)")
    }

    /// `duplex replicator ARGUMENTS --json` on `socket`, decoded as `T`.
    func replicatorAnswer<T: Decodable>(_ type: T.Type, _ arguments: [String], socket: String) async throws -> T {
        let result = try await Self.run(["replicator"] + arguments + ["--socket", socket, "--json"])
        try #require(result.status == 0, "duplex replicator \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)")
        return try JSONDecoder().decode(T.self, from: Data(result.stdout.utf8))
    }

    /// How many bytes written to the fifo at `path` no reader has taken yet (`FIONREAD` on a
    /// descriptor of its own, which reads nothing); 0 when there is no fifo there.
    static func unreadBytes(inFifo path: String) -> Int32 {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return 0 }
        defer { close(descriptor) }
        var count: Int32 = 0
        let result = withUnsafeMutablePointer(to: &count) { ioctl(descriptor, UInt(FIONREAD), $0) }
        return result == 0 ? count : 0
    }

    /// What `duplex replicator dsync-status --json` prints.
    struct DsyncStatusReport: Decodable {
        var syncs: [SyncSlotStatus]
    }

    /// Waits (polling, at most `limit`) until both replicators are idle for ``user``: nothing
    /// queued, no sync running (`dsync-status` empty), no failure, and a sync of either agent
    /// that succeeded started at or after `since` (Unix seconds), and no notification
    /// waiting unread in either host's notify fifo; twice in a row half a second apart. A
    /// notification Dovecot wrote is in the fifo until the agent reads it, and queued once
    /// read, so one still on its way is seen however slowly the agent gets to it. `limit`
    /// guards a hang only.
    ///
    /// - Returns: each agent's status of the user when settled.
    /// - Throws: a test failure with both agents' statuses and logs when they do not settle.
    @discardableResult
    func waitUntilSettled(_ agents: Agents, since: Int64, limit: Duration = .seconds(300)) async throws -> [String: ReplicatorAdminUserStatus] {
        let deadline = ContinuousClock.now + limit
        var idleInARow = 0
        var last: [String: ReplicatorAdminUserStatus] = [:]
        var running: [String: Int] = [:]
        while ContinuousClock.now < deadline {
            var idle = true
            for (name, _, socket) in agents.both {
                let status = try await replicatorAnswer([ReplicatorAdminUserStatus].self, ["status", Self.user], socket: socket).first
                let syncs = try await replicatorAnswer(DsyncStatusReport.self, ["dsync-status"], socket: socket).syncs
                last[name] = status
                running[name] = syncs.count
                guard let status else { idle = false; continue }
                if status.priority != .none || status.running || status.failed || status.held || !syncs.isEmpty {
                    idle = false
                }
            }
            for host in [hostA, hostB] where Self.unreadBytes(inFifo: host.notifyFifo) != 0 { idle = false }
            // One sync is two-way: the agent that was asked (or notified) runs it, the other serves it.
            let synced = last.values.contains { $0.lastSuccessfulSync >= since }
            idleInARow = idle && synced ? idleInARow + 1 : 0
            if idleInARow == 2 { return last }
            try await Task.sleep(for: .milliseconds(500))
        }
        let logs = agents.both.map { "--- agent \($0.name) ---\n\($0.agent.log.suffix(6000))" }.joined(separator: "\n")
        throw EndToEndFailure("the replicators did not settle within \(limit): \(last), syncs running \(running)\n\(logs)")
    }
}
