import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The agent's HTTP endpoint: Dovecot 2.4's event export in, status and Prometheus
/// metrics out.
///
/// | Route | Answer |
/// | --- | --- |
/// | `POST /v1/events/dovecot` | events of Dovecot's `event_exporter` (`driver = http-post`, `format = json`) queue their users as ``EventMapping`` says: `200 {"events":N,"queued":Q,"ignored":I}`, or `400 {"error":{"code":…,"message":…}}` and nothing queued (see ``DovecotEventError``) |
/// | `GET /v1/status` | `200`, ``ReplicatorStatistics`` as JSON |
/// | `GET /healthz` | `200 {"status":"ok"}` while the server runs |
/// | `GET /metrics` | `200`, ``ReplicatorMetrics`` in Prometheus' text format |
///
/// There is no authentication: whoever reaches the port can queue syncs of any user name
/// (a name the peer does not know is dropped after one failed sync) and read the queue's
/// counters, never mail or user names. Hence loopback (`127.0.0.1`) by default, where
/// Dovecot's stats process and a local Prometheus agent reach it.
public struct ReplicatorHTTPService: Service, Sendable {
    /// The default longest event body, in bytes (64 KiB; Dovecot's events are well under
    /// 4 KiB).
    public static let defaultMaximumEventBodySize = 64 * 1024

    /// The address listened on.
    public let host: String
    /// The port listened on (0: any free port).
    public let port: Int
    /// The longest event body read, in bytes.
    public let maximumEventBodySize: Int
    let replicator: Replicator
    let eventMapping: EventMapping
    let metrics: ReplicatorMetrics
    let logger: Logger

    /// A service for `replicator` (nothing listens until ``run()``).
    ///
    /// - Parameters:
    ///   - host: The address to listen on (`127.0.0.1` by default).
    ///   - port: The TCP port.
    ///   - replicator: Where the events' notifications go and the status comes from.
    ///   - eventMapping: Which events queue whom, at what priority (``EventMapping/dovecot``).
    ///   - metrics: The metrics to feed and expose; ``run()`` attaches them to `replicator`.
    ///   - maximumEventBodySize: The longest event body, in bytes.
    ///   - logger: Where the listening address and refused bodies (at debug) go.
    public init(
        host: String = "127.0.0.1", port: Int, replicator: Replicator, eventMapping: EventMapping = .dovecot,
        metrics: ReplicatorMetrics, maximumEventBodySize: Int = Self.defaultMaximumEventBodySize, logger: Logger
    ) {
        self.host = host
        self.port = port
        self.replicator = replicator
        self.eventMapping = eventMapping
        self.metrics = metrics
        self.maximumEventBodySize = max(0, maximumEventBodySize)
        self.logger = logger
    }

    /// Attaches the metrics to the replicator and serves until cancelled or, in a
    /// `ServiceGroup`, until graceful shutdown (requests in progress are answered first).
    ///
    /// - Throws: When the address cannot be bound.
    public func run() async throws {
        await metrics.attach(to: replicator)
        try await makeApplication().run()
    }

    /// The server, not started.
    func makeApplication() -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { [logger] channel in
                logger.info("HTTP endpoint listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger)
    }

    /// The routes of the table above.
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        let events = DovecotEventEndpoint(
            replicator: replicator, mapping: eventMapping, metrics: metrics, maximumBodySize: maximumEventBodySize, logger: logger)
        let replicator = replicator
        let metrics = metrics
        router.post("/v1/events/dovecot") { request, _ in
            await events.response(to: request)
        }
        router.get("/v1/status") { _, _ in
            Self.json(await replicator.statistics())
        }
        router.get("/healthz") { _, _ in
            Self.json(["status": "ok"])
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: await metrics.exposition(for: replicator))))
        }
        return router
    }

    /// `value` as a JSON response (keys sorted, for stable answers).
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // These values are plain structs of strings and numbers: encoding cannot fail.
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
