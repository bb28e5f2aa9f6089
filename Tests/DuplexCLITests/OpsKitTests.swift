import DuplexCLI
import Foundation
import MailStoreTestSupport
import Replicator
import Testing

/// The operator's kit in `ops/systemd` and `ops/dovecot`, checked with the real tools:
/// `systemd-analyze`, `systemd-sysusers`, Dovecot 2.3 (`doveconf`, a running `dovecot`,
/// `doveadm`), PostgreSQL, and the built `duplex agent`.
@Suite(.serialized) struct OpsKitTests {
    static let agentUnit = "ops/systemd/duplex-agent.service"
    static let coordinatorUnit = "ops/systemd/duplex-coordinator.service"
    static let installedBinary = "/usr/local/bin/duplex"
    static let replicationSnippet = "ops/dovecot/10-duplex-replication.conf"
    static let proxySnippet = "ops/dovecot/20-duplex-proxy-passdb.conf"
    static let proxySQL = "ops/dovecot/dovecot-sql-duplex.conf.ext"
    static let eventsSnippet = "ops/dovecot/duplex-events-2.4.conf"
    /// The names Dovecot 2.3's replication plugin uses under `base_dir` (reference §1).
    static let notifyNames = ["replication-notify-fifo", "replication-notify"]

    static var hasSystemdAnalyze: Bool { ExternalCommand.executable(named: "systemd-analyze") != nil }
    static var canRunDovecot: Bool { SnippetDovecot.unavailableReason == nil }
    static var canRunProxy: Bool {
        canRunDovecot && PostgresServer.unavailableReason == nil
            && FileManager.default.fileExists(atPath: "/usr/lib/dovecot/modules/auth/libdriver_pgsql.so")
    }

    // MARK: systemd

    /// Copies of both units in `directory` whose ExecStart runs the built binary, since
    /// `systemd-analyze verify` checks that the program exists.
    static func unitsRunningTheBuiltBinary(in directory: TemporaryDirectory) throws -> [String] {
        try [agentUnit, coordinatorUnit].map { relative in
            let text = try OpsKitFiles.text(relative).replacingOccurrences(of: installedBinary, with: ExternalCommand.duplexExecutable)
            let copy = directory.appending((relative as NSString).lastPathComponent)
            try Data(text.utf8).write(to: URL(fileURLWithPath: copy))
            return copy
        }
    }

    @Test(.enabled(if: hasSystemdAnalyze, "systemd-analyze is not installed"))
    func unitFiles_passSystemdAnalyzeVerify_withoutAWarning() throws {
        try TemporaryDirectory.with(prefix: "duplex-units") { directory in
            for unit in try Self.unitsRunningTheBuiltBinary(in: directory) {
                let result = try ExternalCommand.run(try #require(ExternalCommand.executable(named: "systemd-analyze")), ["verify", unit])
                #expect(result.status == 0, "\(unit): \(result.stderr)")
                // An unknown key or a bad value is only a warning, exit status 0.
                #expect(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(unit): \(result.stderr)")
            }
        }
    }

    @Test(.enabled(if: hasSystemdAnalyze, "systemd-analyze is not installed"))
    func unitFiles_areSandboxed_withALowExposureScore() throws {
        try TemporaryDirectory.with(prefix: "duplex-units") { directory in
            for unit in try Self.unitsRunningTheBuiltBinary(in: directory) {
                let result = try ExternalCommand.run(
                    try #require(ExternalCommand.executable(named: "systemd-analyze")), ["security", "--offline=true", unit])
                let summary = try #require(result.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") })
                let score = try #require(summary.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(summary)")
                // 0 is fully locked down, 10 unprotected; systemd calls up to 2 "OK".
                #expect(score <= 2.0, "\(unit): \(summary)")
            }
        }
    }

    @Test func agentUnit_runsTheAgentWithItsDefaultPaths_reloadsOnHUP_andDrainsOnTERM() throws {
        let unit = UnitFile(try OpsKitFiles.text(Self.agentUnit))
        let command = try #require(unit.value("ExecStart")).split(separator: " ").map(String.init)
        #expect(command == [Self.installedBinary, "agent", "--config", "/etc/duplex/agent.yaml"])
        let help = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["agent", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--config") && help.stdout.contains("SIGHUP"), "\(help.stdout)")

        #expect(unit.value("ExecReload") == "/bin/kill -HUP $MAINPID")
        #expect(unit.value("KillSignal") == "SIGTERM")
        // The agent lets running syncs finish for up to 60 s, then saves its queue.
        let stop = try #require(unit.value("TimeoutStopSec"))
        #expect(try #require(Int(stop.hasSuffix("s") ? String(stop.dropLast()) : stop)) > 60)
        #expect(unit.value("Restart") == "on-failure")

        // Where the agent puts things by default is what systemd makes for it.
        #expect(unit.value("RuntimeDirectory") == "duplex")
        #expect(ReplicatorConfiguration.defaultAdminSocket.hasPrefix("/run/duplex/"))
        #expect(unit.value("StateDirectory") == "duplex")
        #expect(ReplicatorConfiguration.defaultStateFile.hasPrefix("/var/lib/duplex/"))
        #expect(AgentConfiguration.defaultStateDirectory.hasPrefix("/var/lib/duplex/"))

        // The mail user, no capability at all, and a read-only system but for the mail root.
        let user = try #require(unit.value("User"))
        #expect(user != "root" && user != "0")
        #expect(unit.value("CapabilityBoundingSet") == "")
        #expect(unit.value("NoNewPrivileges") == "yes")
        #expect(unit.value("ProtectSystem") == "strict")
        #expect(unit.value("ProtectHome") == "yes")
        #expect(unit.value("PrivateTmp") == "yes")
        #expect(!(unit.value("ReadWritePaths") ?? "").isEmpty)
        #expect(Set((unit.value("RestrictAddressFamilies") ?? "").split(separator: " ")) == ["AF_UNIX", "AF_INET", "AF_INET6"])
        #expect(unit.value("LimitNOFILE").flatMap { Int($0) }.map { $0 >= 4096 } == true)

        // Dovecot's plugin finds the agent's fifo and socket at its fixed names under
        // /run/dovecot, through links the unit makes as root before the agent starts.
        let links = unit.values("ExecStartPre").map { $0.split(separator: " ").map(String.init) }
        #expect(links == Self.notifyNames.map { ["+/bin/ln", "-sfn", "/run/duplex/" + $0, "/run/dovecot/" + $0] })
    }

    @Test func coordinatorUnit_runsAsItsOwnUser_afterPostgreSQL_withoutAccessToMail() throws {
        let unit = UnitFile(try OpsKitFiles.text(Self.coordinatorUnit))
        let agent = UnitFile(try OpsKitFiles.text(Self.agentUnit))
        let command = try #require(unit.value("ExecStart")).split(separator: " ").map(String.init)
        #expect(command == [Self.installedBinary, "coordinator", "--config", "/etc/duplex/coordinator.yaml"])
        #expect(unit.value("User") == "duplex")
        #expect(unit.values("Wants", in: "Unit").contains("postgresql.service"))
        #expect(unit.values("After", in: "Unit").joined(separator: " ").split(separator: " ").contains("postgresql.service"))
        // Its own state directory: systemd gives a state directory to its unit's user, and
        // the agent's belongs to the mail user.
        #expect(unit.value("StateDirectory") != nil && unit.value("StateDirectory") != agent.value("StateDirectory"))
        #expect(unit.value("ReadWritePaths") == nil)
        let mailRoot = try #require(agent.value("ReadWritePaths"))
        #expect(unit.values("InaccessiblePaths").contains { $0.trimmingCharacters(in: CharacterSet(charactersIn: "-")) == mailRoot })
        #expect(unit.value("CapabilityBoundingSet") == "")
        #expect(unit.value("ProtectSystem") == "strict")
        #expect(unit.value("NoNewPrivileges") == "yes")

        let help = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["coordinator", "serve", "--help"])
        #expect(help.status == 0, "\(help.stderr)")
        #expect(help.stdout.contains("--config") && help.stdout.contains("SIGHUP"), "\(help.stdout)")
        #expect(unit.value("ExecReload") == "/bin/kill -HUP $MAINPID")
        #expect(unit.value("KillSignal") == "SIGTERM")
    }

    @Test(.enabled(if: ExternalCommand.executable(named: "systemd-sysusers") != nil, "systemd-sysusers is not installed"))
    func sysusersEntry_createsTheCoordinatorsUser() throws {
        try TemporaryDirectory.with(prefix: "duplex-sysusers") { directory in
            try FileManager.default.createDirectory(atPath: directory.appending("etc"), withIntermediateDirectories: true)
            let result = try ExternalCommand.run(
                try #require(ExternalCommand.executable(named: "systemd-sysusers")),
                ["--dry-run", "--root=\(directory.path)", OpsKitFiles.path("ops/systemd/duplex.sysusers.conf")])
            #expect(result.status == 0, "\(result.stderr)")
            #expect((result.stdout + result.stderr).contains("Creating user 'duplex'"), "\(result.stdout)\(result.stderr)")
        }
    }

    // MARK: Dovecot 2.3: replication plugin

    @Test(.enabled(if: canRunDovecot, "needs dovecot-core and root"))
    func replicationSnippet_doveconfShowsThePlugin_aReplica_andDovecotsServicesOff() throws {
        try TemporaryDirectory.with(prefix: "duplex-ops") { directory in
            let dovecot = try SnippetDovecot(in: directory, including: OpsKitFiles.path(Self.replicationSnippet))
            let result = try dovecot.doveconf()
            #expect(result.status == 0, "\(result.stderr)")
            let settings = result.stdout
            let plugins = try #require(settings.split(separator: "\n").first { $0.hasPrefix("mail_plugins = ") })
            #expect(plugins.contains("notify") && plugins.contains("replication"), "\(plugins)")
            let replica = try #require(settings.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("mail_replica = ") })
            #expect(replica.split(separator: "=").last?.trimmingCharacters(in: .whitespaces).isEmpty == false)
            for service in ["aggregator", "replicator"] {
                #expect(settings.contains("service \(service) {\n  protocol = none\n}"), "\(settings)")
            }
            // The agent must answer a sync request before the plugin stops waiting.
            let timeout = try #require(Self.number(after: "replication_sync_timeout = ", in: settings))
            let documented = try #require(Self.number(after: "sync_timeout: ", in: try OpsKitFiles.text(Self.replicationSnippet)))
            #expect(documented < timeout)
        }
    }

    /// The first integer after `prefix` in `text`.
    static func number(after prefix: String, in text: String) -> Int? {
        guard let range = text.range(of: prefix) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    @Test(.enabled(if: canRunDovecot, "needs dovecot-core and root"), .timeLimit(.minutes(10)))
    func replicationSnippet_realDovecot_leavesTheNotifyPathsFree_andReachesTheAgentsThroughTheUnitsLinks() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-ops") { directory in
            let dovecot = try SnippetDovecot(in: directory, including: OpsKitFiles.path(Self.replicationSnippet))
            try await dovecot.withRunning {
                // With the aggregator and replicator off, the master made none of their
                // listeners: nothing of Dovecot's is in the agent's way.
                for name in Self.notifyNames + ["replicator", "replicator-doveadm"] {
                    #expect(!FileManager.default.fileExists(atPath: dovecot.baseDirectory + "/" + name), "\(name) exists")
                }
                // The agent's side, as the unit sets it up: its fifo and socket in its runtime
                // directory (owned by the mail user), linked from Dovecot's base_dir.
                let runtime = directory.appending("run-duplex")
                try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
                try SystemAccounts.chownToVmail(path: runtime)
                let agent = try NotifyEndpoints(in: runtime)
                defer { agent.close() }
                let unit = UnitFile(try OpsKitFiles.text(Self.agentUnit))
                for link in unit.values("ExecStartPre") {
                    let words = link.split(separator: " ").map(String.init)
                    let target = words[2].replacingOccurrences(of: "/run/duplex", with: runtime)
                    let name = words[3].replacingOccurrences(of: "/run/dovecot", with: dovecot.baseDirectory)
                    #expect(symlink(target, name) == 0, "ln -s \(target) \(name): \(String(cString: strerror(errno)))")
                }

                // A save asks on the socket and waits for the answer.
                let message = directory.appending("message.eml")
                try Data("Subject: replicated\r\n\r\nbody\r\n".utf8).write(to: URL(fileURLWithPath: message))
                let save = try BackgroundCommand(
                    "/bin/sh",
                    ["-c", "exec \"$0\" -c \"$1\" save -u alice -m INBOX < \"$2\"", try SnippetDovecot.executable("doveadm"), dovecot.configPath, message],
                    outputDirectory: directory.path)
                let request = try await agent.answerOneSyncRequest(with: "+\n", while: save)
                #expect(request == "alice\tsync\n")
                let saved = await save.result(within: .seconds(180))
                #expect(saved.status == 0, "\(saved.stderr)\n\(dovecot.log)")
                #expect(!saved.stderr.contains("replication"), "the plugin reported a failed sync request: \(saved.stderr)")

                // Other changes go through the fifo at priority low.
                let flags = try dovecot.doveadm(["flags", "add", "-u", "alice", "\\Flagged", "mailbox", "INBOX", "uid", "1"])
                #expect(flags.status == 0, "\(flags.stderr)")
                let lines = try await agent.fifoLines(until: { $0.contains("alice\tlow") })
                #expect(lines.contains("alice\tlow"), "fifo: \(lines)\n\(dovecot.log)")
            }
        }
    }

    // MARK: Dovecot 2.3: proxy passdb

    /// The proxy snippet and its SQL file in `directory`, the passdb reading that SQL file,
    /// which connects to `socketDirectory` as `dovecot_proxy`.
    static func proxyFiles(in directory: TemporaryDirectory, socketDirectory: String) throws -> String {
        let sql = directory.appending("dovecot-sql-duplex.conf.ext")
        let sqlText = try OpsKitFiles.text(proxySQL)
        #expect(sqlText.contains("host=/run/postgresql "))
        try Data(sqlText.replacingOccurrences(of: "host=/run/postgresql ", with: "host=\(socketDirectory) ").utf8)
            .write(to: URL(fileURLWithPath: sql))
        let snippet = directory.appending("20-duplex-proxy-passdb.conf")
        let snippetText = try OpsKitFiles.text(proxySnippet)
        #expect(snippetText.contains("args = /etc/dovecot/dovecot-sql-duplex.conf.ext"))
        try Data(snippetText.replacingOccurrences(of: "/etc/dovecot/dovecot-sql-duplex.conf.ext", with: sql).utf8)
            .write(to: URL(fileURLWithPath: snippet))
        return snippet
    }

    @Test(.enabled(if: canRunDovecot, "needs dovecot-core and root"))
    func proxySnippet_doveconfAcceptsTheSQLPassdb() throws {
        try TemporaryDirectory.with(prefix: "duplex-ops") { directory in
            let snippet = try Self.proxyFiles(in: directory, socketDirectory: "/run/postgresql")
            let dovecot = try SnippetDovecot(in: directory, including: snippet, snippetHasPassdb: true)
            let result = try dovecot.doveconf()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("passdb {\n  args = \(directory.appending("dovecot-sql-duplex.conf.ext"))\n  driver = sql\n}"), "\(result.stdout)")
            #expect(result.stdout.contains("lmtp_proxy = yes"))
        }
    }

    @Test(.enabled(if: canRunProxy, "needs dovecot-core with its pgsql driver, PostgreSQL and root"), .timeLimit(.minutes(10)))
    func proxySnippet_realPostgreSQL_sendsEachUserToTheHostOfItsRoute() async throws {
        try await PostgresServer.with { postgres in
            let database = try postgres.psql("CREATE DATABASE duplex")
            #expect(database.status == 0, "\(database.stderr)")
            // The coordinator's own schema and data: `duplex coordinator migrate`, then a tenant,
            // a pair and two users made with the CLI, as an operator makes them.
            var preferred: [String: String] = [:]
            try await TemporaryDirectory.with(prefix: "duplex-ops-coordinator") { directory in
                let certificates = try ExternalCommand.run(
                    ExternalCommand.duplexExecutable, ["tls", "init", "--out", directory.appending("certs"), "--hosts", "127.0.0.1"])
                try #require(certificates.status == 0, "\(certificates.stderr)")
                let coordinator = try await EndToEndFleet.startCoordinator(in: directory, socketDirectory: postgres.socketDirectory)
                func command(_ arguments: [String]) async throws -> String {
                    let result = try await EndToEndFleet.run(
                        arguments + ["--coordinator", coordinator.url, "--token-file", directory.appending("admin.token"),
                                     "--ca", directory.appending("certs/ca.pem")])
                    #expect(result.status == 0, "duplex \(arguments.joined(separator: " ")): \(result.stderr)")
                    return result.stdout
                }
                _ = try await command(["tenant", "add", "example"])
                _ = try await command([
                    "pair", "add", "p1", "--host-a", "host-a.example.net=tls://192.0.2.1:7445",
                    "--host-b", "host-b.example.net=tls://192.0.2.2:7445", "--capacity", "10",
                ])
                for user in ["alice@example.com", "bob@example.com"] {
                    let shown = try await command(["user", "assign", user, "--tenant", "example", "--json"])
                    let object = try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any]
                    preferred[user] = try #require(object?["preferred_host"] as? String, "\(shown)")
                }
                let status = await coordinator.process.stop(within: .seconds(120))
                #expect(status == 0, "\(coordinator.process.stderr)")
            }
            let address = ["a": "192.0.2.1", "b": "192.0.2.2"]
            let other = ["a": "b", "b": "a"]
            // Bob's preferred host is marked down: the view sends him to the pair's other host.
            let bobSide = try #require(preferred["bob@example.com"])
            let grant = try postgres.psql(
                """
                CREATE ROLE dovecot_proxy LOGIN;
                GRANT SELECT ON duplex_user_route TO dovecot_proxy;
                UPDATE duplex_hosts SET health = 'down' WHERE side = '\(bobSide)';
                """, database: "duplex")
            #expect(grant.status == 0, "\(grant.stderr)")
            let aliceSide = try #require(preferred["alice@example.com"])
            let bobOther = try #require(other[bobSide])
            let expected = [
                "alice@example.com": try #require(address[aliceSide]), "bob@example.com": try #require(address[bobOther]),
            ]

            try await TemporaryDirectory.with(prefix: "duplex-ops") { directory in
                let snippet = try Self.proxyFiles(in: directory, socketDirectory: postgres.socketDirectory)
                let dovecot = try SnippetDovecot(in: directory, including: snippet, snippetHasPassdb: true)
                try await dovecot.withRunning {
                    for (user, host) in expected.sorted(by: { $0.key < $1.key }) {
                        let test = try dovecot.doveadm(["auth", "test", "-x", "service=imap", user, "any password"])
                        #expect(test.status == 0, "\(user): \(test.stdout)\(test.stderr)\n\(dovecot.log)")
                        let fields = test.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                        #expect(fields.contains("host=\(host)") && fields.contains("proxy"), "\(user): \(test.stdout)")
                    }
                    // Unknown users and names that try to leave the string fail as unknown.
                    for user in ["carol@example.com", "x' OR '1'='1"] {
                        let test = try dovecot.doveadm(["auth", "test", "-x", "service=imap", user, "any password"])
                        #expect(test.status == 77, "\(user): \(test.stdout)\(test.stderr)")
                        #expect(!test.stdout.contains("proxy"), "\(user): \(test.stdout)")
                    }
                }
            }
            let rows = try postgres.psql("SELECT count(*) FROM duplex_user_route", database: "duplex")
            #expect(rows.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        }
    }

    // MARK: Dovecot 2.4: event export

    /// The event names and IMAP commands the 2.4 snippet's filter lets through.
    static func exportedEvents(_ filter: String) throws -> (events: Set<String>, commands: Set<String>) {
        let pattern = try Regex(#"(event|cmd_name)=("[^"]*"|[A-Za-z_]+)"#)
        var events: Set<String> = []
        var commands: Set<String> = []
        for match in filter.matches(of: pattern) {
            let key = try #require(match.output[1].substring)
            let value = try #require(match.output[2].substring).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if key == "event" { events.insert(value) } else { commands.insert(value) }
        }
        return (events, commands)
    }

    @Test func eventsSnippet_exportsExactlyTheEventsAndCommandsTheAgentMaps_toItsEndpoint() throws {
        let config = try DovecotConfigBlocks(try OpsKitFiles.text(Self.eventsSnippet))
        let metric = try #require(config.blocks.first { $0.kind == "metric" })
        let exporterName = try #require(metric.settings["exporter"])
        let exporter = try #require(config.block("event_exporter", exporterName), "no event_exporter \(exporterName)")
        #expect(exporter.settings["driver"] == "http-post")
        #expect(exporter.settings["format"] == "json")

        // The agent's default address and its events route.
        let postURL = try #require(exporter.settings["http_post_url"])
        let url = try #require(URLComponents(string: postURL))
        let defaults = ReplicatorConfiguration(peer: "tls://peer.invalid:7445")
        #expect(url.scheme == "http")
        #expect(url.host == defaults.httpHost && url.port == defaults.httpPort)
        #expect(url.path == "/v1/events/dovecot")

        // The event's name and the fields the mapping reads are exported.
        let mapping = EventMapping.dovecot
        #expect(Set((metric.settings["exporter_include"] ?? "").split(separator: " ")).isSuperset(of: ["name", "fields"]))
        #expect(Set((metric.settings["fields"] ?? "").split(separator: " ").map(String.init)) == [mapping.userField, mapping.commandField])

        // Every event and command the filter passes is one the agent queues, and the other
        // way round: nothing exported is ignored, nothing mapped is missed.
        let exported = try Self.exportedEvents(try #require(metric.settings["filter"]))
        #expect(exported.events == Set(mapping.rules.keys))
        var mappedCommands: Set<String> = []
        for case .byCommand(let commands) in mapping.rules.values {
            mappedCommands.formUnion(commands.compactMap { $0.value == .ignore ? nil : $0.key })
        }
        #expect(exported.commands == mappedCommands)
    }

    @Test(.timeLimit(.minutes(10)))
    func eventsSnippet_runningAgent_queuesEveryEventTheSnippetExports() async throws {
        let config = try DovecotConfigBlocks(try OpsKitFiles.text(Self.eventsSnippet))
        let metric = try #require(config.blocks.first { $0.kind == "metric" })
        let exporterName = try #require(metric.settings["exporter"])
        let exporter = try #require(config.block("event_exporter", exporterName))
        let postURL = try #require(exporter.settings["http_post_url"])
        let path = try #require(URLComponents(string: postURL)).path
        let exported = try Self.exportedEvents(try #require(metric.settings["filter"]))
        var bodies: [String] = []
        for event in exported.events.sorted() where event != "imap_command_finished" {
            bodies.append(#"{"event":"\#(event)","fields":{"user":"alice@example.com"}}"#)
        }
        for command in exported.commands.sorted() {
            bodies.append(#"{"event":"imap_command_finished","fields":{"user":"alice@example.com","cmd_name":"\#(command)"}}"#)
        }
        #expect(bodies.count == exported.events.count - 1 + exported.commands.count)

        try await AgentFixture.with { fixture in
            let port = try ReplicatingPair.freeLoopbackPort()
            let identity = fixture.identity("host-b.test")
            try fixture.write(
                """
                dsync:
                  listen: 127.0.0.1:0
                  mail_root: \(fixture.directory.appending("b"))/%n
                  state_dir: \(fixture.directory.appending("state-b"))
                tls:
                  certificate: \(identity.certificate)
                  key: \(identity.key)
                  ca: \(identity.ca)
                  allowed_peers: [host-a.test]
                replicator:
                  peer: tls://127.0.0.1:1
                  http_listen: 127.0.0.1:\(port)
                  admin_socket: \(fixture.directory.appending("replicator.sock"))
                  state_file: \(fixture.directory.appending("replicator.state"))

                """, to: fixture.configurationPath)
            try await fixture.withAgent { agent in
                try await agent.waitForLog("HTTP endpoint listening")
                let url = "http://127.0.0.1:\(port)\(path)"
                for body in bodies {
                    let answer = try Self.post(body, to: url)
                    #expect(answer.hasSuffix("\n200") && answer.contains(#""queued":1"#), "\(body) → \(answer)")
                }
                // A command the snippet does not export is one the agent ignores.
                let read = try Self.post(#"{"event":"imap_command_finished","fields":{"user":"alice@example.com","cmd_name":"FETCH"}}"#, to: url)
                #expect(read.contains(#""queued":0"#), "\(read)")
            }
        }
    }

    /// POSTs `body` as Dovecot's http-post driver does; returns the answer's body, a line
    /// feed and the status code.
    static func post(_ body: String, to url: String) throws -> String {
        let curl = try #require(ExternalCommand.executable(named: "curl"), "curl is not installed")
        let result = try ExternalCommand.run(
            curl, ["-sS", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@-", "-w", "\n%{http_code}", url],
            stdin: Data(body.utf8), timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout
    }
}
