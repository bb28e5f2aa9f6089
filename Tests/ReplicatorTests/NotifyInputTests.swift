import Foundation
import Logging
import MailStoreTestSupport
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOTestUtils
import Synchronization
import Testing

@testable import Replicator

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Dovecot 2.3's notification inputs: the line decoder and parser on their own, then the
/// fifo and the socket against a ``Replicator`` whose engine is a ``ScriptedEngine``.
@Suite struct NotifyInputTests {
    // MARK: Lines

    @Test func decoder_dripFedAndBatched_linesAndOverLongOnes() throws {
        let long = String(repeating: "x", count: 40)
        let pairs: [(String, [NotifyLineFrame])] = [
            ("alice\thigh\n", [.line(ByteBuffer(string: "alice\thigh"))]),
            ("\n", [.line(ByteBuffer())]),
            ("bob\tlow\ncarol\tsync\n", [.line(ByteBuffer(string: "bob\tlow")), .line(ByteBuffer(string: "carol\tsync"))]),
            (long + "\n", [.tooLong(byteCount: 40)]),
            (long + "\ndave\thigh\n", [.tooLong(byteCount: 40), .line(ByteBuffer(string: "dave\thigh"))]),
            (String(repeating: "y", count: 32) + "\n", [.line(ByteBuffer(string: String(repeating: "y", count: 32)))]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(stringInputOutputPairs: pairs) { NotifyLineDecoder(maximumLength: 32) }
    }

    @Test func decoder_atTheEnd_reportsAnUnterminatedOrOverLongRest() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(NotifyLineDecoder(maximumLength: 8)))
        try channel.writeInbound(ByteBuffer(string: "a\tlow\nb\thi"))
        #expect(try channel.readInbound(as: NotifyLineFrame.self) == .line(ByteBuffer(string: "a\tlow")))
        #expect(try channel.readInbound(as: NotifyLineFrame.self) == nil)
        _ = try channel.finish()
        #expect(try channel.readInbound(as: NotifyLineFrame.self) == .unterminated(ByteBuffer(string: "b\thi")))

        let long = EmbeddedChannel(handler: ByteToMessageHandler(NotifyLineDecoder(maximumLength: 8)))
        try long.writeInbound(ByteBuffer(string: "0123456789"))
        try long.writeInbound(ByteBuffer(string: "abc"))
        _ = try long.finish()
        #expect(try long.readInbound(as: NotifyLineFrame.self) == .tooLong(byteCount: 13))
    }

    @Test func request_parsesEachPriority_andUnescapesTheUserName() throws {
        #expect(try NotifyRequest(parsing: Array("alice@example.com\thigh".utf8)) == NotifyRequest(user: "alice@example.com", priority: .high))
        #expect(try NotifyRequest(parsing: Array("bob\tlow".utf8)).priority == .low)
        #expect(try NotifyRequest(parsing: Array("bob\tsync".utf8)).priority == .sync)
        // Dovecot's str_tabescape: 0x01 → 0x01 '1', TAB → 0x01 't', CR → 0x01 'r', LF → 0x01 'n'.
        let escaped: [UInt8] = Array("a".utf8) + [1, UInt8(ascii: "t")] + Array("b".utf8) + [1, UInt8(ascii: "1"), 1, UInt8(ascii: "r"), 1, UInt8(ascii: "n")]
            + Array("é\tlow".utf8)
        #expect(try NotifyRequest(parsing: escaped).user == "a\tb\u{01}\r\né")
    }

    @Test(arguments: [
        ("alice high", NotifyLineError.Code.fieldCount, "found no TAB"),
        ("alice\thigh\textra", .fieldCount, "found more than one TAB"),
        ("\thigh", .emptyUser, "the user name is empty"),
        ("alice\turgent", .unknownPriority, "must be low, high or sync"),
        ("alice\tHIGH", .unknownPriority, "must be low, high or sync"),
        ("alice\thigh\r", .unknownPriority, "must be low, high or sync"),
        ("al\u{01}xice\thigh", .badEscape, "0x01 followed by \"x\""),
        ("alice\u{01}\thigh", .badEscape, "0x01 at the end of the name"),
        ("al\u{01}0ice\thigh", .badUserName, "without NUL"),
    ])
    func request_refusesBadLines_sayingWhatIsWrong(line: String, code: NotifyLineError.Code, message: String) {
        let error = #expect(throws: NotifyLineError.self) { try NotifyRequest(parsing: Array(line.utf8)) }
        #expect(error?.code == code)
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
        #expect(error?.line == String(reflecting: line))
    }

    @Test func request_refusesANameThatIsNotUTF8() {
        let error = #expect(throws: NotifyLineError.self) { try NotifyRequest(parsing: [0x61, 0xFF, 0x09] + Array("low".utf8)) }
        #expect(error?.code == .badUserName)
    }

    // MARK: The fifo

    @Test func fifo_isMadeMode0600_andItsLinesReachTheReplicator() async throws {
        try await withInputs { fixture in
            let fifo = try await fixture.startFifo()
            var status = stat()
            #expect(lstat(fifo, &status) == 0)
            #expect(status.st_mode & S_IFMT == S_IFIFO)
            #expect(status.st_mode & 0o777 == 0o600)
            try fixture.write(["alice\thigh", "bob\tlow"], toFifo: fifo)
            await eventually("both users' syncs") { Set(fixture.synced) == ["alice", "bob"] }
        }
    }

    @Test func fifo_badLinesAreLoggedAndSkipped_theNextLineIsRead() async throws {
        try await withInputs { fixture in
            let fifo = try await fixture.startFifo()
            let long = String(repeating: "z", count: NotifyFifoInput.defaultMaximumLineLength + 10)
            try fixture.write(["no tab here", "\thigh", "carol\tsync", "carol\tnone", "carol\turgent", long + "\thigh", "dave\thigh"], toFifo: fifo)
            await eventually("dave's sync") { fixture.synced == ["dave"] }
            let warnings = fixture.log.messages.filter { $0.contains("notification skipped") }
            #expect(warnings.count == 6, "\(warnings)")
            #expect(warnings.contains { $0.contains("expected USER<TAB>PRIORITY, found no TAB: \"no tab here\"") }, "\(warnings)")
            #expect(warnings.contains { $0.contains("this input takes low or high, not sync") }, "\(warnings)")
            #expect(warnings.contains { $0.contains("a line of \(long.utf8.count + 5) bytes is longer than the maximum") }, "\(warnings)")
            #expect(await fixture.replicator.userStatus(UserMask("*")).map(\.username) == ["dave"])
        }
    }

    @Test func fifo_escapedUserName_isQueuedUnescaped() async throws {
        try await withInputs { fixture in
            let fifo = try await fixture.startFifo()
            try fixture.write(["odd\u{01}tname\thigh"], toFifo: fifo)
            await eventually("the sync of the unescaped name") { fixture.synced == ["odd\tname"] }
        }
    }

    @Test func fifo_writersComeAndGo_linesFromEachAreRead() async throws {
        try await withInputs { fixture in
            let fifo = try await fixture.startFifo()
            for user in ["u1", "u2", "u3"] {
                try fixture.write(["\(user)\tlow"], toFifo: fifo)  // opens, writes, closes
            }
            await eventually("three syncs") { Set(fixture.synced) == ["u1", "u2", "u3"] }
        }
    }

    @Test func fifo_existingFifoGetsTheConfiguredMode_andAnythingElseIsRefused() async throws {
        try await withInputs { fixture in
            let existing = fixture.directory.appending("existing-fifo")
            #expect(mkfifo(existing, 0o644) == 0)
            _ = try await fixture.startFifo(at: existing, access: NotifyPathAccess(mode: 0o620))
            var status = stat()
            #expect(lstat(existing, &status) == 0 && status.st_mode & 0o777 == 0o620)

            let file = fixture.directory.appending("plain-file")
            try Data("x".utf8).write(to: URL(fileURLWithPath: file))
            let input = NotifyFifoInput(path: file, replicator: fixture.replicator, logger: silent)
            let error = await #expect(throws: NotifyInputError.self) { try await input.run() }
            #expect(error?.code == .notAFifo)
            #expect(error?.description.hasPrefix(file + ": exists and is not a fifo") == true, "\(String(describing: error))")
        }
    }

    @Test(.enabled(if: getuid() == 0, "only root gives files away"))
    func fifoAndSocket_belongToTheConfiguredOwnerAndGroup() async throws {
        try await withInputs { fixture in
            let access = NotifyPathAccess(mode: 0o660, owner: 65534, group: 65534)
            let fifo = try await fixture.startFifo(access: access)
            let socket = try await fixture.startSocket(access: access)
            for path in [fifo, socket] {
                var status = stat()
                #expect(lstat(path, &status) == 0)
                #expect(status.st_uid == 65534 && status.st_gid == 65534, "\(path)")
                #expect(status.st_mode & 0o777 == 0o660, "\(path)")
            }
        }
    }

    // MARK: The socket

    @Test func socket_syncAnsweredPlus_whenTheSyncSucceeds() async throws {
        try await withInputs { fixture in
            let socket = try await fixture.startSocket()
            var status = stat()
            #expect(lstat(socket, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK && status.st_mode & 0o777 == 0o600)
            let client = try await NotifySocketClient(path: socket)
            try await client.send("alice\tsync")
            await eventually("alice's sync") { fixture.synced == ["alice"] }
            await eventually("the sync ends") { fixture.engine.end("alice") }
            #expect(try await client.answer() == "+")
            // The same connection may ask again.
            try await client.send("alice\tsync")
            await eventually("alice's second sync") { fixture.synced.count == 2 }
            await eventually("the sync fails") { fixture.engine.end("alice", .failure("peer unreachable")) }
            #expect(try await client.answer() == "-")
            try await client.close()
        }
    }

    @Test func socket_syncAnsweredMinus_afterTheTimeout_onTheReplicatorsClock() async throws {
        try await withInputs { fixture in
            let socket = try await fixture.startSocket(syncTimeout: 600)
            let client = try await NotifySocketClient(path: socket)
            try await client.send("bob\tsync")
            await eventually("bob's sync") { fixture.synced == ["bob"] }
            fixture.clock.advance(by: 599)
            try await Task.sleep(for: .milliseconds(30))
            #expect(!fixture.log.messages.contains { $0.contains("answered") }, "no answer before the timeout")
            fixture.clock.advance(by: 1)
            #expect(try await client.answer() == "-")
            #expect(fixture.log.messages.contains { $0.contains("no sync within 600 s") })
            // The sync itself goes on and ends; its late end answers nobody.
            await eventually("the sync ends") { fixture.engine.end("bob") }
            try await client.close()
        }
    }

    @Test func socket_lowAndHighAreTakenWithoutAnswer_aBadLineClosesTheConnection() async throws {
        try await withInputs { fixture in
            let socket = try await fixture.startSocket()
            let client = try await NotifySocketClient(path: socket)
            try await client.send("carol\tlow")
            try await client.send("dave\thigh")
            await eventually("both syncs") { Set(fixture.synced) == ["carol", "dave"] }
            try await client.send("erin\tnone")
            #expect(try await client.answer() == nil, "closed after a bad line")
            #expect(fixture.log.messages.contains { $0.contains("bad line, connection closed: this input takes low or high or sync, not none") })
        }
    }

    @Test func socket_staleSocketIsReplaced_aLiveOneOrAFileIsRefused() async throws {
        try await withInputs { fixture in
            // A socket left behind by a process that died: bound, never listened on.
            let stale = fixture.directory.appending("stale.sock")
            try Self.leaveStaleSocket(at: stale)
            _ = try await fixture.startSocket(at: stale)
            let client = try await NotifySocketClient(path: stale)
            try await client.send("frank\tlow")
            await eventually("frank's sync") { fixture.synced == ["frank"] }
            try await client.close()

            let inUse = NotifySocketInput(path: stale, replicator: fixture.replicator, logger: silent)
            let busy = await #expect(throws: NotifyInputError.self) { try await inUse.run() }
            #expect(busy?.code == .inUse)

            let file = fixture.directory.appending("not-a-socket")
            try Data().write(to: URL(fileURLWithPath: file))
            let notASocket = NotifySocketInput(path: file, replicator: fixture.replicator, logger: silent)
            let error = await #expect(throws: NotifyInputError.self) { try await notASocket.run() }
            #expect(error?.code == .notASocket)
        }
    }

    @Test func socket_isRemovedWhenTheInputStops() async throws {
        let path = try await withInputs { fixture in
            try await fixture.startSocket()
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}

// MARK: - Support

extension NotifyInputTests {
    /// Binds a unix socket at `path` and closes it without removing the file, as a
    /// process that died leaves it.
    static func leaveStaleSocket(at path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw DovecotTestError.io("socket: \(errno)") }
        defer { close(descriptor) }
        let address = try SocketAddress(unixDomainSocketPath: path)
        let result = address.withSockAddr { pointer, length in bind(descriptor, pointer, socklen_t(length)) }
        guard result == 0 else { throw DovecotTestError.io("bind \(path): \(errno)") }
    }

    /// A replicator on a manual clock with a scripted engine, and inputs started on demand,
    /// all stopped when the test body returns.
    struct Fixture {
        let directory: TemporaryDirectory
        let clock: ManualClock
        let engine: ScriptedEngine
        let log: CapturedLog
        let replicator: Replicator
        let inputs: InputTasks

        var logger: Logger { log.logger }

        /// The users whose syncs started, in order (a first sync is a full one).
        var synced: [String] { engine.started.map(Self.user(of:)) }

        /// The user of a ``ScriptedEngine/started`` entry (`alice` or `alice full`).
        static func user(of entry: String) -> String {
            entry.hasSuffix(" full") ? String(entry.dropLast(" full".count)) : entry
        }

        /// Starts a fifo input at `path` (default: `notify-fifo` in the directory) and
        /// waits until it reads.
        func startFifo(at path: String? = nil, access: NotifyPathAccess = NotifyPathAccess()) async throws -> String {
            let path = path ?? directory.appending("notify-fifo")
            let input = NotifyFifoInput(path: path, access: access, replicator: replicator, logger: logger)
            inputs.add { try await input.run() }
            await eventually("the fifo has a reader") {
                let descriptor = open(path, O_WRONLY | O_NONBLOCK)
                guard descriptor >= 0 else { return false }
                close(descriptor)
                return true
            }
            return path
        }

        /// Starts a socket input at `path` (default: `notify.sock` in the directory) and
        /// waits until it is in place.
        func startSocket(
            at path: String? = nil, access: NotifyPathAccess = NotifyPathAccess(), syncTimeout: Int64 = 600
        ) async throws -> String {
            // A long sync timeout (on the manual clock) also makes the input's real-time idle
            // timeout long (30 s more): a loaded machine can leave a test's connection silent
            // for longer than a short one while its turn comes.
            let path = path ?? directory.appending("notify.sock")
            let input = NotifySocketInput(path: path, access: access, replicator: replicator, syncTimeout: syncTimeout, logger: logger)
            inputs.add { try await input.run() }
            await eventually("the socket accepts connections") { Self.acceptsConnections(path) }
            return path
        }

        /// Writes `lines` to the fifo in one write, as a mail process does, and closes it.
        func write(_ lines: [String], toFifo path: String) throws {
            let descriptor = open(path, O_WRONLY | O_NONBLOCK)
            guard descriptor >= 0 else { throw DovecotTestError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            try handle.write(contentsOf: Data(lines.map { $0 + "\n" }.joined().utf8))
        }

        /// Whether a process listens on the unix socket at `path`.
        private static func acceptsConnections(_ path: String) -> Bool {
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0, let address = try? SocketAddress(unixDomainSocketPath: path) else { return false }
            defer { close(descriptor) }
            return address.withSockAddr { pointer, length in connect(descriptor, pointer, socklen_t(length)) } == 0
        }
    }

    /// Runs `body` with a fixture whose replicator runs; stops everything afterwards.
    func withInputs<T: Sendable>(_ body: (Fixture) async throws -> T) async throws -> T {
        try await TemporaryDirectory.with(prefix: "duplex-notify") { directory in
            let engine = ScriptedEngine()
            let clock = ManualClock()
            let log = CapturedLog()
            let replicator = Replicator(queue: UserQueue(), engine: engine, clock: clock, logger: log.logger)
            let inputs = InputTasks()
            let stopped = StoppedFlag()
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    await replicator.run()
                    stopped.set()
                }
                tasks.addTask { await inputs.run() }
                let fixture = Fixture(directory: directory, clock: clock, engine: engine, log: log, replicator: replicator, inputs: inputs)
                let result = await Result { try await body(fixture) }
                tasks.cancelAll()
                // The replicator's stop waits for the running syncs: end them.
                await eventually("the replicator stopped") {
                    for user in Set(engine.started.map(Fixture.user(of:))) { while engine.end(user) {} }
                    return stopped.isSet
                }
                try await tasks.waitForAll()
                return try result.get()
            }
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}

/// Inputs started while a test runs, all in one task (cancelled with it); an input that
/// stops with an error is a test issue.
final class InputTasks: Sendable {
    private let pending: AsyncStream<@Sendable () async throws -> Void>.Continuation
    private let stream: AsyncStream<@Sendable () async throws -> Void>

    init() {
        (stream, pending) = AsyncStream.makeStream()
    }

    func add(_ work: @escaping @Sendable () async throws -> Void) {
        pending.yield(work)
    }

    func run() async {
        await withDiscardingTaskGroup { group in
            for await work in stream {
                group.addTask {
                    do {
                        try await work()
                    } catch is CancellationError {
                    } catch {
                        Issue.record("an input stopped: \(error)")
                    }
                }
            }
        }
    }
}

/// Log messages kept for the test to look at.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var messages: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "notify-test") { _ in Handler(log: self) }
    }

    fileprivate func append(_ line: String) {
        lines.withLock { $0.append(line) }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            log.append("\(event.level): \(event.message)")
        }
    }
}

/// A client of the notify socket, as Dovecot's plugin is one: lines out, answers in.
final class NotifySocketClient {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var text = ""

    init(path: String) async throws {
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        inbound = channel.inbound.makeAsyncIterator()
    }

    func send(_ line: String) async throws {
        try await channel.outbound.write(ByteBuffer(string: line + "\n"))
    }

    /// The next answer line without its LF; nil when the server closed the connection.
    func answer() async throws -> String? {
        while true {
            if let newline = text.firstIndex(of: "\n") {
                defer { text = String(text[text.index(after: newline)...]) }
                return String(text[..<newline])
            }
            guard let buffer = try await inbound.next() else { return nil }
            text += String(buffer: buffer)
        }
    }

    func close() async throws {
        try await channel.channel.close()
    }
}
