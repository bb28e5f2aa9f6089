import NIOCore

/// Writes outbound ``DsyncFrame``s as length-prefixed frames.
///
/// Refuses (with a ``DsyncWireError``) a frame the peer's decoder would refuse: one above
/// the maximum frame length, a body chunk above 256 KiB, a string above 65 535 bytes.
package struct DsyncFrameEncoder: MessageToByteEncoder {
    package typealias OutboundIn = DsyncFrame

    /// The largest frame length written, in bytes (type byte plus payload).
    package let maximumLength: Int

    /// Makes an encoder.
    ///
    /// - Parameter maximumLength: the largest frame length in bytes, type byte and payload;
    ///   use the peer's limit. Defaults to ``DsyncFrame/defaultMaximumLength``.
    package init(maximumLength: Int = DsyncFrame.defaultMaximumLength) {
        precondition(maximumLength >= 1 && maximumLength <= Int(UInt32.max), "maximum frame length out of range")
        self.maximumLength = maximumLength
    }

    package func encode(data: DsyncFrame, out: inout ByteBuffer) throws {
        try data.write(into: &out, maximumLength: maximumLength)
    }
}
