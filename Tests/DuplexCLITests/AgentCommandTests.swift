import Foundation
import MailStoreTestSupport
import Testing

/// The `duplex agent` process: `--check`, and SIGHUP reloading the TLS files for new
/// connections while running syncs go on and a broken file changes nothing. Every test
/// also stops the agent with SIGTERM and expects exit 0.
@Suite struct AgentCommandTests {
    // MARK: --check

    @Test func check_goodConfiguration_exits0() async throws {
        try await AgentFixture.with { fixture in
            let result = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["agent", "--config", fixture.configurationPath, "--check"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "\(fixture.configurationPath): configuration and TLS files are usable\n")
            #expect(result.stderr.isEmpty, "\(result.stderr)")
        }
    }

    @Test func check_socketInADirectoryNotThere_exits78_namingTheKey() async throws {
        try await AgentFixture.with { fixture in
            let good = try String(contentsOfFile: fixture.configurationPath, encoding: .utf8)
            let missing = fixture.directory.appending("run-missing")
            try fixture.write(good.replacingOccurrences(of: "  lock_timeout:", with: "  sync_socket: \(missing)/sync.sock\n  lock_timeout:"), to: fixture.configurationPath)
            let result = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["agent", "--config", fixture.configurationPath, "--check"])
            #expect(result.status == 78, "\(result.stderr)")
            #expect(result.stderr.contains("dsync.sync_socket: \(missing)/sync.sock: the directory \(missing) does not exist"), "\(result.stderr)")
            // A file where the directory should be, then a file where the socket should be.
            try fixture.write("", to: missing)
            let fileAsDirectory = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["agent", "--config", fixture.configurationPath, "--check"])
            #expect(fileAsDirectory.status == 78 && fileAsDirectory.stderr.contains("\(missing) is not a directory"), "\(fileAsDirectory.stderr)")
            try FileManager.default.removeItem(atPath: missing)
            try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: false)
            try fixture.write("", to: missing + "/sync.sock")
            let fileAsSocket = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["agent", "--config", fixture.configurationPath, "--check"])
            #expect(fileAsSocket.status == 78 && fileAsSocket.stderr.contains("something other than a socket is there"), "\(fileAsSocket.stderr)")
            try FileManager.default.removeItem(atPath: missing + "/sync.sock")
            let fixed = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["agent", "--config", fixture.configurationPath, "--check"])
            #expect(fixed.status == 0, "\(fixed.stderr)")
        }
    }

    /// Each case edits the good configuration file (`replacing` → `with`); the message must
    /// contain every `naming` text.
    @Test(arguments: [
        ("lock_timeout:", "lock_timeuot:", ["agent.yaml:4: dsync.lock_timeuot: unknown key", "did you mean dsync.lock_timeout?"]),
        ("certs/ca.pem", "certs/missing.pem", ["agent.yaml:10: tls.ca: ", "certs/missing.pem does not exist"]),
        ("  allowed_peers: [host-a.test]\n", "", ["tls.allowed_peers: is required"]),
        ("certs/host-b.test.pem", "certs/host-b.test.key", ["certs/host-b.test.key: not a readable PEM certificate file"]),
    ])
    func check_badConfiguration_exits78_namingTheKeyOrFile(replacing: String, with replacement: String, naming: [String]) async throws {
        try await AgentFixture.with { fixture in
            let good = try String(contentsOfFile: fixture.configurationPath, encoding: .utf8)
            #expect(good.contains(replacing))
            try fixture.write(good.replacingOccurrences(of: replacing, with: replacement), to: fixture.configurationPath)
            let result = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["agent", "--config", fixture.configurationPath, "--check"])
            #expect(result.status == 78, "\(result.stderr)")
            for text in naming { #expect(result.stderr.contains(text), "\(result.stderr)") }
            #expect(result.stdout.isEmpty)
        }
    }

    // MARK: SIGHUP

    /// SIGHUP is trapped before the agent says it listens: one sent at once reloads rather
    /// than ending the agent (SIGHUP's default action).
    @Test func reload_rightAfterListening_reloads() async throws {
        try await AgentFixture.with { fixture in
            try await fixture.withAgent { agent in
                let log = try await agent.reload()
                #expect(log.contains("reloaded TLS certificates"), "\(log)")
            }
        }
    }

    @Test func reload_newAllowedPeers_applyToNewConnections() async throws {
        try await AgentFixture.with { fixture in
            try await fixture.withAgent { agent in
                #expect(try await fixture.sync(agent, as: fixture.identity("intruder.test")).status == 77)
                try fixture.writeConfiguration(allowedPeers: ["intruder.test"])
                let log = try await agent.reload()
                #expect(log.contains("reloaded TLS certificates") && log.contains("allowed_peers=intruder.test"), "\(log)")

                let intruder = try await fixture.sync(agent, as: fixture.identity("intruder.test"))
                #expect(intruder.status == 0, "\(intruder.stderr)")
                let hostA = try await fixture.sync(agent)
                #expect(hostA.status == 77, "\(hostA.stderr)")
                #expect(hostA.stderr.contains("the peer's certificate names host-a.test"), "\(hostA.stderr)")
            }
        }
    }

    @Test func reload_certificatesFromANewCA_applyToNewConnections() async throws {
        try await AgentFixture.with { fixture in
            try fixture.makeCertificates("rotated")
            try await fixture.withAgent { agent in
                #expect(try await fixture.sync(agent).status == 0)
                try fixture.writeConfiguration(identity: fixture.identity("host-b.test", in: "rotated"))
                let log = try await agent.reload()
                #expect(log.contains("reloaded TLS certificates") && log.contains("rotated/host-b.test.pem"), "\(log)")

                let old = try await fixture.sync(agent)
                #expect(old.status == 77, "\(old.stderr)")
                let rotated = try await fixture.sync(agent, as: fixture.identity("host-a.test", in: "rotated"))
                #expect(rotated.status == 0, "\(rotated.stderr)")
            }
        }
    }

    /// The sync is paused inside, holding the user's lock on both sides (see
    /// ``AgentFixture/withSyncPaused(_:sourceLocation:_:)``), so the SIGHUP surely comes in
    /// its middle however long the reload takes; 600 messages still have to cross afterwards.
    /// The reload refuses host A from then on, yet the running sync completes.
    @Test func reload_duringASync_doesNotDropIt() async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootA, count: 300, prefix: "a")
            try fixture.save(fixture.rootB, count: 300, prefix: "b")
            try await fixture.withAgent { agent in
                let running = try fixture.startSync(agent)
                defer { running.stop() }
                try await fixture.withSyncPaused(running) {
                    try fixture.writeConfiguration(allowedPeers: ["intruder.test"])
                    let log = try await agent.reload()
                    #expect(log.contains("reloaded TLS certificates"), "\(log)")
                    #expect(running.exitStatus() == nil, "the paused sync ended: \(running.stderr)")
                }
                let result = await running.result(within: RunningAgent.patience)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try fixture.guids(fixture.rootA).count == 600)
                #expect(try fixture.guids(fixture.rootB).count == 600)
                try await agent.waitForLog("sync finished")
                #expect(try await fixture.sync(agent).status == 77, "the reload did not apply to the next connection")
            }
        }
    }

    @Test func reload_brokenCertificateFileOrConfiguration_keepsTheOldOnes() async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootA, count: 1, prefix: "a")
            try await fixture.withAgent { agent in
                let certificate = fixture.identity("host-b.test").certificate
                try fixture.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n", to: certificate)
                let log = try await agent.reload()
                #expect(log.contains("reload failed, the previous certificates stay in use"), "\(log)")
                #expect(log.contains("\(certificate): not a readable PEM certificate file"), "\(log)")
                let afterBrokenFile = try await fixture.sync(agent)
                #expect(afterBrokenFile.status == 0, "\(afterBrokenFile.stderr)")

                try fixture.write("dsync:\n  listen: 127.0.0.1:0\n  mail_rot: /nowhere/%n\n", to: fixture.configurationPath)
                let badConfiguration = try await agent.reload()
                #expect(badConfiguration.contains("reload failed") && badConfiguration.contains("dsync.mail_rot"), "\(badConfiguration)")
                let afterBadConfiguration = try await fixture.sync(agent)
                #expect(afterBadConfiguration.status == 0, "\(afterBadConfiguration.stderr)")
                #expect(try fixture.guids(fixture.rootB) == ["a-1"])
            }
        }
    }
}
