import Foundation
import MailStore
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Dsync

/// Faults on the wire of a sync over TLS: the connection cut or reset at many points of the
/// conversation, a byte flipped in a TLS record, and dsync frames corrupted after TLS (a
/// test-only handler behind the frame encoder of either side). Each faulted sync must end
/// with a ``DsyncError`` (never a crash or a hang), leave no temporary file and no lock
/// behind on either side, and the next clean sync must converge: both sides hold every
/// message exactly once, with the same UIDs, flags and bodies, and a further sync plans
/// nothing.
@Suite(.timeLimit(.minutes(10))) struct TLSFaultTests {
    /// The codes a broken connection may end a sync with.
    static let brokenConnection: Set<DsyncError.Code> = [.protocolError, .authenticationFailed]

    // MARK: Cuts and flips between the hosts

    /// Cuts (FIN) or resets (RST) the connection after a seeded number of bytes in
    /// `direction`: two in the TLS handshake, and eight spread over the rest of the
    /// conversation (one in each eighth of the bytes): the requests, the bodies B→A (server
    /// to client) and the bodies A→B (client to server).
    @Test(arguments: [ProxyDirection.toServer, .toClient])
    func connectionCut_atOffsetsOverTheWholeSync_thenACleanSyncConverges(direction: ProxyDirection) async throws {
        let total = try await Self.measuredTraffic()[direction]
        var random = SplitMix64(seed: direction == .toServer ? 0xC0FFEE : 0xBADC0DE)
        var offsets = [random.below(64), 64 + random.below(1500)]
        let slots = 8
        for slot in 0..<slots { offsets.append((slot * total + random.below(total)) / slots) }
        for (index, offset) in offsets.enumerated() {
            try await runFaultedSync(.cut(direction, offset: offset, reset: index % 2 == 1))
        }
    }

    /// Flips one byte of a TLS record: TLS refuses the record (bad record MAC) and the sync
    /// ends with a protocol error, not an authentication failure; nothing corrupt reaches a
    /// mail root. A flip in the handshake fails the handshake instead.
    @Test func flippedByte_isRefusedByTLS_thenACleanSyncConverges() async throws {
        let traffic = try await Self.measuredTraffic()
        var random = SplitMix64(seed: 0xF11B)
        for direction in [ProxyDirection.toServer, .toClient] {
            try await runFaultedSync(.flip(direction, offset: random.below(1000)))
            for _ in 0..<3 {
                // Past the handshake and the first requests.
                let offset = 20_000 + random.below(traffic[direction] - 20_000)
                try await runFaultedSync(.flip(direction, offset: offset), expecting: [.protocolError])
            }
        }
    }

    // MARK: Bad frames inside TLS

    /// Frames the server sends, corrupted after its encoder: the client must refuse them.
    @Test(arguments: [
        FrameFault(.response, 2, .unknownType),
        FrameFault(.response, 4, .oversizeLength),
        FrameFault(.bodyChunk, 10, .oversizeLength),
        FrameFault(.bodyChunk, 20, .shortLength),
        FrameFault(.bodyChunk, 30, .truncateAndClose),
        FrameFault(.bodyChunk, 50, .otherStream),
        FrameFault(.bodyEnd, 40, .wrongDigest),
        FrameFault(.bodyEnd, 60, .otherStream),
        FrameFault(.response, 7, .dropAndClose),
        FrameFault(.bodyEnd, 100, .dropAndClose),
    ])
    func badFrameFromTheServer_endsTheSync_thenACleanSyncConverges(fault: FrameFault) async throws {
        try await runFaultedSync(.frame(fault, fromServer: true), expecting: [.protocolError])
    }

    /// Frames the client sends (requests and the bodies it pushes with an apply), corrupted
    /// after its encoder: the server must refuse them and save nothing of a bad body.
    @Test(arguments: [
        FrameFault(.request, 3, .unknownType),
        FrameFault(.request, 5, .shortLength),
        FrameFault(.bodyChunk, 15, .oversizeLength),
        FrameFault(.bodyChunk, 25, .truncateAndClose),
        FrameFault(.bodyChunk, 35, .otherStream),
        FrameFault(.bodyEnd, 30, .wrongDigest),
        FrameFault(.bodyEnd, 80, .dropAndClose),
    ])
    func badFrameFromTheClient_endsTheSync_thenACleanSyncConverges(fault: FrameFault) async throws {
        try await runFaultedSync(.frame(fault, fromServer: false), expecting: [.protocolError])
    }

    // MARK: The scenario

    /// Where a fault is put: on the bytes between the hosts, or on one frame inside TLS.
    enum Fault: CustomStringConvertible {
        case proxy(ProxyPlan)
        case frame(FrameFault, fromServer: Bool)

        static func cut(_ direction: ProxyDirection, offset: Int, reset: Bool) -> Fault {
            .proxy(ProxyPlan(direction: direction, offset: offset, action: reset ? .reset : .cut))
        }

        static func flip(_ direction: ProxyDirection, offset: Int) -> Fault {
            .proxy(ProxyPlan(direction: direction, offset: offset, action: .flip))
        }

        var description: String {
            switch self {
            case .proxy(let plan): "\(plan.action) \(plan.direction) at byte \(plan.offset)"
            case .frame(let fault, let fromServer): "\(fault) from the \(fromServer ? "server" : "client")"
            }
        }
    }

    /// A fresh pair of mail roots that need copies both ways, one sync with `fault`, then the
    /// checks: a ``DsyncError`` of a broken connection, no lock and no temporary file left,
    /// and a clean sync that converges.
    func runFaultedSync(
        _ fault: Fault, expecting codes: Set<DsyncError.Code> = brokenConnection, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let f = try SyncFixture.overTLS()
        let mail = try FaultMail.populate(f)
        try await f.withTLSPeer { peer in
            let record = FaultRecord()
            let outcome: Result<SyncReport, any Error>
            switch fault {
            case .proxy(let plan):
                outcome = try await FaultProxy.with(target: peer.port, plan: plan, record: record) { port in
                    await Self.sync(f, peer, port: port)
                }
            case .frame(let frameFault, let fromServer):
                let factory: DsyncFrameFaultFactory = { FrameFaultHandler(frameFault, record: record) }
                if fromServer {
                    peer.server.frameFault.withLock { $0 = factory }
                    outcome = await Self.sync(f, peer, port: peer.port)
                    peer.server.frameFault.withLock { $0 = nil }
                } else {
                    let remote = try RemoteReplica(endpoint: peer.endpoint, user: f.user, tls: peer.certificates.hostA)
                    remote.frameFault.withLock { $0 = factory }
                    outcome = await Self.sync(f, remote: remote)
                }
            }
            #expect(record.fired, "\(fault): the fault never happened (the sync was shorter)", sourceLocation: sourceLocation)
            switch outcome {
            case .success(let report):
                Issue.record("\(fault): the sync succeeded: \(report)", sourceLocation: sourceLocation)
            case .failure(let error as DsyncError):
                #expect(codes.contains(error.code), "\(fault): \(error.code): \(error)", sourceLocation: sourceLocation)
                #expect(!error.message.contains("read timeout"), "\(fault): the sync waited for the read timeout: \(error)", sourceLocation: sourceLocation)
            case .failure(let error):
                Issue.record("\(fault): not a DsyncError: \(error)", sourceLocation: sourceLocation)
            }
            try await Self.expectNothingLeftBehind(f, fault, sourceLocation: sourceLocation)
            try await peer.sync(sourceLocation: sourceLocation)
            try await Self.expectConverged(f, mail, peer: peer, fault, sourceLocation: sourceLocation)
        }
    }

    /// One sync of the fixture against the agent at `port` (the proxy's or the agent's own),
    /// bounded in time: a faulted sync that hangs fails the test instead of blocking it.
    static func sync(_ f: SyncFixture, _ peer: TLSPeer, port: Int) async -> Result<SyncReport, any Error> {
        do {
            let remote = try RemoteReplica(endpoint: "tls://127.0.0.1:\(port)", user: f.user, tls: peer.certificates.hostA)
            return await sync(f, remote: remote)
        } catch {
            return .failure(error)
        }
    }

    static func sync(_ f: SyncFixture, remote: RemoteReplica) async -> Result<SyncReport, any Error> {
        let session = SyncSession(a: LocalReplica(store: f.a), b: remote, options: f.options())
        do {
            // Well under the 120 s read timeout (a real hang shows), well above a loaded machine's pace.
            return .success(try await withDeadline(.seconds(90)) { try await session.run() })
        } catch {
            return .failure(error)
        }
    }

    /// Both user locks are free (the agent's within a moment: it notices the broken
    /// connection) and no mailbox of either side has a file left in `tmp/`.
    static func expectNothingLeftBehind(_ f: SyncFixture, _ fault: Fault, sourceLocation: SourceLocation) async throws {
        try await LocalReplica(store: f.a).withUserLock(timeout: .zero) {}
        try await LocalReplica(store: f.b).withUserLock(timeout: .seconds(3)) {}
        for store in [f.a, f.b] {
            // INBOX's tmp/ and every .Mailbox/tmp/.
            let folders = ["."] + (try FileManager.default.contentsOfDirectory(atPath: store.root)).filter { $0.hasPrefix(".") }
            for folder in folders {
                let tmp = store.root + "/" + folder + "/tmp"
                let left = (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
                #expect(left.isEmpty, "\(fault): \(tmp) holds \(left)", sourceLocation: sourceLocation)
            }
        }
    }

    /// Both sides hold every message of `mail` exactly once in its mailbox, with the same
    /// UIDs and flags and the bodies that were saved, and a further sync plans nothing.
    static func expectConverged(
        _ f: SyncFixture, _ mail: FaultMail, peer: TLSPeer, _ fault: Fault, sourceLocation: SourceLocation
    ) async throws {
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB, "\(fault): the sides differ:\nA:\n\(mapA)\nB:\n\(mapB)", sourceLocation: sourceLocation)
        for (label, map, store) in [("A", mapA, f.a), ("B", mapB, f.b)] {
            #expect(Set(map.mailboxes.keys) == Set(mail.mailboxes.keys), "\(fault): \(label) has \(map.mailboxes.keys.sorted())", sourceLocation: sourceLocation)
            for (name, expected) in mail.mailboxes {
                let guids = (map.mailboxes[name]?.messages.values.map(\.guid) ?? []).sorted()
                #expect(guids == expected.sorted(), "\(fault): \(label) \(name) holds \(guids.count) messages, not each of the \(expected.count) once", sourceLocation: sourceLocation)
                for (uid, entry) in map.mailboxes[name]?.messages ?? [:] {
                    let body = try f.body(store, try MailboxName(name), uid: uid)
                    #expect(body == mail.bodies[entry.guid], "\(fault): \(label) \(name) UID \(uid) (\(entry.guid)) has another body", sourceLocation: sourceLocation)
                }
            }
        }
        let again = try await peer.sync(sourceLocation: sourceLocation)
        #expect(again.plannedA == 0 && again.plannedB == 0, "\(fault): a further sync planned changes: \(again)", sourceLocation: sourceLocation)
    }

    /// The bytes each way of the scenario's whole sync, measured through a proxy that changes
    /// nothing (once: the tests that need it share it).
    static func measuredTraffic() async throws -> ProxyTraffic {
        if let traffic = measured.withLock({ $0 }) { return traffic }
        let traffic = try await measureTraffic()
        measured.withLock { $0 = traffic }
        return traffic
    }

    private static let measured = Mutex<ProxyTraffic?>(nil)

    private static func measureTraffic() async throws -> ProxyTraffic {
        let f = try SyncFixture.overTLS()
        let mail = try FaultMail.populate(f)
        return try await f.withTLSPeer { peer in
            let record = FaultRecord()
            let plan = ProxyPlan(direction: .toServer, offset: .max, action: .cut)
            let outcome = try await FaultProxy.with(target: peer.port, plan: plan, record: record) { port in
                await sync(f, peer, port: port)
            }
            _ = try outcome.get()
            try await expectConverged(f, mail, peer: peer, .proxy(plan), sourceLocation: #_sourceLocation)
            return record.traffic
        }
    }
}

/// Runs `body`, or throws when it has not finished within `limit` (and cancels it).
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw DsyncError(.io, "still running after \(limit): it hangs")
        }
        return result
    }
}

// MARK: - The mail

/// The mail of a fault test: on each side 90 small messages and two of 300–700 KiB (several
/// body chunks each) in INBOX, and on B a mailbox A lacks with 10 small and one large
/// message, so that a sync copies about 200 messages both ways and creates a mailbox.
struct FaultMail {
    /// Every message body by GUID.
    var bodies: [String: [UInt8]] = [:]
    /// The GUIDs each mailbox holds once the sides converged.
    var mailboxes: [String: Set<String>] = [:]

    static func populate(_ f: SyncFixture) throws -> FaultMail {
        var mail = FaultMail()
        try mail.add(f, f.a, "INBOX", prefix: "a", small: 90, large: [300 * 1024, 700 * 1024])
        try mail.add(f, f.b, "INBOX", prefix: "b", small: 90, large: [400 * 1024 + 17, 600 * 1024])
        try f.create(f.b, "Archive")
        try mail.add(f, f.b, "Archive", prefix: "r", small: 10, large: [520 * 1024])
        return mail
    }

    private mutating func add(
        _ f: SyncFixture, _ store: MailStore, _ mailbox: String, prefix: String, small: Int, large: [Int]
    ) throws {
        let batch = try store.makeSaveBatch(in: try MailboxName(mailbox))
        var items: [(String, [UInt8])] = (1...small).map { ("\(prefix)-\($0)", SyncFixture.body("\(prefix)-\($0)")) }
        for (index, size) in large.enumerated() {
            let guid = "\(prefix)-large-\(index + 1)"
            items.append((guid, Self.largeBody(guid, size: size)))
        }
        for (guid, body) in items {
            try batch.add(options: SaveOptions(guid: guid)) { try $0.write(body) }
            bodies[guid] = body
            mailboxes[mailbox, default: []].insert(guid)
        }
        _ = try batch.commit()
    }

    /// A message of `size` bytes: a header and lines of seeded letters.
    static func largeBody(_ guid: String, size: Int) -> [UInt8] {
        var body = SyncFixture.body(guid)
        var random = SplitMix64(seed: UInt64(truncatingIfNeeded: guid.utf8.reduce(5381) { $0 &* 33 &+ Int($1) }))
        while body.count < size {
            for _ in 0..<76 { body.append(UInt8(ascii: "a") + UInt8(random.below(26))) }
            body += [13, 10]
        }
        return Array(body.prefix(size))
    }
}

// MARK: - Fault records

/// What a fault saw: whether it happened, and the bytes that went each way.
final class FaultRecord: Sendable {
    private let state = Mutex<(fired: Bool, traffic: ProxyTraffic)>((false, ProxyTraffic()))

    var fired: Bool { state.withLock { $0.fired } }
    var traffic: ProxyTraffic { state.withLock { $0.traffic } }

    func fire() { state.withLock { $0.fired = true } }
    func count(_ bytes: Int, _ direction: ProxyDirection) {
        state.withLock { $0.traffic.bytes[direction, default: 0] += bytes }
    }
}

/// Which way bytes go between the client (A's `RemoteReplica`) and the agent.
enum ProxyDirection: String, Sendable, CustomTestStringConvertible {
    case toServer
    case toClient

    var testDescription: String { rawValue }
}

/// Bytes forwarded each way.
struct ProxyTraffic: Sendable {
    var bytes: [ProxyDirection: Int] = [:]

    subscript(direction: ProxyDirection) -> Int { bytes[direction] ?? 0 }
}

// MARK: - The proxy

/// What the proxy does to the first connection through it.
struct ProxyPlan: Sendable {
    enum Action: Sendable {
        /// Both sockets closed (FIN) once `offset` bytes went in `direction`.
        case cut
        /// Both sockets reset (RST, linger 0) once `offset` bytes went in `direction`.
        case reset
        /// The byte at `offset` in `direction` XORed with 0x5A.
        case flip
    }

    var direction: ProxyDirection
    var offset: Int
    var action: Action
}

/// A TCP proxy on loopback between a ``RemoteReplica`` and a ``DsyncServer`` that forwards
/// bytes both ways with backpressure and breaks them as a ``ProxyPlan`` says. It sees only
/// TLS records: a cut is a truncation, a flipped byte a record that fails its MAC.
enum FaultProxy {
    /// Runs `body` with the port of a proxy to `target` on 127.0.0.1, then closes it.
    static func with<T: Sendable>(
        target: Int, plan: ProxyPlan, record: FaultRecord, _ body: (_ port: Int) async throws -> T
    ) async throws -> T {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                let connection = ProxyConnection(plan: plan, record: record)
                let toServer = ProxyHandler(reading: .toServer, connection: connection)
                let toClient = ProxyHandler(reading: .toClient, connection: connection)
                toServer.partner = toClient
                toClient.partner = toServer
                // Both ends on one loop: the handlers never need a lock.
                return ClientBootstrap(group: inbound.eventLoop)
                    .channelInitializer { outbound in
                        outbound.eventLoop.makeCompletedFuture { try outbound.pipeline.syncOperations.addHandler(toClient) }
                    }
                    .connect(host: "127.0.0.1", port: target)
                    .flatMapThrowing { _ in try inbound.pipeline.syncOperations.addHandler(toServer) }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        do {
            let result = try await body(listener.localAddress?.port ?? 0)
            try? await listener.close()
            return result
        } catch {
            try? await listener.close()
            throw error
        }
    }
}

/// The state of one proxied connection, shared by its two handlers (on one loop).
final class ProxyConnection {
    let plan: ProxyPlan
    let record: FaultRecord
    private var forwarded: [ProxyDirection: Int] = [:]
    /// Set once cut: nothing more goes through.
    private(set) var isCut = false

    init(plan: ProxyPlan, record: FaultRecord) {
        self.plan = plan
        self.record = record
    }

    /// What to do with `buffer` read in `direction`: the bytes to forward (changed when a
    /// byte is flipped), and whether to cut after them.
    func pass(_ buffer: ByteBuffer, _ direction: ProxyDirection) -> (forward: ByteBuffer, cut: Bool) {
        guard !isCut else { return (ByteBuffer(), false) }
        let start = forwarded[direction, default: 0]
        var buffer = buffer
        let end = start + buffer.readableBytes
        defer { record.count(buffer.readableBytes, direction) }
        guard direction == plan.direction, plan.offset >= start, plan.offset < end else {
            forwarded[direction] = end
            return (buffer, false)
        }
        record.fire()
        switch plan.action {
        case .flip:
            let index = buffer.readerIndex + plan.offset - start
            buffer.setInteger(buffer.getInteger(at: index, as: UInt8.self)! ^ 0x5A, at: index)
            forwarded[direction] = end
            return (buffer, false)
        case .cut, .reset:
            buffer = buffer.getSlice(at: buffer.readerIndex, length: plan.offset - start) ?? ByteBuffer()
            forwarded[direction] = plan.offset
            isCut = true
            return (buffer, true)
        }
    }
}

/// One end of a proxied connection: forwards what it reads to its partner's channel, reads
/// only while the partner can take more, and closes the partner when its own channel closes.
final class ProxyHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The direction of the bytes this end reads.
    let direction: ProxyDirection
    let connection: ProxyConnection
    var partner: ProxyHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    init(reading direction: ProxyDirection, connection: ProxyConnection) {
        self.direction = direction
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The end connected first may have wanted to read before this one was there.
        partner?.resume()
    }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let (forward, cut) = connection.pass(unwrapInboundIn(data), direction)
        if forward.readableBytes > 0 { partner?.forward(forward) }
        if cut {
            let reset = connection.plan.action == .reset
            partner?.close(reset: reset, afterPendingWrites: !reset)
            close(reset: reset, afterPendingWrites: false)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.context?.flush() }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.close(reset: false, afterPendingWrites: true)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resume() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func forward(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func resume() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    private func close(reset: Bool, afterPendingWrites: Bool) {
        guard let context else { return }
        if reset, let socket = context.channel as? any SocketOptionProvider {
            socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in context.close(promise: nil) }
            return
        }
        guard afterPendingWrites else {
            context.close(promise: nil)
            return
        }
        // Writes complete in order: once this empty one is done, everything before it went out.
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in context.close(promise: nil) }
    }
}

// MARK: - Frame faults

/// A fault put on one outbound dsync frame, after the encoder (so TLS carries it intact).
struct FrameFault: Sendable, CustomTestStringConvertible, CustomStringConvertible {
    enum Corruption: String, Sendable {
        /// The length field says 0xFFFFFFF0: above any maximum.
        case oversizeLength
        /// The length field one short: the frame ends early and the stream loses its framing.
        case shortLength
        /// A type byte no frame kind has.
        case unknownType
        /// Half of the frame, then the connection closes (cleanly, with a TLS close).
        case truncateAndClose
        /// The connection closes where the frame belonged.
        case dropAndClose
        /// A `bodyEnd` whose digest has one byte flipped.
        case wrongDigest
        /// A `bodyChunk` or `bodyEnd` of another stream.
        case otherStream
    }

    /// The kind of frame hit.
    var kind: DsyncFrame.Kind
    /// Which frame of that kind, from 1.
    var ordinal: Int
    var corruption: Corruption

    init(_ kind: DsyncFrame.Kind, _ ordinal: Int, _ corruption: Corruption) {
        self.kind = kind
        self.ordinal = ordinal
        self.corruption = corruption
    }

    var description: String { "\(corruption.rawValue) on \(kind) #\(ordinal)" }
    var testDescription: String { description }
}

/// The test-only outbound handler behind a connection's frame encoder (see
/// ``DsyncFrameFaultFactory``): each write is one encoded frame; the chosen one is spoilt.
final class FrameFaultHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let fault: FrameFault
    let record: FaultRecord
    private var seen = 0

    init(_ fault: FrameFault, record: FaultRecord) {
        self.fault = fault
        self.record = record
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var frame = unwrapOutboundIn(data)
        let typeIndex = frame.readerIndex + DsyncFrame.lengthFieldSize
        guard seen < fault.ordinal, frame.getInteger(at: typeIndex, as: UInt8.self) == fault.kind.rawValue else {
            context.write(data, promise: promise)
            return
        }
        seen += 1
        guard seen == fault.ordinal else {
            context.write(data, promise: promise)
            return
        }
        record.fire()
        let length = frame.getInteger(at: frame.readerIndex, as: UInt32.self)!
        switch fault.corruption {
        case .oversizeLength:
            frame.setInteger(UInt32(0xFFFF_FFF0), at: frame.readerIndex)
        case .shortLength:
            frame.setInteger(length - 1, at: frame.readerIndex)
        case .unknownType:
            frame.setInteger(UInt8(0x7E), at: typeIndex)
        case .truncateAndClose:
            let half = frame.getSlice(at: frame.readerIndex, length: frame.readableBytes / 2)!
            context.writeAndFlush(wrapOutboundOut(half)).whenComplete { _ in context.close(promise: nil) }
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        case .dropAndClose:
            promise?.fail(ChannelError.ioOnClosedChannel)
            context.close(promise: nil)
            return
        case .wrongDigest, .otherStream:
            var copy = frame
            let decoded = try? DsyncFrameDecoder().readFrame(from: &copy)
            let spoilt: DsyncFrame?
            switch (fault.corruption, decoded) {
            case (.wrongDigest, .bodyEnd(let stream, let size, var digest)?):
                digest[0] ^= 0xFF
                spoilt = .bodyEnd(streamID: stream, size: size, sha256: digest)
            case (.otherStream, .bodyEnd(let stream, let size, let digest)?):
                spoilt = .bodyEnd(streamID: stream &+ 1, size: size, sha256: digest)
            case (.otherStream, .bodyChunk(let stream, let bytes)?):
                spoilt = .bodyChunk(streamID: stream &+ 1, bytes: bytes)
            default:
                spoilt = nil
            }
            guard let spoilt else { preconditionFailure("\(fault) does not fit a \(fault.kind) frame") }
            frame.clear()
            try! DsyncFrameEncoder().encode(data: spoilt, out: &frame)
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }
}
