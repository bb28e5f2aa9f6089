import Foundation
import Glibc
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// `duplex sync --agent SOCKET`: the local agent (`dsync.sync_socket`) runs the sync for the
/// command, against the fixture's agent B over TLS, with the same result, output and exit
/// status as a sync in the command's own process.
@Suite struct AgentSyncSocketTests {
    /// Host A's agent: serving `a/%n`, presenting `host-a.test`, with its sync socket.
    static func startAgentA(_ fixture: AgentFixture) async throws -> (agent: RunningAgent, socket: String) {
        let socket = fixture.directory.appending("a.sock")
        let sections = fixture.hostSections(
            "a-agent", listen: "127.0.0.1:0", mailRoot: fixture.directory.appending("a") + "/%n", identity: "host-a.test",
            peerName: "host-b.test")
        let agent = try await fixture.startAgent("agent-a", yaml: sections.replacingOccurrences(of: "  state_dir:", with: "  sync_socket: \(socket)\n  state_dir:"))
        try await agent.waitForLog("socket listening")
        return (agent, socket)
    }

    /// `duplex sync` of the fixture (A's root with agent B), with `extra` arguments first.
    static func sync(_ fixture: AgentFixture, _ agentB: RunningAgent, _ extra: [String]) async throws -> ExternalCommand.Result {
        var arguments = fixture.syncArguments(agentB)
        arguments.insert(contentsOf: extra, at: 1)
        return try await ExternalCommand.runOffPool(ExternalCommand.duplexExecutable, arguments, timeout: RunningAgent.patience / .seconds(1))
    }

    @Test func syncThroughTheAgent_copiesBothWays_thenFindsNothingToDo() async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootA, count: 3, prefix: "a")
            try fixture.save(fixture.rootB, count: 2, prefix: "b")
            try await fixture.withAgent { agentB in
                let (agentA, socket) = try await Self.startAgentA(fixture)
                defer { agentA.process.stop() }
                let mark = agentA.logMark
                let first = try await Self.sync(fixture, agentB, ["--agent", socket, "--json"])
                #expect(first.status == 0, "\(first.stderr)")
                #expect(first.stderr.isEmpty, "\(first.stderr)")
                let report = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
                #expect(report?["messages"] as? Int == 5, "\(first.stdout)")
                #expect(report?["fastPath"] as? Bool == false, "\(first.stdout)")
                try await agentA.waitForLog("sync socket: sync done", since: mark)
                let expected = ["a-1", "a-2", "a-3", "b-1", "b-2"]
                #expect(try fixture.guids(fixture.rootA) == expected)
                #expect(try fixture.guids(fixture.rootB) == expected)

                // The same state either way: a settling sync in the command's own process, then
                // nothing to do through the agent and in the process. The settling sync comes a
                // second after the copies: a directory changed in the second of its stamp is
                // ambiguous, and read again by the next sync.
                try await Task.sleep(for: .milliseconds(1100))
                let settling = try await Self.sync(fixture, agentB, [])
                #expect(settling.status == 0 && settling.stdout.contains("user alice: 1 mailboxes, 5 messages in sync"), "\(settling.stdout)\(settling.stderr)")
                let again = try await Self.sync(fixture, agentB, ["--agent", socket])
                #expect(again.status == 0 && again.stdout.hasPrefix("user alice: no changes since the last sync (1 mailboxes, 5 messages;"), "\(again.stdout)\(again.stderr)")
                let inProcess = try await Self.sync(fixture, agentB, [])
                #expect(inProcess.status == 0 && inProcess.stdout.hasPrefix("user alice: no changes since the last sync (1 mailboxes, 5 messages;"), "\(inProcess.stdout)\(inProcess.stderr)")
                #expect(try fixture.guids(fixture.rootA) == expected)
                #expect(try fixture.guids(fixture.rootB) == expected)
            }
        }
    }

    @Test func failuresThroughTheAgent_haveTheCommandsExitStatusAndMessage() async throws {
        try await AgentFixture.with { fixture in
            try await fixture.withAgent { agentB in
                let (agentA, socket) = try await Self.startAgentA(fixture)
                defer { agentA.process.stop() }
                // A peer name agent B's certificate does not carry: 77, as in the process.
                var arguments = fixture.syncArguments(agentB, peer: "someone-else.test")
                let direct = try await ExternalCommand.runOffPool(ExternalCommand.duplexExecutable, arguments)
                arguments.insert(contentsOf: ["--agent", socket], at: 1)
                let through = try await ExternalCommand.runOffPool(ExternalCommand.duplexExecutable, arguments)
                #expect(direct.status == 77 && through.status == 77, "\(direct.stderr)\n\(through.stderr)")
                #expect(through.stderr == direct.stderr, "\(through.stderr)")
                #expect(through.stderr.contains("someone-else.test"), "\(through.stderr)")

                // A mail root that is not there: 67 both ways.
                let missing = fixture.directory.appending("a/nobody")
                var noRoot = fixture.syncArguments(agentB, root: missing)
                let directNoRoot = try await ExternalCommand.runOffPool(ExternalCommand.duplexExecutable, noRoot)
                noRoot.insert(contentsOf: ["--agent", socket], at: 1)
                let throughNoRoot = try await ExternalCommand.runOffPool(ExternalCommand.duplexExecutable, noRoot)
                #expect(directNoRoot.status == throughNoRoot.status && throughNoRoot.status != 0, "\(directNoRoot.stderr)\n\(throughNoRoot.stderr)")
                #expect(throughNoRoot.stderr == directNoRoot.stderr)

                // A peer nobody listens on: 68, in plain words.
                var unreachable = fixture.syncArguments(agentB)
                unreachable[unreachable.count - 1] = "tls://127.0.0.1:1"
                let directUnreachable = try await ExternalCommand.runOffPool(ExternalCommand.duplexExecutable, unreachable)
                unreachable.insert(contentsOf: ["--agent", socket], at: 1)
                let throughUnreachable = try await ExternalCommand.runOffPool(ExternalCommand.duplexExecutable, unreachable)
                #expect(directUnreachable.status == 68 && throughUnreachable.status == 68, "\(directUnreachable.stderr)\n\(throughUnreachable.stderr)")
                #expect(directUnreachable.stderr == "duplex: error: tls://127.0.0.1:1: cannot connect: connection refused\n")
                #expect(throughUnreachable.stderr == directUnreachable.stderr)
            }
        }
    }

    @Test func noAgentOnTheSocket_syncsInTheProcess_withAWarning() async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootA, count: 1, prefix: "a")
            try await fixture.withAgent { agentB in
                let socket = fixture.directory.appending("nobody.sock")
                let result = try await Self.sync(fixture, agentB, ["--agent", socket])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stderr == "duplex: warning: --agent \(socket): No such file or directory; syncing in this process\n")
                #expect(try fixture.guids(fixture.rootB) == ["a-1"])
            }
        }
    }

    /// A key that is not the certificate's, with the peer reachable: the connection is made
    /// while the TLS files are read, and must be closed cleanly when they turn out bad. An
    /// error, never a crash, in the process and in the agent (which then serves on).
    @Test func keyOfAnotherCertificate_isAnError_notACrash_inTheProcessOrTheAgent() async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootA, count: 1, prefix: "a")
            try await fixture.withAgent { agentB in
                let (agentA, socket) = try await Self.startAgentA(fixture)
                defer { agentA.process.stop() }
                var arguments = fixture.syncArguments(agentB)
                let key = try #require(arguments.firstIndex(of: "--tls-key"))
                arguments[key + 1] = fixture.identity("host-b.test").key
                var messages: Set<String> = []
                for round in 0..<4 {
                    var line = arguments
                    if round % 2 == 1 { line.insert(contentsOf: ["--agent", socket], at: 1) }
                    let result = try await ExternalCommand.runOffPool(ExternalCommand.duplexExecutable, line)
                    #expect([64, 77, 78].contains(result.status), "round \(round): \(result.status) \(result.stderr)")
                    #expect(result.stderr.hasPrefix("duplex: error: "), "round \(round): \(result.stderr)")
                    messages.insert(result.stderr)
                }
                #expect(messages.count == 1, "the same error each time: \(messages)")
                #expect(agentA.process.exitStatus() == nil, "agent A died: \(agentA.log)")
                let good = try await Self.sync(fixture, agentB, ["--agent", socket])
                #expect(good.status == 0 && good.stderr.isEmpty, "\(good.stderr)")
                #expect(try fixture.guids(fixture.rootB) == ["a-1"])
            }
        }
    }

    /// `--agent` naming a file or a directory is a mistake, not an agent that is down: 64.
    @Test func agentPathThatIsNoSocket_isAUsageError() async throws {
        try await AgentFixture.with { fixture in
            let file = fixture.directory.appending("agent.yaml")
            for path in [file, fixture.directory.path] {
                let result = try await ExternalCommand.runOffPool(
                    ExternalCommand.duplexExecutable, ["sync", "--agent", path, "-u", "alice", fixture.rootA, fixture.rootB])
                #expect(result.status == 64, "\(result.stderr)")
                #expect(result.stderr.hasPrefix("duplex: error: --agent \(path) is "), "\(result.stderr)")
                #expect(result.stderr.contains("dsync.sync_socket"), "\(result.stderr)")
            }
        }
    }

    /// A socket whose listener never answers: after the accept timeout the command syncs in
    /// its own process, with a warning.
    @Test func listenerThatNeverAnswers_syncsInTheProcessAfterTheAcceptTimeout() async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootA, count: 1, prefix: "a")
            let path = fixture.directory.appending("mute.sock")
            let listener = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            try #require(listener >= 0)
            defer { close(listener) }
            let bound = Self.withAddress(path) { bind(listener, $0, $1) }
            try #require(bound == 0 && listen(listener, 4) == 0)
            try await fixture.withAgent { agentB in
                let result = try await Self.sync(fixture, agentB, ["--agent", path])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stderr == "duplex: warning: --agent \(path): no answer within 5.0 seconds; syncing in this process\n")
                #expect(try fixture.guids(fixture.rootB) == ["a-1"])
            }
        }
    }

    /// Agent B, agent A with its sync socket, and `duplex sync --agent` of the fixture's user
    /// (its arguments changed by `adjust`) whose sync in agent A holds both sides' locks while
    /// it waits for A's INBOX uidlist, locked until `during` returns; `then` runs after. B has
    /// messages `b-1`…. The command is stopped at the end, if it still runs.
    static func withSyncHeldInAgentA<T>(
        _ fixture: AgentFixture, messagesOnB: Int, adjust: (inout [String]) throws -> Void = { _ in },
        during body: (_ agentA: RunningAgent, _ socket: String, _ command: BackgroundCommand) async throws -> T,
        then: (_ agentB: RunningAgent, _ agentA: RunningAgent, _ socket: String, _ command: BackgroundCommand) async throws -> Void
    ) async throws -> T {
        try fixture.save(fixture.rootB, count: messagesOnB, prefix: "b")
        return try await fixture.withAgent { agentB in
            let (agentA, socket) = try await startAgentA(fixture)
            defer { agentA.process.stop() }
            var arguments = fixture.syncArguments(agentB)
            try adjust(&arguments)
            arguments.insert(contentsOf: ["--agent", socket], at: 1)
            var started: BackgroundCommand?
            defer { started?.stop() }
            let result = try await fixture.withUidlistLocked(fixture.rootA) {
                let command = try BackgroundCommand(ExternalCommand.duplexExecutable, arguments, outputDirectory: fixture.directory.path)
                started = command
                let holding = await command.whenRunning({ !syncLockIsFree(fixture.rootA) && !syncLockIsFree(fixture.rootB) }, within: RunningAgent.patience) {}
                try #require(holding, "the sync did not take both locks: \(command.stderr)")
                return try await body(agentA, socket, command)
            }
            try await then(agentB, agentA, socket, try #require(started))
            return result
        }
    }

    /// A sync through the agent at `socket` ends with B's messages `b-1`…`b-count` on both sides.
    static func expectConverges(_ fixture: AgentFixture, _ agentB: RunningAgent, _ socket: String, count: Int) async throws {
        let after = try await sync(fixture, agentB, ["--agent", socket])
        #expect(after.status == 0, "\(after.stderr)")
        let expected = (1...count).map { "b-\($0)" }
        #expect(try fixture.guids(fixture.rootA) == expected)
        #expect(try fixture.guids(fixture.rootB) == expected)
    }

    /// An agent that stops answering mid-sync (here: stopped with SIGSTOP): the command gives
    /// up after three keepalive intervals without a word (exit 74) instead of hanging, and
    /// once the agent goes on, a sync converges.
    @Test func agentStuckMidSync_theCommandGivesUp74_thenASyncConverges() async throws {
        try await AgentFixture.with { fixture in
            let (status, errors) = try await Self.withSyncHeldInAgentA(
                fixture, messagesOnB: 2,
                adjust: { arguments in
                    let timeout = try #require(arguments.firstIndex(of: "--io-timeout"))
                    arguments[timeout + 1] = "1"  // the wait is still three keepalive intervals
                },
                during: { agentA, _, command in
                    _ = agentA.process.send(SIGSTOP)
                    defer { _ = agentA.process.send(SIGCONT) }
                    return (await command.exitStatus(within: RunningAgent.patience), command.stderr)
                },
                then: { agentB, _, socket, _ in
                    try await Self.expectConverges(fixture, agentB, socket, count: 2)
                })
            #expect(status == 74, "\(errors)")
            #expect(errors.contains("the agent has said nothing for 15.0 seconds while syncing"), "\(errors)")
        }
    }

    /// A command killed while the agent runs its sync cancels that sync: both sides' locks
    /// are released at once (not after the store's 30 s lock wait), and the next sync
    /// converges.
    @Test func commandKilledMidSync_cancelsItInTheAgent_thenASyncConverges() async throws {
        try await AgentFixture.with { fixture in
            try await Self.withSyncHeldInAgentA(fixture, messagesOnB: 3, during: { agentA, _, command in
                let mark = agentA.logMark
                _ = command.stop()
                let log = try await agentA.waitForLog("sync socket: sync done", since: mark)
                #expect(log.contains("cancelled=the command went away"), "\(log)")
                // Both locks free while A's uidlist is still locked: the sync did not wait on.
                let deadline = ContinuousClock.now + .seconds(20)
                while let held = [fixture.rootA, fixture.rootB].first(where: { !Self.syncLockIsFree($0) }) {
                    try #require(
                        ContinuousClock.now < deadline,
                        "the sync lock of \(held) is still held after the command ended\nagent A:\n\(agentA.log(since: mark))")
                    try await Task.sleep(for: .milliseconds(20))
                }
            }, then: { agentB, _, socket, _ in
                try await Self.expectConverges(fixture, agentB, socket, count: 3)
            })
        }
    }

    /// SIGTERM to the agent while it runs a sync for a command: the sync finishes and is
    /// answered, then the agent exits cleanly.
    @Test func agentStoppedMidSync_finishesAndAnswersIt() async throws {
        try await AgentFixture.with { fixture in
            try await Self.withSyncHeldInAgentA(fixture, messagesOnB: 2, during: { agentA, socket, command in
                _ = agentA.process.send(SIGTERM)
                // The listener closes at once; the sync goes on.
                let deadline = ContinuousClock.now + RunningAgent.patience
                while Self.accepts(socket) {
                    try #require(ContinuousClock.now < deadline, "the sync socket still takes connections after SIGTERM")
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(command.exitStatus() == nil, "\(command.stderr)")
            }, then: { _, agentA, _, command in
                let status = await command.exitStatus(within: RunningAgent.patience)
                #expect(status == 0, "\(command.stderr)")
                #expect(command.stdout.contains("user alice: 1 mailboxes, 2 messages in sync"), "\(command.stdout)")
                let agentStatus = await agentA.process.exitStatus(within: RunningAgent.patience)
                #expect(agentStatus == 0, "\(agentA.log)")
                let guids = try fixture.guids(fixture.rootA)
                #expect(guids == ["b-1", "b-2"])
            })
        }
    }

    /// Relative paths are taken from the command's directory, not the agent's.
    @Test func relativePaths_areTheCommands() async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootA, count: 1, prefix: "a")
            try await fixture.withAgent { agentB in
                let (agentA, socket) = try await Self.startAgentA(fixture)
                defer { agentA.process.stop() }
                let identity = fixture.identity("host-a.test")
                let base = fixture.directory.path + "/"
                func relative(_ path: String) -> String { String(path.dropFirst(base.count)) }
                let command = [
                    "cd", base, "&&", ExternalCommand.duplexExecutable, "sync", "--agent", socket, "-u", AgentFixture.user,
                    "--state-dir", "state-rel", "--tls-cert", relative(identity.certificate), "--tls-key", relative(identity.key),
                    "--tls-ca", relative(identity.ca), "--peer", "host-b.test", relative(fixture.rootA), agentB.endpoint,
                ].map { $0 == "&&" ? $0 : "'\($0)'" }.joined(separator: " ")
                let result = try await ExternalCommand.runOffPool("/bin/sh", ["-c", command])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stderr.isEmpty, "\(result.stderr)")
                #expect(try fixture.guids(fixture.rootB) == ["a-1"])
                #expect(FileManager.default.fileExists(atPath: fixture.directory.appending("state-rel")))
            }
        }
    }

    /// Bad request lines on the socket: each answered with 64 and what is wrong; nothing runs.
    @Test(arguments: [
        ("not json", "not valid JSON"),
        ("[1,2]", "a request must be a JSON object"),
        (#"{"command":"status"}"#, "unknown command"),
        (#"{"command":"sync","mail_root_a":"/x","mail_root_b":"/y","state_dir":"/s"}"#, "missing field \"user\""),
        (#"{"command":"sync","user":"alice","mail_root_a":"x","mail_root_b":"/y","state_dir":"/s"}"#, "the field \"mail_root_a\" must be an absolute path"),
        (#"{"command":"sync","user":"alice","mail_root_a":"/x","mail_root_b":"tls://h:1","peers":["p"]}"#, "missing field \"state_dir\""),
        (#"{"command":"sync","user":"alice","mail_root_a":"/x","mail_root_b":"/y","state_dir":"/s","full":"yes"}"#, "the field \"full\" must be true or false"),
        (#"{"command":"sync","user":"alice","mail_root_a":"/x","mail_root_b":"/x/y","state_dir":"/s"}"#, "one mail root is inside the other"),
        (#"{"command":"sync","user":"alice","mail_root_a":"/x","mail_root_b":"/y","state_dir":"/s","dry-run":true}"#, "unknown field \"dry-run\""),
        (#"{"command":"sync","user":"alice","mail_root_a":"/x\u0000y","mail_root_b":"/y","state_dir":"/s"}"#, "the field \"mail_root_a\" must not contain a NUL"),
        (#"{"command":"sync","user":"alice","mail_root_a":"/x","mail_root_b":"/y","state_dir":"/s","peers":["a\u0000"]}"#, "the field \"peers\" must not contain a NUL"),
    ])
    func badRequest_isAnswered64_namingWhatIsWrong(line: String, naming: String) async throws {
        try await AgentFixture.with { fixture in
            let (agentA, socket) = try await Self.startAgentA(fixture)
            defer { agentA.process.stop() }
            let before = try fixture.snapshot()
            let answer = try Self.exchange(socket, line + "\n")
            let decoded = try AgentSyncAnswer(line: Array(answer.utf8))
            #expect(decoded.status == 64, "\(answer)")
            #expect(decoded.errors.contains(naming), "\(decoded.errors)")
            #expect(decoded.output.isEmpty)
            #expect(try fixture.snapshot() == before)
            #expect(!agentA.log.contains("sync done"))
        }
    }

    /// Whether the user's sync lock of mail root `root` can be taken now (the lock file stays
    /// when it is released; the `flock` on it tells).
    static func syncLockIsFree(_ root: String) -> Bool {
        let fd = open(AgentFixture.syncLockPath(of: root), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno == ENOENT }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }

    /// `body` (`bind` or `connect`) on the unix socket address of `path`.
    static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// Whether a connection to the unix socket at `path` is taken.
    static func accepts(_ path: String) -> Bool {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        return withAddress(path) { connect(socket, $0, $1) } == 0
    }

    /// Sends `text` on the unix socket at `path` and returns the answer up to its first newline.
    static func exchange(_ path: String, _ text: String) throws -> String {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(socket >= 0)
        defer { close(socket) }
        let connected = withAddress(path) { connect(socket, $0, $1) }
        try #require(connected == 0, "cannot connect to \(path)")
        let bytes = Array(text.utf8)
        try #require(send(socket, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count)
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !answer.contains(UInt8(ascii: "\n")) {
            let count = read(socket, &chunk, chunk.count)
            guard count > 0 else { break }
            answer += chunk[..<count]
        }
        return String(decoding: answer.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }
}
