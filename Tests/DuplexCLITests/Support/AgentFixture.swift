import DuplexTLS
import Foundation
import MailStore
import MailStoreTestSupport
import Testing

/// Two hosts on loopback, both the built `duplex`: host B is a `duplex agent` process serving
/// `b/%n`, host A runs `duplex sync` processes of user `alice` with mail root `a/alice`.
///
/// The certificates come from `duplex tls init` (hosts `host-a.test`, `host-b.test` and
/// `intruder.test`, which the agent does not allow). Everything lives in one temporary
/// directory, removed after the agent has stopped.
struct AgentFixture {
    static let user = "alice"
    /// Seconds the agent and its syncs wait for a frame (`dsync.idle_timeout`,
    /// `--io-timeout`): a sync paused by ``withSyncPaused(_:sourceLocation:_:)`` sends
    /// nothing for as long as the test's steps take, which a loaded machine stretches.
    static let idleTimeout = 3600
    let directory: TemporaryDirectory

    var rootA: String { directory.appending("a/\(Self.user)") }
    var rootB: String { directory.appending("b/\(Self.user)") }
    var configurationPath: String { directory.appending("agent.yaml") }

    /// Runs `body` with a fresh fixture: certificates, an empty INBOX on both sides and an
    /// agent configuration that allows `host-a.test`.
    static func with<T>(_ body: (AgentFixture) async throws -> T) async throws -> T {
        try await TemporaryDirectory.with(prefix: "duplex-agent") { directory in
            let fixture = AgentFixture(directory: directory)
            try fixture.makeCertificates("certs")
            for root in [fixture.rootA, fixture.rootB] {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                _ = try MailStore(root: root).createMailbox(try MailboxName("INBOX"))
            }
            try fixture.writeConfiguration()
            return try await body(fixture)
        }
    }

    // MARK: Certificates

    /// A certificate and key a peer presents, and the CA it trusts.
    struct Identity {
        var certificate: String
        var key: String
        var ca: String
    }

    /// Runs `duplex tls init` into `folder` for the three test hosts.
    func makeCertificates(_ folder: String) throws {
        let result = try ExternalCommand.run(
            ExternalCommand.duplexExecutable,
            ["tls", "init", "--out", directory.appending(folder), "--hosts", "host-a.test,host-b.test,intruder.test"])
        guard result.status == 0 else { throw DovecotTestError.io("duplex tls init failed: \(result.stderr)") }
    }

    /// `host`'s files in `folder` (made by ``makeCertificates(_:)``), trusting that folder's CA.
    func identity(_ host: String, in folder: String = "certs") -> Identity {
        let base = directory.appending("\(folder)/\(host)")
        return Identity(certificate: base + ".pem", key: base + ".key", ca: directory.appending("\(folder)/ca.pem"))
    }

    /// A `host-a.test` certificate from a CA nobody trusts; it trusts the fixture's CA.
    func strangerIdentity() throws -> Identity {
        let credential = try DevelopmentCertificateAuthority.makeUntrustedLeafCredential(for: "host-a.test")
        let identity = Identity(
            certificate: directory.appending("stranger.pem"), key: directory.appending("stranger.key"),
            ca: directory.appending("certs/ca.pem"))
        try write(credential.certificatePEM, to: identity.certificate)
        try write(credential.privateKeyPEM, to: identity.key, mode: 0o600)
        return identity
    }

    // MARK: The agent

    /// Writes the agent's configuration: listening on a free loopback port, B's mail root
    /// template, and `identity`'s files.
    func writeConfiguration(identity: Identity? = nil, allowedPeers: [String] = ["host-a.test"]) throws {
        let identity = identity ?? self.identity("host-b.test")
        let yaml = """
            dsync:
              listen: 127.0.0.1:0
              mail_root: \(directory.appending("b"))/%n
              lock_timeout: 10
              idle_timeout: \(Self.idleTimeout)
              state_dir: \(directory.appending("state-b"))
            tls:
              certificate: \(identity.certificate)
              key: \(identity.key)
              ca: \(identity.ca)
              allowed_peers: [\(allowedPeers.joined(separator: ", "))]

            """
        try write(yaml, to: configurationPath)
    }

    /// Runs `body` while `duplex agent --config agent.yaml` serves B, then stops it with
    /// SIGTERM and expects a clean exit. The agent is stopped also when `body` throws.
    func withAgent<T>(
        sourceLocation: SourceLocation = #_sourceLocation, _ body: (RunningAgent) async throws -> T
    ) async throws -> T {
        let process = try BackgroundCommand(
            ExternalCommand.duplexExecutable, ["agent", "--config", configurationPath], outputDirectory: directory.path)
        defer { process.stop() }
        let agent = try await RunningAgent(process, sourceLocation: sourceLocation)
        let result = try await body(agent)
        let status = await process.stop(within: .seconds(120))
        #expect(status == 0, "the agent did not stop cleanly on SIGTERM (status \(status)); its log:\n\(agent.log)", sourceLocation: sourceLocation)
        return result
    }

    // MARK: Syncs

    /// The arguments of `duplex sync` of `root` (A's by default) with `agent`, presenting
    /// `identity` (host A's by default) and accepting only `peer`.
    func syncArguments(
        _ agent: RunningAgent, as identity: Identity? = nil, peer: String = "host-b.test", lockTimeout: Double = 10,
        root: String? = nil, stateDirectory: String = "state-a"
    ) -> [String] {
        let identity = identity ?? self.identity("host-a.test")
        return [
            "sync", "-u", Self.user, "--state-dir", directory.appending(stateDirectory),
            "--lock-timeout", String(lockTimeout), "--io-timeout", String(Self.idleTimeout), "--tls-cert", identity.certificate, "--tls-key", identity.key,
            "--tls-ca", identity.ca, "--peer", peer, root ?? rootA, agent.endpoint,
        ]
    }

    /// Runs `duplex sync` (see ``syncArguments(_:as:peer:lockTimeout:root:stateDirectory:)``),
    /// waiting on a thread of its own (see ``ExternalCommand/runOffPool(_:_:stdin:timeout:)``).
    func sync(
        _ agent: RunningAgent, as identity: Identity? = nil, peer: String = "host-b.test", lockTimeout: Double = 10,
        root: String? = nil, stateDirectory: String = "state-a"
    ) async throws -> ExternalCommand.Result {
        try await ExternalCommand.runOffPool(
            ExternalCommand.duplexExecutable,
            syncArguments(agent, as: identity, peer: peer, lockTimeout: lockTimeout, root: root, stateDirectory: stateDirectory),
            timeout: RunningAgent.patience / .seconds(1))
    }

    /// Starts `duplex sync` in the background (see
    /// ``syncArguments(_:as:peer:lockTimeout:root:stateDirectory:)``); stop it with
    /// ``BackgroundCommand/stop(timeout:)``.
    func startSync(_ agent: RunningAgent, root: String? = nil, stateDirectory: String = "state-a") throws -> BackgroundCommand {
        try BackgroundCommand(
            ExternalCommand.duplexExecutable, syncArguments(agent, root: root, stateDirectory: stateDirectory),
            outputDirectory: directory.path)
    }

    /// The user's sync lock file of mail root `root`: `.NAME.duplex-sync.lock` beside it,
    /// there only while a sync holds it.
    static func syncLockPath(of root: String) -> String {
        let url = URL(fileURLWithPath: root)
        return url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".duplex-sync.lock").path
    }

    /// Whether a sync holds the user's lock on both sides now: the lock files next to A's and
    /// B's mail roots exist.
    var bothSyncLocksHeld: Bool {
        [rootA, rootB].allSatisfy { FileManager.default.fileExists(atPath: Self.syncLockPath(of: $0)) }
    }

    /// Runs `body` while the sync `running` (started by ``startSync(_:root:stateDirectory:)``)
    /// is paused in its middle, holding the user's lock on both sides, then lets it go on.
    ///
    /// The lock of A's INBOX uidlist is held while the sync starts, so it cannot get past
    /// the point where it adds messages there; once both sides' sync locks exist, it is
    /// stopped (SIGSTOP) from a thread of its own (a loaded machine can leave the test's task
    /// without a turn for longer than the uidlist lock's 30 s timeout), and continued
    /// (SIGCONT) after `body`, also when `body` throws. A stopped process waits as long as
    /// `body` takes; the agent's idle timeout (see ``writeConfiguration(identity:allowedPeers:)``)
    /// and the sync's `--io-timeout` are far longer than any passing run.
    ///
    /// - Throws: a test failure when the sync ended before it could be stopped.
    func withSyncPaused<T>(
        _ running: BackgroundCommand, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> T
    ) async throws -> T {
        try await withUidlistLocked(rootA) {
            let paused = await running.whenRunning({ bothSyncLocksHeld }, within: RunningAgent.patience) { running.send(SIGSTOP) }
            try #require(paused, "the sync ended before it was paused: \(running.stderr)", sourceLocation: sourceLocation)
            let stopped = await running.waitUntilStopped(within: RunningAgent.patience)
            try #require(stopped, "the sync did not stop on SIGSTOP: \(running.stderr)", sourceLocation: sourceLocation)
        }
        defer { running.send(SIGCONT) }
        return try await body()
    }

    /// Runs `body` while `root`'s INBOX uidlist is locked as Dovecot locks it: a sync that
    /// has to add messages there waits for that lock, holding the user's lock on both sides,
    /// until `body` returns or the store's lock timeout (30 s) passes.
    func withUidlistLocked<T>(_ root: String, _ body: () async throws -> T) async throws -> T {
        let lock = root + "/dovecot-uidlist.lock"
        // A live holder on this host, as MailStore and Dovecot write it: never taken as stale.
        try Data("\(getpid()):\(ProcessInfo.processInfo.hostName)".utf8).write(to: URL(fileURLWithPath: lock), options: .withoutOverwriting)
        defer { try? FileManager.default.removeItem(atPath: lock) }
        return try await body()
    }

    // MARK: Mail

    /// Saves `count` small messages into `root`'s INBOX in one batch, with GUIDs `prefix-1`….
    func save(_ root: String, count: Int, prefix: String) throws {
        let batch = try MailStore(root: root).makeSaveBatch(in: try MailboxName("INBOX"))
        for index in 1...count {
            let guid = "\(prefix)-\(index)"
            try batch.add(options: SaveOptions(guid: guid)) { try $0.write(Array("Subject: \(guid)\r\n\r\nbody of \(guid)\r\n".utf8)) }
        }
        _ = try batch.commit()
    }

    /// The GUIDs in `root`'s INBOX, sorted.
    func guids(_ root: String) throws -> [String] {
        try MailStore(root: root).listMessages(in: try MailboxName("INBOX")).map(\.guid).sorted()
    }

    /// Every file under both mail roots with its contents (keyed by its path in the fixture),
    /// to show that a refused sync changed nothing.
    func snapshot() throws -> [String: Data] {
        var files: [String: Data] = [:]
        for root in [rootA, rootB] {
            let enumerator = FileManager.default.enumerator(atPath: root)
            while let relative = enumerator?.nextObject() as? String {
                let path = root + "/" + relative
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    files[String(path.dropFirst(directory.path.count))] = try Data(contentsOf: URL(fileURLWithPath: path))
                }
            }
        }
        return files
    }

    func write(_ text: String, to path: String, mode: Int = 0o644) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }
}

/// A `duplex agent` process of an ``AgentFixture`` that is listening.
struct RunningAgent {
    let process: BackgroundCommand
    let port: Int

    /// How long to wait for the agent to say something, or for a sync to end: a hang guard,
    /// generous because a loaded machine is slow; a passing test never waits this long.
    static let patience = Duration.seconds(180)

    /// Waits until the agent prints `listening on ADDRESS` and takes the port from it.
    ///
    /// - Throws: a test failure with the agent's log when it exits or stays silent.
    init(_ process: BackgroundCommand, sourceLocation: SourceLocation) async throws {
        self.process = process
        let listening = await process.waitForOutput(within: Self.patience) { stdout, _ in stdout.hasSuffix("\n") }
        try #require(listening, "the agent did not start listening; its log:\n\(process.stderr)", sourceLocation: sourceLocation)
        let line = process.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let port = line.hasPrefix("listening on ") ? line.split(separator: ":").last.flatMap { Int($0) } : nil
        self.port = try #require(port, "not a listening line: \(line)", sourceLocation: sourceLocation)
    }

    var endpoint: String { "tls://127.0.0.1:\(port)" }

    /// The agent's log (its standard error) so far.
    var log: String { process.stderr }

    /// A place in the log: what comes later is ``log(since:)``.
    var logMark: Int { log.utf8.count }

    func log(since mark: Int) -> String {
        String(decoding: log.utf8.dropFirst(mark), as: UTF8.self)
    }

    /// Waits until the log after `mark` contains `text`; returns the log after `mark`.
    ///
    /// - Throws: a test failure with the log when it does not come.
    @discardableResult
    func waitForLog(
        _ text: String, since mark: Int = 0, checkingEvery interval: Duration = .milliseconds(10),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let found = await process.waitForOutput(within: Self.patience, checkingEvery: interval) { _, _ in log(since: mark).contains(text) }
        try #require(found, "the agent did not log \"\(text)\"; its log:\n\(log)", sourceLocation: sourceLocation)
        return log(since: mark)
    }

    /// Sends SIGHUP and waits for the agent to log the outcome of the reload.
    ///
    /// - Returns: the log lines written since the SIGHUP.
    func reload(sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let mark = logMark
        process.send(SIGHUP)
        let done = await process.waitForOutput(within: Self.patience) { _, _ in
            let since = log(since: mark)
            return since.contains("reloaded TLS certificates") || since.contains("reload failed")
        }
        try #require(done, "the agent did not log a reload; its log:\n\(log)", sourceLocation: sourceLocation)
        return log(since: mark)
    }
}
