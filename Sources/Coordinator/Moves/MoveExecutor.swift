import Dsync
import Foundation
import Logging

/// Runs one move of a user between pairs, from the phase its record shows to the switch.
///
/// 1. `created` → `copying`: rounds of two syncs, the old pair's source host (the user's
///    preferred host, or the other if it is down) with the new pair's first host (A, or B
///    if A is down), then the new pair's two hosts together; repeated while a round still
///    copied more than ``MoveConfiguration/settledMessages`` messages, at most
///    ``MoveConfiguration/maxCopyRounds`` times. The user stays on the old pair (state
///    `moving`) and its agents keep replicating it.
/// 2. `finalSync`: one more round (each sync holds the user's dsync lock on both hosts),
///    then a catch-up marker is written and the assignment switches in one transaction
///    (``CoordinatorStore/finishMove(_:)``: pair, epoch + 1, state active). From then the old
///    pair's change feed reports the user gone and its agents stop replicating it; its copy
///    stays until purged.
/// 3. After ``MoveConfiguration/catchUpDelay``, ``catchUp(_:)`` syncs every old host that is
///    up with the new pair once more, for mail delivered to the old pair while routes still
///    pointed at it, records the move caught up and removes the marker (``MoveScheduler``
///    runs it). From then ``MovePurger`` may delete the old pair's copy.
///
/// Every step is idempotent: the syncs keep their states per move
/// (``MoveConfiguration/stateDirectory``/ID), so running a step again only converges, and a
/// move interrupted anywhere is resumed by running it again. Nothing is removed from the old
/// pair until an operator purges it after the catch-up, so the user always has a complete
/// copy there. Dsync's safety rules apply:
/// a mail root that vanished after a sync, or a mass disappearance, stops the move with an
/// error (``DsyncError`` `massLoss`) instead of propagating.
public struct MoveExecutor: Sendable {
    let store: any CoordinatorStore
    let configuration: MoveConfiguration
    /// Where the leader's view of each move's progress is kept.
    public let progress: MoveProgressBoard
    let logger: Logger
    let sleep: @Sendable (Duration) async throws -> Void
    /// Called before each sync with the move and the two hosts: tests inject faults here
    /// (a failure, or a wait until the coordinator is stopped).
    let beforeSync: @Sendable (MoveID, PairHost, PairHost) async throws -> Void

    /// - Parameter sleep: waits the catch-up delay (tests pass their own clock's).
    public init(
        store: any CoordinatorStore, configuration: MoveConfiguration, progress: MoveProgressBoard = MoveProgressBoard(),
        logger: Logger, sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.init(store: store, configuration: configuration, progress: progress, logger: logger, sleep: sleep) { _, _, _ in }
    }

    init(
        store: any CoordinatorStore, configuration: MoveConfiguration, progress: MoveProgressBoard = MoveProgressBoard(),
        logger: Logger, sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        beforeSync: @escaping @Sendable (MoveID, PairHost, PairHost) async throws -> Void
    ) {
        self.beforeSync = beforeSync
        self.store = store
        self.configuration = configuration
        self.progress = progress
        self.logger = logger
        self.sleep = sleep
    }

    /// Runs move `id` from its recorded phase until the user is switched to the new pair.
    ///
    /// A move rolled back or finished by someone else meanwhile ends the run without error.
    /// - Returns: the move's record at the end (`finished`, or `rolledBack` by someone else).
    /// - Throws: ``MoveError`` when a pair has no reachable host, ``DsyncError`` from a sync,
    ///   ``CoordinatorStoreError`` from the store; the move keeps its phase and may be run again.
    @discardableResult
    public func run(_ id: MoveID) async throws -> MoveRecord {
        var move = try await store.move(id)
        do {
            if move.phase == .created {
                move = try await store.advanceMove(id, to: .copying, error: nil)
            }
            if move.phase == .copying {
                for _ in 1...configuration.maxCopyRounds {
                    let copied = try await round(move)
                    if copied <= configuration.settledMessages { break }
                }
                move = try await store.advanceMove(id, to: .finalSync, error: nil)
            }
            if move.phase == .finalSync {
                _ = try await round(move)
                try markCatchUp(id)
                move = try await store.finishMove(id)
                logger.notice(
                    "user switched to its new pair",
                    metadata: ["move": "\(id.rawValue)", "user": "\(move.user)", "from": "\(move.fromPair)", "to": "\(move.toPair)"])
            }
        } catch let error as CoordinatorStoreError where error.code == .conflict {
            // Rolled back (or ended) by someone else between two steps.
            let current = try await store.move(id)
            guard current.phase.isTerminal else { throw error }
            move = current
        }
        let finished = move.phase == .finished
        await progress.update(id, phase: move.phase) {
            $0.currentSync = nil
            $0.lastError = nil
            $0.catchUpPending = finished
        }
        if move.phase == .rolledBack {
            try forgetMove(id)
            await progress.ended(id)
        }
        return move
    }

    /// Waits the catch-up delay, then syncs the old pair's hosts that are up with the new
    /// pair once more and forgets the move's states.
    ///
    /// Does nothing but forget when the move is not finished or already caught up, the user
    /// was removed or has moved on since, or the move is gone with a removed pair.
    /// - Throws: as ``run(_:)``; the catch-up stays pending and may be run again.
    public func catchUp(_ id: MoveID) async throws {
        await progress.update(id, phase: .finished) { $0.catchUpPending = true }
        try await sleep(configuration.catchUpDelay)
        guard let move = try await existingMove(id) else { return try forgetMove(id) }
        let user = try await store.user(id: move.userID)
        // Caught up already: a marker left by a leader stopped after recording it. The old copy
        // may be purged by now, and a sync with its missing mail root must not run.
        if move.phase == .finished, move.caughtUpAt == nil, user.state != .removed, user.pairID == move.toPairID {
            let from = try await store.pair(move.fromPair)
            let to = try await store.pair(move.toPair)
            let targets = try Self.targets(to, move: id)
            await progress.update(id, phase: .finished) { $0.round += 1 }
            for source in Self.sources(from, preferred: user.preferredHost) {
                _ = try await sync(move, source, targets.first)
            }
            _ = try await sync(move, targets.first, targets.second)
        }
        // From now the old pair's copy holds nothing the new pair lacks: it may be purged.
        if move.phase == .finished { _ = try await store.markMoveCaughtUp(id) }
        try forgetMove(id)
        await progress.update(id, phase: move.phase) {
            $0.catchUpPending = false
            $0.lastError = nil
            $0.currentSync = nil
        }
        await progress.ended(id)
    }

    /// Move `id`, or `nil` when it is gone (removed with its pair).
    private func existingMove(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord? {
        do {
            return try await store.move(id)
        } catch where error.code == .notFound {
            return nil
        }
    }

    /// Deletes old copies with this executor's store, certificate and timeouts.
    public var purger: MovePurger { MovePurger(store: store, configuration: configuration, logger: logger) }

    /// Moves whose catch-up sync is still to run (their markers), by id.
    public func pendingCatchUps() throws -> [MoveID] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: catchUpDirectory)) ?? []
        return names.compactMap { Int64($0) }.sorted().map(MoveID.init)
    }

    // MARK: Rounds

    /// One round: the old pair's source host with the new pair's first host, then the new
    /// pair's hosts together.
    ///
    /// - Returns: the messages copied.
    func round(_ move: MoveRecord) async throws -> Int {
        let user = try await store.user(id: move.userID)
        let from = try await store.pair(move.fromPair)
        let to = try await store.pair(move.toPair)
        guard let source = Self.sources(from, preferred: user.preferredHost).first else {
            throw MoveError(move: move.id, "both hosts of pair \(from.name) are down")
        }
        let targets = try Self.targets(to, move: move.id)
        await progress.update(move.id, phase: move.phase) { $0.round += 1 }
        let copied = try await sync(move, source, targets.first)
        return copied + (try await sync(move, targets.first, targets.second))
    }

    /// The old pair's hosts to copy from, the user's preferred one first, without hosts marked down.
    static func sources(_ pair: PairRecord, preferred: HostSide) -> [PairHost] {
        [pair.host(preferred), pair.host(preferred.other)].filter { $0.health != .down }
    }

    /// The new pair's hosts: A first unless A is down and B is not.
    ///
    /// - Throws: ``MoveError`` when both are down.
    static func targets(_ pair: PairRecord, move: MoveID) throws(MoveError) -> (first: PairHost, second: PairHost) {
        if pair.hostA.health == .down && pair.hostB.health == .down {
            throw MoveError(move: move, "both hosts of pair \(pair.name) are down")
        }
        return pair.hostA.health == .down ? (pair.hostB, pair.hostA) : (pair.hostA, pair.hostB)
    }

    /// Syncs the user between two hosts' agents, again while a side changed during the sync
    /// (at most three times).
    ///
    /// - Returns: the messages copied, both directions.
    func sync(_ move: MoveRecord, _ a: PairHost, _ b: PairHost) async throws -> Int {
        var options = SyncOptions(user: move.user.value)
        options.stateDirectory = stateDirectory(of: move.id)
        // The new pair's hosts have no mail root for the user before its first sync.
        options.createMissing = true
        options.lockTimeout = configuration.lockTimeout
        try await beforeSync(move.id, a, b)
        let label = "\(a.dsyncEndpoint) ↔ \(b.dsyncEndpoint)"
        await progress.update(move.id, phase: move.phase) { $0.currentSync = label }
        var copied = 0
        for _ in 1...3 {
            let session = SyncSession(a: try replica(a, move), b: try replica(b, move), options: options)
            let report = try await session.run()
            copied += report.appliedA.messagesCopied + report.appliedB.messagesCopied
            let bytes = report.appliedA.bytesCopied + report.appliedB.bytesCopied
            let messages = report.appliedA.messagesCopied + report.appliedB.messagesCopied
            await progress.update(move.id, phase: move.phase) {
                $0.syncs += 1
                $0.messagesCopied += messages
                $0.bytesCopied += bytes
            }
            logger.info(
                "move sync done",
                metadata: [
                    "move": "\(move.id.rawValue)", "user": "\(move.user)", "sync": "\(label)", "copied": "\(messages)",
                    "bytes": "\(bytes)", "changed_during_sync": "\(report.changedDuringSync)",
                ])
            if !report.changedDuringSync {
                await progress.update(move.id, phase: move.phase) { $0.currentSync = nil }
                return copied
            }
        }
        throw MoveError(move: move.id, "the mail changed during three syncs in a row (\(label)); trying again later")
    }

    private func replica(_ host: PairHost, _ move: MoveRecord) throws -> RemoteReplica {
        try RemoteReplica(
            endpoint: host.dsyncEndpoint.description, user: move.user.value, tls: configuration.tls(for: host),
            connectTimeout: configuration.connectTimeout, readTimeout: configuration.readTimeout)
    }

    // MARK: Files

    var catchUpDirectory: String { configuration.stateDirectory + "/catch-up" }

    /// The sync states of move `id`'s syncs.
    func stateDirectory(of id: MoveID) -> String { configuration.stateDirectory + "/\(id.rawValue)" }

    /// Records, before the switch, that move `id` needs a catch-up sync after it.
    private func markCatchUp(_ id: MoveID) throws {
        try FileManager.default.createDirectory(atPath: catchUpDirectory, withIntermediateDirectories: true)
        let path = catchUpDirectory + "/\(id.rawValue)"
        guard FileManager.default.createFile(atPath: path, contents: Data()) else {
            throw MoveError(move: id, "cannot create \(path)")
        }
    }

    /// Removes move `id`'s catch-up marker and sync states.
    private func forgetMove(_ id: MoveID) throws {
        for path in [catchUpDirectory + "/\(id.rawValue)", stateDirectory(of: id)]
        where FileManager.default.fileExists(atPath: path) {
            try FileManager.default.removeItem(atPath: path)
        }
    }
}
