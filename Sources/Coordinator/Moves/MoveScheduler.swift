import Foundation
import Logging
import ServiceLifecycle

/// The leader's loop over moves: whichever coordinator holds the `moves` leader lock runs
/// the unfinished moves (resuming those a previous leader left), at most
/// ``MoveConfiguration/maxConcurrentMoves`` at once, creates moves for the users of
/// draining pairs while fewer moves than that are unfinished, and runs the catch-up syncs
/// due after switches.
///
/// A step that fails is recorded on the move (its `error`) and tried again after
/// ``MoveConfiguration/retryInterval``; the move keeps its phase until it succeeds or an
/// operator rolls it back. Graceful shutdown cancels the running syncs (an interrupted sync
/// changes nothing that the next one does not converge) and releases the lock, so another
/// coordinator, or this one restarted, resumes the moves from their recorded phases.
public struct MoveScheduler: Sendable {
    /// The name of the leader lock moves run under.
    public static let leaderLock = "moves"

    /// Runs each move and catch-up.
    public let executor: MoveExecutor
    let store: any CoordinatorStore
    let configuration: MoveConfiguration
    let logger: Logger

    public init(executor: MoveExecutor) {
        self.executor = executor
        self.store = executor.store
        self.configuration = executor.configuration
        self.logger = executor.logger
    }

    /// Leads when it can get the lock, until graceful shutdown or cancellation; tries again
    /// every ``MoveConfiguration/pollInterval`` while another coordinator leads.
    public func run() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await cancelWhenGracefulShutdown {
                    try await store.withLeaderLock(Self.leaderLock) { await lead() }
                }
            } catch where !Task.isCancelled {
                logger.warning("cannot lead the moves: \(error)")
            } catch {}
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.pollInterval) }
        }
    }

    /// What ended in the loop's task group.
    private enum Event: Sendable {
        case tick
        case moveEnded(MoveID, failure: String?)
        case catchUpEnded(MoveID, failure: String?)
    }

    /// The loop while leading: runs until cancelled.
    func lead() async {
        let pollInterval = configuration.pollInterval
        let executor = executor
        await withTaskGroup(of: Event.self) { group in
            var state = LeaderState()
            group.addTask { await Self.tick(pollInterval) }
            while !Task.isCancelled {
                do {
                    for job in try await fill(&state) {
                        group.addTask { await Self.perform(job, executor) }
                    }
                } catch {
                    logger.warning("cannot read the moves to run: \(error)")
                }
                guard let event = await group.next() else { break }
                switch event {
                case .tick:
                    group.addTask { await Self.tick(pollInterval) }
                case .moveEnded(let id, let failure):
                    state.running.remove(id)
                    if let failure { await recordFailure(id, failure, &state) }
                case .catchUpEnded(let id, let failure):
                    state.catchingUp.remove(id)
                    if let failure {
                        logger.warning("catch-up sync failed; trying again", metadata: ["move": "\(id.rawValue)", "error": "\(failure)"])
                        state.retryAt[id] = .now + configuration.retryInterval
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// What the leader is doing.
    struct LeaderState {
        var running: Set<MoveID> = []
        var catchingUp: Set<MoveID> = []
        /// Moves (and catch-ups) not to be tried before this instant after a failure.
        var retryAt: [MoveID: ContinuousClock.Instant] = [:]
        /// Users of draining pairs already reported as having nowhere to go.
        var stranded: Set<UserID> = []

        func isWaiting(_ id: MoveID) -> Bool { retryAt[id].map { $0 > .now } ?? false }
    }

    /// Work the loop starts in its task group.
    private enum Job: Sendable {
        case move(MoveID)
        case catchUp(MoveID)
    }

    /// Runs one job, reporting how it ended.
    private static func perform(_ job: Job, _ executor: MoveExecutor) async -> Event {
        switch job {
        case .move(let id):
            do {
                try await executor.run(id)
                return .moveEnded(id, failure: nil)
            } catch {
                return .moveEnded(id, failure: "\(error)")
            }
        case .catchUp(let id):
            do {
                try await executor.catchUp(id)
                return .catchUpEnded(id, failure: nil)
            } catch {
                return .catchUpEnded(id, failure: "\(error)")
            }
        }
    }

    /// What may start now: drain moves into free places, unfinished moves up to the bound,
    /// catch-ups that are due; marked as running in `state`.
    private func fill(_ state: inout LeaderState) async throws -> [Job] {
        var unfinished = try await store.unfinishedMoves()
        if unfinished.count < configuration.maxConcurrentMoves,
            try await drain(free: configuration.maxConcurrentMoves - unfinished.count, &state) > 0
        {
            unfinished = try await store.unfinishedMoves()
        }
        var jobs: [Job] = []
        for move in unfinished where state.running.count < configuration.maxConcurrentMoves {
            guard !state.running.contains(move.id), !state.isWaiting(move.id) else { continue }
            state.running.insert(move.id)
            logger.info("running move", metadata: ["move": "\(move.id.rawValue)", "user": "\(move.user)", "phase": "\(move.phase.rawValue)"])
            jobs.append(.move(move.id))
        }
        for id in try executor.pendingCatchUps() where !state.catchingUp.contains(id) && !state.isWaiting(id) {
            guard !state.running.contains(id) else { continue }
            state.catchingUp.insert(id)
            jobs.append(.catchUp(id))
        }
        return jobs
    }

    /// Creates up to `free` moves for users of draining pairs.
    ///
    /// - Returns: the moves created.
    private func drain(free: Int, _ state: inout LeaderState) async throws -> Int {
        var pairs = try await store.listPairs()
        var created = 0
        var allowed: [CoordinatorName: [CoordinatorName]?] = [:]
        for draining in pairs where draining.state == .draining && created < free {
            let page = try await store.listUsers(UserQuery(pair: draining.name, limit: UserQuery.maximumLimit))
            for user in page.users where user.state == .active && created < free {
                if allowed[user.tenant] == nil { allowed[user.tenant] = .some(try await store.tenant(user.tenant).allowedPairs) }
                guard let target = DrainPlanner.target(for: user, allowedPairs: allowed[user.tenant] ?? nil, pairs: pairs) else {
                    if state.stranded.insert(user.id).inserted {
                        logger.warning(
                            "no pair can take a user of a draining pair",
                            metadata: ["user": "\(user.name)", "pair": "\(draining.name)", "tenant": "\(user.tenant)"])
                    }
                    continue
                }
                // Another change may win a race (the user moved or was removed, the pair
                // filled): then nothing is created and the next pass sees the new state.
                guard let move = try await createMoveUnlessRaced(user.id, to: target.name) else { continue }
                created += 1
                if let index = pairs.firstIndex(where: { $0.id == target.id }) { pairs[index].userCount += 1 }
                logger.notice(
                    "moving a user off a draining pair",
                    metadata: ["move": "\(move.id.rawValue)", "user": "\(user.name)", "from": "\(draining.name)", "to": "\(target.name)"])
            }
        }
        return created
    }

    /// Creates a move, or returns `nil` when the store refuses it as a conflict or for want of room.
    private func createMoveUnlessRaced(_ user: UserID, to pair: CoordinatorName) async throws(CoordinatorStoreError)
        -> MoveRecord?
    {
        do {
            return try await store.createMove(user: user, to: pair)
        } catch where error.code == .conflict || error.code == .capacityExhausted {
            return nil
        }
    }

    /// Records a failed step on the move and waits before trying it again.
    private func recordFailure(_ id: MoveID, _ failure: String, _ state: inout LeaderState) async {
        state.retryAt[id] = .now + configuration.retryInterval
        logger.warning("move step failed; trying again later", metadata: ["move": "\(id.rawValue)", "error": "\(failure)"])
        do {
            let move = try await store.move(id)
            await executor.progress.update(id, phase: move.phase) {
                $0.lastError = failure
                $0.currentSync = nil
            }
            guard !move.phase.isTerminal else { return }
            _ = try await store.advanceMove(id, to: move.phase, error: failure)
        } catch {
            logger.warning("cannot record the failure of a move", metadata: ["move": "\(id.rawValue)", "error": "\(error)"])
        }
    }

    private static func tick(_ interval: Duration) async -> Event {
        try? await Task.sleep(for: interval)
        return .tick
    }
}
