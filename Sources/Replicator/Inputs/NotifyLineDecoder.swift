import NIOCore

/// What ``NotifyLineDecoder`` makes of the bytes: a line, or a line it would not keep.
enum NotifyLineFrame: Equatable, Sendable {
    /// A line without its LF.
    case line(ByteBuffer)
    /// A line longer than the maximum, discarded as it came; `byteCount` is its length
    /// without the LF.
    case tooLong(byteCount: Int)
    /// The bytes after the last LF when the input ended.
    case unterminated(ByteBuffer)
}

/// Splits a notification stream into LF-terminated lines of at most a maximum length.
///
/// A longer line is not buffered: its bytes are dropped as they arrive and it is reported
/// once, as ``NotifyLineFrame/tooLong(byteCount:)``, when its LF comes, so a writer
/// cannot make the input hold more than one maximum line, and the lines after it are read
/// as usual. The decoder never throws.
struct NotifyLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = NotifyLineFrame

    /// The longest line kept, in bytes without the LF.
    let maximumLength: Int
    /// Bytes of an over-long line dropped so far; nil when not inside one.
    private var discarded: Int?
    /// How many readable bytes are known to hold no LF (not scanned again).
    private var scanned = 0

    static let newline: UInt8 = 0x0A

    /// - Parameter maximumLength: the longest line kept, at least 1 byte.
    init(maximumLength: Int) {
        precondition(maximumLength >= 1, "maximum line length must be at least 1")
        self.maximumLength = maximumLength
    }

    /// Takes the next line (or the report of an over-long one) from the front of `buffer`.
    ///
    /// - Returns: nil when more bytes are needed; bytes of an over-long line are consumed
    ///   even then.
    mutating func nextFrame(from buffer: inout ByteBuffer) -> NotifyLineFrame? {
        let bytes = buffer.readableBytesView
        guard let newline = bytes[(bytes.startIndex + scanned)...].firstIndex(of: Self.newline) else {
            if discarded != nil || bytes.count > maximumLength {
                discarded = (discarded ?? 0) + bytes.count
                buffer.moveReaderIndex(forwardBy: bytes.count)
                scanned = 0
            } else {
                scanned = bytes.count
            }
            return nil
        }
        scanned = 0
        let length = newline - bytes.startIndex
        if discarded != nil || length > maximumLength {
            let total = (discarded ?? 0) + length
            discarded = nil
            buffer.moveReaderIndex(forwardBy: length + 1)
            return .tooLong(byteCount: total)
        }
        guard let line = buffer.readSlice(length: length) else { preconditionFailure("the line was found in the buffer") }
        buffer.moveReaderIndex(forwardBy: 1)
        return .line(line)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = nextFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        guard seenEOF else { return .needMoreData }
        scanned = 0
        if let discarded {
            self.discarded = nil
            context.fireChannelRead(Self.wrapInboundOut(.tooLong(byteCount: discarded + buffer.readableBytes)))
            buffer.moveReaderIndex(to: buffer.writerIndex)
        } else if buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(Self.wrapInboundOut(.unterminated(rest)))
        }
        return .needMoreData
    }
}

extension NotifyLineFrame {
    /// The request this frame carries.
    ///
    /// - Parameters:
    ///   - maximumLength: the decoder's maximum, for the message about an over-long line.
    ///   - accepted: the priorities the input takes.
    /// - Throws: ``NotifyLineError`` for an over-long, unterminated or bad line, or a
    ///   priority not in `accepted`.
    func request(maximumLength: Int, accepting accepted: Set<ReplicationPriority>) throws(NotifyLineError) -> NotifyRequest {
        switch self {
        case .tooLong(let byteCount):
            throw NotifyLineError(.tooLong, "a line of \(byteCount) bytes is longer than the maximum of \(maximumLength)", line: [])
        case .unterminated(let bytes):
            throw NotifyLineError(.unterminated, "the input ended inside a line", line: bytes.readableBytesView)
        case .line(let bytes):
            let request = try NotifyRequest(parsing: bytes.readableBytesView)
            guard accepted.contains(request.priority) else {
                let names = ReplicationPriority.allCases.filter(accepted.contains).map(\.description).joined(separator: " or ")
                throw NotifyLineError(.priorityNotAccepted, "this input takes \(names), not \(request.priority)", line: bytes.readableBytesView)
            }
            return request
        }
    }
}
