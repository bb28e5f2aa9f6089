import Foundation
import NIOCore
import NIOPosix

/// Talks to a replicator's admin socket (``ReplicatorAdminServer``): one connection, one
/// request, one response.
public struct ReplicatorAdminClient: Sendable {
    /// The longest response line accepted, in bytes: `status '*'` answers one line for
    /// all users (about 200 bytes each), so this is far above the request limit.
    public static let maximumResponseLength = 64 * 1024 * 1024

    /// The server's socket.
    public var socketPath: String
    /// How long connecting and the whole exchange may take.
    public var timeout: Duration

    /// A client for the socket at `socketPath`.
    ///
    /// - Parameters:
    ///   - socketPath: The server's Unix socket.
    ///   - timeout: How long connecting and the whole exchange may take (default 30 s).
    public init(socketPath: String, timeout: Duration = .seconds(30)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Sends `request` and returns the replicator's answer.
    ///
    /// - Returns: the response, whose ``ReplicatorAdminResponse/ok`` is true.
    /// - Throws: ``ReplicatorAdminError`` with the socket path: `cannotConnect`,
    ///   `disconnected` (the connection closed before the answer), `timedOut`,
    ///   `badResponse` (not a response of this protocol), or `refused` with the
    ///   replicator's text when it answered `{"ok":false}` (a bad request or a refusal
    ///   such as `User not found`).
    public func send(_ request: ReplicatorAdminRequest) async throws -> ReplicatorAdminResponse {
        let line = try ReplicatorAdminServer.encodeLine(request)
        guard let response = try await exchange(line, responses: 1).first else {
            throw failure(.disconnected, "the replicator disconnected unexpectedly")
        }
        guard response.ok else { throw failure(.refused, response.error ?? "no reason given") }
        return response
    }

    /// Writes `bytes` on one connection and reads up to `responses` response lines; fewer
    /// when the server closes the connection first.
    func exchange(_ bytes: ByteBuffer, responses: Int) async throws -> [ReplicatorAdminResponse] {
        let channel: NIOAsyncChannel<AdminFrame, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try ReplicatorAdminServer.makeConnection(channel, maximumLineLength: Self.maximumResponseLength)
                    }
                }
        } catch {
            throw failure(.cannotConnect, "cannot connect: \(AdminSocketFile.describe(error))")
        }
        return try await withThrowingTaskGroup(of: [ReplicatorAdminResponse]?.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(bytes)
                    var answers: [ReplicatorAdminResponse] = []
                    for try await frame in inbound {
                        answers.append(try decode(frame))
                        if answers.count == responses { break }
                    }
                    return answers
                }
            }
            group.addTask {
                // Closing ends the exchange above however far it got.
                defer { channel.channel.close(promise: nil) }
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            do {
                guard let answers = try await group.next() ?? nil else {
                    throw failure(.timedOut, "no answer from the replicator within \(timeout)")
                }
                return answers
            } catch let error as ReplicatorAdminError {
                throw error
            } catch let error as CancellationError {
                throw error
            } catch {
                throw failure(.disconnected, "the replicator disconnected unexpectedly: \(AdminSocketFile.describe(error))")
            }
        }
    }

    private func decode(_ frame: AdminFrame) throws -> ReplicatorAdminResponse {
        guard case .line(let line) = frame else {
            throw failure(.badResponse, "not a replicator admin socket: an answer longer than \(Self.maximumResponseLength) bytes")
        }
        do {
            return try JSONDecoder().decode(ReplicatorAdminResponse.self, from: Data(line.readableBytesView))
        } catch {
            throw failure(.badResponse, "not a replicator admin socket: the answer is not a response of this protocol")
        }
    }

    private func failure(_ code: ReplicatorAdminError.Code, _ message: String) -> ReplicatorAdminError {
        ReplicatorAdminError(code, message, socketPath: socketPath)
    }
}
