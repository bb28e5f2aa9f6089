import Logging
import ServiceLifecycle

extension RouteDirectory {
    /// A directory for `store`, or `nil` when it cannot have one: an embedded store (one
    /// process, read quickly enough), or a PostgreSQL pool of one connection, which listening
    /// would hold for good.
    static func make(for store: any CoordinatorStore, logger: Logger) -> RouteDirectory? {
        guard let postgres = store as? PostgresCoordinatorStore, postgres.maximumConnections >= 2 else { return nil }
        return RouteDirectory(store: postgres, feed: postgres, logger: logger)
    }

    /// How long to wait before listening again after the connection ended, and before running
    /// a load again after it failed.
    static let retryDelay = Duration.seconds(1)

    /// Receives announcements and loads what they say changed, until cancelled or graceful
    /// shutdown; when the connection ends, nothing is served from memory until listening
    /// resumes (tried again every ``retryDelay``).
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.runLoads() }
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    try await cancelWhenGracefulShutdown {
                        try await self.feed.followChanges(
                            listening: { self.startedListening() }, received: { self.received($0) })
                    }
                    if !Task.isCancelled && !Task.isShuttingDownGracefully {
                        logger.warning("route directory: the database stopped announcing changes; routes are read from it until they resume")
                    }
                } catch {
                    if !Task.isCancelled && !Task.isShuttingDownGracefully {
                        logger.warning("route directory: cannot receive the database's announcements of changes (\(error)); routes are read from it until they resume")
                    }
                }
                stoppedListening()
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.retryDelay) }
            }
            wake.finish()
        }
    }

    /// Runs the loads there are each time the loader is woken; a failed load is put back and
    /// tried again after ``retryDelay``.
    func runLoads() async {
        for await _ in wakeups {
            while let work = nextWork() {
                do {
                    try await load(work)
                } catch {
                    logger.warning("route directory: a load failed (\(error)); tried again in \(Self.retryDelay)")
                    loadFailed(work)
                    try? await Task.sleep(for: Self.retryDelay)
                    if Task.isCancelled { return }
                }
            }
        }
    }
}
