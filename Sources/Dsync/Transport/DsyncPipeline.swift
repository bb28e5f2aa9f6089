import NIOCore
import NIOSSL

/// Test-only: makes, for each new connection, a handler that sits between the frame decoder
/// and the frame encoder. It sees every outbound frame as the one `ByteBuffer` the encoder
/// wrote for it (length field included), so a fault-injection test can corrupt, truncate or
/// drop the frame of its choice before TLS encrypts it. Production code never sets one.
typealias DsyncFrameFaultFactory = @Sendable () -> any ChannelHandler

/// The channel pipeline both sides of a dsync connection use: TLS, a read timeout, the
/// frame codec, and an async channel of frames on top.
enum DsyncPipeline {
    /// Adds `tls` and the handlers after it, and wraps the channel. Must run on the
    /// channel's loop. Without `tls` the caller adds it in front later (a client whose TLS
    /// context is built while it connects), before anything is sent.
    ///
    /// - Parameter frameFault: test-only, see ``DsyncFrameFaultFactory``; nil in production.
    static func configure(
        _ channel: any Channel, tls: (any ChannelHandler & RemovableChannelHandler)?, readTimeout: Duration,
        frameFault: (any ChannelHandler)? = nil
    ) throws -> NIOAsyncChannel<DsyncFrame, DsyncFrame> {
        let sync = channel.pipeline.syncOperations
        if let tls { try sync.addHandler(tls) }
        try sync.addHandler(IdleStateHandler(readTimeout: TimeAmount(readTimeout)))
        try sync.addHandler(DsyncReadTimeoutHandler(timeout: readTimeout))
        try sync.addHandler(ByteToMessageHandler(DsyncFrameDecoder()))
        if let frameFault { try sync.addHandler(frameFault) }
        try sync.addHandler(MessageToByteHandler(DsyncFrameEncoder()))
        return try NIOAsyncChannel<DsyncFrame, DsyncFrame>(wrappingChannelSynchronously: channel)
    }

    /// How often each side sends a keepalive ping: a quarter of the read timeout, so that a
    /// peer busy with a long operation is not taken for a dead one.
    static func keepaliveInterval(readTimeout: Duration) -> Duration {
        max(readTimeout / 4, .milliseconds(100))
    }

    /// Sends pings every `interval` until cancelled.
    static func keepalive(_ connection: DsyncConnection, every interval: Duration) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
                try await connection.send(.ping)
            } catch {
                return
            }
        }
    }
}

/// Turns "nothing read for the timeout" into an error that closes the connection.
final class DsyncReadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let timeout: Duration

    init(timeout: Duration) { self.timeout = timeout }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.fireErrorCaught(DsyncError(.protocolError, "nothing arrived from the peer for \(timeout) (read timeout)"))
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
