import Dsync
import Logging

/// The replicator of one host: keeps every user of the pair in sync with the peer host.
///
/// It owns the ``UserQueue`` (whom to sync when), starts syncs through its ``SyncEngine``
/// up to the configured concurrency, feeds the outcomes back, and answers callers waiting
/// for a user's sync. Inputs (notifications, admin commands) call its methods; time comes
/// from the injected ``ReplicatorClock``. ``run()`` runs until cancelled or ``stop()``;
/// on stop it starts nothing new and returns when the running syncs have ended.
public actor Replicator {
    public private(set) var queue: UserQueue
    /// The queue's settings, readable without waiting for the actor.
    public nonisolated let settings: ReplicatorSettings
    public let engine: any SyncEngine
    public let clock: any ReplicatorClock
    let logger: Logger

    private struct Waiter {
        var id: Int
        /// The request came while the user's sync ran: that sync's end does not count.
        var skipOne: Bool
        var continuation: CheckedContinuation<Bool, Never>
    }

    private var started: [String: (full: Bool, at: Int64)] = [:]
    /// Operators' decisions about users held by the mass-loss guard, for each one's next
    /// sync that ends (see ``release(_:resolution:)``).
    private var releases: [String: MassExpungeResolution] = [:]
    /// Syncs started by kind and the most that ran at once, since this replicator was made.
    public private(set) var startTally = SyncStartTally()
    private var waiters: [String: [Waiter]] = [:]
    private var nextWaiterID = 0
    private var wake: CheckedContinuation<Void, Never>?
    private var kicked = false
    private var stopping = false
    /// Observers of finished syncs (metrics, status).
    private var observers: [@Sendable (String, Bool, SyncResult, Int64) -> Void] = []

    /// How often the loop looks at the clock while nothing happens, in seconds.
    public let tick: Int64

    public init(queue: UserQueue, engine: any SyncEngine, clock: any ReplicatorClock = SystemReplicatorClock(), tick: Int64 = 1, logger: Logger) {
        self.queue = queue
        self.settings = queue.settings
        self.engine = engine
        self.clock = clock
        self.tick = max(tick, 1)
        self.logger = logger
    }

    /// Calls `observer(user, full, result, seconds)` after every sync.
    public func observe(_ observer: @escaping @Sendable (String, Bool, SyncResult, Int64) -> Void) {
        observers.append(observer)
    }

    // MARK: Running

    /// Starts due syncs whenever something changes or time passes; returns after ``stop()``
    /// (or cancellation) once the running syncs have ended.
    public func run() async {
        await withDiscardingTaskGroup { syncs in
            await withTaskGroup(of: Void.self) { timer in
                timer.addTask { await self.tickLoop() }
                while !stopping && !Task.isCancelled {
                    let starts = queue.start(now: clock.now)
                    startTally.started(starts, running: queue.runningCount, runningFull: queue.runningFullCount)
                    for start in starts {
                        started[start.user] = (start.full, clock.now)
                        logger.debug("sync started", metadata: ["user": "\(start.user)", "full": "\(start.full)"])
                        let decision = releases[start.user] ?? .hold
                        syncs.addTask {
                            let result = await self.engine.sync(user: start.user, full: start.full, massExpunge: decision)
                            await self.finished(start, result)
                        }
                    }
                    await waitForKick()
                }
                stopping = true
                timer.cancelAll()
            }
            // Leaving the group waits for the running syncs.
        }
        for list in waiters.values {
            for waiter in list { waiter.continuation.resume(returning: false) }
        }
        waiters = [:]
    }

    /// Graceful stop: no new syncs; ``run()`` returns when the running ones end.
    public func stop() {
        stopping = true
        kick()
    }

    private func tickLoop() async {
        while !stopping && !Task.isCancelled {
            let now = clock.now
            let deadline = min(queue.nextDueTime() ?? (now + tick), now + tick)
            do {
                try await clock.sleep(until: max(deadline, now + 1))
            } catch {
                return
            }
            kick()
        }
    }

    private func kick() {
        if let wake {
            self.wake = nil
            wake.resume()
        } else {
            kicked = true
        }
    }

    private func waitForKick() async {
        if kicked {
            kicked = false
            return
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { wake = $0 }
        } onCancel: {
            Task { await self.kick() }
        }
    }

    private func finished(_ start: SyncStart, _ result: SyncResult) {
        let now = clock.now
        let began = started.removeValue(forKey: start.user)?.at ?? now
        let kept = queue.finished(start.user, result.outcome, now: now)
        switch result.outcome {
        case .failure, .changedDuringSync: break  // the decision waits for a sync that ends
        default: releases[start.user] = nil
        }
        switch result.outcome {
        case .success: logger.info("synced", metadata: ["user": "\(start.user)", "full": "\(start.full)", "seconds": "\(now - began)"])
        case .changedDuringSync: logger.info("changed during sync, again", metadata: ["user": "\(start.user)"])
        case .failure(let why): logger.warning("sync failed: \(why)", metadata: ["user": "\(start.user)"])
        case .held(let why): logger.error("user held: \(why)", metadata: ["user": "\(start.user)"])
        case .noSuchUser(let why): logger.warning("user removed from replication: \(why)", metadata: ["user": "\(start.user)"])
        }
        for observer in observers { observer(start.user, start.full, result, now - began) }
        answerWaiters(start.user, succeeded: isSuccess(result.outcome), final: !kept)
        kick()
    }

    private func isSuccess(_ outcome: SyncOutcome) -> Bool {
        if case .success = outcome { return true }
        return false
    }

    private func answerWaiters(_ user: String, succeeded: Bool, final: Bool) {
        guard var list = waiters[user] else { return }
        var remaining: [Waiter] = []
        for var waiter in list {
            if waiter.skipOne && !final {
                waiter.skipOne = false
                remaining.append(waiter)
            } else {
                waiter.continuation.resume(returning: succeeded && !waiter.skipOne)
            }
        }
        list = remaining
        waiters[user] = list.isEmpty ? nil : list
    }

    // MARK: Inputs

    /// A change for `user` (Dovecot's notify fifo, an event): raises its priority.
    public func notify(_ user: String, priority: ReplicationPriority) {
        guard !user.isEmpty else { return }
        queue.notify(user, priority: priority, now: clock.now)
        kick()
    }

    /// A change `user` made in `mailbox` (an event naming both): queues the mailbox's owner
    /// when it is a shared one (see ``UserQueue/syncedUser(forChangeBy:in:)``), else
    /// `user`; returns whom it queued.
    @discardableResult
    public func notify(_ user: String, mailbox: String?, priority: ReplicationPriority) -> String {
        guard !user.isEmpty else { return user }
        let synced = queue.notify(user, mailbox: mailbox, priority: priority, now: clock.now)
        kick()
        return synced
    }

    /// A change for `user` whose caller waits for it to reach the peer (priority `sync`).
    /// Returns whether the sync that followed succeeded; false when the user was removed
    /// or the replicator stopped. Cancelling the caller withdraws the wait.
    public func notifyAndWait(_ user: String) async -> Bool {
        guard !user.isEmpty, !stopping else { return false }
        queue.notify(user, priority: .sync, now: clock.now)
        nextWaiterID += 1
        let id = nextWaiterID
        let runningNow = queue.running(user) != nil
        kick()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiters[user, default: []].append(Waiter(id: id, skipOne: runningNow, continuation: continuation))
            }
        } onCancel: {
            Task { await self.withdraw(user, id: id) }
        }
    }

    private func withdraw(_ user: String, id: Int) {
        guard var list = waiters[user], let index = list.firstIndex(where: { $0.id == id }) else { return }
        list.remove(at: index).continuation.resume(returning: false)
        waiters[user] = list.isEmpty ? nil : list
    }

    /// `replicate [-p PRIO] [-f] MASK`: raises the priority of the matching users (a plain
    /// name is added when unknown); returns how many were touched.
    @discardableResult
    public func replicate(_ mask: UserMask, priority: ReplicationPriority, forceFull: Bool) -> Int {
        let now = clock.now
        let names = mask.isWildcard ? queue.users.map(\.name).filter(mask.matches) : [mask.pattern]
        for name in names { queue.notify(name, priority: priority, forceFull: forceFull, now: now) }
        kick()
        return names.count
    }

    /// `add MASK`: makes users known; returns how many were new. A wildcard needs a user
    /// list to expand (see ``add(users:)``): alone it touches only known users.
    @discardableResult
    public func add(_ mask: UserMask) -> Int {
        guard !mask.isWildcard else { return 0 }
        let added = queue.add(mask.pattern, now: clock.now)
        kick()
        return added ? 1 : 0
    }

    /// Makes every name known (a users file, the coordinator's list); returns how many were new.
    @discardableResult
    public func add(users: some Sequence<String>) -> Int {
        let now = clock.now
        var added = 0
        for name in users where !name.isEmpty && queue.add(name, now: now) { added += 1 }
        kick()
        return added
    }

    /// Puts back saved users (the state file). A user known already, because a
    /// notification or an admin command came before the saved queue was loaded, keeps its
    /// saved sync history and what was asked since (see ``ReplicationUser/restored(keeping:)``).
    public func restore(_ users: [ReplicationUser]) {
        let now = clock.now
        for user in users { queue.restore(queue.user(user.name).map(user.restored(keeping:)) ?? user, now: now) }
        kick()
    }

    /// `remove USER`: forgets the user; returns whether it was known.
    @discardableResult
    public func remove(_ user: String) -> Bool {
        let removed = queue.remove(user)
        releases[user] = nil
        answerWaiters(user, succeeded: false, final: true)
        return removed
    }

    /// `release USER --restore|--accept`: lets a user held by the mass-loss guard sync
    /// again, its next sync that ends (a failed one or one retried for changes during it
    /// does not count) resolving the disappearance as `resolution` says; returns whether
    /// the user was held. The decision is not saved: after a restart the user is held again
    /// at its next sync.
    @discardableResult
    public func release(_ user: String, resolution: MassExpungeResolution) -> Bool {
        let released = queue.releaseHold(user, now: clock.now)
        if released { releases[user] = resolution }
        kick()
        return released
    }

    // MARK: Status

    /// The overview counters.
    public func statistics() -> ReplicatorStatistics {
        let now = clock.now
        var statistics = ReplicatorStatistics()
        for user in queue.users {
            statistics.totalUsers += 1
            if user.held {
                statistics.held += 1
                continue
            }
            switch user.priority {
            case .sync: statistics.queuedSync += 1
            case .high: statistics.queuedHigh += 1
            case .low: statistics.queuedLow += 1
            case .none:
                guard queue.running(user.name) == nil else { continue }
                let due = (queue.nextSyncTime(user.name, now: now) ?? .max) <= now
                if due && user.lastSyncFailed {
                    statistics.queuedFailed += 1
                } else if due {
                    statistics.queuedFullResync += 1
                } else if user.lastSyncFailed {
                    statistics.waitingFailed += 1
                }
            }
        }
        statistics.running = queue.runningCount
        statistics.stuck = queue.stuckCount(now: now)
        return statistics
    }

    /// One row per user matching `mask`, by name.
    public func userStatus(_ mask: UserMask) -> [ReplicationUserStatus] {
        let now = clock.now
        return queue.users.filter { mask.matches($0.name) }.sorted { $0.name < $1.name }.map { user in
            let next = queue.nextSyncTime(user.name, now: now).map { max(0, $0 - now) } ?? 0
            return ReplicationUserStatus(
                username: user.name, priority: user.priority, lastFastSync: user.lastFastSync, lastFullSync: user.lastFullSync,
                lastSuccessfulSync: user.lastSuccessfulSync, failed: user.lastSyncFailed, nextSyncSeconds: next,
                lastError: user.lastError, held: user.held, running: queue.running(user.name) != nil,
                stuck: queue.stuck(user.name, now: now))
        }
    }

    /// The running syncs.
    public func syncStatus() -> [SyncSlotStatus] {
        let now = clock.now
        return started.sorted { $0.key < $1.key }.map { user, sync in
            SyncSlotStatus(
                username: user, type: sync.full ? "full" : "incremental", seconds: now - sync.at,
                stuck: now - sync.at > queue.settings.failureRetryInterval)
        }
    }

    /// Every user's record, for saving.
    public func snapshot() -> [ReplicationUser] { Array(queue.users) }
}
