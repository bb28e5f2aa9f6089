import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A Unix socket of mode 0600 that answers newline-delimited request lines, one answer per
/// line and in order: the transport of the replicator's admin socket
/// (``ReplicatorAdminServer``) and of the agent's sync socket (`dsync.sync_socket`).
///
/// Lines are at most ``maximumLineLength`` bytes (a longer one reaches `respond` as
/// ``AdminFrame/tooLong``, and the connection goes on). Connections run concurrently in a
/// discarding task group, each catching its own errors. A socket file left by a server that
/// died is replaced; one that another process serves, or a file that is no socket, is left
/// alone (see ``ReplicatorAdminError/Code/cannotListen``).
public struct AdminLineServer: Sendable {
    /// Where the socket is created.
    public let socketPath: String
    /// The longest request line, in bytes (without the newline).
    public let maximumLineLength: Int
    /// Whether a request still being answered is cancelled when its connection closes (the
    /// client went away, so nobody would read the answer).
    public let cancelsWhenClosed: Bool
    /// What the socket is, for the log (`admin socket`, `sync socket`).
    public let name: String
    let logger: Logger
    let respond: @Sendable (AdminFrame, Interim) async -> ByteBuffer

    /// Sends lines ahead of a request's answer (progress, keepalives), on its connection.
    public struct Interim: Sendable {
        let write: @Sendable (ByteBuffer) async -> Void

        /// Writes `line` (with its newline); a connection that is gone drops it.
        public func send(_ line: ByteBuffer) async {
            await write(line)
        }
    }

    /// A server at `socketPath` (nothing happens until ``run()``).
    ///
    /// - Parameters:
    ///   - socketPath: The Unix socket to create; its directory must exist.
    ///   - maximumLineLength: The longest request line, in bytes.
    ///   - cancelsWhenClosed: Cancel `respond` when the client closes its connection.
    ///   - name: What the socket is, for the log.
    ///   - logger: Where the listening address and connection errors go.
    ///   - respond: The bytes (a line with its newline) that answer one request line; lines
    ///     it sends through its ``Interim`` go first.
    public init(
        socketPath: String, maximumLineLength: Int, cancelsWhenClosed: Bool = false, name: String, logger: Logger,
        respond: @escaping @Sendable (AdminFrame, Interim) async -> ByteBuffer
    ) {
        self.name = name
        self.socketPath = socketPath
        self.maximumLineLength = maximumLineLength
        self.cancelsWhenClosed = cancelsWhenClosed
        self.logger = logger
        self.respond = respond
    }

    /// Creates the socket and serves until cancelled (or, in a `ServiceGroup`, until
    /// graceful shutdown), then closes the connections and removes the socket file. With
    /// ``cancelsWhenClosed``, graceful shutdown only stops taking connections: the requests
    /// running finish and are answered.
    ///
    /// - Throws: ``ReplicatorAdminError`` `cannotListen` when the socket cannot be created.
    public func run() async throws {
        let maximumLineLength = maximumLineLength
        let (file, server) = try await AdminSocketFile.bind(socketPath) { path in
            try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 64)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.makeConnection(channel, maximumLineLength: maximumLineLength)
                    }
                }
        } close: { server in
            try? await server.channel.close()
        }
        defer { file.remove() }
        logger.info("\(name) listening", metadata: ["path": "\(socketPath)"])
        guard cancelsWhenClosed else {
            try await cancelWhenGracefulShutdown { try await serve(server) }
            return
        }
        // Requests that run long (syncs) are let finish: the listener closes, and the
        // connections end as their clients close them (or when the service group's
        // shutdown deadline cancels them).
        try await withGracefulShutdownHandler {
            try await serve(server)
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }

    /// Accepts connections on `server` until it closes or the task is cancelled, serving
    /// each in a task of its own; returns once they have all ended.
    private func serve(_ server: NIOAsyncChannel<NIOAsyncChannel<AdminFrame, ByteBuffer>, Never>) async throws {
        do {
            try await withTaskCancellationHandler {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            } onCancel: {
                server.channel.close(promise: nil)
            }
        } catch where Task.isCancelled || Task.isShuttingDownGracefully {
            // Stopping is how this ends; what the closing listener threw is no failure.
        }
    }

    /// The line protocol's pipeline on a connected channel: lines in, bytes out.
    static func makeConnection(_ channel: any Channel, maximumLineLength: Int) throws -> NIOAsyncChannel<AdminFrame, ByteBuffer> {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(AdminLineDecoder(maximumLength: maximumLineLength)))
        return try NIOAsyncChannel<AdminFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
    }

    private func serve(_ connection: NIOAsyncChannel<AdminFrame, ByteBuffer>) async {
        let channel = connection.channel
        do {
            try await connection.executeThenClose { inbound, outbound in
                let interim = Interim { line in try? await outbound.write(line) }
                for try await frame in inbound {
                    let answer = cancelsWhenClosed ? await answerUnlessClosed(frame, interim, channel) : await respond(frame, interim)
                    guard let answer else { return }
                    try await outbound.write(answer)
                }
            }
        } catch {
            logger.debug("\(name) connection ended: \(error)")
        }
    }

    /// The answer to `frame`, or nil when `channel` closed first (`respond` is then
    /// cancelled, and awaited).
    private func answerUnlessClosed(_ frame: AdminFrame, _ interim: Interim, _ channel: any Channel) async -> ByteBuffer? {
        let (closed, closing) = AsyncStream<Never>.makeStream()
        channel.closeFuture.whenComplete { _ in closing.finish() }
        return await withTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { await respond(frame, interim) }
            group.addTask {
                // Ends when the channel closes, or when the answer is ready (cancelled).
                for await _ in closed {}
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
