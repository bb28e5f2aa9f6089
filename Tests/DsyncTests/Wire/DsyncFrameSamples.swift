import NIOCore

@testable import Dsync

/// One frame of every kind, with payloads that exercise each field.
enum DsyncFrameSamples {
    static let hello = DsyncHello(
        version: DsyncProtocolVersion(major: 1, minor: 3),
        capabilities: ["pipelining", "bodies-sha256", "näive-utf8"],
        user: "alice@example.com",
        syncKind: .full
    )

    static var all: [DsyncFrame] {
        [
            .hello(hello),
            .hello(DsyncHello(version: .current, capabilities: [], user: "bob", syncKind: .incremental)),
            .welcome(DsyncWelcome(version: DsyncProtocolVersion(major: 1, minor: 0), capabilities: ["pipelining"])),
            .welcome(DsyncWelcome(version: .current, capabilities: [])),
            .error(code: DsyncWireError.Code.unsupportedVersion.rawValue, message: "protocol version 2.0 is not supported"),
            .error(code: 999, message: ""),
            .request(id: 1, json: ByteBuffer(string: #"{"op":"stamp"}"#)),
            .request(id: UInt32.max, json: ByteBuffer()),
            .response(id: 7, json: ByteBuffer(string: #"{"mailboxes":[]}"#)),
            .bodyChunk(streamID: 3, bytes: ByteBuffer(bytes: Array(0...255))),
            .bodyChunk(streamID: 4, bytes: ByteBuffer(repeating: 0x41, count: DsyncFrame.maximumBodyChunkLength)),
            .bodyChunk(streamID: 5, bytes: ByteBuffer()),
            .bodyEnd(streamID: 3, size: 256, sha256: Array(repeating: 0xAB, count: 32)),
            .bodyEnd(streamID: 0, size: UInt64.max, sha256: Array(0..<32)),
            .ping,
            .pong,
            .goodbye,
        ]
    }

    /// `frame` as the encoder writes it.
    static func bytes(of frame: DsyncFrame, maximumLength: Int = DsyncFrame.defaultMaximumLength) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try frame.write(into: &buffer, maximumLength: maximumLength)
        return buffer
    }

    /// A frame with this type byte and payload, length field included.
    static func raw(type: UInt8, payload: [UInt8], declaredLength: UInt32? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(declaredLength ?? UInt32(payload.count + 1))
        buffer.writeInteger(type)
        buffer.writeBytes(payload)
        return buffer
    }
}
