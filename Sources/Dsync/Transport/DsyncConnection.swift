import Crypto
import NIOCore
import NIOSSL

/// One established dsync connection: frames in and out, with the conversation's framing
/// rules (status bytes, payloads too large for one frame, keepalive answers, peer errors).
///
/// Not for concurrent use: one task talks on a connection at a time (a sync is one
/// sequence of requests; a server handles one request at a time). Only ``send(_:)`` may
/// also be called from the keepalive task.
package final class DsyncConnection: @unchecked Sendable {
    private var inbound: NIOAsyncChannelInboundStream<DsyncFrame>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<DsyncFrame>
    /// Who the peer is, for messages (`tls://host:port` or its certificate's name).
    package let peer: String
    /// The largest payload (request, response) accepted in pieces: 1 GiB.
    package let maximumPayload = 1 << 30
    /// The largest payload sent in one frame.
    static let inlinePayloadLimit = DsyncFrame.defaultMaximumLength - 64

    package init(
        inbound: NIOAsyncChannelInboundStream<DsyncFrame>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<DsyncFrame>,
        peer: String
    ) {
        self.inbound = inbound
        self.outbound = outbound
        self.peer = peer
    }

    // MARK: Frames

    /// Sends one frame (suspends while the connection cannot take more: backpressure).
    package func send(_ frame: DsyncFrame) async throws {
        do {
            try await outbound.write(frame)
        } catch {
            throw mapped(error, while: "sending a \(frame.kind) frame")
        }
    }

    /// Sends frames together: one write of them all (one TLS record and system call when
    /// they fit), so that requests that do not wait for each other cost one round trip.
    package func send(contentsOf frames: [DsyncFrame]) async throws {
        do {
            try await outbound.write(contentsOf: frames)
        } catch {
            throw mapped(error, while: "sending \(frames.map { "\($0.kind)" }.joined(separator: ", ")) frames")
        }
    }

    /// The next frame from the peer that is not a keepalive. Pings are answered.
    ///
    /// - Throws: ``DsyncError`` `protocolError` when the connection ended or a frame was
    ///   malformed; the peer's own error when it sent an `error` frame.
    package func receive(while doing: String) async throws -> DsyncFrame {
        while true {
            let frame: DsyncFrame?
            do {
                frame = try await inbound.next()
            } catch {
                throw mapped(error, while: doing)
            }
            guard let frame else {
                throw DsyncError(.protocolError, "\(peer) closed the connection while \(doing)")
            }
            switch frame {
            case .ping:
                try await send(.pong)
            case .pong:
                continue
            case .error(let code, let message):
                throw Self.peerError(code: code, message: message, peer: peer)
            default:
                return frame
            }
        }
    }

    /// The dsync error for an `error` frame from the peer.
    static func peerError(code: UInt16, message: String, peer: String) -> DsyncError {
        switch DsyncWireError.Code(rawValue: code) {
        case .notAuthorized: DsyncError(.authenticationFailed, "\(peer) refused this host: \(message)")
        case .shuttingDown: DsyncError(.peerUnreachable, "\(peer) is shutting down: \(message)")
        default: DsyncError(.protocolError, "\(peer) reported a protocol error: \(message)")
        }
    }

    private func mapped(_ error: Error, while doing: String) -> DsyncError {
        switch error {
        case let error as DsyncError: return error
        case let error as DsyncWireError:
            return DsyncError(.protocolError, "\(peer) sent a bad frame while \(doing): \(error.message)")
        case let error as NIOSSLError:
            var result = DsyncTLS.describe(error)
            result.message = "\(peer): \(result.message) (while \(doing))"
            return result
        case let error as BoringSSLError:
            var result = DsyncTLS.describe(error)
            result.message = "\(peer): \(result.message) (while \(doing))"
            return result
        case let error as IOError:
            return DsyncError(.protocolError, "\(peer): connection failed while \(doing): \(error)")
        case is ChannelError:
            return DsyncError(.protocolError, "\(peer): the connection closed while \(doing)")
        default:
            return DsyncError(.protocolError, "\(peer): connection failed while \(doing): \(error)")
        }
    }

    // MARK: Payloads

    /// Sends a request or response payload: in its frame when it fits, else as an empty
    /// frame followed by the payload in body chunks and a checked end.
    package func sendPayload(_ bytes: [UInt8], id: UInt32, response: Bool) async throws {
        let allocator = ByteBufferAllocator()
        func frame(_ buffer: ByteBuffer) -> DsyncFrame {
            response ? .response(id: id, json: buffer) : .request(id: id, json: buffer)
        }
        if !bytes.isEmpty && bytes.count <= Self.inlinePayloadLimit {
            try await send(frame(allocator.buffer(bytes: bytes)))
            return
        }
        try await send(frame(allocator.buffer(capacity: 0)))
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + DsyncFrame.maximumBodyChunkLength, bytes.count)
            try await send(.bodyChunk(streamID: id, bytes: allocator.buffer(bytes: bytes[offset..<end])))
            offset = end
        }
        try await send(.bodyEnd(streamID: id, size: UInt64(bytes.count), sha256: Array(SHA256.hash(data: bytes))))
    }

    /// The payload of a request or response frame whose payload is `first`: itself, or
    /// the pieces that follow when it is empty.
    package func receivePayload(_ first: ByteBuffer, id: UInt32, what: String) async throws -> [UInt8] {
        if first.readableBytes > 0 { return Array(first.readableBytesView) }
        var bytes: [UInt8] = []
        var hasher = SHA256()
        while true {
            switch try await receive(while: "receiving \(what)") {
            case .bodyChunk(id, let chunk):
                guard bytes.count + chunk.readableBytes <= maximumPayload else {
                    throw DsyncError(.protocolError, "\(peer) sent \(what) above the limit of \(maximumPayload) bytes")
                }
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                bytes += chunk.readableBytesView
            case .bodyEnd(id, let size, let digest):
                guard size == UInt64(bytes.count), Array(hasher.finalize()) == digest else {
                    throw DsyncError(.protocolError, "\(peer) sent \(what) whose size or SHA-256 digest does not match its end frame")
                }
                return bytes
            case let other:
                throw DsyncError(.protocolError, "\(peer) sent a \(other.kind) frame in the middle of \(what)")
            }
        }
    }

    /// Sends a response: status 0 and the result.
    package func respond(id: UInt32, result: [UInt8]) async throws {
        try await sendPayload([0] + result, id: id, response: true)
    }

    /// Sends a response: status 1 and the error.
    package func respond(id: UInt32, error: DsyncError) async throws {
        let body = try DsyncJSON.encode(DsyncRemoteError(code: error.code, message: error.message))
        try await sendPayload([1] + body, id: id, response: true)
    }

    /// The result of a response payload, or the peer's error thrown.
    package func result(of payload: [UInt8], what: String) throws -> ArraySlice<UInt8> {
        guard let status = payload.first else {
            throw DsyncError(.protocolError, "\(peer) sent an empty response to \(what)")
        }
        switch status {
        case 0:
            return payload.dropFirst()
        case 1:
            let remote = try DsyncJSON.decode(DsyncRemoteError.self, from: payload.dropFirst(), what: "error for \(what)")
            throw DsyncError(remote.code, "\(peer): \(remote.message)")
        default:
            throw DsyncError(.protocolError, "\(peer) sent a response to \(what) with unknown status \(status)")
        }
    }

    // MARK: Bodies

    /// Sends every body of `stream` (one per request, in order) after a header frame each.
    ///
    /// - Parameters:
    ///   - requests: what the stream was opened for.
    ///   - id: the request id the frames carry.
    ///   - response: whether the header frames are responses (a server answering `bodies`)
    ///     or requests (a client pushing the bodies of an `apply`).
    package func sendBodies(_ stream: any MessageBodyStream, for requests: [BodyRequest], id: UInt32, response: Bool) async throws {
        let allocator = ByteBufferAllocator()
        for request in requests {
            let header = try await stream.nextMessage()
            let announced = DsyncBodyHeader(request: request, found: header != nil, size: header?.size, receivedDate: header?.receivedDate)
            let json = try DsyncJSON.encode(announced)
            if response {
                try await send(.response(id: id, json: allocator.buffer(bytes: [0] + json)))
            } else {
                try await send(.request(id: id, json: allocator.buffer(bytes: json)))
            }
            guard let header else { continue }
            var hasher = SHA256()
            var size: Int64 = 0
            while let chunk = try await stream.nextChunk() {
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                size += Int64(chunk.readableBytes)
                try await send(.bodyChunk(streamID: id, bytes: chunk))
            }
            guard size == header.size else {
                throw DsyncError(.changedDuringSync, "message \(request.guid) changed size while it was sent")
            }
            try await send(.bodyEnd(streamID: id, size: UInt64(size), sha256: Array(hasher.finalize())))
        }
        try await stream.finish()
    }
}
