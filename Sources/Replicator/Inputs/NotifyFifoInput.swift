import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Dovecot 2.3's asynchronous notifications: reads `USER<TAB>low|high` lines from the
/// replication plugin's fifo (`<base_dir>/replication-notify-fifo`) and raises the users'
/// priorities in the ``Replicator``.
///
/// The fifo is made (``NotifyPathAccess`` mode, owner and group) when missing, and given
/// that access when it exists; anything else at the path is refused. Every mail process
/// opens it for writing and keeps it open while it lives, so writers come and go: the
/// input holds a write end of its own as well, so that its reads never see an end of file
/// between two writers, and it opens the fifo again should the input end all the same.
/// A line that cannot be used is logged with what is wrong and skipped. The fifo stays in
/// place when the input stops (Dovecot's plugin gives up on a fifo it cannot open and
/// would not notice a new one).
///
/// The fifo is read through NIO (`NIOPipeBootstrap` on the descriptor) rather than by a
/// blocking `read` on a thread of its own: the read then waits on the event loop, and
/// stopping is closing the channel, where a blocked thread could only be woken by writing
/// into the fifo.
public struct NotifyFifoInput: Service {
    /// The fifo.
    public let path: String
    /// Its owner, group and mode.
    public let access: NotifyPathAccess
    /// Where the notifications go.
    public let replicator: Replicator
    /// The longest line taken, in bytes (longer ones are skipped).
    public let maximumLineLength: Int
    let logger: Logger

    /// Dovecot's aggregator takes lines of up to 8 KiB from mail processes.
    public static let defaultMaximumLineLength = 8192

    /// - Parameters:
    ///   - path: the fifo, e.g. `/run/dovecot/replication-notify-fifo`.
    ///   - access: its owner, group and mode.
    ///   - replicator: where the notifications go.
    ///   - maximumLineLength: the longest line taken, in bytes.
    public init(
        path: String, access: NotifyPathAccess = NotifyPathAccess(), replicator: Replicator,
        maximumLineLength: Int = NotifyFifoInput.defaultMaximumLineLength, logger: Logger
    ) {
        self.path = path
        self.access = access
        self.replicator = replicator
        self.maximumLineLength = maximumLineLength
        self.logger = logger
    }

    /// Reads notifications until graceful shutdown or cancellation.
    ///
    /// - Throws: ``NotifyInputError`` when the fifo cannot be made, opened or given its
    ///   access.
    public func run() async throws {
        try makeFifoIfMissing()
        var opened = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let descriptors = try openFifo()
            defer { close(descriptors.keeper) }
            if !opened {
                do {
                    try access.apply(toDescriptor: descriptors.read, path: path)
                } catch {
                    close(descriptors.read)
                    throw error
                }
                logger.info("reading Dovecot's notifications", metadata: ["fifo": "\(path)", "mode": "\(access.modeDescription)"])
                opened = true
            }
            do {
                try await read(from: descriptors.read)
            } catch {
                logger.warning("notify fifo: \(error); opening it again", metadata: ["fifo": "\(path)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Reads lines from `descriptor` (whose ownership passes to NIO) until it ends or the
    /// service stops.
    private func read(from descriptor: CInt) async throws {
        let channel: NIOAsyncChannel<NotifyLineFrame, Never>
        do {
            channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .takingOwnershipOfDescriptor(input: descriptor) { [maximumLineLength] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let decoder = NotifyLineDecoder(maximumLength: maximumLineLength)
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                        return try NIOAsyncChannel<NotifyLineFrame, Never>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            close(descriptor)
            throw error
        }
        try await channel.executeThenClose { inbound in
            for try await frame in inbound.cancelOnGracefulShutdown() {
                await handle(frame)
            }
        }
    }

    private func handle(_ frame: NotifyLineFrame) async {
        let request: NotifyRequest
        do throws(NotifyLineError) {
            request = try frame.request(maximumLength: maximumLineLength, accepting: [.low, .high])
        } catch {
            logger.warning("notification skipped: \(error)", metadata: ["fifo": "\(path)", "code": "\(error.code.rawValue)"])
            return
        }
        logger.debug("notification", metadata: ["user": "\(request.user)", "priority": "\(request.priority)"])
        await replicator.notify(request.user, priority: request.priority)
    }

    // MARK: The fifo

    private func makeFifoIfMissing() throws(NotifyInputError) {
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFIFO else {
                throw NotifyInputError(.notAFifo, path: path, "exists and is not a fifo; remove it or configure another path")
            }
            return
        }
        guard errno == ENOENT else { throw .system(.cannotCreate, path: path, "lstat") }
        // The access is set on the open descriptor afterwards; the umask can only take bits away.
        guard mkfifo(path, access.mode) == 0 || errno == EEXIST else { throw .system(.cannotCreate, path: path, "mkfifo") }
    }

    /// Opens the fifo for reading (not following a symbolic link; a fifo, checked on the
    /// descriptor) and a write end that keeps it from ending between writers.
    private func openFifo() throws(NotifyInputError) -> (read: CInt, keeper: CInt) {
        let read = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)
        guard read >= 0 else { throw .system(.cannotCreate, path: path, "opening it for reading") }
        var status = stat()
        guard fstat(read, &status) == 0, status.st_mode & S_IFMT == S_IFIFO else {
            close(read)
            throw NotifyInputError(.notAFifo, path: path, "is not a fifo")
        }
        // With a reader open this does not block and cannot fail with ENXIO.
        let keeper = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)
        guard keeper >= 0 else {
            let error = NotifyInputError.system(.cannotCreate, path: path, "opening it for writing")
            close(read)
            throw error
        }
        return (read, keeper)
    }
}
