import Foundation
import Logging
import Replicator
import ServiceLifecycle

/// The agent's link to the coordinator as a service: it gives the replicator the pair's
/// users from the local copy at once, then registers this host, heartbeats, pulls the pair's
/// user changes and pushes the replicator's per-user status, each on its interval, until
/// graceful shutdown; then it saves the local copy once more.
///
/// When the coordinator cannot be reached or answers with an error, the replicator keeps the
/// users it has (the local copy) and the link tries again after a jittered back-off capped at
/// the poll interval (``CoordinatorBackoff``), starting over with the registration; the log gets one line when
/// the link is lost and one when it is back (``CoordinatorLinkState``), not one per attempt.
struct CoordinatorLinkService<LinkClock: Clock>: Service, CustomStringConvertible where LinkClock.Duration == Duration {
    let link: CoordinatorLink
    let listedUsers: ListedUsers
    let replicator: Replicator
    let clock: LinkClock
    let logger: Logger

    init(link: CoordinatorLink, listedUsers: ListedUsers, clock: LinkClock = ContinuousClock(), logger: Logger) {
        self.link = link
        self.listedUsers = listedUsers
        self.replicator = listedUsers.replicator
        self.clock = clock
        var logger = logger
        logger[metadataKey: "coordinator"] = "\(link.configuration.url)"
        logger[metadataKey: "pair"] = "\(link.configuration.pair)"
        self.logger = logger
    }

    private var configuration: CoordinatorLinkConfiguration { link.configuration }

    /// How service lifecycle's log names the service: where it links to, never the token
    /// its client holds.
    var description: String { "CoordinatorLinkService(\(configuration.url), pair: \(configuration.pair), host: \(configuration.host))" }

    func run() async throws {
        var list = await loadCache()
        let loop = Loop(service: self, list: list)
        do {
            try await cancelWhenGracefulShutdown {
                try await loop.run()
            }
        } catch is CancellationError {
            // Graceful shutdown: the loop was waiting or finishing a request.
        }
        list = await loop.list
        save(list)
        logger.info("coordinator link stopped", metadata: ["version": "\(list.version)", "users": "\(list.users.count)"])
    }

    /// The local copy, given to the replicator at once; an empty list from version 0 when
    /// there is none, it is corrupt (logged with path and line), or it is another pair's.
    private func loadCache() async -> CoordinatorUserList {
        let path = configuration.cacheFile
        var list = CoordinatorUserList(pair: configuration.pair)
        do {
            if let cached = try CoordinatorUserCache.read(path: path) {
                if cached.pair == configuration.pair {
                    list = cached
                    logger.info(
                        "coordinator user list loaded from the local copy",
                        metadata: ["path": "\(path)", "version": "\(list.version)", "users": "\(list.users.count)"])
                } else {
                    logger.warning(
                        "the local copy of the coordinator's user list is of another pair; pulling the list from version 0",
                        metadata: ["path": "\(path)", "cached_pair": "\(cached.pair)"])
                }
            } else {
                logger.info("no local copy of the coordinator's user list; pulling it from version 0", metadata: ["path": "\(path)"])
            }
        } catch {
            logger.error(
                "the local copy of the coordinator's user list is unusable; starting with an empty list and pulling it from version 0",
                metadata: ["error": "\(error)"])
        }
        await listedUsers.coordinatorListChanged(list.byName, gone: [])
        return list
    }

    /// Writes the local copy; a failure is logged (the next save tries again).
    func save(_ list: CoordinatorUserList) {
        do {
            try CoordinatorUserCache.save(list, to: configuration.cacheFile)
        } catch {
            logger.error("cannot save the local copy of the coordinator's user list", metadata: ["error": "\(error)"])
        }
    }

    /// The link's state and what it does next; one task runs it.
    private actor Loop {
        let service: CoordinatorLinkService
        var list: CoordinatorUserList
        var state = CoordinatorLinkState.starting
        var backoff: CoordinatorBackoff
        var reporter: CoordinatorStatusReporter
        var registered = false
        var nextPull: LinkClock.Instant
        var nextHeartbeat: LinkClock.Instant
        var nextStatus: LinkClock.Instant

        init(service: CoordinatorLinkService, list: CoordinatorUserList) {
            self.service = service
            self.list = list
            reporter = CoordinatorStatusReporter(fullEvery: service.configuration.fullStatusEvery)
            // An outage never makes the agent ask more often than a healthy link pulls.
            backoff = CoordinatorBackoff(first: .seconds(1), cap: .seconds(service.configuration.pollInterval))
            let now = service.clock.now
            nextPull = now
            nextHeartbeat = now.advanced(by: .seconds(service.configuration.heartbeatInterval))
            nextStatus = now.advanced(by: .seconds(service.configuration.statusInterval))
        }

        var logger: Logger { service.logger }
        var configuration: CoordinatorLinkConfiguration { service.configuration }

        func run() async throws {
            while true {
                try Task.checkCancellation()
                do {
                    try await step()
                    record(state.requestSucceeded(at: Date()))
                    backoff.succeeded()
                    try await service.clock.sleep(until: min(nextPull, nextHeartbeat, nextStatus), tolerance: nil)
                } catch let error as CoordinatorLinkError {
                    registered = false
                    logger.debug("coordinator request failed", metadata: ["error": "\(error)"])
                    record(state.requestFailed(at: Date(), reason: error.description))
                    try await service.clock.sleep(for: backoff.failed())
                }
            }
        }

        /// Registers when not registered, then does whatever is due.
        private func step() async throws(CoordinatorLinkError) {
            if !registered {
                try await service.link.register()
                registered = true
                // A new registration (a restart, an outage) pulls at once.
                nextPull = service.clock.now
            }
            let now = service.clock.now
            if now >= nextPull {
                try await pull()
                nextPull = service.clock.now.advanced(by: .seconds(configuration.pollInterval))
            }
            if now >= nextHeartbeat {
                try await service.link.heartbeat()
                nextHeartbeat = service.clock.now.advanced(by: .seconds(configuration.heartbeatInterval))
            }
            if now >= nextStatus {
                try await pushStatus()
                nextStatus = service.clock.now.advanced(by: .seconds(configuration.statusInterval))
            }
        }

        /// Pulls until the coordinator has nothing more, applying and saving each batch.
        private func pull() async throws(CoordinatorLinkError) {
            while true {
                let batch = try await service.link.changes(since: list.version)
                let before = list.version
                let applied = try list.apply(batch.changes, version: batch.version)
                if applied.changed {
                    let (added, removed) = await service.listedUsers.coordinatorListChanged(list.byName, gone: applied.gone)
                    logger.notice(
                        "coordinator user changes applied",
                        metadata: [
                            "version": "\(list.version)", "changes": "\(applied.changes)", "users": "\(list.users.count)",
                            "added": "\(added)", "removed": "\(removed)",
                        ])
                }
                if list.version != before || applied.changed { service.save(list) }
                guard batch.hasMore else { return }
            }
        }

        /// Pushes the reports of users whose status changed (all of them every
        /// `full_status_every` pushes), in bodies the API takes.
        private func pushStatus() async throws(CoordinatorLinkError) {
            let rows = await service.replicator.userStatus(UserMask("*"))
            var statuses: [String: ReplicationUserStatus] = [:]
            statuses.reserveCapacity(rows.count)
            for row in rows { statuses[row.username] = row }
            let (reports, full) = reporter.reports(for: list, statuses: statuses)
            guard !reports.isEmpty else { return }
            let bodies: [(body: [UInt8], reports: ArraySlice<CoordinatorStatusReport>)]
            do {
                bodies = try CoordinatorStatusReporter.bodies(host: configuration.host, reports: reports)
            } catch {
                throw CoordinatorLinkError(.badAnswer, "cannot encode the status reports: \(error)")
            }
            var ignored = 0
            for (body, sent) in bodies {
                ignored += try await service.link.pushStatus(body: body).count
                reporter.accepted(sent)
            }
            logger.debug(
                "status pushed to the coordinator",
                metadata: ["reports": "\(reports.count)", "full": "\(full)", "bodies": "\(bodies.count)", "ignored": "\(ignored)"])
        }

        /// Logs a change of the link's state.
        private func record(_ transition: CoordinatorLinkState.Transition?) {
            switch transition {
            case nil: break
            case .connected:
                logger.notice("coordinator connected", metadata: ["host": "\(configuration.host)", "version": "\(list.version)"])
            case .lost(let reason):
                logger.warning(
                    "coordinator unreachable; replicating the users of the local copy",
                    metadata: ["error": "\(reason)", "version": "\(list.version)", "users": "\(list.users.count)"])
            case .recovered(let since):
                logger.notice(
                    "coordinator reachable again",
                    metadata: ["version": "\(list.version)", "unreachable_since": "\(since.formatted(.iso8601))"])
            }
        }
    }
}
