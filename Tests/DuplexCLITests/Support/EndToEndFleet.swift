import Foundation
import MailStoreTestSupport
import Replicator
import Testing

/// The whole system on loopback for the end-to-end IMAP tests: a private PostgreSQL, a
/// `duplex coordinator` on it (tenant `example`, pair `pair-1` of hosts `host-a.test` and
/// `host-b.test`, user ``user`` assigned by the coordinator), two Dovecot IMAP hosts
/// (``EndToEndIMAPHost``) and a `duplex agent` beside each, with mutual TLS (certificates
/// from `duplex tls init`), replicators pointing at each other, and a link to the
/// coordinator from which each agent learns the pair's users.
///
/// Every process is a child of the test, stopped by its pid when the test ends.
struct EndToEndFleet {
    static let user = "alice@example.com"
    static let tenant = "example"
    static let pair = "pair-1"
    /// The pair's hosts as the coordinator records them: also the names their TLS
    /// certificates carry, and the `coordinator.host` of the agent beside each.
    static let hostNames = (a: "host-a.test", b: "host-b.test")
    /// Seconds after which the coordinator marks a host down that has not heartbeated; the
    /// agents heartbeat every second, and the health check runs every second.
    static let heartbeatTimeout = 5

    let directory: TemporaryDirectory
    let coordinator: BackgroundCommand
    let coordinatorURL: String
    let hostA: EndToEndIMAPHost
    let hostB: EndToEndIMAPHost

    var caPath: String { directory.appending("certs/ca.pem") }
    var adminTokenPath: String { directory.appending("admin.token") }
    var coordinatorConfigPath: String { directory.appending("coordinator.yaml") }

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
                let hosts = [hostNames.a, hostNames.b, "127.0.0.1"].joined(separator: ",")
                let tls = try await run(["tls", "init", "--out", directory.appending("certs"), "--hosts", hosts])
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
    /// loopback port with its database on `socketDirectory`'s PostgreSQL, and `sections`
    /// (YAML) added to its configuration.
    static func startCoordinator(
        in directory: TemporaryDirectory, socketDirectory: String, sections: String = ""
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
              heartbeat_timeout: \(heartbeatTimeout)
              check_interval: 1
            \(sections)

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
    func coordinatorCommand(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await Self.run(arguments + ["--coordinator", coordinatorURL, "--token-file", adminTokenPath, "--ca", caPath])
        try #require(
            result.status == 0, "duplex \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation)
        return result.stdout
    }

    // MARK: Commands

    /// Runs the built `duplex` without blocking a test thread.
    static func run(_ arguments: [String], within timeout: Duration = patience) async throws -> ExternalCommand.Result {
        try await runProgram(ExternalCommand.duplexExecutable, arguments, within: timeout)
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
