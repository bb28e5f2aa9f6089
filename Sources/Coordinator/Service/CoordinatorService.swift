import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle

/// The coordinator as a service: serves ``CoordinatorAPI`` over HTTPS and, on whichever
/// coordinator holds the `health` leader lock, marks hosts down and up from their agents'
/// heartbeats (``HostHealthCheck``) every ``Configuration/checkInterval``; with a
/// ``MoveScheduler``, whichever coordinator holds the `moves` leader lock runs the moves.
///
/// Graceful shutdown stops accepting connections, answers the requests in progress and ends
/// the health loop. Run it in a `ServiceGroup` after the store's own service (PostgreSQL's
/// pool), so the store outlives it.
public struct CoordinatorService: Service {
    /// Where to listen and how often to check health.
    public struct Configuration: Sendable, Equatable {
        /// The address to listen on (default `127.0.0.1`).
        public var host: String
        /// The TCP port (default 7447; 0 picks a free one).
        public var port: Int
        /// A host whose agent's last heartbeat is older than this is marked down (default 60 s).
        public var heartbeatTimeout: Duration
        /// Time between two health checks (default 10 s).
        public var checkInterval: Duration

        public init(
            host: String = "127.0.0.1", port: Int = Self.defaultPort, heartbeatTimeout: Duration = .seconds(60),
            checkInterval: Duration = .seconds(10)
        ) {
            self.host = host
            self.port = port
            self.heartbeatTimeout = heartbeatTimeout
            self.checkInterval = checkInterval
        }

        /// The coordinator's default port.
        public static let defaultPort = 7447
    }

    /// The name of the leader lock the health checks run under.
    public static let healthLeaderLock = "health"

    public let configuration: Configuration
    let store: any CoordinatorStore
    let tls: CoordinatorTLS
    let logger: Logger
    let now: @Sendable () -> Date
    let onListening: @Sendable (String) -> Void
    /// Runs moves while this coordinator leads them; `nil` runs none.
    let moves: MoveScheduler?
    /// Routes and verified tokens in memory, kept current by the database's announcements;
    /// only on PostgreSQL (an embedded store is read quickly enough).
    let routes: RouteDirectory?

    /// A coordinator over `store` (nothing listens until ``run()``).
    ///
    /// - Parameters:
    ///   - now: the clock heartbeats are compared with; tests pass their own.
    ///   - onListening: called with the bound address (`127.0.0.1:7447`) once the server listens.
    ///   - moves: runs the moves while this coordinator leads them (its progress is served by
    ///     `GET /v1/moves/{id}`); `nil` runs none.
    public init(
        configuration: Configuration, store: any CoordinatorStore, tls: CoordinatorTLS, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }, onListening: @escaping @Sendable (String) -> Void = { _ in },
        moves: MoveScheduler? = nil
    ) {
        self.moves = moves
        self.configuration = configuration
        self.store = store
        self.tls = tls
        self.logger = logger
        self.now = now
        self.onListening = onListening
        routes = RouteDirectory.make(for: store, logger: logger)
    }

    /// Serves until graceful shutdown or cancellation.
    ///
    /// - Throws: when the address cannot be bound.
    public func run() async throws {
        let application = makeApplication()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.run() }
            group.addTask { await runHealthChecks() }
            if let routes { group.addTask { await routes.run() } }
            if let moves { group.addTask { await moves.run() } }
            try await group.waitForAll()
        }
    }

    /// The HTTPS server, not started.
    func makeApplication() -> some ApplicationProtocol {
        let tls = tls
        let onListening = onListening
        let logger = logger
        return Application(
            router: CoordinatorAPI(
                store: store, moveProgress: moves?.executor.progress, purger: moves?.executor.purger, routes: routes
            ).makeRouter(),
            server: HTTPServerBuilder { [routes] responder in
                // Route lookups answered from memory on the connection's event loop.
                let configuration = HTTP1Channel.Configuration(
                    additionalChannelHandlers: routes.map { [RouteLookupFastPath(routes: $0, logger: logger)] } ?? [])
                return ReloadableTLSChannel(base: HTTP1Channel(responder: responder, configuration: configuration), tls: tls)
            },
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let address = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                logger.info("coordinator listening", metadata: ["address": "\(address)"])
                onListening(address)
            },
            logger: logger)
    }

    /// Runs a health check every ``Configuration/checkInterval`` until graceful shutdown; a
    /// failed check is logged and tried again at the next interval.
    func runHealthChecks() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await checkHealthOnce()
            } catch {
                logger.warning("health check failed: \(error)")
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: configuration.checkInterval)
            }
        }
    }

    /// One health check, if this coordinator gets the leader lock (another coordinator's
    /// check is running otherwise).
    ///
    /// - Returns: the changes made, `nil` when another coordinator holds the lock.
    @discardableResult
    public func checkHealthOnce() async throws -> [HostHealthCheck.Change]? {
        let store = store
        let check = HostHealthCheck(heartbeatTimeout: configuration.heartbeatTimeout)
        let now = now
        let logger = logger
        return try await store.withLeaderLock(Self.healthLeaderLock) {
            let changes = check.changes(pairs: try await store.listPairs(), agents: try await store.listAgents(), now: now())
            for change in changes {
                _ = try await store.setHostHealth(pair: change.pair, side: change.side, health: change.health)
                logger.notice(
                    "host health changed",
                    metadata: ["pair": "\(change.pair)", "host": "\(change.host)", "health": "\(change.health.rawValue)"])
            }
            return changes
        }
    }
}
