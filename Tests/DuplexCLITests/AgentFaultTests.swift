import Foundation
import MailStore
import MailStoreTestSupport
import Testing

/// Processes killed in the middle of a `duplex sync` over TLS: the agent (SIGKILL) while it
/// streams bodies to the client or saves the bodies the client pushes, and the client
/// likewise. The survivor must end cleanly (the sync exits 76 or 68 naming the peer; the
/// agent releases the user's lock at once), and the next sync must converge: both sides
/// hold every message exactly once with the same UIDs, flags and bodies, and a further sync
/// plans nothing.
@Suite(.timeLimit(.minutes(10))) struct AgentFaultTests {
    /// When a process is killed: once both sides hold the user's sync lock (the session is
    /// set up and planning, nothing copied yet), or once the side receiving copies has some
    /// in its INBOX's `tmp/`. Each is seen, never guessed from a delay: a fast machine ends a
    /// sync before any fixed delay.
    enum Moment: Sendable, CustomTestStringConvertible {
        /// Both sides locked the user: the lock files next to A's and B's mail roots exist.
        case locked
        /// Bodies B→A in flight: the client writes them to A's `tmp/`.
        case copyingToA
        /// Bodies A→B in flight: the agent writes them to B's `tmp/`.
        case copyingToB

        var testDescription: String {
            switch self {
            case .locked: "once both sides hold the lock"
            case .copyingToA: "while copying B→A"
            case .copyingToB: "while copying A→B"
            }
        }

        /// The files whose existence marks this moment: the two lock files, or any file in
        /// the receiving INBOX's `tmp/`.
        func isReached(_ fixture: AgentFixture) -> Bool {
            switch self {
            case .locked:
                fixture.bothSyncLocksHeld
            case .copyingToA: !AgentFaultTests.tmpFiles(fixture.rootA).isEmpty
            case .copyingToB: !AgentFaultTests.tmpFiles(fixture.rootB).isEmpty
            }
        }
    }

    @Test(arguments: [Moment.locked, .copyingToA, .copyingToB])
    func agentKilledMidSync_syncExits76or68_thenTheNextSyncConverges(moment: Moment) async throws {
        try await AgentFixture.with { fixture in
            let mail = try AgentFaultMail.populate(fixture)
            let agent = try await startAgent(fixture)
            defer { agent.process.stop(timeout: 5) }
            let sync = try await startSync(fixture, agent, at: moment) { _ in agent.process.send(SIGKILL) }
            defer { sync.stop(timeout: 5) }
            // Reaped: a dead agent's pid must not look alive to a dotlock's owner check.
            #expect(await agent.process.exitStatus(within: .seconds(60)) == 128 + SIGKILL)
            let status = await sync.exitStatus(within: RunningAgent.patience)
            #expect(status == 76 || status == 68, "\(moment): exit \(String(describing: status)): \(sync.stderr)")
            #expect(sync.stderr.contains(agent.endpoint), "\(moment): the message does not name the peer: \(sync.stderr)")
            // The client ended by itself: nothing half-written is left on A.
            #expect(Self.tmpFiles(fixture.rootA).isEmpty, "\(moment): A's tmp/ holds \(Self.tmpFiles(fixture.rootA))")

            let restarted = try await startAgent(fixture)
            defer { restarted.process.stop(timeout: 5) }
            try await expectCleanSyncConverges(fixture, restarted, mail, moment)
        }
    }

    @Test(arguments: [Moment.copyingToA, .copyingToB])
    func syncKilledMidSync_agentReleasesTheLock_thenTheNextSyncConverges(moment: Moment) async throws {
        try await AgentFixture.with { fixture in
            let mail = try AgentFaultMail.populate(fixture)
            try await fixture.withAgent { agent in
                let mark = agent.logMark
                let sync = try await startSync(fixture, agent, at: moment) { $0.send(SIGKILL) }
                defer { sync.stop(timeout: 5) }
                #expect(await sync.exitStatus(within: .seconds(60)) == 128 + SIGKILL)
                // The agent notices the dead connection, ends the session and cleans up.
                try await agent.waitForLog("connection ended", since: mark)
                #expect(Self.tmpFiles(fixture.rootB).isEmpty, "\(moment): B's tmp/ holds \(Self.tmpFiles(fixture.rootB))")
                try await expectCleanSyncConverges(fixture, agent, mail, moment)
            }
        }
    }

    // MARK: Steps

    /// Starts `duplex agent` for the fixture without the clean-stop check of
    /// ``AgentFixture/withAgent(sourceLocation:_:)``: these tests kill it.
    func startAgent(_ fixture: AgentFixture) async throws -> RunningAgent {
        let process = try BackgroundCommand(
            ExternalCommand.duplexExecutable, ["agent", "--config", fixture.configurationPath], outputDirectory: fixture.directory.path)
        do {
            return try await RunningAgent(process, sourceLocation: #_sourceLocation)
        } catch {
            process.stop(timeout: 5)
            throw error
        }
    }

    /// Starts a sync and calls `kill` with it at `moment`, seen from a thread of its own (see
    /// ``BackgroundCommand/whenRunning(_:within:_:)``): a copy is in `tmp/` only until its
    /// batch is committed.
    func startSync(
        _ fixture: AgentFixture, _ agent: RunningAgent, at moment: Moment, kill: @escaping @Sendable (BackgroundCommand) -> Void
    ) async throws -> BackgroundCommand {
        let sync = try fixture.startSync(agent)
        let seen = await sync.whenRunning({ moment.isReached(fixture) }, within: RunningAgent.patience) { kill(sync) }
        try #require(seen, "\(moment): not seen before the sync ended: \(sync.stderr)")
        return sync
    }

    /// The files in `tmp/` of INBOX of `root`.
    static func tmpFiles(_ root: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: root + "/tmp")) ?? []
    }

    /// A clean sync exits 0 without waiting for a lock; then both sides hold every message
    /// of `mail` once with the same UIDs, flags and bodies, and a further sync plans nothing.
    func expectCleanSyncConverges(
        _ fixture: AgentFixture, _ agent: RunningAgent, _ mail: AgentFaultMail, _ moment: Moment,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let clean = try await fixture.sync(agent, lockTimeout: 2)
        #expect(clean.status == 0, "\(moment): the clean sync exited \(clean.status): \(clean.stderr)", sourceLocation: sourceLocation)
        let converged = try contents(fixture.rootA)
        #expect(converged == (try contents(fixture.rootB)), "\(moment): A and B differ", sourceLocation: sourceLocation)
        #expect(converged.map(\.guid).sorted() == mail.bodies.keys.sorted(), "\(moment): A does not hold each message once", sourceLocation: sourceLocation)
        for root in [fixture.rootA, fixture.rootB] {
            let store = MailStore(root: root)
            for message in try store.listMessages(in: .inbox) {
                let reader = try store.openMessage(in: .inbox, message)
                defer { reader.close() }
                let body = try reader.readAll()
                #expect(body == mail.bodies[message.guid], "\(moment): \(root) UID \(message.uid) has another body", sourceLocation: sourceLocation)
            }
        }
        let again = try await fixture.sync(agent, lockTimeout: 2)
        #expect(again.status == 0, "\(moment): \(again.stderr)", sourceLocation: sourceLocation)
        // Every count of the report's table is 0 (or the fast path found nothing to do).
        let counts = again.stdout.split(separator: "\n").dropFirst().compactMap { line in line.split(separator: " ").last.flatMap { Int($0) } }
        #expect(counts.allSatisfy { $0 == 0 }, "\(moment): a further sync changed something: \(again.stdout)", sourceLocation: sourceLocation)
        #expect(try contents(fixture.rootA) == converged && (try contents(fixture.rootB)) == converged, "\(moment): a further sync changed the mail", sourceLocation: sourceLocation)
    }

    /// INBOX of `root`: UID, GUID and flags of every message, in UID order.
    func contents(_ root: String) throws -> [Entry] {
        try MailStore(root: root).listMessages(in: .inbox).map { Entry(uid: $0.uid, guid: $0.guid, flags: "\($0.flags)") }
    }

    struct Entry: Equatable {
        var uid: UInt32
        var guid: String
        var flags: String
    }
}

/// The mail of a fault test: on each side two messages of 8 MiB and 1500 small ones, so that
/// a sync copies for a few seconds both ways.
struct AgentFaultMail {
    /// Every message body by GUID.
    var bodies: [String: [UInt8]] = [:]

    static func populate(_ fixture: AgentFixture) throws -> AgentFaultMail {
        var mail = AgentFaultMail()
        try mail.add(fixture.rootA, prefix: "a")
        try mail.add(fixture.rootB, prefix: "b")
        return mail
    }

    private mutating func add(_ root: String, prefix: String) throws {
        let batch = try MailStore(root: root).makeSaveBatch(in: try MailboxName("INBOX"))
        // The large ones first: their batch is in tmp/ for a while, so a moment of copying is
        // surely seen however busy the machine is.
        var items: [(String, [UInt8])] = []
        for index in 1...2 {
            // Sorted first by GUID, as the plan orders new messages.
            let guid = "\(prefix)-0-large-\(index)"
            var body = Array("Subject: \(guid)\r\n\r\n".utf8)
            let line = Array("\(guid) 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n".utf8)
            while body.count < 8 << 20 { body += line }
            items.append((guid, body))
        }
        items += (1...1500).map { ("\(prefix)-\($0)", Array("Subject: \(prefix)-\($0)\r\n\r\nbody of \(prefix)-\($0)\r\n".utf8)) }
        for (guid, body) in items {
            try batch.add(options: SaveOptions(guid: guid)) { try $0.write(body) }
            bodies[guid] = body
        }
        _ = try batch.commit()
    }
}
