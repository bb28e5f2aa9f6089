/// An error of the dsync wire protocol: a frame that cannot be read or written, or a
/// handshake that went wrong, with a stable code and what is known about the frame.
///
/// The message never contains payload bytes (they may be mail); it names the frame type
/// byte and the lengths involved.
public struct DsyncWireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable kind of a wire error. The raw value is sent in `error` frames, so it must
    /// never change for an existing case.
    public enum Code: UInt16, Sendable, CaseIterable, CustomStringConvertible {
        /// A frame's length field is above the maximum frame length, or a field above its
        /// own limit (a body chunk above 256 KiB).
        case frameTooLarge = 1
        /// A frame's type byte names no known frame kind.
        case unknownFrameType = 2
        /// A frame's payload does not have the shape its type requires (bad UTF-8, an
        /// unknown enum value, trailing bytes, a zero length).
        case malformedPayload = 3
        /// A payload ends before its fields do, or the connection ended inside a frame.
        case truncated = 4
        /// A frame arrived that is not allowed at this point of the protocol.
        case unexpectedFrame = 5
        /// The peers share no protocol major version.
        case unsupportedVersion = 6
        /// The peer sent an `error` frame.
        case rejectedByPeer = 7
        /// The connection closed before the exchange was complete.
        case connectionClosed = 8
        /// A frame to be sent breaks a limit of the wire format (a string longer than
        /// 65 535 UTF-8 bytes, a digest that is not 32 bytes).
        case unencodable = 9
        /// The peer's certificate names no allowed identity.
        case notAuthorized = 10
        /// The peer is shutting down and takes no new work.
        case shuttingDown = 11
        /// The peer was idle longer than allowed.
        case idleTimeout = 12

        public var description: String {
            switch self {
            case .frameTooLarge: "frameTooLarge"
            case .unknownFrameType: "unknownFrameType"
            case .malformedPayload: "malformedPayload"
            case .truncated: "truncated"
            case .unexpectedFrame: "unexpectedFrame"
            case .unsupportedVersion: "unsupportedVersion"
            case .rejectedByPeer: "rejectedByPeer"
            case .connectionClosed: "connectionClosed"
            case .unencodable: "unencodable"
            case .notAuthorized: "notAuthorized"
            case .shuttingDown: "shuttingDown"
            case .idleTimeout: "idleTimeout"
            }
        }
    }

    /// What went wrong, stable across releases.
    public var code: Code
    /// A sentence for operators, naming the frame type and lengths where known.
    public var message: String
    /// The frame's type byte, when the error concerns one frame.
    public var typeByte: UInt8?
    /// The frame length in bytes (type byte plus payload) as read from the length field or
    /// as it would be written.
    public var length: Int?
    /// The limit in bytes that was broken, for size errors.
    public var limit: Int?
    /// The code the peer sent in its `error` frame, for ``Code/rejectedByPeer``.
    public var peerCode: UInt16?

    /// Makes an error.
    ///
    /// - Parameters:
    ///   - code: the stable kind.
    ///   - message: a sentence naming what and where, without payload bytes.
    ///   - typeByte: the frame's type byte, when known.
    ///   - length: the frame length in bytes, when known.
    ///   - limit: the broken limit in bytes, for size errors.
    ///   - peerCode: the peer's code, for errors the peer sent.
    public init(
        _ code: Code,
        _ message: String,
        typeByte: UInt8? = nil,
        length: Int? = nil,
        limit: Int? = nil,
        peerCode: UInt16? = nil
    ) {
        self.code = code
        self.message = message
        self.typeByte = typeByte
        self.length = length
        self.limit = limit
        self.peerCode = peerCode
    }

    public var description: String {
        "dsync protocol error (\(code)): \(message)"
    }
}
