import NIOCore
import NIOPosix
import NIOSSL

/// Sends one ``DsyncPurgeOrder`` to a host's agent over mutual TLS (the coordinator's side
/// of `duplex user purge-old`).
///
/// The connection is a dsync connection whose hello offers ``DsyncPurge/capability``: TLS,
/// the agent's certificate checked against the allowed peers before the user's name is
/// sent, the hello, the welcome (which must agree to the capability), the order, its answer,
/// goodbye.
public struct DsyncPurgeClient: Sendable {
    /// The agent's dsync endpoint, `tls://HOST:PORT`.
    public let endpoint: String
    /// The coordinator's identity and whom it accepts.
    public let tls: DsyncTLSFiles
    public let connectTimeout: Duration
    public let readTimeout: Duration

    /// - Throws: ``DsyncError`` `usage` for a malformed endpoint.
    public init(endpoint: String, tls: DsyncTLSFiles, connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(120))
        throws
    {
        _ = try RemoteReplica.parse(endpoint)
        self.endpoint = endpoint
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
    }

    /// Sends `order` and waits for the agent's answer.
    ///
    /// - Returns: what the agent did.
    /// - Throws: ``DsyncError``: `peerUnreachable`, `authenticationFailed` (TLS, or this
    ///   certificate may not order purges), `protocolError`, `usage` when the agent serves no
    ///   purges or refused the order (the user is still on its pair, another pair…),
    ///   `lockTimeout` when a sync of the user held the lock, `io`.
    public func purge(_ order: DsyncPurgeOrder) async throws -> DsyncPurgeResult {
        let (host, port) = try RemoteReplica.parse(endpoint)
        let context = try DsyncTLS.makeContext(tls, server: false)
        let readTimeout = readTimeout
        let (channel, tlsDone): (NIOAsyncChannel<DsyncFrame, DsyncFrame>, EventLoopFuture<Void>)
        do {
            (channel, tlsDone) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(connectTimeout))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = try NIOSSLClientHandler(context: context, serverHostname: host.first?.isLetter == true ? host : nil)
                        let wrapped = try DsyncPipeline.configure(channel, tls: handler, readTimeout: readTimeout)
                        let waiter = TLSHandshakeWaiter(promise: channel.eventLoop.makePromise())
                        try channel.pipeline.syncOperations.addHandler(waiter, position: .after(handler))
                        return (wrapped, waiter.future)
                    }
                }
        } catch {
            throw DsyncError(.peerUnreachable, "\(endpoint): cannot connect: \(ConnectionFailure.describe(error))")
        }
        return try await channel.executeThenClose { inbound, outbound in
            let connection = DsyncConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound, peer: endpoint)
            try await handshake(connection, channel: channel.channel, tlsDone: tlsDone, user: order.user)
            try await connection.sendPayload(try DsyncJSON.encode(order), id: 1, response: false)
            let frame = try await connection.receive(while: "waiting for the answer to the purge order")
            guard case .response(1, let buffer) = frame else {
                throw DsyncError(.protocolError, "\(endpoint) sent a \(frame.kind) frame where the answer to the purge order belongs")
            }
            let payload = try await connection.receivePayload(buffer, id: 1, what: "the answer to the purge order")
            let result = try DsyncJSON.decode(
                DsyncPurgeResult.self, from: try connection.result(of: payload, what: "the purge order"), what: "purge result")
            try? await connection.send(.goodbye)
            return result
        }
    }

    private func handshake(_ connection: DsyncConnection, channel: any Channel, tlsDone: EventLoopFuture<Void>, user: String) async throws {
        do {
            try await tlsDone.get()
        } catch let error as NIOSSLError {
            var failure = DsyncTLS.describe(error)
            failure.message = "\(endpoint): \(failure.message)"
            throw failure
        } catch let error as BoringSSLError {
            throw DsyncError(.authenticationFailed, "\(endpoint): TLS failed: \(DsyncTLS.explain(error))")
        } catch {
            throw DsyncError(.protocolError, "\(endpoint): the connection closed during the TLS handshake (\(error))")
        }
        // The agent must be one we accept before the user's name is sent.
        guard let certificate = try? await channel.nioSSL_peerCertificate().get() else {
            _ = try await connection.receive(while: "finishing the TLS handshake")
            throw DsyncError(.protocolError, "\(endpoint): the agent spoke before the hello")
        }
        do {
            _ = try DsyncTLS.peerIdentity(of: certificate, allowed: tls.allowedPeers)
        } catch let error as DsyncError {
            try? await connection.send(.error(code: DsyncWireError.Code.notAuthorized.rawValue, message: "refused by the client: \(error.message)"))
            throw DsyncError(error.code, "\(endpoint): \(error.message)")
        }
        var machine = DsyncHandshakeStateMachine(
            clientHello: DsyncHello(version: .current, capabilities: [DsyncPurge.capability], user: user, syncKind: .incremental))
        guard case .send(let hello) = machine.connected() else { throw DsyncError(.protocolError, "the handshake could not start") }
        do {
            try await connection.send(hello)
        } catch {
            // Refused after the handshake (TLS 1.3 checks the client's certificate then).
            _ = try await connection.receive(while: "sending the hello")
            throw error
        }
        let answer = try await connection.receive(while: "waiting for the welcome")
        switch machine.frameReceived(answer) {
        case .established(let agreed) where agreed.has(DsyncPurge.capability):
            return
        case .established, .sendAndEstablish:
            try? await connection.send(.goodbye)
            throw DsyncError(.usage, "\(endpoint): the agent serves no purge orders (an older agent, or one without a coordinator link)")
        case .fail(let error):
            throw DsyncError(.protocolError, "\(endpoint): handshake failed: \(error.message)")
        case .send, .sendAndClose, .none:
            throw DsyncError(.protocolError, "\(endpoint): unexpected handshake answer")
        }
    }
}
