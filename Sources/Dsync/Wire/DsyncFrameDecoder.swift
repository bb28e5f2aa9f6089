import NIOCore

/// Splits inbound bytes into ``DsyncFrame``s, bounded by a maximum frame length.
///
/// A length field above the maximum is refused as soon as its 4 bytes arrive, so a peer
/// cannot make the connection buffer more than one maximum frame. Errors are
/// ``DsyncWireError``s; after one, the connection must be closed (the stream position is
/// lost).
package struct DsyncFrameDecoder: ByteToMessageDecoder {
    package typealias InboundOut = DsyncFrame

    /// The largest accepted frame length in bytes (type byte plus payload).
    package let maximumLength: Int

    /// Makes a decoder.
    ///
    /// - Parameter maximumLength: the largest accepted frame length in bytes, type byte and
    ///   payload; at least 1. Defaults to ``DsyncFrame/defaultMaximumLength``.
    package init(maximumLength: Int = DsyncFrame.defaultMaximumLength) {
        precondition(maximumLength >= 1 && maximumLength <= Int(UInt32.max), "maximum frame length out of range")
        self.maximumLength = maximumLength
    }

    /// Reads one frame from the front of `buffer`, if a whole one is there.
    ///
    /// - Returns: the frame, or nil when more bytes are needed (`buffer` is then unchanged).
    /// - Throws: ``DsyncWireError`` for an oversize or empty length, an unknown type or a
    ///   bad payload; the bytes of a bad frame are consumed.
    package func readFrame(from buffer: inout ByteBuffer) throws -> DsyncFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else {
            return nil
        }
        let typeByte = buffer.readableBytes > DsyncFrame.lengthFieldSize
            ? buffer.getInteger(at: buffer.readerIndex + DsyncFrame.lengthFieldSize, as: UInt8.self) : nil
        guard length <= UInt32(maximumLength) else {
            throw DsyncWireError(
                .frameTooLarge,
                "a frame length of \(length) bytes is above the maximum of \(maximumLength)"
                    + (typeByte.map { " (type byte 0x\(hex($0)))" } ?? ""),
                typeByte: typeByte,
                length: Int(length),
                limit: maximumLength
            )
        }
        guard length >= 1 else {
            buffer.moveReaderIndex(forwardBy: DsyncFrame.lengthFieldSize)
            throw DsyncWireError(.malformedPayload, "a frame of length 0 has no type byte", length: 0)
        }
        let frameLength = Int(length)
        guard buffer.readableBytes >= DsyncFrame.lengthFieldSize + frameLength else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: DsyncFrame.lengthFieldSize)
        guard let type = buffer.readInteger(as: UInt8.self),
            let payload = buffer.readSlice(length: frameLength - 1)
        else {
            preconditionFailure("the whole frame was checked to be readable")
        }
        return try DsyncFrame.parse(typeByte: type, payload: payload)
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try readFrame(from: &buffer) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    package mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if seenEOF, buffer.readableBytes > 0 {
            let available = buffer.readableBytes
            let declared = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)
            let typeByte = available > DsyncFrame.lengthFieldSize
                ? buffer.getInteger(at: buffer.readerIndex + DsyncFrame.lengthFieldSize, as: UInt8.self) : nil
            buffer.moveReaderIndex(forwardBy: available)
            throw DsyncWireError(
                .truncated,
                "the connection ended inside a frame: "
                    + (declared.map { "\(available) of \(Int($0) + DsyncFrame.lengthFieldSize) bytes received" }
                        ?? "\(available) bytes of a 4-byte length field received")
                    + (typeByte.map { " (type byte 0x\(hex($0)))" } ?? ""),
                typeByte: typeByte,
                length: declared.map { Int($0) }
            )
        }
        return .needMoreData
    }
}
