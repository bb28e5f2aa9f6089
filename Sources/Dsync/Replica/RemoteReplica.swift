import MailStore
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A replica on a peer host: a `duplex agent` serving the user's mail over mutual TLS.
///
/// The connection lives as long as ``withUserLock(timeout:_:)``: it connects, checks the
/// peer's identity, says hello (protocol version, user, sync kind), takes the user's lock on
/// the peer, runs the sync, releases the lock and says goodbye. Every other call is one
/// request on that connection; bodies stream both ways in pieces with backpressure.
///
/// Errors: ``DsyncError`` `peerUnreachable` (cannot connect), `authenticationFailed` (TLS
/// or identity refused on either side), `protocolError` (bad frames, a broken connection,
/// a read timeout), and whatever the peer's replica reports (lock timeout, no such user…).
public final class RemoteReplica: Replica, Sendable {
    public let host: String
    public let port: Int
    public let user: String
    public let tls: DsyncTLSFiles
    /// Whether the peer is told this is a full sync (for its logs).
    public let full: Bool
    /// How long to wait for the peer to connect.
    public let connectTimeout: Duration
    /// With nothing from the peer for this long the connection is dropped (both sides send
    /// keepalives at a quarter of it while busy).
    public let readTimeout: Duration
    /// Whether the peer's own sync state of the user is asked for with the lock (a
    /// replicator syncing with its pair peer; see ``pairStateHeader()``).
    public let asksPairState: Bool
    public var description: String { "tls://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    private let connection = Mutex<DsyncConnection?>(nil)
    private let nextID = Atomic<UInt32>(1)
    /// Test-only: a handler for the connection that may corrupt the frames this client sends
    /// (see ``DsyncFrameFaultFactory``). Nil in production.
    let frameFault = Mutex<DsyncFrameFaultFactory?>(nil)
    /// Requests sent ahead (pipelined with the lock) whose answers were not read yet, in
    /// the order they were sent.
    private let pending = Mutex<[(id: UInt32, op: DsyncOperation)]>([])
    /// The capabilities the agent agreed to in its welcome, for the last connection.
    let agreedCapabilities = Mutex<[String]>([])
    /// The capabilities this client offers in its hello. Tests offer fewer to play an
    /// earlier client.
    let offeredCapabilities = Mutex([DsyncCapability.binaryStamps])

    /// - Parameter endpoint: `tls://HOST:PORT` (`[v6]:PORT` for IPv6 literals).
    /// - Throws: ``DsyncError`` `usage` for a malformed endpoint.
    public init(
        endpoint: String, user: String, tls: DsyncTLSFiles, full: Bool = false, connectTimeout: Duration = .seconds(10),
        readTimeout: Duration = .seconds(120), asksPairState: Bool = false
    ) throws {
        self.asksPairState = asksPairState
        (host, port) = try Self.parse(endpoint)
        self.user = user
        self.tls = tls
        self.full = full
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
    }

    /// Splits `tls://HOST:PORT`.
    public static func parse(_ endpoint: String) throws -> (host: String, port: Int) {
        guard endpoint.hasPrefix("tls://") else {
            throw DsyncError(.usage, "\(endpoint): a peer is tls://HOST:PORT")
        }
        let rest = endpoint.dropFirst("tls://".count)
        let host: Substring, portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                throw DsyncError(.usage, "\(endpoint): an IPv6 peer is tls://[ADDRESS]:PORT")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            portText = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw DsyncError(.usage, "\(endpoint): the port is missing (tls://HOST:PORT)")
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains("/"), !host.contains(where: { $0.isWhitespace }) else {
            throw DsyncError(.usage, "\(endpoint): the host is empty or malformed")
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw DsyncError(.usage, "\(endpoint): the port must be a number from 1 to 65535")
        }
        return (String(host), port)
    }

    // MARK: Replica

    public func withUserLock<T: Sendable>(timeout: Duration, _ body: @Sendable () async throws -> T) async throws -> T {
        try await withUserLock(timeout: { _, _ in timeout }, body)
    }

    /// What a connection needs that depends on nothing of the sync: the TLS context (the
    /// certificate, key and CA files read and loaded) and this host's least certificate name.
    private struct Prepared: Sendable {
        let context: NIOSSLContext
        let ownName: String?
    }

    /// The ``Prepared`` that ``prepareConnection()`` started, for the next lock to take.
    private let prepared = Mutex<Task<Prepared, any Error>?>(nil)

    /// Starts loading the TLS files and building the TLS context in the background, so the
    /// next lock's connection does not wait for it while this host takes its own lock and
    /// reads its state. Errors (a bad file) surface when the lock is asked for, as they would
    /// without it; a lock asked for again (after a busy peer) loads the files afresh.
    public func prepareConnection() {
        prepared.withLock { task in
            if task == nil { task = Task { [tls] in try Self.prepare(tls) } }
        }
        // The event loop's threads start meanwhile too.
        Task { _ = MultiThreadedEventLoopGroup.singleton }
    }

    private static func prepare(_ tls: DsyncTLSFiles) throws -> Prepared {
        let (context, chain) = try DsyncTLS.makeContextAndChain(tls, server: false)
        return Prepared(context: context, ownName: chain.first.flatMap(leastName(of:)))
    }

    /// The prepared context when there is one (used once), else a fresh one.
    private func takePrepared() async throws -> Prepared {
        let task = prepared.withLock { task -> Task<Prepared, any Error>? in
            defer { task = nil }
            return task
        }
        if let task { return try await task.value }
        return try Self.prepare(tls)
    }

    /// The second lock of a sync whose first is this host's: two hosts syncing one user at
    /// once each hold their own lock and ask for the other's. The host whose certificate's
    /// least DNS name sorts first waits the whole `timeout`; the other only `brief`, then
    /// lets its own lock go (the session tries both again), so the first gets both at once.
    /// Both compute the same order from the two certificates, so one always waits and the
    /// other always yields: neither waits out its timeout for nothing. Hosts that cannot be
    /// ordered (one name for both, or none) both wait `brief`.
    public func withSecondUserLock<T: Sendable>(timeout: Duration, brief: Duration, _ body: @Sendable () async throws -> T) async throws -> T {
        try await withUserLock(timeout: { own, peer in
            guard let own, let peer, own != peer else { return brief }
            return own < peer ? timeout : brief
        }, body)
    }

    /// The least DNS name (lowercased) of a certificate, nil when it has none.
    static func leastName(of certificate: NIOSSLCertificate) -> String? {
        DsyncTLS.dnsNames(of: certificate).map { $0.lowercased() }.min()
    }

    /// Connects, checks the peer and takes the lock, waiting as long as `timeout` says for
    /// this host's and the peer's least certificate names (nil when one has none).
    ///
    /// The hello, the lock request and what every sync asks first (the peer's existence,
    /// stamps and, for a replicator, its state header) go out together once TLS is up: the
    /// agent answers them in order, so the handshake, the lock and those answers take one
    /// round trip. The sync ends with a `goodbye`, which releases the peer's lock and ends
    /// the connection: no answer to wait for.
    private func withUserLock<T: Sendable>(timeout: @escaping @Sendable (String?, String?) -> Duration, _ body: @Sendable () async throws -> T) async throws -> T {
        let (channel, handshakeDone, prepared) = try await connectWithTLS()
        return try await channel.executeThenClose { inbound, outbound in
            let connection = DsyncConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound, peer: description)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await DsyncPipeline.keepalive(connection, every: DsyncPipeline.keepaliveInterval(readTimeout: self.readTimeout)) }
                defer { group.cancelAll() }
                let peerName = try await self.checkPeer(connection, channel: channel.channel, tlsDone: handshakeDone)
                let timeout = timeout(prepared.ownName, peerName)
                // The answers sent ahead belong to this connection only, whether the lock is
                // taken or not (a sync tries the lock again on a new connection when it was busy).
                defer { self.pending.withLock { $0 = [] } }
                var requests: [(id: UInt32, request: DsyncRequestBody)] = []
                for op in [DsyncOperation.lock] + (self.asksPairState ? [.stateHeader] : []) + [.exists, .stamp] {
                    let request = DsyncRequestBody(op: op, lockTimeoutMilliseconds: op == .lock ? timeout.milliseconds : nil)
                    requests.append((self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue, request))
                }
                self.pending.withLock { $0 = requests.dropFirst().map { ($0.id, $0.request.op) } }
                let agreed = try await self.handshake(connection, sendingAhead: requests)
                self.agreedCapabilities.withLock { $0 = agreed.capabilities }
                _ = try await self.response(connection, id: requests[0].id, what: "lock")
                self.connection.withLock { $0 = connection }
                defer { self.connection.withLock { $0 = nil } }
                let result = try await body()
                // Unanswered requests sent ahead are dropped with the connection.
                try? await connection.send(.goodbye)
                return result
            }
        }
    }

    public func exists() async throws -> Bool {
        let connection = try current()
        let result = try await call(connection, DsyncRequestBody(op: .exists), early: true)
        return try DsyncJSON.decode(DsyncExistsResult.self, from: result, what: "exists result").exists
    }

    public func create() async throws {
        _ = try await call(try current(), DsyncRequestBody(op: .create))
    }

    public func pairStateHeader() async throws -> SyncState.Header? {
        let connection = try current()
        let result = try await call(connection, DsyncRequestBody(op: .stateHeader), early: true)
        return try DsyncJSON.decode(DsyncStateHeaderResult.self, from: result, what: "state header").header
    }

    public func pairStateView() async throws -> ReplicaView {
        let result = try await call(try current(), DsyncRequestBody(op: .stateView))
        do {
            return try ReplicaView(binary: Array(result), path: "state view")
        } catch let error as DsyncError {
            throw DsyncError(.protocolError, "\(description) sent a malformed state view: \(error.message)")
        }
    }

    public func stamp() async throws -> StoreStamp {
        let connection = try current()
        let result = try await call(connection, DsyncRequestBody(op: .stamp), early: true)
        if agreedCapabilities.withLock({ $0.contains(DsyncCapability.binaryStamps) }) {
            return try StoreStamp(wireBinary: Array(result), from: description)
        }
        return try DsyncJSON.decode(StoreStamp.self, from: result, what: "stamp")
    }

    public func read(reusing: [String: MailboxView]) async throws -> ReplicaView {
        let connection = try current()
        // The peer needs each reused mailbox's identity, not its messages.
        let identities = reusing.values.map { MailboxView(guid: $0.guid, name: $0.name, uidValidity: $0.uidValidity, uidNext: $0.uidNext, messages: []) }
        let result = try await call(connection, DsyncRequestBody(op: .read, reusing: identities))
        var view: ReplicaView
        do {
            view = try ReplicaView(binary: Array(result), path: "read result")
        } catch let error as DsyncError {
            throw DsyncError(.protocolError, "\(description) sent a malformed view: \(error.message)")
        }
        for (guid, mailbox) in view.mailboxes {
            if let reused = reusing[mailbox.displayName], reused.guid == guid { view.mailboxes[guid] = reused }
        }
        return view
    }

    public func bodies(_ requests: [BodyRequest]) async throws -> any MessageBodyStream {
        let connection = try current()
        try await drainPending(connection)
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        try await connection.sendPayload(try DsyncJSON.encode(DsyncRequestBody(op: .bodies, bodies: requests)), id: id, response: false)
        return WireBodyStream(connection: connection, id: id, responses: true, requests: requests)
    }

    public func apply(_ changes: [ReplicaChange], source: any Replica) async throws -> ApplyReport {
        let connection = try current()
        try await drainPending(connection)
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        try await connection.sendPayload(try DsyncJSON.encode(DsyncRequestBody(op: .apply, changes: changes)), id: id, response: false)
        let copies = changes.bodyRequests
        if !copies.isEmpty {
            let stream = try await source.bodies(copies)
            try await connection.sendBodies(stream, for: copies, id: id, response: false)
        }
        let result = try await response(connection, id: id, what: "apply")
        return try DsyncJSON.decode(ApplyReport.self, from: result, what: "apply report")
    }

    // MARK: Connection

    private func current() throws -> DsyncConnection {
        guard let connection = connection.withLock({ $0 }) else {
            throw DsyncError(.usage, "\(description): not connected (calls happen inside withUserLock)")
        }
        return connection
    }

    /// Connects and starts TLS. The TCP connection and its pipeline are made while the TLS
    /// context is still being built (``prepareConnection()``); TLS starts when both are
    /// ready. A bad TLS file is reported before an unreachable peer, as when the files were
    /// read first.
    ///
    /// - Returns: the channel; the end of the TLS handshake; the prepared context.
    private func connectWithTLS() async throws -> (NIOAsyncChannel<DsyncFrame, DsyncFrame>, EventLoopFuture<Void>, Prepared) {
        async let preparing = takePrepared()
        let connected: Result<NIOAsyncChannel<DsyncFrame, DsyncFrame>, any Error>
        do {
            connected = .success(try await connect())
        } catch {
            connected = .failure(error)
        }
        let prepared: Prepared
        do {
            prepared = try await preparing
        } catch {
            if case .success(let channel) = connected { await Self.discard(channel) }
            throw error
        }
        let channel = try connected.get()
        let serverName = host.first?.isLetter == true ? host : nil
        do {
            let handshakeDone = try await channel.channel.eventLoop.submit {
                let handler = try NIOSSLClientHandler(context: prepared.context, serverHostname: serverName)
                let waiter = TLSHandshakeWaiter(promise: channel.channel.eventLoop.makePromise())
                let pipeline = channel.channel.pipeline.syncOperations
                try pipeline.addHandler(handler, position: .first)
                try pipeline.addHandler(waiter, position: .after(handler))
                return waiter.future
            }.get()
            return (channel, handshakeDone, prepared)
        } catch {
            await Self.discard(channel)
            throw DsyncError(.protocolError, "\(description): cannot start TLS: \(error)")
        }
    }

    /// Closes a connection that will not be used, finishing its writer first: an async
    /// channel dropped with its writer open stops the process (NIO's precondition).
    private static func discard(_ channel: NIOAsyncChannel<DsyncFrame, DsyncFrame>) async {
        try? await channel.executeThenClose { _, _ in }
    }

    /// The TCP connection, with the pipeline of the conversation but not yet TLS.
    private func connect() async throws -> NIOAsyncChannel<DsyncFrame, DsyncFrame> {
        let readTimeout = self.readTimeout
        let frameFault = self.frameFault.withLock { $0 }
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<DsyncFrame, DsyncFrame>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try DsyncPipeline.configure(channel, tls: nil, readTimeout: readTimeout, frameFault: frameFault?())
            }
        }
        do {
            // An IP address is connected to as it is: a host name goes through the resolver,
            // which runs getaddrinfo on a thread of its own (about a millisecond more).
            if let address = try? SocketAddress(ipAddress: host, port: port) {
                return try await bootstrap.connect(to: address, channelInitializer: initializer)
            }
            return try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
        } catch let error as DsyncError {
            throw error
        } catch {
            throw DsyncError(.peerUnreachable, "\(description): cannot connect: \(ConnectionFailure.describe(error))")
        }
    }

    /// Waits for TLS and checks that the server's certificate (which chains to our CA:
    /// checked by TLS) names a peer we accept, before the user's name is sent.
    ///
    /// - Returns: the least DNS name (lowercased) of the peer's certificate.
    private func checkPeer(_ connection: DsyncConnection, channel: any Channel, tlsDone: EventLoopFuture<Void>) async throws -> String? {
        do {
            try await tlsDone.get()
        } catch let error as NIOSSLError {
            var failure = DsyncTLS.describe(error)
            failure.message = "\(description): \(failure.message)"
            throw failure
        } catch let error as BoringSSLError {
            throw DsyncError(.authenticationFailed, "\(description): TLS failed: \(DsyncTLS.explain(error))")
        } catch {
            throw DsyncError(.protocolError, "\(description): the connection closed during the TLS handshake (\(error))")
        }
        guard let certificate = try? await channel.nioSSL_peerCertificate().get() else {
            // The connection went away as the handshake completed: the agent's reason (a TLS
            // alert refusing this host's certificate) is in what arrived.
            _ = try await connection.receive(while: "finishing the TLS handshake")
            throw DsyncError(.protocolError, "\(description): the agent spoke before the hello")
        }
        do {
            _ = try DsyncTLS.peerIdentity(of: certificate, allowed: tls.allowedPeers)
        } catch let error as DsyncError {
            try? await connection.send(.error(code: DsyncWireError.Code.notAuthorized.rawValue, message: "refused by the client: \(error.message)"))
            throw DsyncError(error.code, "\(description): \(error.message)")
        }
        return Self.leastName(of: certificate)
    }

    /// Says hello, with `requests` right behind it in the same write, and waits for the
    /// welcome. An agent that refuses the hello closes the connection without reading them.
    ///
    /// - Returns: what the handshake agreed.
    private func handshake(_ connection: DsyncConnection, sendingAhead requests: [(id: UInt32, request: DsyncRequestBody)]) async throws -> DsyncAgreedProtocol {
        let hello = DsyncHello(version: .current, capabilities: offeredCapabilities.withLock { $0 }, user: user, syncKind: full ? .full : .incremental)
        var machine = DsyncHandshakeStateMachine(clientHello: hello)
        guard case .send(let helloFrame) = machine.connected() else {
            throw DsyncError(.protocolError, "the handshake could not start")
        }
        var frames = [helloFrame]
        for (id, request) in requests {
            frames.append(.request(id: id, json: ByteBuffer(bytes: try DsyncJSON.encode(request))))
        }
        do {
            try await connection.send(contentsOf: frames)
        } catch {
            // Refused after the handshake (TLS 1.3 checks the client's certificate then): the
            // agent's alert says why.
            _ = try await connection.receive(while: "sending the hello")
            throw error
        }
        let answer = try await connection.receive(while: "waiting for the welcome")
        switch machine.frameReceived(answer) {
        case .established(let agreed), .sendAndEstablish(_, let agreed):
            return agreed
        case .fail(let error):
            throw DsyncError(.protocolError, "\(description): handshake failed: \(error.message)")
        case .send, .sendAndClose, .none:
            throw DsyncError(.protocolError, "\(description): unexpected handshake answer")
        }
    }

    /// Sends a request and waits for its response's result. With `early`, the answer to
    /// the same request sent ahead with the lock is taken when it is the next one due
    /// (answers come in request order; one sent ahead is used once).
    private func call(_ connection: DsyncConnection, _ request: DsyncRequestBody, early: Bool = false) async throws -> ArraySlice<UInt8> {
        if early, let ahead = pending.withLock({ $0.first?.op == request.op ? $0.removeFirst() : nil }) {
            return try await response(connection, id: ahead.id, what: request.op.rawValue)
        }
        try await drainPending(connection)
        let id = try await send(connection, request)
        return try await response(connection, id: id, what: request.op.rawValue)
    }

    /// Reads the answers to requests sent ahead that were not used, so that the next answer
    /// read is the next request's. An error answer to one of them does not matter.
    private func drainPending(_ connection: DsyncConnection) async throws {
        while let stale = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            do {
                _ = try await response(connection, id: stale.id, what: stale.op.rawValue)
            } catch let error as DsyncError where error.code != .protocolError && error.code != .authenticationFailed {
                continue
            }
        }
    }

    /// Sends a request; returns its id.
    private func send(_ connection: DsyncConnection, _ request: DsyncRequestBody) async throws -> UInt32 {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        try await connection.sendPayload(try DsyncJSON.encode(request), id: id, response: false)
        return id
    }

    private func response(_ connection: DsyncConnection, id: UInt32, what: String) async throws -> ArraySlice<UInt8> {
        let frame = try await connection.receive(while: "waiting for the answer to \(what)")
        guard case .response(id, let buffer) = frame else {
            throw DsyncError(.protocolError, "\(description) sent a \(frame.kind) frame where the answer to \(what) belongs")
        }
        let payload = try await connection.receivePayload(buffer, id: id, what: "the answer to \(what)")
        return try connection.result(of: payload, what: what)
    }
}

extension [ReplicaChange] {
    /// The bodies the copies among these changes need, in order.
    var bodyRequests: [BodyRequest] {
        compactMap { change in
            if case .copyMessage(_, _, let guid, _, let sourceMailbox, let sourceUID) = change {
                return BodyRequest(mailbox: sourceMailbox, guid: guid, uid: sourceUID)
            }
            return nil
        }
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
