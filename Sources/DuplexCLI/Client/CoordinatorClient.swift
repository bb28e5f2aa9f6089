import Dsync
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOHTTP1

/// A small HTTP/1.1 client for the coordinator's API (docs/coordinator-api.md): one request
/// per connection, TLS verified against a given CA or the system's trust store, bounded
/// connect and read times, a bounded answer.
///
/// Used by `duplex tenant|pair|user|status` and by tests that talk to `duplex coordinator`.
/// The bearer token goes only into the `Authorization` header: no error or log line carries it.
public struct CoordinatorClient: Sendable {
    /// What the client connects to and how.
    /// Prints as its URL, CA and timeouts; the bearer secret never appears in a description,
    /// a log line or a debugger dump.
    public struct Configuration: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
        CustomReflectable
    {
        public var url: CoordinatorURL
        /// The bearer secret; nil sends no `Authorization` header (only `/healthz` accepts that).
        public var token: String?
        /// A PEM file of CA certificates the coordinator's certificate must chain to; nil
        /// uses the system's trust store.
        public var trustedCAPath: String?
        /// How long the TCP connect may take. Default 10 s.
        public var connectTimeout: Duration = .seconds(10)
        /// The longest silence while waiting for (more of) the answer. Default 30 s.
        public var readTimeout: Duration = .seconds(30)
        /// The largest answer body accepted, in bytes. Default 16 MiB.
        public var maximumResponseSize = 16 << 20

        public init(url: CoordinatorURL, token: String?, trustedCAPath: String? = nil) {
            self.url = url
            self.token = token
            self.trustedCAPath = trustedCAPath
        }

        public var description: String {
            let ca = trustedCAPath.map { "ca: \($0)" } ?? "ca: system"
            let token = token == nil ? "token: none" : "token: <redacted>"
            return "CoordinatorClient.Configuration(\(url), \(token), \(ca), connect: \(connectTimeout), read: \(readTimeout))"
        }

        public var debugDescription: String { description }

        public var customMirror: Mirror {
            Mirror(self, children: ["description": description], displayStyle: .struct)
        }
    }

    public let configuration: Configuration
    private let sslContext: NIOSSLContext?

    /// Prepares a client; the CA file is read here, so a bad one is reported before any request.
    ///
    /// - Throws: ``CoordinatorClientError`` (`badConfiguration`) naming the CA file and what is wrong.
    public init(_ configuration: Configuration) throws(CoordinatorClientError) {
        self.configuration = configuration
        guard configuration.url.isTLS else {
            sslContext = nil
            return
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let path = configuration.trustedCAPath {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw CoordinatorClientError(
                    .badConfiguration, url: configuration.url.description,
                    reason: "cannot read the CA file \(path): \(Self.describe(error))")
            }
            guard !certificates.isEmpty else {
                throw CoordinatorClientError(
                    .badConfiguration, url: configuration.url.description, reason: "the CA file \(path) holds no PEM certificate")
            }
            tls.trustRoots = .certificates(certificates)
        }
        do {
            sslContext = try NIOSSLContext(configuration: tls)
        } catch {
            throw CoordinatorClientError(
                .badConfiguration, url: configuration.url.description, reason: "cannot set up TLS: \(Self.describe(error))")
        }
    }

    /// Sends `request` and returns the answer, whatever its status.
    ///
    /// - Throws: ``CoordinatorClientError`` when no complete answer could be read.
    public func send(_ request: CoordinatorRequest) async throws(CoordinatorClientError) -> CoordinatorResponse {
        let url = configuration.url
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: CoordinatorResponse.self)
        let head = makeHead(request)
        let body = request.body
        let sslContext = sslContext
        let maximumSize = configuration.maximumResponseSize
        let readTimeout = TimeAmount.nanoseconds(Self.nanoseconds(configuration.readTimeout))
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(Self.nanoseconds(configuration.connectTimeout)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        // An address gets no SNI: NIOSSL then checks it against the
                        // certificate's IP addresses.
                        let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: url.isIPAddress ? nil : url.host)
                        try pipeline.addHandler(handler)
                    }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(IdleStateHandler(readTimeout: readTimeout))
                    try pipeline.addHandler(
                        CoordinatorResponseHandler(head: head, body: body, url: url.description, maximumSize: maximumSize, promise: promise))
                }
            }
        do {
            _ = try await bootstrap.connect(host: url.host, port: url.port).get()
        } catch {
            let failure = CoordinatorClientError(.cannotConnect, url: url.description, reason: Self.describe(error))
            promise.fail(failure)
            throw failure
        }
        do {
            return try await promise.futureResult.get()
        } catch let error as CoordinatorClientError {
            throw error
        } catch {
            throw CoordinatorClientError(.badResponse, url: url.description, reason: Self.describe(error))
        }
    }

    private func makeHead(_ request: CoordinatorRequest) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: configuration.url.hostHeader)
        headers.add(name: "User-Agent", value: "duplex/\(DuplexCommand.version)")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Connection", value: "close")
        if let token = configuration.token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body = request.body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.count))
        } else if request.method != .get && request.method != .delete {
            headers.add(name: "Content-Length", value: "0")
        }
        return HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: request.target, headers: headers)
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// A short text for a connect or TLS error (the `errno` text for a refused connection).
    static func describe(_ error: any Error) -> String {
        ConnectionFailure.describe(error)
    }
}
