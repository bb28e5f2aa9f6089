import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Dovecot 2.3's synchronous notifications: a unix socket (the replication plugin's
/// `<base_dir>/replication-notify`) where a mail process that saved new mail sends
/// `USER<TAB>sync` and waits for `+` (the mail reached the peer) or `-`.
///
/// Each connection may send several lines: `USER<TAB>sync` raises the user to priority
/// `sync` in the ``Replicator``, waits for the sync that follows, at most ``syncTimeout``
/// seconds of the replicator's clock, and answers `+\n` when it succeeded, `-\n` when it
/// failed or took too long (the plugin then falls back to the fifo). `USER<TAB>low` and
/// `USER<TAB>high` are taken as on the fifo, without an answer. A bad line is logged and
/// closes the connection, as Dovecot's aggregator does.
///
/// The socket gets its ``NotifyPathAccess`` before it can be reached: it is bound under a
/// temporary name in the same directory, given its owner and mode, then renamed into
/// place. A stale socket at the path is replaced; a live one (another agent, Dovecot's
/// own aggregator) or anything that is not a socket is refused. On graceful shutdown the
/// socket is removed and no more lines are read, while requests already waiting are still
/// answered (the replicator stops after the inputs).
public struct NotifySocketInput: Service {
    /// The socket.
    public let path: String
    /// Its owner, group and mode.
    public let access: NotifyPathAccess
    /// Where the notifications go.
    public let replicator: Replicator
    /// How long a `sync` request waits for its sync, in seconds of the replicator's clock.
    public let syncTimeout: Int64
    /// The longest line taken, in bytes.
    public let maximumLineLength: Int
    /// Connections served at once; more are closed at once (the plugin then uses the fifo).
    public let maximumConnections: Int
    let logger: Logger

    /// Dovecot's `REPLICATION_SYNC_TIMEOUT_SECS`.
    public static let defaultSyncTimeout: Int64 = 10
    public static let defaultMaximumConnections = 256

    /// - Parameters:
    ///   - path: the socket, e.g. `/run/dovecot/replication-notify`.
    ///   - access: its owner, group and mode.
    ///   - replicator: where the notifications go.
    ///   - syncTimeout: how long a `sync` request waits, in seconds (at least 1).
    ///   - maximumLineLength: the longest line taken, in bytes.
    ///   - maximumConnections: connections served at once.
    public init(
        path: String, access: NotifyPathAccess = NotifyPathAccess(), replicator: Replicator,
        syncTimeout: Int64 = NotifySocketInput.defaultSyncTimeout,
        maximumLineLength: Int = NotifyFifoInput.defaultMaximumLineLength,
        maximumConnections: Int = NotifySocketInput.defaultMaximumConnections, logger: Logger
    ) {
        self.path = path
        self.access = access
        self.replicator = replicator
        self.syncTimeout = max(syncTimeout, 1)
        self.maximumLineLength = maximumLineLength
        self.maximumConnections = max(maximumConnections, 1)
        self.logger = logger
    }

    /// A connection that sends nothing for this long past the sync timeout is closed.
    var idleTimeout: TimeAmount { .seconds(syncTimeout + 30) }

    /// Listens until graceful shutdown or cancellation, then removes the socket.
    ///
    /// - Throws: ``NotifyInputError`` when the path holds something else or a live socket,
    ///   or the socket cannot be made or given its access.
    public func run() async throws {
        try await removeStaleSocket()
        let server = try await listen()
        let identity = Self.identity(of: path)
        defer {
            // Only our own socket: another process may have taken the path meanwhile.
            if let identity, Self.identity(of: path) == identity { unlink(path) }
        }
        logger.info(
            "answering Dovecot's sync requests",
            metadata: ["socket": "\(path)", "mode": "\(access.modeDescription)", "sync_timeout": "\(syncTimeout)"])
        let slots = ConnectionSlots(maximum: maximumConnections)
        try await withGracefulShutdownHandler {
            try await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        guard slots.take() else {
                            logger.warning("notify socket: \(maximumConnections) connections already, one refused", metadata: ["socket": "\(path)"])
                            try? await connection.close()
                            continue
                        }
                        group.addTask {
                            defer { slots.give() }
                            await serve(connection)
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
            if let identity, Self.identity(of: path) == identity { unlink(path) }
        }
    }

    // MARK: Connections

    /// Serves one connection: wraps it for async use here, not in the child initializer.
    ///
    /// An async channel made in the child initializer that the accept loop never takes
    /// (the loop ended at shutdown while a connection was being accepted) would trap when
    /// released unclosed; a plain `Channel` left behind is closed by its idle timeout.
    /// Reads start only once the channel is wrapped (`autoRead` is off until then), so
    /// nothing is read before there is someone to take it.
    private func serve(_ channel: any Channel) async {
        do {
            let connection = try await channel.eventLoop.submit {
                let connection = try NIOAsyncChannel<NotifyLineFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                try channel.syncOptions?.setOption(.autoRead, value: true)
                return connection
            }.get()
            try await connection.executeThenClose { inbound, outbound in
                for try await frame in inbound.cancelOnGracefulShutdown() {
                    let request: NotifyRequest
                    do throws(NotifyLineError) {
                        request = try frame.request(maximumLength: maximumLineLength, accepting: [.low, .high, .sync])
                    } catch {
                        logger.warning(
                            "notify socket: bad line, connection closed: \(error)",
                            metadata: ["socket": "\(path)", "code": "\(error.code.rawValue)"])
                        return
                    }
                    guard request.priority == .sync else {
                        logger.debug("notification", metadata: ["user": "\(request.user)", "priority": "\(request.priority)"])
                        await replicator.notify(request.user, priority: request.priority)
                        continue
                    }
                    let synced = await sync(request.user)
                    try await outbound.write(ByteBuffer(string: synced ? "+\n" : "-\n"))
                }
            }
        } catch {
            logger.debug("notify socket: connection ended: \(error)")
        }
    }

    /// Asks for a sync of `user` and waits for it, at most ``syncTimeout`` seconds.
    ///
    /// - Returns: whether the sync succeeded in time.
    func sync(_ user: String) async -> Bool {
        let clock = replicator.clock
        // Taken before the request, so that time moving on while it is made counts.
        let deadline = clock.now + syncTimeout
        let answer = await withTaskGroup(of: Bool?.self) { group in
            group.addTask { await replicator.notifyAndWait(user) }
            group.addTask {
                try? await clock.sleep(until: deadline)
                return nil
            }
            let first = await group.next() ?? nil
            // A timeout withdraws the wait (the sync itself goes on).
            group.cancelAll()
            return first
        }
        switch answer {
        case true?: logger.debug("sync request answered +", metadata: ["user": "\(user)"])
        case false?: logger.info("sync request answered -: the sync failed", metadata: ["user": "\(user)"])
        case nil: logger.info("sync request answered -: no sync within \(syncTimeout) s", metadata: ["user": "\(user)"])
        }
        return answer ?? false
    }

    // MARK: The socket

    /// Removes a socket nobody listens on; refuses a live one and anything else.
    private func removeStaleSocket() async throws {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            guard errno == ENOENT else { throw NotifyInputError.system(.cannotCreate, path: path, "lstat") }
            return
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw NotifyInputError(.notASocket, path: path, "exists and is not a socket; remove it or configure another path")
        }
        if let probe = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(unixDomainSocketPath: path).get() {
            try? await probe.close()
            throw NotifyInputError(.inUse, path: path, "another process listens on it (another agent, or Dovecot's aggregator service)")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw NotifyInputError.system(.cannotCreate, path: path, "removing the stale socket")
        }
    }

    /// Binds under a temporary name, sets the access, renames into place.
    private func listen() async throws -> NIOAsyncChannel<any Channel, Never> {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let temporary = directory + "/.dx" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let server: NIOAsyncChannel<any Channel, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 128)
                .childChannelOption(.autoRead, value: false)
                .bind(unixDomainSocketPath: temporary, cleanupExistingSocketFile: true) { [maximumLineLength, idleTimeout] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            IdleStateHandler(readTimeout: idleTimeout), CloseWhenIdleHandler(),
                            ByteToMessageHandler(NotifyLineDecoder(maximumLength: maximumLineLength)))
                        return channel
                    }
                }
        } catch {
            throw NotifyInputError(.cannotCreate, path: path, "cannot listen: \(error)")
        }
        do {
            try access.apply(toPath: temporary)
            guard rename(temporary, path) == 0 else { throw NotifyInputError.system(.cannotCreate, path: path, "renaming \(temporary) to it") }
        } catch {
            unlink(temporary)
            try? await server.channel.close()
            throw error
        }
        return server
    }

    /// The device and inode at `path`, not following a symbolic link.
    private static func identity(of path: String) -> [UInt64]? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return [UInt64(status.st_dev), UInt64(status.st_ino)]
    }
}

/// Counts the connections being served.
private final class ConnectionSlots: Sendable {
    private let taken = Mutex(0)
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Takes a slot; false when all are taken.
    func take() -> Bool {
        taken.withLock { taken in
            guard taken < maximum else { return false }
            taken += 1
            return true
        }
    }

    func give() {
        taken.withLock { $0 -= 1 }
    }
}

/// Closes a connection when the `IdleStateHandler` before it reports that nothing was read.
private final class CloseWhenIdleHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
