import Dsync
import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// Two pairs of `duplex agent` processes and a `duplex coordinator` that runs moves, on a
/// private PostgreSQL, all on loopback with mutual TLS (certificates from `duplex tls init`).
///
/// - Pairs `p1` (hosts `p1-a.test`, `p1-b.test`) and `p2` (`p2-a.test`, `p2-b.test`), of
///   tenant `example`; ``user`` is assigned while `p1` is the only pair, so it lives there.
/// - Each agent serves `mail/<host>/%u`, replicates with its pair's other host, follows the
///   coordinator's user list of its pair, and takes purge orders from `coordinator.test`
///   only (its `coordinator.purge_identities`, also among its `tls.allowed_peers`).
/// - The coordinator moves users as `coordinator.test` (its `moves:` section), with no
///   delay before a move's catch-up sync.
///
/// Every process is a child of the test, stopped by its pid when the test ends.
struct EndToEndMoveFleet {
    static let user = "alice@example.com"
    static let tenant = "example"
    static let hosts = ["p1-a.test", "p1-b.test", "p2-a.test", "p2-b.test"]
    static let coordinatorIdentity = "coordinator.test"

    let directory: TemporaryDirectory
    let coordinator: BackgroundCommand
    let coordinatorURL: String
    /// Each host's dsync port, chosen before the pairs are registered.
    let ports: [String: Int]

    var caPath: String { directory.appending("certs/ca.pem") }
    var adminTokenPath: String { directory.appending("admin.token") }

    /// The user's mail root on `host`.
    func mailRoot(_ host: String) -> String { directory.appending("mail/\(host)/\(Self.user)") }

    static var unavailableReason: String? { PostgresServer.unavailableReason }

    /// Runs `body` with PostgreSQL, the coordinator, both pairs registered and ``user``
    /// assigned to `p1`; the agents are started by ``withAgents(_:)``.
    static func with(_ body: (EndToEndMoveFleet) async throws -> Void) async throws {
        try await PostgresServer.with { postgres in
            let created = try postgres.psql("CREATE DATABASE duplex")
            try #require(created.status == 0, "CREATE DATABASE: \(created.stderr)")
            try await TemporaryDirectory.with(prefix: "duplex-e2e-move") { directory in
                let names = (hosts + [coordinatorIdentity, "127.0.0.1"]).joined(separator: ",")
                let tls = try await EndToEndFleet.run(["tls", "init", "--out", directory.appending("certs"), "--hosts", names])
                try #require(tls.status == 0, "duplex tls init: \(tls.stderr)")
                let moves = """
                    moves:
                      tls:
                        certificate: \(directory.appending("certs/\(coordinatorIdentity).pem"))
                        key: \(directory.appending("certs/\(coordinatorIdentity).key"))
                        ca: \(directory.appending("certs/ca.pem"))
                      state_dir: \(directory.appending("moves"))
                      catch_up_delay: 0
                      retry_interval: 1
                    """
                let coordinator = try await EndToEndFleet.startCoordinator(
                    in: directory, socketDirectory: postgres.socketDirectory, sections: moves)
                defer { coordinator.process.stop() }
                var ports: [String: Int] = [:]
                for host in hosts {
                    ports[host] = try LoopbackPort.free()
                    try FileManager.default.createDirectory(atPath: directory.appending("mail/\(host)"), withIntermediateDirectories: true)
                }
                let fleet = EndToEndMoveFleet(directory: directory, coordinator: coordinator.process, coordinatorURL: coordinator.url, ports: ports)
                try await fleet.register()
                try await body(fleet)
                let status = await coordinator.process.stop(within: .seconds(120))
                #expect(status == 0, "the coordinator did not stop cleanly (status \(status)); its log:\n\(coordinator.process.stderr)")
            }
        }
    }

    /// The tenant, pair `p1`, ``user`` on it, then pair `p2`.
    private func register() async throws {
        try await coordinatorCommand(["tenant", "add", Self.tenant])
        for pair in ["p1", "p2"] {
            let (a, b) = ("\(pair)-a.test", "\(pair)-b.test")
            try await coordinatorCommand([
                "pair", "add", pair, "--host-a", "\(a)=tls://127.0.0.1:\(ports[a] ?? 0)", "--host-b", "\(b)=tls://127.0.0.1:\(ports[b] ?? 0)",
                "--capacity", "10",
            ])
            if pair == "p1" {
                let assigned = try await coordinatorAnswer(APIUser.self, ["user", "assign", Self.user, "--tenant", Self.tenant])
                try #require(assigned.pair == "p1", "the coordinator placed \(Self.user) on \(assigned.pair ?? "no pair")")
            }
        }
    }

    // MARK: Agents

    /// Starts the four agents and runs `body` once each has connected to the coordinator;
    /// stops them with SIGTERM afterwards and expects clean exits.
    func withAgents(_ body: ([String: RunningAgent]) async throws -> Void) async throws {
        let certificates = AgentFixture(directory: directory)
        var agents: [String: RunningAgent] = [:]
        defer { for agent in agents.values { agent.process.stop() } }
        for host in Self.hosts { agents[host] = try await startAgent(host, certificates) }
        for agent in agents.values { try await agent.waitForLog("coordinator connected") }
        try await body(agents)
        for (host, agent) in agents.sorted(by: { $0.key < $1.key }) {
            let status = await agent.process.stop(within: .seconds(120))
            #expect(status == 0, "agent \(host) did not stop cleanly on SIGTERM (status \(status)); its log:\n\(agent.log)")
        }
    }

    /// `duplex agent` for `host`: its pair's other host and the coordinator allowed, a
    /// replicator, and the coordinator's link with an agent token of its pair.
    private func startAgent(_ host: String, _ certificates: AgentFixture) async throws -> RunningAgent {
        let pair = String(host.prefix(2))
        let peer = host.hasSuffix("-a.test") ? "\(pair)-b.test" : "\(pair)-a.test"
        let token = try await Self.run(
            ["coordinator", "token", "create", "--config", directory.appending("coordinator.yaml"), "--role", "agent:\(pair)", "--label", host])
        try #require(token.status == 0, "duplex coordinator token create: \(token.stderr)")
        let tokenFile = directory.appending("\(host).token")
        try #require(
            FileManager.default.createFile(atPath: tokenFile, contents: Data(token.stdout.utf8), attributes: [.posixPermissions: 0o600]))
        let sections = certificates.hostSections(
            host, listen: "127.0.0.1:\(ports[host] ?? 0)", mailRoot: directory.appending("mail/\(host)") + "/%u", identity: host,
            peerName: "\(peer), \(Self.coordinatorIdentity)")
        // The link's intervals are a second, so the user list follows a move within seconds.
        let yaml = sections + """
            replicator:
              peer: tls://127.0.0.1:\(ports[peer] ?? 0)
              admin_socket: \(directory.appending("\(host)-replicator.sock"))
              http_listen: 127.0.0.1:0
              state_file: \(directory.appending("\(host)-replicator.state"))
              failure_retry_interval: 1
              failure_retry_cap: 2
            coordinator:
              url: \(coordinatorURL)
              token_file: \(tokenFile)
              ca: \(caPath)
              pair: \(pair)
              host: \(host)
              poll_interval: 1
              heartbeat_interval: 1
              status_interval: 1
              cache_file: \(directory.appending("\(host)-coordinator-users"))
              purge_identities: [\(Self.coordinatorIdentity)]

            """
        return try await certificates.startAgent(host, yaml: yaml)
    }

    // MARK: Mail

    /// Gives ``user`` `count` messages on `p1-a.test` over several mailboxes (flags,
    /// keywords, a subscription), then makes `p1-b.test`'s copy identical with a local sync,
    /// as the pair's replication would have.
    func fillFirstPair(count: Int) async throws {
        let store = MailStore(root: mailRoot("p1-a.test"))
        try FileManager.default.createDirectory(atPath: store.root, withIntermediateDirectories: true)
        let names = [MailboxName.inbox, try MailboxName("Work"), try MailboxName("Work/Projects"), try MailboxName("Archive")]
        for name in names where name != .inbox { _ = try store.createMailbox(name) }
        try store.subscribe(try MailboxName("Work"))
        for index in 0..<count {
            var flags = MessageFlags()
            if index % 3 == 0 { flags.system.insert(.seen) }
            if index % 7 == 0 { flags.system.insert(.flagged) }
            if index % 11 == 0 { flags.keywords = ["$Work"] }
            let message = "From: sender\(index)@example.net\r\nTo: \(Self.user)\r\nSubject: message \(index)\r\n"
                + "Message-ID: <\(index).\(UUID().uuidString)@example.net>\r\n\r\nBody of message \(index).\r\n"
            _ = try store.saveMessage(in: names[index % names.count], bytes: Array(message.utf8), options: SaveOptions(flags: flags))
        }
        var options = SyncOptions(user: Self.user)
        options.createMissing = true
        let copy = MailStore(root: mailRoot("p1-b.test"))
        _ = try await SyncSession(a: LocalReplica(store: store), b: LocalReplica(store: copy), options: options).run()
    }

    /// The user's mail on `host` as `duplex mailbox list --json` and `duplex fetch --json` of
    /// each mailbox show it: names, GUIDs, UIDVALIDITY, next UID, subscriptions, and each
    /// message's UID, GUID, flags and size.
    func snapshot(_ host: String) async throws -> String {
        let root = mailRoot(host)
        let listed = try await Self.run(["mailbox", "list", root, "--json"])
        try #require(listed.status == 0, "duplex mailbox list \(root): \(listed.stderr)")
        struct Row: Decodable { var name: String }
        var text = listed.stdout
        for row in try JSONDecoder().decode([Row].self, from: Data(listed.stdout.utf8)) {
            let fetched = try await Self.run(["fetch", root, row.name, "--json"])
            try #require(fetched.status == 0, "duplex fetch \(root) \(row.name): \(fetched.stderr)")
            text += "\(row.name): \(fetched.stdout)"
        }
        return text
    }

    // MARK: Commands

    /// Runs the built `duplex` off the test's thread.
    static func run(_ arguments: [String]) async throws -> ExternalCommand.Result {
        try await EndToEndFleet.run(arguments)
    }

    /// `duplex ARGUMENTS --coordinator URL --token-file admin.token --ca ca.pem`, not checked.
    func coordinatorRun(_ arguments: [String]) async throws -> ExternalCommand.Result {
        try await Self.run(arguments + ["--coordinator", coordinatorURL, "--token-file", adminTokenPath, "--ca", caPath])
    }

    /// ``coordinatorRun(_:)``, which must exit 0; returns its standard output.
    @discardableResult
    func coordinatorCommand(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await coordinatorRun(arguments)
        try #require(
            result.status == 0, "duplex \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation)
        return result.stdout
    }

    /// ``coordinatorCommand(_:sourceLocation:)`` with `--json`, decoded as the API's `T`.
    func coordinatorAnswer<T: Decodable>(_ type: T.Type, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> T
    {
        let output = try await coordinatorCommand(arguments + ["--json"], sourceLocation: sourceLocation)
        return try CoordinatorJSON.decode(T.self, from: Array(output.utf8))
    }
}
