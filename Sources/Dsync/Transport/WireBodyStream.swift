import Crypto
import NIOCore

/// Bodies arriving on a connection: for each expected request a header frame (a response
/// when a server answers `bodies`, a request when a client pushes the bodies of an
/// `apply`), then, for a found message, its chunks and a `bodyEnd` whose size and SHA-256
/// digest are checked before the end is reported.
final class WireBodyStream: MessageBodyStream {
    private let connection: DsyncConnection
    private let id: UInt32
    private let responses: Bool
    private let requests: [BodyRequest]
    private var index = 0
    private var current: (header: BodyHeader, received: Int64, hasher: SHA256)?

    init(connection: DsyncConnection, id: UInt32, responses: Bool, requests: [BodyRequest]) {
        self.connection = connection
        self.id = id
        self.responses = responses
        self.requests = requests
    }

    /// How many requested bodies were started.
    var started: Int { index }

    func nextMessage() async throws -> BodyHeader? {
        guard current == nil else { throw DsyncError(.usage, "the previous body was not read to its end") }
        guard index < requests.count else {
            throw DsyncError(.usage, "a body was asked for beyond the \(requests.count) requested")
        }
        let expected = requests[index]
        index += 1
        let frame = try await connection.receive(while: "waiting for message \(expected.guid)")
        let json: ArraySlice<UInt8>
        switch frame {
        case .response(id, let buffer) where responses:
            json = try connection.result(of: Array(buffer.readableBytesView), what: "a body request")
        case .request(id, let buffer) where !responses:
            json = ArraySlice(buffer.readableBytesView)
        default:
            throw DsyncError(.protocolError, "\(connection.peer) sent a \(frame.kind) frame where the header of message \(expected.guid) belongs")
        }
        let announced = try DsyncJSON.decode(DsyncBodyHeader.self, from: json, what: "body header")
        guard announced.request == expected else {
            throw DsyncError(.protocolError, "\(connection.peer) sent message \(announced.request.guid) where \(expected.guid) belongs")
        }
        guard announced.found else { return nil }
        guard let size = announced.size, size >= 0 else {
            throw DsyncError(.protocolError, "\(connection.peer) announced message \(expected.guid) without a valid size")
        }
        let header = BodyHeader(size: size, receivedDate: announced.receivedDate)
        current = (header, 0, SHA256())
        return header
    }

    func nextChunk() async throws -> ByteBuffer? {
        guard var body = current else { return nil }
        let guid = requests[index - 1].guid
        switch try await connection.receive(while: "receiving message \(guid)") {
        case .bodyChunk(id, let chunk):
            body.received += Int64(chunk.readableBytes)
            guard body.received <= body.header.size else {
                throw DsyncError(.protocolError, "\(connection.peer) sent more of message \(guid) than its announced \(body.header.size) bytes")
            }
            chunk.withUnsafeReadableBytes { body.hasher.update(bufferPointer: $0) }
            current = body
            return chunk
        case .bodyEnd(id, let size, let digest):
            current = nil
            guard size == UInt64(body.received), body.received == body.header.size else {
                throw DsyncError(.protocolError, "message \(guid) from \(connection.peer) ended after \(body.received) of \(body.header.size) bytes")
            }
            guard Array(body.hasher.finalize()) == digest else {
                throw DsyncError(.protocolError, "message \(guid) from \(connection.peer) does not match its SHA-256 digest; it was not saved")
            }
            return nil
        case let other:
            throw DsyncError(.protocolError, "\(connection.peer) sent a \(other.kind) frame in the middle of message \(guid)")
        }
    }

    func finish() async throws {
        while current != nil { _ = try await nextChunk() }
        while index < requests.count {
            if try await nextMessage() != nil {
                while try await nextChunk() != nil {}
            }
        }
    }
}
