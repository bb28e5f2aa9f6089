import Foundation
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

extension CoordinatorServer {
    /// Starts another `duplex coordinator` on this one's TLS files and database, listening on
    /// `port` (0: a free one): the same coordinator after a restart, or beside it on another
    /// port. The caller stops it (SIGTERM, by pid).
    func startAnother(port: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws -> (process: BackgroundCommand, port: Int) {
        let path = directory.appending("coordinator-\(UUID().uuidString).yaml")
        let text = try String(contentsOfFile: configPath, encoding: .utf8).replacingOccurrences(
            of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(port)")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let process = try BackgroundCommand(ExternalCommand.duplexExecutable, ["coordinator", "--config", path], outputDirectory: directory.path)
        let listening = await process.waitForOutput(within: Self.patience) { stdout, _ in stdout.contains("\n") }
        try #require(listening, "the coordinator did not start listening; its log:\n\(process.stderr)", sourceLocation: sourceLocation)
        let line = process.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let found = line.hasPrefix("listening on ") ? line.split(separator: ":").last.flatMap { Int($0) } : nil
        return (process, try #require(found, "not a listening line: \(line)", sourceLocation: sourceLocation))
    }

    /// Sends `request` to the coordinator at `url` (this one's by default) with the admin token.
    func send(_ request: CoordinatorRequest, url: String? = nil) async throws -> CoordinatorResponse {
        let secret = try String(contentsOfFile: adminTokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let client = try CoordinatorClient(.init(url: try CoordinatorURL(url ?? self.url), token: secret, trustedCAPath: caPath))
        return try await client.send(request)
    }
}

/// A `duplex agent` of host `host-b.test` of pair `eu-1` that follows a real `duplex
/// coordinator`: its replicator's peer is a port where nothing listens, so syncs fail and
/// users stay queued (with their failure), which is what these tests look at through the
/// admin socket and the coordinator's API.
struct CoordinatorAgentSetup {
    let fixture: AgentFixture
    let server: CoordinatorServer
    /// The agent token of pair `eu-1`.
    let tokenFile: String

    var adminSocket: String { fixture.directory.appending("admin.sock") }
    var stateFile: String { fixture.directory.appending("replicator.state") }
    var cacheFile: String { fixture.directory.appending("coordinator-users") }

    /// Makes the tenant `example`, the pair `eu-1` (hosts `host-a.test` and `host-b.test`)
    /// and its agent token, and writes the agent's configuration.
    init(fixture: AgentFixture, server: CoordinatorServer, sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.fixture = fixture
        self.server = server
        _ = try server.json(["tenant", "add", "example"], sourceLocation: sourceLocation)
        _ = try server.json(
            ["pair", "add", "eu-1", "--host-a", "host-a.test=tls://127.0.0.1:7445", "--host-b", "host-b.test=tls://127.0.0.1:7446",
             "--capacity", "100"],
            sourceLocation: sourceLocation)
        tokenFile = try server.tokenFile(role: "agent:eu-1")
        try fixture.writeConfiguration()
        let base = try String(contentsOfFile: fixture.configurationPath, encoding: .utf8)
        let replicator = [
            "peer: tls://127.0.0.1:1", "admin_socket: \(adminSocket)", "http_listen: 127.0.0.1:0", "state_file: \(stateFile)",
            "failure_retry_interval: 3600",
        ]
        let coordinator = [
            "url: \(server.url)", "token_file: \(tokenFile)", "ca: \(server.caPath)", "pair: eu-1", "host: host-b.test",
            "poll_interval: 1", "heartbeat_interval: 1", "status_interval: 1", "cache_file: \(cacheFile)",
        ]
        func section(_ name: String, _ lines: [String]) -> String { name + ":\n" + lines.map { "  " + $0 + "\n" }.joined() }
        try fixture.write(base + section("replicator", replicator) + section("coordinator", coordinator), to: fixture.configurationPath)
    }

    /// Starts the agent (logging at debug level) and returns once it listens.
    func startAgent() async throws -> RunningAgent {
        let process = try BackgroundCommand(
            "/usr/bin/env", ["DUPLEX_LOG_LEVEL=debug", ExternalCommand.duplexExecutable, "agent", "--config", fixture.configurationPath],
            outputDirectory: fixture.directory.path)
        return try await RunningAgent(process, sourceLocation: #_sourceLocation)
    }

    /// The users the agent's replicator knows, sorted.
    func queuedUsers() async throws -> [String] {
        let response = try await ReplicatorAdminClient(socketPath: adminSocket).send(.status(mask: "*"))
        return (response.users ?? []).map(\.username).sorted()
    }

    /// Asks until the queue is `expected`; a generous bound guards a hang.
    func expectQueue(_ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var users: [String] = []
        for _ in 0..<3600 {
            users = try await queuedUsers()
            if users == expected { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the queue is \(users), not \(expected)", sourceLocation: sourceLocation)
    }

    /// Asks the coordinator for `user` until `check` holds for its status reports; returns them.
    @discardableResult
    func waitForReports(
        _ user: String, sourceLocation: SourceLocation = #_sourceLocation, _ check: ([[String: Any]]) -> Bool
    ) async throws -> [[String: Any]] {
        var reports: [[String: Any]] = []
        for _ in 0..<1800 {
            reports = try server.json(["user", "show", user], sourceLocation: sourceLocation)["status"] as? [[String: Any]] ?? []
            if check(reports) { return reports }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the reports about \(user) are \(reports)", sourceLocation: sourceLocation)
        return reports
    }
}
