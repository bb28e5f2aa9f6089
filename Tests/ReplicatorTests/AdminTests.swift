import Foundation
import MailStoreTestSupport
import NIOCore
import Testing

@testable import Replicator

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The admin socket: a real ``ReplicatorAdminServer`` on a Unix socket in a temporary
/// directory, in front of a replicator whose engine is a ``ScriptedEngine``.
@Suite struct AdminTests {
    /// How long a client waits for the in-process server's answer: a hang guard. The server
    /// answers from the test process's cooperative pool, which a whole run on a loaded
    /// machine can leave busy with other tests' blocking work for minutes.
    static let patience = Duration.seconds(300)

    @Test func everyCommand_isAnsweredOverTheSocket() async throws {
        let clock = ManualClock()
        let engine = ScriptedEngine()
        let replicator = Replicator(queue: UserQueue(), engine: engine, clock: clock, logger: silent)
        try await withAdminServer(replicator, engine: engine, running: true) { client in
            #expect(try await client.send(.add(mask: "alice")).count == 1)
            #expect(try await client.send(.add(mask: "alice")).count == 0, "already known")
            #expect(try await client.send(.add(mask: "a*")).count == 0, "a wildcard has no user database to expand against")
            #expect(try await client.send(.replicate(mask: "bob", priority: .high)).count == 1, "a plain name is added")
            await eventually("both users sync") { engine.started.count == 2 }

            let dsync = try await client.send(.dsyncStatus)
            #expect(dsync.slots == ReplicatorSettings().maxConnections)
            #expect(dsync.syncs?.map(\.username) == ["alice", "bob"])
            #expect(dsync.syncs?.first?.type == "full", "never synced: a full sync")

            await eventually("alice's sync is refused by the mass-loss guard") { engine.end("alice", .held("42 of 50 messages vanished")) }
            await eventually("alice is held") { await replicator.userStatus(UserMask("alice")).first?.held == true }
            let status = try await client.send(.status(mask: "a*"))
            #expect(status.now == clock.now)
            let alice = try #require(status.users?.first)
            #expect(status.users?.count == 1)
            #expect(alice.username == "alice" && alice.held && !alice.running)
            #expect(alice.lastError == "42 of 50 messages vanished")
            #expect(alice.lastFastSync == clock.now && alice.lastSuccessfulSync == 0)

            let overview = try #require(try await client.send(.status(mask: nil)).statistics)
            #expect(overview.totalUsers == 2 && overview.held == 1 && overview.running == 1)

            await #expect(throws: refusal("User is not held", client)) { try await client.send(.release(user: "bob", mode: .accept)) }
            await #expect(throws: refusal("User not found", client)) { try await client.send(.release(user: "carol", mode: .accept)) }
            #expect(try await client.send(.release(user: "alice", mode: .restore)).ok)
            await eventually("alice syncs again, a full sync") { engine.started.count == 3 && engine.started.last == "alice full" }

            #expect(try await client.send(.replicate(mask: "*", priority: .low, full: true)).count == 2)
            #expect(try await client.send(.remove(user: "bob")).ok)
            await #expect(throws: refusal("User not found", client)) { try await client.send(.remove(user: "bob")) }
            #expect(try await client.send(.status(mask: "*")).users?.map(\.username) == ["alice"])
        }
    }

    @Test func badLines_areAnsweredWithWhatIsWrong_andTheConnectionGoesOn() async throws {
        let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: ManualClock(), logger: silent)
        try await withAdminServer(replicator, engine: nil, running: false) { client in
            let lines: [(String, String)] = [
                ("hello", "not valid JSON"),
                ("[1,2]", "a request must be a JSON object"),
                ("{}", "missing field \"command\""),
                (#"{"command":"fly"}"#, "unknown command \"fly\" (status, dsync-status, replicate, add, remove, release)"),
                (#"{"command":"add"}"#, "\"add\" needs the field \"mask\""),
                (#"{"command":"remove","user":""}"#, "the field \"user\" must not be empty"),
                (#"{"command":"remove","user":"a\nb"}"#, "the field \"user\" must not contain control characters"),
                (#"{"command":"status","mask":7}"#, "the field \"mask\" must be a string"),
                (#"{"command":"replicate","mask":"x","full":"yes"}"#, "the field \"full\" must be true or false"),
                (#"{"command":"replicate","mask":"x","priority":"urgent"}"#, "invalid priority \"urgent\" (none, low, high or sync)"),
                (#"{"command":"release","user":"x"}"#, "\"release\" needs the field \"mode\" (restore or accept)"),
                (#"{"command":"release","user":"x","mode":"forget"}"#, "invalid mode \"forget\" (restore or accept)"),
                ("", "not valid JSON"),
                (String(repeating: "x", count: ReplicatorAdminServer.maximumRequestLength + 1), "request line longer than 65536 bytes"),
            ]
            var payload = ByteBuffer()
            for (line, _) in lines { payload.writeString(line + "\n") }
            payload.writeString(#"{"command":"status","ignored":true}"# + "\r\n")
            let answers = try await client.exchange(payload, responses: lines.count + 1)
            try #require(answers.count == lines.count + 1)
            for (answer, (line, expected)) in zip(answers, lines) {
                #expect(answer == .failure(expected), "for \(line.prefix(60))")
            }
            #expect(answers.last?.ok == true && answers.last?.statistics == ReplicatorStatistics(), "the connection went on")
        }
    }

    @Test func requestLineOfExactlyTheMaximum_isRead_andOneByteMoreIsNot() async throws {
        let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: ManualClock(), logger: silent)
        try await withAdminServer(replicator, engine: nil, running: false) { client in
            let prefix = #"{"command":"status","pad":""#
            let exact = prefix + String(repeating: " ", count: ReplicatorAdminServer.maximumRequestLength - prefix.count - 2) + #""}"#
            #expect(exact.utf8.count == ReplicatorAdminServer.maximumRequestLength)
            let payload = ByteBuffer(string: exact + "\n" + " " + exact + "\n")
            let answers = try await client.exchange(payload, responses: 2)
            #expect(answers.map(\.ok) == [true, false])
        }
    }

    @Test func socket_isMode0600_andRemovedWhenTheServerStops() async throws {
        let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: ManualClock(), logger: silent)
        var path = ""
        try await withAdminServer(replicator, engine: nil, running: false) { client async throws in
            path = client.socketPath
            var status = stat()
            #expect(lstat(path, &status) == 0)
            #expect(status.st_mode & S_IFMT == S_IFSOCK)
            #expect(status.st_mode & 0o7777 == 0o600)
            let directory = (path as NSString).deletingLastPathComponent
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["admin.sock"], "no temporary socket left")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func staleSocket_isReplaced_butAServedSocketOrAFileIsNot() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-admin") { directory in
            let path = directory.appending("admin.sock")
            let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: ManualClock(), logger: silent)

            // A file that is no socket stays as it is.
            try Data("keep me".utf8).write(to: URL(fileURLWithPath: path))
            await #expect(throws: ReplicatorAdminError(.cannotListen, "exists and is not a socket; not replacing it", socketPath: path)) {
                try await ReplicatorAdminServer(socketPath: path, replicator: replicator, logger: silent).run()
            }
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
            try FileManager.default.removeItem(atPath: path)

            // A socket nobody listens on (a server that died) is taken over.
            close(try UnixSocket.make(at: path, listening: false))
            try await withServing(ReplicatorAdminServer(socketPath: path, replicator: replicator, logger: silent)) { () async throws in
                let client = ReplicatorAdminClient(socketPath: path, timeout: Self.patience)
                #expect(try await client.send(.status(mask: nil)).ok)

                // A second server on the same path refuses to start; the first one goes on.
                await #expect(throws: ReplicatorAdminError(.cannotListen, "another process is serving this socket", socketPath: path)) {
                    try await ReplicatorAdminServer(socketPath: path, replicator: replicator, logger: silent).run()
                }
                #expect(try await client.send(.status(mask: nil)).ok)
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func client_namesTheSocket_whenNothingServesIt_orTheServerSaysNothing() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-admin") { directory in
            let path = directory.appending("admin.sock")
            let client = ReplicatorAdminClient(socketPath: path, timeout: .milliseconds(300))
            await #expect(throws: ReplicatorAdminError(.cannotConnect, "cannot connect: No such file or directory", socketPath: path)) {
                try await client.send(.dsyncStatus)
            }

            // Listening, but never answering: the timeout.
            let mute = try UnixSocket.make(at: path, listening: true)
            await #expect(throws: ReplicatorAdminError(.timedOut, "no answer from the replicator within 0.3 seconds", socketPath: path)) {
                try await client.send(.dsyncStatus)
            }
            close(mute)
            unlink(path)

            // Accepting, then closing without an answer: an unexpected disconnect.
            let rude = try UnixSocket.make(at: path, listening: true)
            defer { close(rude) }
            _ = fcntl(rude, F_SETFL, fcntl(rude, F_GETFL) | O_NONBLOCK)
            async let answer = ReplicatorAdminClient(socketPath: path, timeout: Self.patience).send(.dsyncStatus)
            await eventually("the client connects") {
                let connection = accept(rude, nil, nil)
                guard connection >= 0 else { return false }
                close(connection)
                return true
            }
            do {
                _ = try await answer
                Issue.record("an answer from a server that said nothing")
            } catch let error as ReplicatorAdminError {
                #expect(error.code == .disconnected && error.socketPath == path, "\(error)")
            }
        }
    }

    // MARK: Pure parts

    @Test func framer_dripFedAndBatched_givesTheSameLines() {
        let input = "a\n{\"x\":1}\r\n" + String(repeating: "x", count: 40) + "\ntail\n" + String(repeating: "y", count: 16) + "\n"
            + String(repeating: "z", count: 17) + "\nlast\npartial"
        let expected: [AdminFrame] = [
            .line(ByteBuffer(string: "a")), .line(ByteBuffer(string: "{\"x\":1}")), .tooLong, .line(ByteBuffer(string: "tail")),
            .line(ByteBuffer(string: String(repeating: "y", count: 16))), .tooLong, .line(ByteBuffer(string: "last")),
        ]
        func frames(chunkSize: Int) -> [AdminFrame] {
            var framer = AdminLineFramer(maximumLength: 16)
            var buffer = ByteBuffer()
            var frames: [AdminFrame] = []
            let bytes = Array(input.utf8)
            for start in stride(from: 0, to: bytes.count, by: chunkSize) {
                buffer.writeBytes(bytes[start..<min(start + chunkSize, bytes.count)])
                while let frame = framer.next(&buffer) { frames.append(frame) }
            }
            #expect(buffer.readableBytes <= 16, "memory stays bounded")
            return frames
        }
        #expect(frames(chunkSize: 1) == expected)
        #expect(frames(chunkSize: 7) == expected)
        #expect(frames(chunkSize: input.utf8.count) == expected)
    }

    @Test func requests_roundTripThroughTheirWireForm() throws {
        let requests: [ReplicatorAdminRequest] = [
            .status(mask: nil), .status(mask: "a*"), .dsyncStatus, .replicate(mask: "a?c", priority: .sync, full: true),
            .add(mask: "alice"), .remove(user: "bob"), .release(user: "carol", mode: .accept),
        ]
        for request in requests {
            let line = try ReplicatorAdminServer.encodeLine(request)
            let text = String(buffer: line)
            #expect(text.hasSuffix("\n") && text.filter { $0 == "\n" }.count == 1)
            #expect(try ReplicatorAdminRequest(line: line.readableBytesView.dropLast()) == request)
        }
        #expect(try ReplicatorAdminRequest(line: Array(#"{"command":"replicate","mask":"x"}"#.utf8)) == .replicate(mask: "x", priority: .low, full: false))
    }

    @Test func userStatus_isWrittenWithThePriorityByName_andEveryKey() throws {
        let user = ReplicatorAdminUserStatus(username: "alice", priority: .high, lastFastSync: 5, nextSyncSeconds: 9)
        let text = String(buffer: try ReplicatorAdminServer.encodeLine(user))
        #expect(text == #"{"failed":false,"held":false,"lastError":null,"lastFastSync":5,"lastFullSync":0,"lastSuccessfulSync":0,"nextSyncSeconds":9,"priority":"high","running":false,"stuck":null,"username":"alice"}"# + "\n")
        #expect(try JSONDecoder().decode(ReplicatorAdminUserStatus.self, from: Data(text.utf8)) == user)
    }

    // MARK: Helpers

    private func refusal(_ message: String, _ client: ReplicatorAdminClient) -> ReplicatorAdminError {
        ReplicatorAdminError(.refused, message, socketPath: client.socketPath)
    }

    /// Runs `body` with a client of a server in front of `replicator` (whose loop runs too
    /// when `running`); stops both afterwards, ending the engine's syncs still pending.
    private func withAdminServer(
        _ replicator: Replicator, engine: ScriptedEngine?, running: Bool, _ body: (ReplicatorAdminClient) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with(prefix: "duplex-admin") { directory in
            let path = directory.appending("admin.sock")
            let server = ReplicatorAdminServer(socketPath: path, replicator: replicator, logger: silent)
            let stopped = StoppedFlag()
            try await withThrowingDiscardingTaskGroup { group in
                if running {
                    group.addTask {
                        await replicator.run()
                        stopped.set()
                    }
                }
                try await withServing(server) {
                    try await body(ReplicatorAdminClient(socketPath: path, timeout: Self.patience))
                }
                guard running else { return }
                await replicator.stop()
                await eventually("the replicator stops") {
                    for user in ["alice", "bob"] { _ = engine?.end(user) }
                    return stopped.isSet
                }
            }
        }
    }

    /// Runs `server` while `body` runs (from the moment it answers), then cancels it.
    private func withServing(_ server: ReplicatorAdminServer, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let probe = ReplicatorAdminClient(socketPath: server.socketPath, timeout: Self.patience)
            await eventually("the server answers") { (try? await probe.send(.dsyncStatus)) != nil }
            try await body()
            group.cancelAll()
            try await group.waitForAll()
        }
    }
}

/// Plain Unix sockets for playing a dead or a mute server.
enum UnixSocket {
    /// A stream socket bound to `path`, listening when `listening` (and then never
    /// answering); the caller closes it.
    static func make(at path: String, listening: Bool) throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ReplicatorAdminError(.cannotListen, "socket() failed", socketPath: path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8.prefix(raw.count - 1))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, !listening || listen(fd, 8) == 0 else {
            close(fd)
            throw ReplicatorAdminError(.cannotListen, "bind() or listen() failed", socketPath: path)
        }
        return fd
    }
}
