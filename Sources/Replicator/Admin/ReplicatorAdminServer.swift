import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Serves the replicator's admin socket: `duplex replicator …` (through
/// ``ReplicatorAdminClient``) asks for status and queues, adds, removes and releases users.
///
/// The protocol is newline-delimited JSON: each request is one ``ReplicatorAdminRequest``
/// object on a line of at most ``maximumRequestLength`` bytes, answered by one
/// ``ReplicatorAdminResponse`` object on a line, in order; a connection may carry any
/// number of requests. A bad line (not JSON, too long, an unknown command, a missing or
/// mistyped field) is answered with `{"ok":false,"error":"…"}` naming what is wrong, and
/// the connection goes on.
///
/// The socket is a Unix socket of mode 0600: whoever can connect may change the queue, so
/// only the agent's own user (and root) may. Connections run concurrently, each catching
/// its own errors.
public struct ReplicatorAdminServer: Service, Sendable {
    /// The longest request line, in bytes (without the newline).
    public static let maximumRequestLength = 64 * 1024

    /// Where the socket is created.
    public let socketPath: String
    let replicator: Replicator
    let logger: Logger

    /// A server for `replicator` at `socketPath` (nothing happens until ``run()``).
    ///
    /// - Parameters:
    ///   - socketPath: The Unix socket to create, e.g. `/run/duplex/replicator.sock`; its
    ///     directory must exist.
    ///   - replicator: The replicator the requests go to.
    ///   - logger: Where the listening address, changes made and connection errors go.
    public init(socketPath: String, replicator: Replicator, logger: Logger) {
        self.socketPath = socketPath
        self.replicator = replicator
        self.logger = logger
    }

    /// Creates the socket and serves until cancelled (or, in a `ServiceGroup`, until
    /// graceful shutdown), then closes the connections and removes the socket file.
    ///
    /// A socket file left at the path by a server that died is replaced; one on which a
    /// process still accepts connections, or a file that is no socket, is left alone.
    ///
    /// - Throws: ``ReplicatorAdminError`` `cannotListen` when the socket cannot be created.
    public func run() async throws {
        let server = AdminLineServer(
            socketPath: socketPath, maximumLineLength: Self.maximumRequestLength, name: "admin socket", logger: logger
        ) { frame, _ in
            do {
                return try Self.encodeLine(await self.response(to: frame))
            } catch {
                return ByteBuffer(string: "{\"ok\":false,\"error\":\"the answer could not be encoded\"}\n")
            }
        }
        try await server.run()
    }

    /// The admin protocol's pipeline on a connected channel: lines in, bytes out.
    static func makeConnection(_ channel: any Channel, maximumLineLength: Int) throws -> NIOAsyncChannel<AdminFrame, ByteBuffer> {
        try AdminLineServer.makeConnection(channel, maximumLineLength: maximumLineLength)
    }

    /// The answer to one line.
    func response(to frame: AdminFrame) async -> ReplicatorAdminResponse {
        guard case .line(let line) = frame else {
            logger.debug("admin: refused a request line longer than \(Self.maximumRequestLength) bytes")
            return .failure("request line longer than \(Self.maximumRequestLength) bytes")
        }
        let request: ReplicatorAdminRequest
        do {
            request = try ReplicatorAdminRequest(line: line.readableBytesView)
        } catch {
            let message = (error as? ReplicatorAdminError)?.message ?? "\(error)"
            logger.debug("admin: bad request: \(message)")
            return .failure(message)
        }
        return await replicator.response(to: request)
    }

    /// `value` as JSON followed by a newline.
    static func encodeLine(_ value: some Encodable) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var buffer = ByteBuffer()
        buffer.writeBytes(try encoder.encode(value))
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }
}
