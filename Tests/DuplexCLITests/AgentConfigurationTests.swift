import Dsync
import Foundation
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

/// ``AgentConfiguration/load(path:environment:)``: the example file, YAML and JSON, the
/// environment, and every kind of bad input answered with the file, the key and the reason.
@Suite struct AgentConfigurationTests {
    /// A temporary directory with throwaway TLS files (the loader only checks they can be
    /// read) and a place for configuration files.
    struct Fixture {
        let directory: TemporaryDirectory

        var path: String { directory.path }

        init(_ directory: TemporaryDirectory) throws {
            self.directory = directory
            try write("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", to: "host.pem")
            try write("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", to: "host.key", mode: 0o600)
            try write("-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n", to: "ca.pem")
        }

        /// Writes `text` to `name` in the directory and returns its path.
        @discardableResult
        func write(_ text: String, to name: String, mode: Int = 0o644) throws -> String {
            let file = directory.appending(name)
            try FileManager.default.createDirectory(
                atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
            return file
        }

        func load(
            _ text: String, name: String = "agent.yaml", environment: [String: String] = [:]
        ) async throws -> (configuration: AgentConfiguration, warnings: [String]) {
            try await AgentConfiguration.load(path: write(text, to: name), environment: environment)
        }

        /// The error loading `text` gives, which must be a ``ConfigurationError``.
        func error(
            _ text: String, name: String = "agent.yaml", environment: [String: String] = [:]
        ) async throws -> ConfigurationError {
            let file = try write(text, to: name)
            return try await #require(throws: ConfigurationError.self) {
                _ = try await AgentConfiguration.load(path: file, environment: environment)
            }
        }
    }

    func withFixture(_ body: (Fixture) async throws -> Void) async throws {
        try await TemporaryDirectory.with(prefix: "duplex-agent-config") { directory in
            try await body(Fixture(directory))
        }
    }

    /// `ops/config/agent.yaml` in this checkout.
    static let exampleFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ops/config/agent.yaml").path

    /// The required keys only; everything else takes its default.
    static let minimalYAML = """
        dsync:
          mail_root: /var/vmail/%d/%n/Maildir
        tls:
          certificate: host.pem
          key: host.key
          ca: ca.pem
          allowed_peers: [hostb.example.com]
        """

    /// ``minimalYAML`` with `key` set to `value` (as written in YAML; empty for null).
    static func minimalYAML(setting key: String, to value: String) -> String {
        let parts = key.split(separator: ".")
        var lines = minimalYAML.split(separator: "\n").map(String.init)
        let line = "  \(parts[1]):" + (value.isEmpty ? "" : " \(value)")
        if let index = lines.firstIndex(where: { $0.hasPrefix("  \(parts[1]):") }) {
            lines[index] = line
        } else if let index = lines.firstIndex(of: "\(parts[0]):") {
            lines.insert(line, at: index + 1)
        }
        return lines.joined(separator: "\n")
    }

    /// Every key, none at its default.
    static let fullYAML = """
        # a comment
        dsync:
          listen: "[::1]:8000"
          mail_root: /srv/mail/%u
          lock_timeout: 2.5
          idle_timeout: 60
          state_dir: state
          sync_socket: run/sync.sock
        tls:
          certificate: host.pem
          key: host.key
          ca: ca.pem
          allowed_peers:
            - hostb.example.com
            - hostc.example.com
        """

    static let fullJSON = """
        {
          "dsync": {
            "listen": "[::1]:8000",
            "mail_root": "/srv/mail/%u",
            "lock_timeout": 2.5,
            "idle_timeout": 60,
            "state_dir": "state",
            "sync_socket": "run/sync.sock"
          },
          "tls": {
            "certificate": "host.pem",
            "key": "host.key",
            "ca": "ca.pem",
            "allowed_peers": ["hostb.example.com", "hostc.example.com"]
          }
        }
        """

    // MARK: The example file

    @Test func exampleFile_setsEveryKnownKey_andNothingElse() throws {
        let file = try ConfigurationFile(path: Self.exampleFile, currentDirectory: "/")
        #expect(Set(file.settings.keys) == Set(AgentConfiguration.Key.all))
        try file.checkKeys(known: AgentConfiguration.Key.all)
    }

    @Test func exampleFile_loads_andShowsTheDefaults() async throws {
        try await withFixture { fixture in
            // The example's TLS files live in /etc; these variables point at throwaway ones.
            // The replicator's users file and mail user are this host's.
            let usersFile = try fixture.write("alice\n", to: "users")
            let tokenFile = try fixture.write("secret-of-agent-eu-1\n", to: "agent.token", mode: 0o600)
            let environment = [
                "DUPLEX_COORDINATOR_TOKEN_FILE": tokenFile,
                "DUPLEX_COORDINATOR_CA": fixture.directory.appending("ca.pem"),
                "DUPLEX_TLS_CERTIFICATE": fixture.directory.appending("host.pem"),
                "DUPLEX_TLS_KEY": fixture.directory.appending("host.key"),
                "DUPLEX_TLS_CA": fixture.directory.appending("ca.pem"),
                "DUPLEX_REPLICATOR_USERS_FILE": usersFile,
                "DUPLEX_REPLICATOR_NOTIFY_USER": Self.ownUser.name,
                "DUPLEX_REPLICATOR_NOTIFY_GROUP": Self.ownGroup.name,
            ]
            let (example, warnings) = try await AgentConfiguration.load(path: Self.exampleFile, environment: environment)
            #expect(warnings.isEmpty)
            #expect(example.dsync.mailRoot.template == "/var/vmail/%d/%n/Maildir")
            #expect(example.dsync.tls.allowedPeers == ["hostb.example.com", "coordinator.example.com"])
            #expect(example.dsync.tls.trustedCA == fixture.directory.appending("ca.pem"))
            let replicator = try #require(example.replicator)
            #expect(replicator.peer == "tls://hostb.example.com:7445")
            #expect(replicator.users == ["alice"])
            #expect(replicator.notifyFifo == "/run/dovecot/replication-notify-fifo")
            #expect(replicator.notifySocket == "/run/dovecot/replication-notify")
            #expect(replicator.notifyAccess == NotifyPathAccess(mode: 0o600, owner: Self.ownUser.id, group: Self.ownGroup.id))

            // Every other value the example shows is the default one gets without it.
            let minimal = try await fixture.load(
                Self.minimalYAML(setting: "tls.allowed_peers", to: "[hostb.example.com, coordinator.example.com]")
                    + "\nreplicator:\n  peer: tls://hostb.example.com:7445\n")
            #expect(minimal.configuration.dsync == example.dsync)
            #expect(minimal.configuration.stateDirectory == example.stateDirectory)
            let defaults = try #require(minimal.configuration.replicator)
            #expect(defaults.settings.maxConnections == replicator.settings.maxConnections)
            #expect(defaults.settings.maxFullSyncs == replicator.settings.maxFullSyncs)
            #expect(defaults.settings.fullSyncInterval == replicator.settings.fullSyncInterval)
            #expect(defaults.settings.failureRetryInterval == replicator.settings.failureRetryInterval)
            #expect(defaults.settings.failureRetryCap == replicator.settings.failureRetryCap)
            #expect(defaults.settings.sharedNamespace == replicator.settings.sharedNamespace)
            #expect(defaults.syncTimeout == replicator.syncTimeout)
            #expect(defaults.adminSocket == replicator.adminSocket)
            #expect(defaults.stateFile == replicator.stateFile)
            #expect(defaults.stateSaveInterval == replicator.stateSaveInterval)
            #expect(defaults.notifyAccess.mode == replicator.notifyAccess.mode)
            let coordinator = try #require(example.coordinator)
            #expect(coordinator.url.description == "https://coordinator.example.com:7447")
            #expect(coordinator.pair == "eu-1" && coordinator.host == "mail1a.example.com")
            #expect(coordinator.token == CoordinatorSecret("secret-of-agent-eu-1") && coordinator.tokenFile == tokenFile)
            let minimalCoordinator = try await fixture.load(
                Self.minimalYAML + "\nreplicator:\n  peer: tls://hostb.example.com:7445\ncoordinator:\n"
                    + "  url: https://coordinator.example.com:7447\n  token_file: agent.token\n  pair: eu-1\n  host: mail1a.example.com\n")
            var coordinatorDefaults = try #require(minimalCoordinator.configuration.coordinator)
            #expect(coordinatorDefaults.trustedCA == nil, "the system's trust store by default")
            coordinatorDefaults.trustedCA = coordinator.trustedCA
            #expect(coordinatorDefaults.purgeIdentities.isEmpty && coordinator.purgeIdentities == ["coordinator.example.com"])
            coordinatorDefaults.purgeIdentities = coordinator.purgeIdentities
            #expect(coordinatorDefaults == coordinator)
            #expect(try await fixture.load(Self.minimalYAML).configuration.replicator == nil, "no section, no replicator")
            #expect(example.dsync.host == "0.0.0.0")
            #expect(example.dsync.port == DsyncServerConfiguration.defaultPort)
            #expect(example.dsync.lockTimeout == .seconds(30))
            #expect(example.dsync.idleTimeout == .seconds(120))
            #expect(example.stateDirectory == AgentConfiguration.defaultStateDirectory)
            #expect(example.syncSocket == "/run/duplex/sync.sock")
            #expect(try await fixture.load(Self.minimalYAML).configuration.syncSocket == nil, "no sync socket unless set")
        }
    }

    // MARK: Good files

    @Test func fullYAML_setsEveryValue_relativePathsFromTheFilesDirectory() async throws {
        try await withFixture { fixture in
            let (configuration, warnings) = try await fixture.load(Self.fullYAML)
            #expect(warnings.isEmpty)
            let dsync = configuration.dsync
            #expect(dsync.host == "::1")
            #expect(dsync.port == 8000)
            #expect(dsync.mailRoot == (try MailRootTemplate("/srv/mail/%u")))
            #expect(dsync.lockTimeout == .milliseconds(2500))
            #expect(dsync.idleTimeout == .seconds(60))
            #expect(configuration.stateDirectory == fixture.path + "/state")
            #expect(configuration.syncSocket == fixture.path + "/run/sync.sock")
            #expect(
                dsync.tls
                    == DsyncTLSFiles(
                        certificateChain: fixture.path + "/host.pem", privateKey: fixture.path + "/host.key",
                        trustedCA: fixture.path + "/ca.pem", allowedPeers: ["hostb.example.com", "hostc.example.com"]))
        }
    }

    @Test(arguments: ["agent.json", "AGENT.JSON"])
    func fullJSON_readsTheSameAsYAML(name: String) async throws {
        try await withFixture { fixture in
            let fromJSON = try await fixture.load(Self.fullJSON, name: name)
            let fromYAML = try await fixture.load(Self.fullYAML, name: "agent.yml")
            #expect(fromJSON.configuration == fromYAML.configuration)
        }
    }

    @Test(arguments: [
        (":7445", "0.0.0.0", 7445),
        ("[::]:7445", "::", 7445),
        ("localhost:0", "localhost", 0),
        ("192.0.2.10:65535", "192.0.2.10", 65535),
        ("agent-b.example.com:1", "agent-b.example.com", 1),
    ])
    func listen_acceptsEachDocumentedForm(listen: String, host: String, port: Int) async throws {
        try await withFixture { fixture in
            let (configuration, _) = try await fixture.load(
                Self.minimalYAML, environment: ["DUPLEX_DSYNC_LISTEN": listen])
            #expect(configuration.dsync.host == host)
            #expect(configuration.dsync.port == port)
        }
    }

    @Test func relativePaths_areTakenFromTheFilesDirectory_whereverTheyAreSet() async throws {
        try await withFixture { fixture in
            try fixture.write("other CA", to: "tls/other-ca.pem")
            let yaml = Self.minimalYAML(setting: "tls.certificate", to: "../host.pem")
            try fixture.write(yaml, to: "etc/agent.yaml")
            let (configuration, _) = try await AgentConfiguration.load(
                path: fixture.directory.appending("etc/agent.yaml"),
                environment: ["DUPLEX_TLS_CA": "../tls/other-ca.pem", "DUPLEX_TLS_KEY": fixture.path + "/host.key"])
            #expect(configuration.dsync.tls.certificateChain == fixture.path + "/etc/../host.pem")
            #expect(configuration.dsync.tls.trustedCA == fixture.path + "/etc/../tls/other-ca.pem")
            #expect(configuration.dsync.tls.privateKey == fixture.path + "/host.key")
        }
    }

    // MARK: The environment

    @Test func environment_overridesEveryKey_namedAsDocumented() async throws {
        try await withFixture { fixture in
            try fixture.write("other", to: "other.pem")
            try fixture.write("other", to: "other.key", mode: 0o600)
            let environment = [
                "DUPLEX_DSYNC_LISTEN": "127.0.0.1:9000",
                "DUPLEX_DSYNC_MAIL_ROOT": "/env/%n",
                "DUPLEX_DSYNC_LOCK_TIMEOUT": "5",
                "DUPLEX_DSYNC_IDLE_TIMEOUT": "7.5",
                "DUPLEX_DSYNC_STATE_DIR": "/env/state",
                "DUPLEX_DSYNC_SYNC_SOCKET": "/env/sync.sock",
                "DUPLEX_TLS_CERTIFICATE": "other.pem",
                "DUPLEX_TLS_KEY": "other.key",
                "DUPLEX_TLS_CA": "other.pem",
                "DUPLEX_TLS_ALLOWED_PEERS": "a.example.com, b.example.com, coordinator.test, other.test",
                "DUPLEX_REPLICATOR_PEER": "tls://peer.example.com:7000",
                "DUPLEX_REPLICATOR_USERS_FILE": "env-users",
                "DUPLEX_REPLICATOR_MAX_CONNS": "8",
                "DUPLEX_REPLICATOR_MAX_FULL_SYNCS": "3",
                "DUPLEX_REPLICATOR_FULL_SYNC_INTERVAL": "3600",
                "DUPLEX_REPLICATOR_FAILURE_RETRY_INTERVAL": "60",
                "DUPLEX_REPLICATOR_FAILURE_RETRY_CAP": "600",
                "DUPLEX_REPLICATOR_NOTIFY_FIFO": "/env/fifo",
                "DUPLEX_REPLICATOR_NOTIFY_SOCKET": "/env/socket",
                "DUPLEX_REPLICATOR_NOTIFY_USER": Self.ownUser.name,
                "DUPLEX_REPLICATOR_NOTIFY_GROUP": Self.ownGroup.name,
                "DUPLEX_REPLICATOR_NOTIFY_MODE": "0660",
                "DUPLEX_REPLICATOR_SYNC_TIMEOUT": "4",
                "DUPLEX_REPLICATOR_ADMIN_SOCKET": "/env/admin.sock",
                "DUPLEX_REPLICATOR_STATE_FILE": "/env/replicator.state",
                "DUPLEX_REPLICATOR_STATE_SAVE_INTERVAL": "5",
                "DUPLEX_REPLICATOR_HTTP_LISTEN": "127.0.0.2:7999",
                "DUPLEX_REPLICATOR_IMPORT_DOVECOT_DB": "/env/replicator.db",
                "DUPLEX_REPLICATOR_SHARED_NAMESPACE_PREFIX": "Shared/$domain/$username/",
                "DUPLEX_COORDINATOR_URL": "https://coordinator.test:9443",
                "DUPLEX_COORDINATOR_TOKEN_FILE": "env-token",
                "DUPLEX_COORDINATOR_CA": "other.pem",
                "DUPLEX_COORDINATOR_PAIR": "eu-2",
                "DUPLEX_COORDINATOR_HOST": "mail2b.example.com",
                "DUPLEX_COORDINATOR_POLL_INTERVAL": "5",
                "DUPLEX_COORDINATOR_HEARTBEAT_INTERVAL": "6",
                "DUPLEX_COORDINATOR_STATUS_INTERVAL": "7",
                "DUPLEX_COORDINATOR_FULL_STATUS_EVERY": "8",
                "DUPLEX_COORDINATOR_CACHE_FILE": "env-cache",
                "DUPLEX_COORDINATOR_PURGE_IDENTITIES": "coordinator.test, other.test",
                "UNRELATED": "x",
            ]
            try fixture.write("# from the environment\nenv-user\n", to: "env-users")
            try fixture.write("env-secret\n", to: "env-token", mode: 0o600)
            #expect(Set(environment.keys.filter { $0.hasPrefix("DUPLEX_") })
                == Set(AgentConfiguration.Key.all.map(ConfigurationValues.environmentVariable(for:))))
            let (configuration, _) = try await fixture.load(Self.fullYAML, environment: environment)
            let expected = AgentConfiguration(
                dsync: DsyncServerConfiguration(
                    host: "127.0.0.1", port: 9000,
                    tls: DsyncTLSFiles(
                        certificateChain: fixture.path + "/other.pem", privateKey: fixture.path + "/other.key",
                        trustedCA: fixture.path + "/other.pem",
                        allowedPeers: ["a.example.com", "b.example.com", "coordinator.test", "other.test"]),
                    mailRoot: try MailRootTemplate("/env/%n"), lockTimeout: .seconds(5), idleTimeout: .milliseconds(7500)),
                stateDirectory: "/env/state",
                replicator: ReplicatorConfiguration(
                    peer: "tls://peer.example.com:7000", usersFile: fixture.path + "/env-users", users: ["env-user"],
                    settings: Self.settings(maxConnections: 8, maxFullSyncs: 3, fullSyncInterval: 3600, retry: 60, cap: 600),
                    notifyFifo: "/env/fifo", notifySocket: "/env/socket",
                    notifyAccess: NotifyPathAccess(mode: 0o660, owner: Self.ownUser.id, group: Self.ownGroup.id), syncTimeout: 4,
                    adminSocket: "/env/admin.sock", stateFile: "/env/replicator.state"))
            var withHTTP = expected
            withHTTP.syncSocket = "/env/sync.sock"
            withHTTP.replicator?.httpHost = "127.0.0.2"
            withHTTP.replicator?.httpPort = 7999
            withHTTP.replicator?.stateSaveInterval = 5
            withHTTP.replicator?.importDovecotDatabase = "/env/replicator.db"
            withHTTP.replicator?.settings.sharedNamespace = try SharedNamespace(prefix: "Shared/$domain/$username/")
            var coordinator = CoordinatorLinkConfiguration(
                url: try CoordinatorURL("https://coordinator.test:9443"), tokenFile: fixture.path + "/env-token",
                token: CoordinatorSecret("env-secret"), trustedCA: fixture.path + "/other.pem", pair: "eu-2", host: "mail2b.example.com")
            coordinator.pollInterval = 5
            coordinator.heartbeatInterval = 6
            coordinator.statusInterval = 7
            coordinator.fullStatusEvery = 8
            coordinator.cacheFile = fixture.path + "/env-cache"
            coordinator.purgeIdentities = ["coordinator.test", "other.test"]
            withHTTP.coordinator = coordinator
            #expect(configuration == withHTTP)
        }
    }

    @Test func emptyFile_isEnough_whenTheEnvironmentSetsTheRequiredKeys() async throws {
        try await withFixture { fixture in
            let environment = [
                "DUPLEX_DSYNC_MAIL_ROOT": "/var/vmail/%d/%n/Maildir",
                "DUPLEX_TLS_CERTIFICATE": "host.pem",
                "DUPLEX_TLS_KEY": "host.key",
                "DUPLEX_TLS_CA": "ca.pem",
                "DUPLEX_TLS_ALLOWED_PEERS": "hostb.example.com",
            ]
            let fromEnvironment = try await fixture.load("{}\n", environment: environment)
            let fromFile = try await fixture.load(Self.minimalYAML)
            #expect(fromEnvironment.configuration == fromFile.configuration)
            let withEmptySections = try await fixture.load("dsync:\ntls:\n", environment: environment)
            #expect(withEmptySections.configuration == fromFile.configuration)
        }
    }

    @Test func badEnvironmentValue_namesTheVariable() async throws {
        try await withFixture { fixture in
            let error = try await fixture.error(Self.minimalYAML, environment: ["DUPLEX_DSYNC_IDLE_TIMEOUT": "soon"])
            #expect(error.code == .invalidValue)
            #expect(error.key == "dsync.idle_timeout")
            #expect(error.environmentVariable == "DUPLEX_DSYNC_IDLE_TIMEOUT")
            #expect(error.description.contains("(from DUPLEX_DSYNC_IDLE_TIMEOUT)"), "\(error)")
            #expect(error.description.contains("\"soon\""), "\(error)")

            let empty = try await fixture.error(Self.minimalYAML, environment: ["DUPLEX_TLS_CA": ""])
            #expect(empty.key == "tls.ca")
            #expect(empty.environmentVariable == "DUPLEX_TLS_CA")
            #expect(empty.message == "is empty")

            let peers = try await fixture.error(Self.minimalYAML, environment: ["DUPLEX_TLS_ALLOWED_PEERS": "a.example.com,,b"])
            #expect(peers.key == "tls.allowed_peers")
            #expect(peers.message.contains("\"\" is not a DNS name"), "\(peers)")
        }
    }

    // MARK: Missing and unknown keys

    @Test(arguments: ["mail_root", "certificate", "key", "ca", "allowed_peers"])
    func requiredKey_missing_isNamedWithItsVariable(name: String) async throws {
        try await withFixture { fixture in
            let yaml = Self.minimalYAML.split(separator: "\n").filter { !$0.hasPrefix("  \(name):") }.joined(separator: "\n")
            let error = try await fixture.error(yaml)
            let key = (name == "mail_root" ? "dsync." : "tls.") + name
            #expect(error.code == .missingKey)
            #expect(error.key == key)
            #expect(error.file == fixture.path + "/agent.yaml")
            #expect(error.description.hasPrefix(fixture.path + "/agent.yaml: \(key): is required"), "\(error)")
            #expect(error.message.contains(ConfigurationValues.environmentVariable(for: key)))
            #expect(error.code.exitCode == 78)
        }
    }

    @Test func misspeltKey_isReported_withItsLineAndTheKeyMeant() async throws {
        try await withFixture { fixture in
            let yaml = Self.minimalYAML.replacingOccurrences(of: "allowed_peers:", with: "alowed_peers:")
            let error = try await fixture.error(yaml)
            #expect(error.code == .unknownKey)
            #expect(error.key == "tls.alowed_peers")
            #expect(error.line == 7)
            #expect(error.message.contains("did you mean tls.allowed_peers?"), "\(error)")
            #expect(error.description.hasPrefix(fixture.path + "/agent.yaml:7: tls.alowed_peers: unknown key"), "\(error)")
        }
    }

    @Test func unknownKeys_inYAMLAndJSON_areAllNamed() async throws {
        try await withFixture { fixture in
            let yaml = Self.minimalYAML + "\nreplicator:\n  workers: 4\ncertificate: x\n"
            let error = try await fixture.error(yaml)
            #expect(error.code == .unknownKey)
            #expect(error.key == "replicator.workers")
            #expect(error.message.contains("also unknown: certificate"), "\(error)")
            // The same name in the wrong section is pointed at its section.
            let misplaced = try await fixture.error(Self.minimalYAML + "\ncertificate: x\n")
            #expect(misplaced.message.contains("did you mean tls.certificate?"), "\(misplaced)")

            let json = Self.fullJSON.replacingOccurrences(of: "\"state_dir\"", with: "\"statedir\"")
            let jsonError = try await fixture.error(json, name: "agent.json")
            #expect(jsonError.code == .unknownKey)
            #expect(jsonError.key == "dsync.statedir")
            #expect(jsonError.message.contains("did you mean dsync.state_dir?"), "\(jsonError)")
        }
    }

    @Test func sectionWithAPlainValue_isRefused() async throws {
        try await withFixture { fixture in
            let tlsOnly = Self.minimalYAML.split(separator: "\n").dropFirst(2).joined(separator: "\n")
            let error = try await fixture.error("dsync: 5\n" + tlsOnly)
            #expect(error.code == .badSyntax)
            #expect(error.key == "dsync")
            #expect(error.message.contains("must be a mapping"), "\(error)")
        }
    }

    // MARK: Bad values

    @Test(arguments: [
        ("dsync.listen", "\"7445\"", "has no port"),
        ("dsync.listen", "\"::1:7445\"", "must be in brackets"),
        ("dsync.listen", "\"[::1]\"", "no :port after ]"),
        ("dsync.listen", "\"[::1:7445\"", "[ without ]"),
        ("dsync.listen", "\"[host]:7445\"", "is not an IPv6 address"),
        ("dsync.listen", "host:99999", "from 0 to 65535"),
        ("dsync.listen", "host:-1", "from 0 to 65535"),
        ("dsync.listen", "host:http", "from 0 to 65535"),
        ("dsync.listen", "\"host:\"", "from 0 to 65535"),
        ("dsync.listen", "bad host:7445", "is not an IPv4 address or a host name"),
        ("dsync.listen", "a..b:7445", "is not an IPv4 address or a host name"),
        ("dsync.lock_timeout", "30s", "expected a number, got \"30s\""),
        ("dsync.lock_timeout", "-1", "must be a number of seconds from 0 up to 86400, got \"-1\""),
        ("dsync.lock_timeout", ".inf", "must be a number of seconds"),
        ("dsync.lock_timeout", ".nan", "must be a number of seconds"),
        ("dsync.lock_timeout", "100000", "up to 86400"),
        ("dsync.idle_timeout", "0", "more than 0 and up to 86400"),
        ("dsync.idle_timeout", "-0.5", "more than 0"),
        ("dsync.idle_timeout", "[1, 2]", "expected a number"),
        ("dsync.idle_timeout", "", "has no value"),
        ("dsync.mail_root", "vmail/%n", "must be an absolute path"),
        ("dsync.mail_root", "/var/vmail/%d", "must name the user"),
        ("dsync.mail_root", "/var/%h/%n", "unknown variable %h at position 6"),
        ("dsync.state_dir", "\"\"", "is empty"),
        ("dsync.sync_socket", "\"\"", "is empty"),
        ("dsync.sync_socket", "/" + String(repeating: "s", count: 107), "is longer than the 107 bytes a unix socket path may have"),
        ("tls.allowed_peers", "hostb.example.com", "expected a list"),
        ("tls.allowed_peers", "[]", "must name at least one peer"),
        ("tls.allowed_peers", "[\"host b\"]", "\"host b\" is not a DNS name"),
        ("tls.ca", "", "has no value"),
        ("tls.ca", "\"\"", "is empty"),
    ])
    func badValue_isRefused_namingKeyLineAndReason(key: String, value: String, expected: String) async throws {
        try await withFixture { fixture in
            let error = try await fixture.error(Self.minimalYAML(setting: key, to: value))
            #expect(error.code == .invalidValue)
            #expect(error.key == key)
            #expect(error.line != nil)
            #expect(error.environmentVariable == nil)
            #expect(error.message.contains(expected), "\(error)")
        }
    }

    @Test func zeroLockTimeout_isAllowed_meaningDoNotWait() async throws {
        try await withFixture { fixture in
            let (configuration, _) = try await fixture.load(
                Self.minimalYAML, environment: ["DUPLEX_DSYNC_LOCK_TIMEOUT": "0"])
            #expect(configuration.dsync.lockTimeout == .zero)
        }
    }

    @Test func badJSONTypes_areRefused_namingTheKey() async throws {
        try await withFixture { fixture in
            let timeout = try await fixture.error(
                Self.fullJSON.replacingOccurrences(of: "\"lock_timeout\": 2.5", with: "\"lock_timeout\": \"2.5\""),
                name: "agent.json")
            #expect(timeout.key == "dsync.lock_timeout")
            #expect(timeout.message.contains("expected a number"), "\(timeout)")
            let peers = try await fixture.error(
                Self.fullJSON.replacingOccurrences(
                    of: "[\"hostb.example.com\", \"hostc.example.com\"]", with: "\"hostb.example.com\""),
                name: "agent.json")
            #expect(peers.key == "tls.allowed_peers")
            #expect(peers.message.contains("expected a list"), "\(peers)")
        }
    }

    // MARK: TLS files

    @Test func missingOrDirectoryTLSFile_isRefused_withItsResolvedPath() async throws {
        try await withFixture { fixture in
            let missing = try await fixture.error(
                Self.minimalYAML(setting: "tls.ca", to: "nowhere/ca.pem"))
            #expect(missing.key == "tls.ca")
            #expect(missing.message == fixture.path + "/nowhere/ca.pem does not exist")
            #expect(missing.line == 6)

            try FileManager.default.createDirectory(atPath: fixture.path + "/keys", withIntermediateDirectories: false)
            let directory = try await fixture.error(
                Self.minimalYAML(setting: "tls.key", to: "keys"))
            #expect(directory.key == "tls.key")
            #expect(directory.message == fixture.path + "/keys is a directory")
        }
    }

    @Test(.enabled(if: getuid() != 0, "root reads any file"))
    func unreadableTLSFile_isRefused() async throws {
        try await withFixture { fixture in
            try fixture.write("secret", to: "locked.pem", mode: 0o000)
            let error = try await fixture.error(
                Self.minimalYAML(setting: "tls.certificate", to: "locked.pem"))
            #expect(error.key == "tls.certificate")
            #expect(error.message.contains("cannot be opened for reading"), "\(error)")
        }
    }

    @Test func privateKeyOthersMayRead_isAWarning_notAnError() async throws {
        try await withFixture { fixture in
            try fixture.write("key", to: "open.key", mode: 0o644)
            let yaml = Self.minimalYAML(setting: "tls.key", to: "open.key")
            let (configuration, warnings) = try await fixture.load(yaml)
            #expect(configuration.dsync.tls.privateKey == fixture.path + "/open.key")
            #expect(warnings.count == 1)
            #expect(warnings.first?.hasPrefix(fixture.path + "/agent.yaml:5: tls.key: ") == true, "\(warnings)")
            #expect(warnings.first?.contains("mode 0644") == true, "\(warnings)")
            #expect(try await fixture.load(Self.minimalYAML).warnings.isEmpty)
        }
    }

    // MARK: Bad files

    @Test func badFiles_areRefused_namingTheFile() async throws {
        try await withFixture { fixture in
            let yaml = try await fixture.error("dsync:\n  mail_root: [unclosed\n")
            #expect(yaml.code == .badSyntax)
            #expect(yaml.message.hasPrefix("not valid YAML"), "\(yaml)")
            #expect(yaml.file == fixture.path + "/agent.yaml")

            let json = try await fixture.error("{\"dsync\": {", name: "agent.json")
            #expect(json.code == .badSyntax)
            #expect(json.message.hasPrefix("not valid JSON"), "\(json)")

            let list = try await fixture.error("- dsync\n- tls\n")
            #expect(list.code == .badSyntax)
            #expect(list.message.contains("top level must be a mapping"), "\(list)")

            let empty = try await fixture.error("")
            #expect(empty.code == .badSyntax)

            let duplicate = try await fixture.error(Self.minimalYAML + "\ndsync:\n  listen: :1\n")
            #expect(duplicate.code == .badSyntax, "\(duplicate)")

            let toml = try await fixture.error("[dsync]\n", name: "agent.toml")
            #expect(toml.code == .unsupportedFormat)
            #expect(toml.description.contains(".yaml, .yml or .json"))

            let missing = try await #require(throws: ConfigurationError.self) {
                _ = try await AgentConfiguration.load(path: fixture.path + "/none.yaml", environment: [:])
            }
            #expect(missing.code == .unreadableFile)
            #expect(missing.description == fixture.path + "/none.yaml: the configuration file does not exist")
        }
    }

    // MARK: The replicator section

    /// The user and group this test runs as (a notify owner that exists everywhere).
    static var ownUser: (name: String, id: uid_t) {
        (String(cString: getpwuid(getuid()).pointee.pw_name), getuid())
    }

    static var ownGroup: (name: String, id: gid_t) {
        (String(cString: getgrgid(getgid()).pointee.gr_name), getgid())
    }

    static func settings(maxConnections: Int, maxFullSyncs: Int?, fullSyncInterval: Int64, retry: Int64, cap: Int64) -> ReplicatorSettings {
        var settings = ReplicatorSettings()
        settings.maxConnections = maxConnections
        settings.maxFullSyncsSetting = maxFullSyncs
        settings.fullSyncInterval = fullSyncInterval
        settings.failureRetryInterval = retry
        settings.failureRetryCap = cap
        return settings
    }

    /// ``minimalYAML`` with a replicator section of `lines` (each `key: value`).
    static func replicatorYAML(_ lines: [String] = ["peer: tls://hostb.example.com:7445"]) -> String {
        minimalYAML + "\nreplicator:\n" + lines.map { "  " + $0 }.joined(separator: "\n") + "\n"
    }

    @Test func syncSocket_atTheAdminSocketsPath_isRefused() async throws {
        try await withFixture { fixture in
            let yaml = Self.replicatorYAML(["peer: tls://hostb.example.com:7445", "admin_socket: run/one.sock"])
                .replacingOccurrences(of: "dsync:\n", with: "dsync:\n  sync_socket: run/one.sock\n")
            let error = try await fixture.error(yaml)
            #expect(error.key == "dsync.sync_socket")
            #expect(error.message.contains("is replicator.admin_socket too; give each socket a path of its own"), "\(error)")
        }
    }

    @Test func replicatorSection_setsEveryValue_relativePathsFromTheFilesDirectory() async throws {
        try await withFixture { fixture in
            try fixture.write("# users of pair 1\nalice@example.com\n\n  bob@example.com  \r\n# carol@example.com\n", to: "users")
            let yaml = Self.replicatorYAML([
                "peer: tls://[2001:db8::2]:7445", "users_file: users", "max_conns: 20", "max_full_syncs: 20",
                "full_sync_interval: 43200", "failure_retry_interval: 10", "failure_retry_cap: 10",
                "notify_fifo: run/replication-notify-fifo", "notify_socket: run/replication-notify",
                "notify_user: \(Self.ownUser.name)", "notify_group: \(Self.ownGroup.name)", "notify_mode: 0666",
                "sync_timeout: 3600", "admin_socket: run/replicator.sock", "state_file: replicator.state",
            ])
            let (configuration, warnings) = try await fixture.load(yaml)
            #expect(warnings.isEmpty)
            let expected = ReplicatorConfiguration(
                peer: "tls://[2001:db8::2]:7445", usersFile: fixture.path + "/users", users: ["alice@example.com", "bob@example.com"],
                settings: Self.settings(maxConnections: 20, maxFullSyncs: 20, fullSyncInterval: 43200, retry: 10, cap: 10),
                notifyFifo: fixture.path + "/run/replication-notify-fifo", notifySocket: fixture.path + "/run/replication-notify",
                notifyAccess: NotifyPathAccess(mode: 0o666, owner: Self.ownUser.id, group: Self.ownGroup.id), syncTimeout: 3600,
                adminSocket: fixture.path + "/run/replicator.sock", stateFile: fixture.path + "/replicator.state")
            #expect(configuration.replicator == expected)
        }
    }

    @Test func replicatorSection_onlyPeer_takesTheDefaults() async throws {
        try await withFixture { fixture in
            let replicator = try #require(try await fixture.load(Self.replicatorYAML()).configuration.replicator)
            #expect(replicator == ReplicatorConfiguration(peer: "tls://hostb.example.com:7445"))
            #expect(replicator.settings.maxFullSyncs == 2)
            #expect(replicator.settings.failureRetryCap == 3600)
            #expect(replicator.syncTimeout == 10)
            #expect(replicator.notifyAccess == NotifyPathAccess(mode: 0o600))
            #expect(replicator.adminSocket == "/run/duplex/replicator.sock")
            #expect(replicator.stateFile == "/var/lib/duplex/replicator.state")

            #expect(replicator.settings.sharedNamespace?.prefix == "shared/$user/")
            let noShared = try await fixture.load(Self.replicatorYAML(["peer: tls://b:1", "shared_namespace_prefix: none"]))
            let withoutNamespace = try #require(noShared.configuration.replicator)
            #expect(withoutNamespace.settings.sharedNamespace == nil)
            let dovecot23 = try await fixture.load(Self.replicatorYAML(["peer: tls://b:1", "shared_namespace_prefix: Shared/%%n/"]))
            let withDovecot23Prefix = try #require(dovecot23.configuration.replicator)
            #expect(withDovecot23Prefix.settings.sharedNamespace?.prefix == "Shared/%%n/")

            // A retry interval above the default cap raises the cap with it.
            let raised = try await fixture.load(Self.replicatorYAML(["peer: tls://b:1", "failure_retry_interval: 7200"]))
            #expect(raised.configuration.replicator?.settings.failureRetryCap == 7200)
        }
    }

    @Test func replicatorSection_thereButEmpty_needsAPeer_andTheEnvironmentAloneMakesOne() async throws {
        try await withFixture { fixture in
            for (text, name) in [(Self.minimalYAML + "\nreplicator:\n", "agent.yaml"), (Self.minimalYAML + "\nreplicator: {}\n", "agent.yaml"),
                (Self.fullJSON.replacingOccurrences(of: "\"tls\": {", with: "\"replicator\": {}, \"tls\": {"), "agent.json")] {
                let error = try await fixture.error(text, name: name)
                #expect(error.code == .missingKey, "\(name): \(error)")
                #expect(error.key == "replicator.peer")
                #expect(error.message.contains("DUPLEX_REPLICATOR_PEER"), "\(error)")
            }
            let (configuration, _) = try await fixture.load(Self.minimalYAML, environment: ["DUPLEX_REPLICATOR_PEER": "tls://b.example.com:7445"])
            #expect(configuration.replicator?.peer == "tls://b.example.com:7445")
        }
    }

    @Test(arguments: [
        ("peer", "hostb.example.com:7445", "must be tls://HOST:PORT"),
        ("peer", "https://hostb.example.com:7445", "must be tls://HOST:PORT"),
        ("peer", "tls://hostb.example.com", "has no port"),
        ("peer", "tls://hostb.example.com:0", "must be tls://HOST:PORT"),
        ("peer", "tls://:7445", "must be tls://HOST:PORT"),
        ("peer", "\"tls://::1:7445\"", "must be in brackets"),
        ("max_conns", "0", "must be a whole number from 1 to 10000, got \"0\""),
        ("max_conns", "2.5", "must be a whole number"),
        ("max_conns", "many", "expected a number"),
        ("max_full_syncs", "11", "from 1 to max_conns (10), got \"11\""),
        ("full_sync_interval", "0", "must be a whole number from 1 to 31622400"),
        ("failure_retry_interval", "-5", "must be a whole number from 1"),
        ("failure_retry_cap", "100", "from failure_retry_interval (300) to 31622400"),
        ("sync_timeout", "0", "from 1 to 3600"),
        ("sync_timeout", "3601", "from 1 to 3600"),
        ("notify_mode", "\"06000\"", "must be an octal mode from 0000 to 0777"),
        ("notify_mode", "\"0800\"", "must be an octal mode"),
        ("notify_mode", "\"01777\"", "must be an octal mode"),
        ("notify_mode", "rw", "must be an octal mode"),
        ("notify_user", "no-such-user-duplex", "no user \"no-such-user-duplex\" on this host"),
        ("notify_group", "no-such-group-duplex", "no group \"no-such-group-duplex\" on this host"),
        ("notify_socket", "/" + String(repeating: "s", count: 107), "is longer than the 107 bytes a unix socket path may have"),
        ("admin_socket", "/" + String(repeating: "a", count: 120), "is longer than the 107 bytes"),
        ("users_file", "nowhere", "/nowhere does not exist"),
        ("state_file", "\"\"", "is empty"),
        ("state_save_interval", "0", "must be a whole number from 1 to 86400, got \"0\""),
        ("state_save_interval", "1.5", "must be a whole number from 1 to 86400, got \"1.5\""),
        ("shared_namespace_prefix", "shared/", "names no owner: it needs $user or $username"),
        ("shared_namespace_prefix", "shared/$user", "must end with the namespace separator"),
        ("shared_namespace_prefix", "shared/$username$domain/", "puts two variables side by side"),
        ("shared_namespace_prefix", "shared/$owner/", "has an unknown variable"),
    ])
    func replicatorBadValue_isRefused_namingKeyLineAndReason(name: String, value: String, expected: String) async throws {
        try await withFixture { fixture in
            let lines = (name == "peer" ? [] : ["peer: tls://hostb.example.com:7445"]) + ["\(name): \(value)"]
            let error = try await fixture.error(Self.replicatorYAML(lines))
            #expect(error.code == .invalidValue)
            #expect(error.key == "replicator." + name)
            #expect(error.line != nil)
            #expect(error.message.contains(expected), "\(error)")
        }
    }

    @Test func usersFile_withASpaceOrAControlCharacterInAName_isRefusedNamingTheLine() async throws {
        try await withFixture { fixture in
            try fixture.write("alice\nbob smith\n", to: "users")
            let spaced = try await fixture.error(Self.replicatorYAML(["peer: tls://b:1", "users_file: users"]))
            #expect(spaced.key == "replicator.users_file")
            #expect(spaced.message == fixture.path + "/users:2: a user name cannot contain a space: \"bob smith\"")

            try fixture.write("carol\u{7}\n", to: "users")
            let control = try await fixture.error(Self.replicatorYAML(["peer: tls://b:1", "users_file: users"]))
            #expect(control.message.contains("users:1: a user name cannot contain a control character"), "\(control)")
        }
    }

    @Test func replicatorKeys_misspelt_areUnknownKeys() async throws {
        try await withFixture { fixture in
            let error = try await fixture.error(Self.replicatorYAML(["peer: tls://b:1", "max_conn: 4"]))
            #expect(error.code == .unknownKey)
            #expect(error.key == "replicator.max_conn")
            #expect(error.message.contains("did you mean replicator.max_conns?"), "\(error)")
        }
    }
}
