import NIOCore

/// One line of the admin protocol as the decoder hands it on.
public enum AdminFrame: Sendable, Equatable {
    /// A line without its newline (nor a carriage return before it).
    case line(ByteBuffer)
    /// A line longer than the maximum: its bytes were dropped up to the next newline.
    case tooLong
}

/// Splits the admin socket's byte stream into newline-terminated lines of at most
/// ``maximumLength`` bytes: a pure state machine over the bytes received so far.
///
/// A longer line is reported once as ``AdminFrame/tooLong`` as soon as it passes the
/// maximum and is then skipped up to its newline, so that memory stays bounded and the
/// connection can go on with the next line. Bytes after the last newline at end of input
/// are no request and are dropped.
struct AdminLineFramer: Sendable {
    let maximumLength: Int
    /// Inside a line already reported as too long.
    private var discarding = false
    /// How many readable bytes are known to hold no newline (not scanned again).
    private var scanned = 0

    init(maximumLength: Int) {
        self.maximumLength = maximumLength
    }

    /// The next frame from `buffer` (bytes received and not yet consumed, to which new
    /// bytes are only appended), consuming its bytes; nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) -> AdminFrame? {
        while true {
            let view = buffer.readableBytesView
            guard let newline = view[(view.startIndex + min(scanned, view.count))...].firstIndex(of: UInt8(ascii: "\n")) else {
                if discarding || buffer.readableBytes > maximumLength {
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    scanned = 0
                    if !discarding {
                        discarding = true
                        return .tooLong
                    }
                } else {
                    scanned = buffer.readableBytes
                }
                return nil
            }
            let length = newline - view.startIndex
            scanned = 0
            if discarding {
                discarding = false
                buffer.moveReaderIndex(forwardBy: length + 1)
                continue
            }
            guard length <= maximumLength, var line = buffer.readSlice(length: length) else {
                buffer.moveReaderIndex(forwardBy: length + 1)
                return .tooLong
            }
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            return .line(line)
        }
    }
}

/// The framer in a channel pipeline.
struct AdminLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = AdminFrame

    private var framer: AdminLineFramer

    init(maximumLength: Int) {
        framer = AdminLineFramer(maximumLength: maximumLength)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = framer.next(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while let frame = framer.next(&buffer) {
            context.fireChannelRead(wrapInboundOut(frame))
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
