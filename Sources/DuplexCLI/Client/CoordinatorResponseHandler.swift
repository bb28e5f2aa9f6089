import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Writes one request when the connection is up and collects the one answer into a promise;
/// fails it on a read timeout, an oversized body, a TLS error or an early close.
///
/// Lives on its channel's event loop (not `Sendable`), as NIO handlers do.
final class CoordinatorResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let body: [UInt8]?
    private let url: String
    private let maximumSize: Int
    private let promise: EventLoopPromise<CoordinatorResponse>
    private var responseHead: HTTPResponseHead?
    private var responseBody: [UInt8] = []
    private var isDone = false

    init(head: HTTPRequestHead, body: [UInt8]?, url: String, maximumSize: Int, promise: EventLoopPromise<CoordinatorResponse>) {
        self.head = head
        self.body = body
        self.url = url
        self.maximumSize = maximumSize
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        // Written now, sent once the TLS handshake completes (NIOSSL holds it until then).
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body, !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isDone else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            responseHead = head
        case .body(let buffer):
            guard responseBody.count + buffer.readableBytes <= maximumSize else {
                fail(context, .responseTooLarge, "\(maximumSize) bytes")
                return
            }
            responseBody.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let responseHead else {
                fail(context, .badResponse, "no status line")
                return
            }
            isDone = true
            let date = responseHead.headers.first(name: "Date").flatMap(CoordinatorResponse.parseDate)
            promise.succeed(CoordinatorResponse(status: Int(responseHead.status.code), date: date, body: responseBody))
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? IdleStateHandler.IdleStateEvent, event == .read {
            fail(context, .timedOut, responseHead == nil ? "no answer" : "the answer stopped")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as NIOSSLError:
            fail(context, .tlsFailed, Self.describe(error))
        case is NIOSSLExtraError:
            fail(context, .tlsFailed, String(describing: error))
        case HTTPParserError.invalidEOFState:
            fail(context, .disconnected, "closed")
        case is HTTPParserError:
            fail(context, .badResponse, "not HTTP/1.1 (\(error))")
        case let error as IOError:
            fail(context, .disconnected, String(cString: strerror(error.errnoCode)))
        default:
            fail(context, .disconnected, String(describing: error))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context, .disconnected, "closed")
        context.fireChannelInactive()
    }

    private func fail(_ context: ChannelHandlerContext, _ code: CoordinatorClientError.Code, _ reason: String) {
        guard !isDone else { return }
        isDone = true
        promise.fail(CoordinatorClientError(code, url: url, reason: reason))
        context.close(promise: nil)
    }

    /// The useful part of a TLS failure: BoringSSL's reason (`CERTIFICATE_VERIFY_FAILED`)
    /// with a hint for the usual cause.
    private static func describe(_ error: NIOSSLError) -> String {
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "its certificate is not trusted or does not name the host (give the coordinator's CA with --ca): \(text)"
        }
        return text
    }
}
