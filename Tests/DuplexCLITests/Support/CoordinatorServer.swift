import Foundation
import MailStoreTestSupport
import Testing

/// A real `duplex coordinator` for the tests of the coordinator commands: TLS certificates
/// made by `duplex tls init`, an embedded SQLite store migrated by `duplex coordinator
/// migrate`, an admin token made by `duplex coordinator token create`, listening on a free
/// loopback port. Stopped (SIGTERM, by pid) by ``stop()`` or when released.
final class CoordinatorServer: @unchecked Sendable {
    /// How long to wait for the coordinator to start: generous; a passing test never waits
    /// this long.
    static let patience = Duration.seconds(180)

    let directory: TemporaryDirectory
    let process: BackgroundCommand
    let port: Int
    /// The CA the coordinator's certificate chains to.
    let caPath: String
    /// A file holding an admin token's secret.
    let adminTokenPath: String

    var url: String { "https://127.0.0.1:\(port)" }
    var configPath: String { directory.appending("coordinator.yaml") }

    /// Starts a coordinator and waits until it listens.
    ///
    /// - Throws: a test failure with its output when a step fails.
    init(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        directory = try TemporaryDirectory(prefix: "duplex-coordinator", mode: 0o700)
        let tls = directory.appending("tls")
        caPath = tls + "/ca.pem"
        adminTokenPath = directory.appending("admin.token")
        let config = """
            coordinator:
              listen: 127.0.0.1:0
              tls:
                certificate: \(tls)/127.0.0.1.pem
                key: \(tls)/127.0.0.1.key
            database:
              url: sqlite://\(directory.appending("coordinator.db"))
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: directory.appending("coordinator.yaml")))
        let duplex = ExternalCommand.duplexExecutable
        for arguments in [
            ["tls", "init", "--out", tls, "--hosts", "127.0.0.1"],
            ["coordinator", "migrate", "--config", directory.appending("coordinator.yaml")],
        ] {
            let result = try ExternalCommand.run(duplex, arguments)
            try #require(result.status == 0, "duplex \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        }
        let secret = try Self.createToken(role: "admin", configPath: directory.appending("coordinator.yaml"), sourceLocation: sourceLocation)
        try Data((secret + "\n").utf8).write(to: URL(fileURLWithPath: adminTokenPath))
        process = try BackgroundCommand(
            duplex, ["coordinator", "--config", directory.appending("coordinator.yaml")], outputDirectory: directory.path)
        let listening = await process.waitForOutput(within: Self.patience) { stdout, _ in stdout.contains("\n") }
        try #require(listening, "the coordinator did not start listening; its log:\n\(process.stderr)", sourceLocation: sourceLocation)
        let line = process.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let port = line.hasPrefix("listening on ") ? line.split(separator: ":").last.flatMap { Int($0) } : nil
        self.port = try #require(port, "not a listening line: \(line)", sourceLocation: sourceLocation)
    }

    deinit {
        stop()
        directory.cleanup()
    }

    /// Stops the coordinator (SIGTERM) and waits for it (two minutes at most, a hang guard;
    /// ``BackgroundCommand`` kills what is left when released).
    func stop() {
        if process.send(SIGTERM) {
            let deadline = Date().addingTimeInterval(120)
            while process.exitStatus() == nil, Date() < deadline { usleep(10_000) }
        }
    }

    /// A new token's secret, made through the store as an operator makes the first one.
    static func createToken(
        role: String, configPath: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let result = try ExternalCommand.run(
            ExternalCommand.duplexExecutable, ["coordinator", "token", "create", "--config", configPath, "--role", role, "--label", "test"])
        try #require(result.status == 0, "token create: \(result.stderr)", sourceLocation: sourceLocation)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A file holding a new token for `role` (`tenant:T`, `agent:P`).
    func tokenFile(role: String) throws -> String {
        let path = directory.appending("token-\(UUID().uuidString)")
        try Data((try Self.createToken(role: role, configPath: configPath) + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs `duplex ARGUMENTS --coordinator URL --token-file FILE --ca CA` (the admin token
    /// unless another file is given).
    func duplex(_ arguments: [String], tokenFile: String? = nil) throws -> ExternalCommand.Result {
        try ExternalCommand.run(
            ExternalCommand.duplexExecutable,
            arguments + ["--coordinator", url, "--token-file", tokenFile ?? adminTokenPath, "--ca", caPath])
    }

    /// `duplex ARGUMENTS … --json` parsed, after checking that it exited 0.
    func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let result = try duplex(arguments + ["--json"])
        try #require(result.status == 0, "duplex \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        let value = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return try #require(value as? [String: Any], "not a JSON object: \(result.stdout)", sourceLocation: sourceLocation)
    }
}

/// Runs coordinator commands where no coordinator listens.
enum OfflineCoordinator {
    /// A URL where nothing listens: a command that sent a request would fail with 69, so a
    /// 64 shows that it stopped before.
    static let url = "https://127.0.0.1:1"

    /// `duplex ARGUMENTS --coordinator URL` (unless the arguments name one).
    static func run(_ arguments: [String]) throws -> ExternalCommand.Result {
        let target = arguments.contains("--coordinator") ? [] : ["--coordinator", url]
        return try ExternalCommand.run(ExternalCommand.duplexExecutable, arguments + target, timeout: 60)
    }

    /// Checks that `arguments` end with exit code 64 and `message` on standard error, with
    /// no attempt to connect.
    static func expectUsageError(_ arguments: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run(arguments)
        #expect(result.status == 64, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(message), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("cannot connect"), sourceLocation: sourceLocation)
    }
}
