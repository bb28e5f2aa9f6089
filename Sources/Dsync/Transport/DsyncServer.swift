import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Serves dsync to peer hosts over mutual TLS (`duplex agent`).
///
/// Each connection: TLS (the client's certificate must chain to the configured CA), the
/// client's hello, its certificate's identity checked against the allowed peers (refused
/// with an `error` frame `notAuthorized` otherwise), a welcome, then requests served by a
/// ``DsyncServerSession`` on the user's mail root from the template. Connections run
/// concurrently, each catching its own errors; cancelling ``run(onListening:)`` stops
/// the listener and the connections.
public final class DsyncServer: Sendable {
    private struct Settings: Sendable {
        var configuration: DsyncServerConfiguration
        var context: NIOSSLContext
    }

    private let settings: Mutex<Settings>
    private let logger: Logger
    /// How this host serves the coordinator's purge orders; nil serves none.
    private let purge: DsyncPurgeService?
    /// The listening channel while ``run(onListening:)`` runs.
    private let listener = Mutex<(any Channel)?>(nil)
    /// Test-only: a handler for each new connection that may corrupt the frames this server
    /// sends (see ``DsyncFrameFaultFactory``). Nil in production.
    let frameFault = Mutex<DsyncFrameFaultFactory?>(nil)

    /// Loads the TLS files.
    ///
    /// - Parameter purge: how the coordinator's purge orders are served (``DsyncPurgeSession``);
    ///   nil serves none.
    /// - Throws: ``DsyncError`` `usage` naming a TLS file that cannot be used.
    public init(configuration: DsyncServerConfiguration, logger: Logger, purge: DsyncPurgeService? = nil) throws {
        let context = try DsyncTLS.makeContext(configuration.tls, server: true)
        self.settings = Mutex(Settings(configuration: configuration, context: context))
        self.logger = logger
        self.purge = purge
    }

    /// The configuration in force.
    public var configuration: DsyncServerConfiguration { settings.withLock { $0.configuration } }

    /// Replaces the TLS identity, trust and allowed peers (SIGHUP): new connections use the
    /// new ones, running syncs go on. When the new files cannot be used nothing changes.
    ///
    /// - Throws: ``DsyncError`` `usage` naming the file that cannot be used.
    public func reload(tls files: DsyncTLSFiles) throws {
        let context = try DsyncTLS.makeContext(files, server: true)
        settings.withLock {
            $0.configuration.tls = files
            $0.context = context
        }
        logger.info("reloaded TLS certificates", metadata: ["certificate": "\(files.certificateChain)", "allowed_peers": "\(files.allowedPeers.joined(separator: ","))"])
    }

    /// Listens and serves until cancelled.
    ///
    /// - Parameter onListening: called with the bound address once listening (port 0
    ///   picks a free port).
    /// - Throws: ``DsyncError`` `usage` when the address cannot be bound.
    public func run(onListening: @Sendable (SocketAddress) -> Void = { _ in }) async throws {
        let configuration = self.configuration
        let readTimeout = configuration.idleTimeout
        let server: NIOAsyncChannel<(NIOAsyncChannel<DsyncFrame, DsyncFrame>, String), Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_keepalive), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let context = self.settings.withLock { $0.context }
                        // Taken now: a channel forgets its peer's address once closed, and a
                        // refused TLS handshake can close it before the connection is served.
                        let address = channel.remoteAddress.map { "\($0)" } ?? "unknown peer"
                        let wrapped = try DsyncPipeline.configure(
                            channel, tls: NIOSSLServerHandler(context: context), readTimeout: readTimeout,
                            frameFault: self.frameFault.withLock { $0 }?())
                        return (wrapped, address)
                    }
                }
        } catch {
            throw DsyncError(.usage, "cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        listener.withLock { $0 = server.channel }
        defer { listener.withLock { $0 = nil } }
        if let address = server.channel.localAddress { onListening(address) }
        logger.info("serving dsync", metadata: ["address": "\(server.channel.localAddress.map { "\($0)" } ?? "?")"])
        try await withTaskCancellationHandler {
            try await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await (connection, address) in inbound {
                        group.addTask { await self.serve(connection, address: address) }
                    }
                }
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    /// Graceful shutdown: stops accepting connections; ``run(onListening:)`` returns when
    /// the running syncs have finished.
    public func stopListening() {
        listener.withLock { $0 }?.close(promise: nil)
    }

    private func serve(_ channel: NIOAsyncChannel<DsyncFrame, DsyncFrame>, address: String) async {
        var logger = self.logger
        logger[metadataKey: "peer"] = "\(address)"
        do {
            try await channel.executeThenClose { inbound, outbound in
                let connection = DsyncConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound, peer: address)
                let configuration = self.configuration
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await DsyncPipeline.keepalive(connection, every: DsyncPipeline.keepaliveInterval(readTimeout: configuration.idleTimeout))
                    }
                    defer { group.cancelAll() }
                    guard let (identity, agreed) = try await self.handshake(connection, channel: channel.channel, configuration: configuration, logger: logger) else {
                        return
                    }
                    logger[metadataKey: "peer_identity"] = "\(identity)"
                    logger[metadataKey: "user"] = "\(agreed.user)"
                    if let purge = self.purge, agreed.has(DsyncPurge.capability) {
                        try await DsyncPurgeSession(
                            connection: connection, user: agreed.user, identity: identity, configuration: configuration, service: purge,
                            logger: logger
                        ).run()
                        return
                    }
                    let session = DsyncServerSession(
                        connection: connection, user: agreed.user, configuration: configuration, logger: logger,
                        binaryStamps: agreed.has(DsyncCapability.binaryStamps))
                    try await session.run()
                }
            }
        } catch let error as DsyncError {
            logger.warning("connection ended: \(error.message)")
        } catch {
            logger.warning("connection ended: \(error)")
        }
    }

    /// The client's hello and identity; nil when it was refused (already told).
    private func handshake(
        _ connection: DsyncConnection, channel: any Channel, configuration: DsyncServerConfiguration, logger: Logger
    ) async throws -> (String, DsyncAgreedProtocol)? {
        let first = try await connection.receive(while: "waiting for the hello")
        let certificate = try? await channel.nioSSL_peerCertificate().get()
        let identity: String
        do {
            identity = try DsyncTLS.peerIdentity(of: certificate, allowed: configuration.tls.allowedPeers)
        } catch let error as DsyncError {
            logger.warning("refused peer: \(error.message)")
            try? await connection.send(.error(code: DsyncWireError.Code.notAuthorized.rawValue, message: error.message))
            return nil
        }
        var machine = DsyncHandshakeStateMachine(capabilities: [DsyncCapability.binaryStamps] + (purge == nil ? [] : [DsyncPurge.capability]))
        switch machine.frameReceived(first) {
        case .sendAndEstablish(let frame, let agreed):
            try await connection.send(frame)
            return (identity, agreed)
        case .sendAndClose(let frame):
            if case .error(_, let message) = frame { logger.warning("refused hello: \(message)") }
            try? await connection.send(frame)
            return nil
        case .fail(let error):
            logger.warning("bad hello: \(error.message)")
            try? await connection.send(.error(code: error.code.rawValue, message: error.message))
            return nil
        case .send, .established, .none:
            return nil
        }
    }
}
