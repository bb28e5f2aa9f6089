import NIOCore

/// One frame of the dsync wire protocol.
///
/// On the wire a frame is a 4-byte big-endian length, then a 1-byte type (``Kind``), then
/// the payload; the length counts the type byte and the payload, not itself, and is at most
/// the connection's maximum frame length (``defaultMaximumLength`` unless configured). All
/// integers are big-endian. A string is a `UInt16` byte count and that many bytes of UTF-8.
///
/// Frames hold payload bytes as `ByteBuffer`s so that body chunks pass through without
/// copies; the type stays inside the package.
package enum DsyncFrame: Sendable, Hashable {
    /// The client's opening frame. Payload: see ``DsyncHello``.
    case hello(DsyncHello)
    /// The server's acceptance of a hello. Payload: see ``DsyncWelcome``.
    case welcome(DsyncWelcome)
    /// A refusal or failure, after which the sender closes the connection.
    /// Payload: `code` `UInt16` (a ``DsyncWireError/Code`` raw value), then `message` as a
    /// string (at most 65 535 UTF-8 bytes, no mail content).
    case error(code: UInt16, message: String)
    /// A request of the sync conversation. Payload: `id` `UInt32`, then the request as JSON
    /// (the rest of the frame). Requests may be pipelined; the answer carries the same `id`.
    case request(id: UInt32, json: ByteBuffer)
    /// The answer to the request with the same `id`. Payload: `id` `UInt32`, then JSON.
    case response(id: UInt32, json: ByteBuffer)
    /// A piece of a message body. Payload: `streamID` `UInt32`, then at most
    /// ``maximumBodyChunkLength`` bytes of the body.
    case bodyChunk(streamID: UInt32, bytes: ByteBuffer)
    /// The end of a body stream: the whole body's `size` in bytes (`UInt64`) and its
    /// `sha256` digest (exactly 32 bytes), checked before the body is committed.
    /// Payload: `streamID` `UInt32`, `size` `UInt64`, 32 digest bytes (44 bytes in all).
    case bodyEnd(streamID: UInt32, size: UInt64, sha256: [UInt8])
    /// A keepalive probe; the peer answers ``pong``. Empty payload.
    case ping
    /// The answer to ``ping``. Empty payload.
    case pong
    /// The sender is done and will close. Empty payload.
    case goodbye

    /// The type byte of each frame kind. Values never change; new kinds take new values.
    package enum Kind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case hello = 0x01
        case welcome = 0x02
        case error = 0x03
        case request = 0x10
        case response = 0x11
        case bodyChunk = 0x20
        case bodyEnd = 0x21
        case ping = 0x30
        case pong = 0x31
        case goodbye = 0x3F

        package var description: String {
            switch self {
            case .hello: "hello"
            case .welcome: "welcome"
            case .error: "error"
            case .request: "request"
            case .response: "response"
            case .bodyChunk: "bodyChunk"
            case .bodyEnd: "bodyEnd"
            case .ping: "ping"
            case .pong: "pong"
            case .goodbye: "goodbye"
            }
        }
    }

    /// This frame's kind.
    package var kind: Kind {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .error: .error
        case .request: .request
        case .response: .response
        case .bodyChunk: .bodyChunk
        case .bodyEnd: .bodyEnd
        case .ping: .ping
        case .pong: .pong
        case .goodbye: .goodbye
        }
    }

    /// The default maximum frame length in bytes (type byte plus payload): 1 MiB of request
    /// or response JSON plus room for the header fields.
    package static let defaultMaximumLength = 1024 * 1024 + 64

    /// The most body bytes one ``bodyChunk(streamID:bytes:)`` may carry: 256 KiB.
    package static let maximumBodyChunkLength = 256 * 1024

    /// The size of the length field in bytes.
    package static let lengthFieldSize = 4

    /// The size of a SHA-256 digest in bytes.
    package static let sha256Length = 32
}
