import Foundation
import MailStoreTestSupport
import Replicator
import Testing

/// The whole system on loopback for the end-to-end IMAP tests: a private PostgreSQL, a
/// `duplex coordinator` on it (tenant `example`, pair `pair-1` of hosts `host-a` and
/// `host-b`, user ``user`` assigned by the coordinator), two Dovecot IMAP hosts
/// (``EndToEndIMAPHost``) and a `duplex agent` beside each, with mutual TLS (certificates
/// from `duplex tls init`) and replicators pointing at each other.
///
/// Every process is a child of the test, stopped by its pid when the test ends.
struct EndToEndFleet {
    static let user = "alice@example.com"
    static let tenant = "example"
    static let pair = "pair-1"

    let directory: TemporaryDirectory
    let coordinator: BackgroundCommand
    let coordinatorURL: String
    let hostA: EndToEndIMAPHost
    let hostB: EndToEndIMAPHost

    var caPath: String { directory.appending("certs/ca.pem") }
    var adminTokenPath: String { directory.appending("admin.token") }

    /// How long a command of the test may take: generous, a passing test never waits this long.
    static let patience = Duration.seconds(300)

    /// Why the fleet cannot run here, nil when it can.
    static var unavailableReason: String? {
        if let reason = DovecotInstance.unavailableReason ?? PostgresServer.unavailableReason { return reason }
        if !FileManager.default.isExecutableFile(atPath: "/usr/lib/dovecot/imap") {
            return "Dovecot's IMAP server not found (install Debian package dovecot-imapd)"
        }
        if ExternalCommand.executable(named: "python3") == nil { return "python3 not found" }
        return nil
    }

    /// Runs `body` with PostgreSQL, the coordinator (user assigned) and both Dovecot hosts
    /// running; the agents are started by ``withAgents(replicationPlugin:_:)``.
    static func with(replicationPlugin: Bool, _ body: (EndToEndFleet) async throws -> Void) async throws {
        try await PostgresServer.with { postgres in
            let created = try postgres.psql("CREATE DATABASE duplex")
            try #require(created.status == 0, "CREATE DATABASE: \(created.stderr)")
            try await TemporaryDirectory.with(prefix: "duplex-e2e") { directory in
                let tls = try await run(["tls", "init", "--out", directory.appending("certs"), "--hosts", "host-a.test,host-b.test,127.0.0.1"])
                try #require(tls.status == 0, "duplex tls init: \(tls.stderr)")
                let coordinator = try await startCoordinator(in: directory, socketDirectory: postgres.socketDirectory)
                defer { coordinator.process.stop() }
                try await EndToEndIMAPHost.with("A", replicationPlugin: replicationPlugin) { hostA in
                    try await EndToEndIMAPHost.with("B", replicationPlugin: replicationPlugin) { hostB in
                        let fleet = EndToEndFleet(
                            directory: directory, coordinator: coordinator.process, coordinatorURL: coordinator.url, hostA: hostA,
                            hostB: hostB)
                        try await body(fleet)
                    }
                }
                let status = await coordinator.process.stop(within: .seconds(120))
                #expect(status == 0, "the coordinator did not stop cleanly (status \(status)); its log:\n\(coordinator.process.stderr)")
            }
        }
    }

    /// `duplex coordinator migrate`, an admin token, then `duplex coordinator` on a free
    /// loopback port with its database on `socketDirectory`'s PostgreSQL.
    private static func startCoordinator(
        in directory: TemporaryDirectory, socketDirectory: String
    ) async throws -> (process: BackgroundCommand, url: String) {
        let config = directory.appending("coordinator.yaml")
        let yaml = """
            coordinator:
              listen: 127.0.0.1:0
              tls:
                certificate: \(directory.appending("certs/127.0.0.1.pem"))
                key: \(directory.appending("certs/127.0.0.1.key"))
            database:
              url: postgres://postgres@/duplex?host=\(socketDirectory)
            health:
              heartbeat_timeout: 60

            """
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: config))
        let migrate = try await run(["coordinator", "migrate", "--config", config])
        try #require(migrate.status == 0, "duplex coordinator migrate: \(migrate.stderr)")
        let token = try await run(["coordinator", "token", "create", "--config", config, "--role", "admin", "--label", "e2e"])
        try #require(token.status == 0, "duplex coordinator token create: \(token.stderr)")
        try Data(token.stdout.utf8).write(to: URL(fileURLWithPath: directory.appending("admin.token")))
        let process = try BackgroundCommand(
            ExternalCommand.duplexExecutable, ["coordinator", "--config", config], outputDirectory: directory.path)
        let listening = await process.waitForOutput(within: patience) { stdout, _ in stdout.contains("\n") }
        try #require(listening, "the coordinator did not start listening; its log:\n\(process.stderr)")
        let line = process.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let port = line.hasPrefix("listening on ") ? line.split(separator: ":").last.flatMap { Int($0) } : nil
        return (process, "https://127.0.0.1:\(try #require(port, "not a listening line: \(line)"))")
    }

    // MARK: The coordinator

    /// `duplex ARGUMENTS --coordinator URL --token-file admin.token --ca ca.pem`, checked.
    @discardableResult
    func coordinatorCommand(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try Self.run(arguments + ["--coordinator", coordinatorURL, "--token-file", adminTokenPath, "--ca", caPath])
        try #require(
            result.status == 0, "duplex \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation)
        return result.stdout
    }

    /// Registers the tenant and the pair (its hosts' dsync endpoints on `portA`, `portB`) and
    /// assigns ``user``; returns the users the coordinator lists on the pair.
    func placeUser(portA: Int, portB: Int) throws -> [String] {
        try coordinatorCommand(["tenant", "add", Self.tenant])
        try coordinatorCommand([
            "pair", "add", Self.pair, "--host-a", "host-a=tls://127.0.0.1:\(portA)", "--host-b", "host-b=tls://127.0.0.1:\(portB)",
            "--capacity", "10",
        ])
        let assigned = try JSONSerialization.jsonObject(
            with: Data(try coordinatorCommand(["user", "assign", Self.user, "--tenant", Self.tenant, "--json"]).utf8))
        let pair = (assigned as? [String: Any])?["pair"] as? String
        #expect(pair == Self.pair, "the coordinator placed \(Self.user) on \(pair ?? "no pair"): \(assigned)")
        let listed = try JSONSerialization.jsonObject(
            with: Data(try coordinatorCommand(["user", "list", "--pair", Self.pair, "--all", "--json"]).utf8))
        let users = ((listed as? [String: Any])?["users"] as? [[String: Any]]) ?? (listed as? [[String: Any]]) ?? []
        return users.compactMap { $0["name"] as? String }
    }

    // MARK: Commands

    /// Runs the built `duplex` without blocking a test thread.
    static func run(_ arguments: [String], within timeout: Duration = patience) async throws -> ExternalCommand.Result {
        try await runProgram(ExternalCommand.duplexExecutable, arguments, within: timeout)
    }

    /// Runs `duplex` to completion (short commands only).
    static func run(_ arguments: [String]) throws -> ExternalCommand.Result {
        try ExternalCommand.run(ExternalCommand.duplexExecutable, arguments, timeout: 120)
    }

    /// Runs `executable` as a child of the test and waits for it asynchronously; a run that
    /// outlives `timeout` is stopped (its status then says so).
    static func runProgram(_ executable: String, _ arguments: [String], within timeout: Duration) async throws -> ExternalCommand.Result {
        try await TemporaryDirectory.with(prefix: "duplex-e2e-cmd") { scratch in
            let process = try BackgroundCommand(executable, arguments, outputDirectory: scratch.path)
            return await process.result(within: timeout)
        }
    }
}
