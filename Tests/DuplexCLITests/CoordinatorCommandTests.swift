import Foundation
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// `duplex coordinator` and its configuration: the example file, the reader's errors, and
/// the built binary (migrate, token create/list/revoke, serving over TLS, SIGTERM).
@Suite struct CoordinatorCommandTests {
    /// `ops/config/coordinator.yaml` in this checkout.
    static let exampleFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ops/config/coordinator.yaml").path

    /// A directory with TLS files from `duplex tls init` and a configuration using them.
    struct Setup {
        let directory: TemporaryDirectory
        var tls: String { directory.appending("tls") }
        var config: String { directory.appending("coordinator.yaml") }

        init(extra: String = "") throws {
            directory = try TemporaryDirectory(prefix: "duplex-coordinator-cli", mode: 0o700)
            let result = try ExternalCommand.run(
                ExternalCommand.duplexExecutable, ["tls", "init", "--out", directory.appending("tls"), "--hosts", "127.0.0.1"])
            try #require(result.status == 0, "duplex tls init: \(result.stderr)")
            try write(extra)
        }

        func write(_ extra: String, listen: String = "127.0.0.1:0") throws {
            // A test that sets database.url itself replaces the default one (YAML refuses a key twice).
            let url = extra.contains("  url:") ? "" : "  url: sqlite://\(directory.appending("coordinator.db"))"
            let text = """
                coordinator:
                  listen: "\(listen)"
                  tls:
                    certificate: tls/127.0.0.1.pem
                    key: tls/127.0.0.1.key
                database:
                \(url)
                \(extra)
                """
            try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        }

        func duplex(_ arguments: String...) throws -> ExternalCommand.Result {
            try ExternalCommand.run(ExternalCommand.duplexExecutable, arguments)
        }
    }

    // MARK: The configuration

    @Test func exampleFile_documentsEveryKnownKey_andNothingElse() throws {
        let file = try ConfigurationFile(path: Self.exampleFile, currentDirectory: "/")
        let known = CoordinatorConfiguration.Key.all + CoordinatorConfiguration.MoveKey.all
        try file.checkKeys(known: known)
        let text = try String(contentsOfFile: Self.exampleFile, encoding: .utf8)
        // A key without a default is shown commented out, at any indentation.
        let commented = Set(text.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("#") else { return nil }
            let rest = trimmed.dropFirst().drop { $0 == " " }
            return rest.firstIndex(of: ":").map { String(rest[..<$0]) }
        })
        for key in known {
            let name = String(key.split(separator: ".").last!)
            #expect(file.settings[key] != nil || commented.contains(name), "\(key) is not in the example")
        }
    }

    @Test func exampleFile_loads_andShowsTheDefaults() async throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        // The example's TLS files live in /etc; these variables point at throwaway ones.
        let environment = [
            "DUPLEX_COORDINATOR_TLS_CERTIFICATE": setup.tls + "/127.0.0.1.pem",
            "DUPLEX_COORDINATOR_TLS_KEY": setup.tls + "/127.0.0.1.key",
        ]
        let (example, _) = try await CoordinatorConfiguration.load(path: Self.exampleFile, environment: environment)
        let minimal = setup.directory.appending("minimal.yaml")
        try Data("coordinator:\n  tls:\n    certificate: tls/127.0.0.1.pem\n    key: tls/127.0.0.1.key\n".utf8)
            .write(to: URL(fileURLWithPath: minimal))
        let (defaults, _) = try await CoordinatorConfiguration.load(path: minimal, environment: [:])
        #expect(example.service == defaults.service)
        #expect(example.database == defaults.database)
        #expect(example.service.host == "127.0.0.1" && example.service.port == 7447)
        #expect(example.service.heartbeatTimeout == .seconds(60) && example.service.checkInterval == .seconds(10))
        #expect(example.database.url == .sqlite(path: "/var/lib/duplex/coordinator.db"))
        #expect(example.database.poolSize == 10 && !example.database.migrateOnStart && example.database.passwordFile == nil)
    }

    @Test func everySetting_isRead_fromYAMLAndTheEnvironment() async throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: setup.directory.appending("db.password")))
        try setup.write(
            """
              url: postgres://duplex@db.example.net:6432/fleet
              password_file: db.password
              pool_size: 4
              migrate_on_start: true
            health:
              heartbeat_timeout: 90
              check_interval: 5
            """, listen: "[::1]:8443")
        let (loaded, _) = try await CoordinatorConfiguration.load(path: setup.config, environment: ["DUPLEX_HEALTH_CHECK_INTERVAL": "2.5"])
        #expect(loaded.service.host == "::1" && loaded.service.port == 8443)
        #expect(loaded.service.heartbeatTimeout == .seconds(90))
        #expect(loaded.service.checkInterval == .milliseconds(2500))
        guard case .postgres(let location) = loaded.database.url else {
            Issue.record("not PostgreSQL: \(loaded.database.url)")
            return
        }
        #expect(location.host == "db.example.net" && location.port == 6432 && location.user == "duplex" && location.database == "fleet")
        #expect(loaded.database.poolSize == 4 && loaded.database.migrateOnStart)
        #expect(try loaded.databaseAccess(configurationFile: setup.config).password == "secret")
    }

    @Test(arguments: [
        ("  pool_sise: 4", "database.pool_sise", "did you mean database.pool_size?"),
        ("  url: postgres://duplex:hunter2@db/fleet", "database.url", "password_file"),
        ("  url: mysql://db/fleet", "database.url", "postgres://, postgresql:// or sqlite://"),
        ("  url: sqlite://relative.db", "database.url", "ABSOLUTE"),
        ("  pool_size: 0", "database.pool_size", "from 1 to 1000"),
        ("  migrate_on_start: maybe", "database.migrate_on_start", "true or false"),
        ("health:\n  heartbeat_timeout: -1", "health.heartbeat_timeout", "seconds"),
    ])
    func badSetting_isRefused_namingFileLineAndKey(line: String, key: String, mentions: String) async throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        try setup.write(line)
        let error = await #expect(throws: ConfigurationError.self) {
            _ = try await CoordinatorConfiguration.load(path: setup.config, environment: [:])
        }
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.line != nil)
        #expect(error?.description.contains(setup.config) == true)
        #expect(error?.description.contains(mentions) == true, "\(String(describing: error))")
        #expect(error?.description.contains("hunter2") == false)
    }

    // MARK: The binary

    @Test func check_migrate_andTokens_throughTheBinary() throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        let check = try setup.duplex("coordinator", "--config", setup.config, "--check")
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("usable"))
        let migrate = try setup.duplex("coordinator", "migrate", "--config", setup.config)
        #expect(migrate.status == 0, "\(migrate.stderr)")
        #expect(migrate.stdout.hasPrefix("schema version "), "\(migrate.stdout)")

        let created = try setup.duplex("coordinator", "token", "create", "--config", setup.config, "--role", "admin", "--label", "ops", "--json")
        #expect(created.status == 0, "\(created.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])
        let secret = try #require(object["secret"] as? String)
        #expect(secret.hasPrefix("dpx_"))
        let token = try #require(object["token"] as? [String: Any])
        #expect(token["role"] as? String == "admin")

        let unknownTenant = try setup.duplex("coordinator", "token", "create", "--config", setup.config, "--role", "tenant:nobody", "--label", "x")
        #expect(unknownTenant.status == 68, "\(unknownTenant.stderr)")
        #expect(unknownTenant.stderr.contains("nobody"))
        let badRole = try setup.duplex("coordinator", "token", "create", "--config", setup.config, "--role", "root", "--label", "x")
        #expect(badRole.status == 64, "\(badRole.stderr)")

        let list = try setup.duplex("coordinator", "token", "list", "--config", setup.config)
        #expect(list.status == 0 && list.stdout.contains("ops") && !list.stdout.contains(secret), "\(list.stdout)")
        let revoke = try setup.duplex("coordinator", "token", "revoke", "--config", setup.config, "\(token["id"] as? Int ?? 0)")
        #expect(revoke.status == 0, "\(revoke.stderr)")
        let listed = try setup.duplex("coordinator", "token", "list", "--config", setup.config, "--json")
        let tokens = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(tokens.first?["revoked_at"] is String)
    }

    @Test func badConfiguration_exits78_namingTheKey() throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        try setup.write("  colour: blue")
        let result = try setup.duplex("coordinator", "--config", setup.config)
        #expect(result.status == 78)
        #expect(result.stderr.contains("database.colour"), "\(result.stderr)")
    }

    @Test func serve_answersOverTLS_andSIGTERMExits0() async throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        try setup.write("  migrate_on_start: true")
        let secret = try setup.duplex("coordinator", "token", "create", "--config", setup.config, "--role", "admin", "--label", "ops")
        // The token store needs the schema: create it first, as an operator would.
        if secret.status != 0 {
            _ = try setup.duplex("coordinator", "migrate", "--config", setup.config)
        }
        let token = try secret.status == 0
            ? secret.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            : setup.duplex("coordinator", "token", "create", "--config", setup.config, "--role", "admin", "--label", "ops").stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try BackgroundCommand(
            ExternalCommand.duplexExecutable, ["coordinator", "--config", setup.config], outputDirectory: setup.directory.path)
        let listening = await server.waitForOutput(within: .seconds(180)) { stdout, _ in stdout.contains("listening on ") }
        try #require(listening, "no listening line; log:\n\(server.stderr)")
        let line = try #require(server.stdout.split(separator: "\n").first { $0.hasPrefix("listening on ") })
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0) })
        let curl = try #require(ExternalCommand.executable(named: "curl"))
        let answer = try ExternalCommand.run(
            curl, ["-sS", "--max-time", "60", "--cacert", setup.tls + "/ca.pem", "-H", "Authorization: Bearer \(token)",
                   "-w", "\n%{http_code}", "https://127.0.0.1:\(port)/v1/tenants"])
        #expect(answer.status == 0, "\(answer.stderr)")
        #expect(answer.stdout == "{\"tenants\":[]}\n200", "\(answer.stdout)")
        #expect(server.stderr.contains("path=/v1/tenants") || server.stderr.contains("/v1/tenants"), "the request is logged")
        #expect(!server.stderr.contains(token), "the token is never logged")
        server.send(SIGTERM)
        let status = await server.exitStatus(within: .seconds(120))
        #expect(status == 0, "log:\n\(server.stderr)")
    }
}
