import Dsync
import Foundation
import Logging

/// Deletes the copy a finished move left on the user's old pair (`duplex user purge-old`).
///
/// Everything is decided on ids: the user's immutable id and the finished move's record,
/// never a name that may have been reused. The purge is refused, with nothing changed, when
/// the user has no finished move, the move's catch-up sync has not run (the old copy may
/// still hold mail the new pair lacks), the user was removed, the old pair is the user's
/// current pair again, or a move is copying the user back onto it. Otherwise each host of
/// the old pair is sent a ``DsyncPurgeOrder`` over mutual TLS with the coordinator's move
/// certificate; each agent checks the order against its own copy of the coordinator's user
/// list and deletes the user's mail root under the user's sync lock. Once both hosts have
/// answered, the purge is recorded on the move (``CoordinatorStore/recordPurge(_:)``).
///
/// Idempotent: a purge already recorded returns at once without contacting the agents, and
/// a purge that failed half-way (one host unreachable) is completed by running it again
/// (a host whose copy is gone answers that it had none).
public struct MovePurger: Sendable {
    let store: any CoordinatorStore
    let configuration: MoveConfiguration
    let logger: Logger

    /// - Parameter configuration: the moves' settings: the coordinator's certificate, key and
    ///   CA, and the connect and read timeouts toward agents.
    public init(store: any CoordinatorStore, configuration: MoveConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// What a purge did.
    public struct Outcome: Sendable, Hashable {
        /// The move whose old copy was purged, with ``MoveRecord/purgedAt`` set.
        public var move: MoveRecord
        /// Each host of the old pair, in side order; empty when ``alreadyPurged``.
        public var hosts: [HostOutcome]
        /// Whether the purge had been recorded before: nothing was done this time.
        public var alreadyPurged: Bool
    }

    /// What one host of the old pair answered.
    public struct HostOutcome: Sendable, Hashable {
        public var host: CoordinatorName
        /// Whether the user's mail root was there to delete.
        public var existed: Bool
        /// The mail root's path on that host.
        public var mailRoot: String
    }

    /// Deletes the old pair's copy of user `id`: that of `moveID`, or of the user's latest
    /// finished move when `nil`.
    ///
    /// - Throws: ``CoordinatorStoreError`` `notFound` (no such user, or a move that is not
    ///   this user's), `conflict` (a removed user, no finished move, not caught up, the old
    ///   pair is the current one or the target of a running move), other store errors;
    ///   ``MovePurgeError`` when a host of the old pair refused the order or could not be
    ///   reached (the purge is not recorded; hosts already purged stay purged).
    public func purgeOld(user id: UserID, move moveID: MoveID? = nil) async throws -> Outcome {
        let user = try await store.user(id: id)
        let context = CoordinatorStoreError.Context(user: user.name.value, id: moveID?.rawValue ?? id.rawValue)
        let moves = try await store.moves(user: id)
        let move: MoveRecord
        if let moveID {
            guard let found = moves.first(where: { $0.id == moveID }) else {
                throw CoordinatorStoreError(
                    .notFound, operation: "purgeOld", context: context,
                    message: "move \(moveID.rawValue) is not a move of this user (id \(id.rawValue))")
            }
            guard found.phase == .finished else {
                throw CoordinatorStoreError(
                    .conflict, operation: "purgeOld", context: context,
                    message: "move \(moveID.rawValue) is \(found.phase.rawValue), not finished: it left no old copy")
            }
            move = found
        } else {
            guard let latest = moves.last(where: { $0.phase == .finished }) else {
                throw CoordinatorStoreError(
                    .conflict, operation: "purgeOld", context: context,
                    message: "the user has no finished move: there is no old copy to purge")
            }
            move = latest
        }
        if move.purgedAt != nil { return Outcome(move: move, hosts: [], alreadyPurged: true) }
        if let refusal = move.purgeRefusal(user: user, openMove: moves.first { !$0.phase.isTerminal }) {
            throw CoordinatorStoreError(.conflict, operation: "purgeOld", context: SQLCoordinatorStore.context(of: move), message: refusal)
        }
        let pair = try await store.pair(move.fromPair)
        guard pair.id == move.fromPairID, let currentPair = user.pair else {
            throw CoordinatorStoreError(
                .conflict, operation: "purgeOld", context: SQLCoordinatorStore.context(of: move),
                message: "pair \(move.fromPair) changed while the purge was prepared; try again")
        }
        let order = DsyncPurgeOrder(
            user: user.name.value, userID: id.rawValue, epoch: user.epoch, pair: pair.name.value, move: move.id.rawValue,
            currentPair: currentPair.value)
        var hosts: [HostOutcome] = []
        for host in [pair.hostA, pair.hostB] {
            let result: DsyncPurgeResult
            do {
                let client = try DsyncPurgeClient(
                    endpoint: host.dsyncEndpoint.description, tls: configuration.tls(for: host),
                    connectTimeout: configuration.connectTimeout, readTimeout: configuration.readTimeout)
                result = try await client.purge(order)
            } catch let error as DsyncError {
                throw MovePurgeError(move: move.id, host: host.name, pair: pair.name, cause: error)
            }
            hosts.append(HostOutcome(host: host.name, existed: result.existed, mailRoot: result.mailRoot))
        }
        let recorded = try await store.recordPurge(move.id)
        logger.notice(
            "purged the old pair's copy of a moved user",
            metadata: [
                "move": "\(move.id.rawValue)", "user": "\(user.name)", "user_id": "\(id.rawValue)", "pair": "\(pair.name)",
                "deleted": "\(hosts.filter(\.existed).map(\.host.value).joined(separator: ","))",
            ])
        return Outcome(move: recorded, hosts: hosts, alreadyPurged: false)
    }
}

/// A host of the old pair refused a purge order or could not be reached.
public struct MovePurgeError: Error, Sendable, CustomStringConvertible {
    public var move: MoveID
    public var host: CoordinatorName
    public var pair: CoordinatorName
    /// The agent's answer or the connection's failure.
    public var cause: DsyncError

    public var description: String {
        "move \(move.rawValue): host \(host) of pair \(pair) did not purge its copy: \(cause.message)"
    }
}

extension MoveRecord {
    /// Why this finished move's old copy must stay, or `nil` when it may be purged: the
    /// catch-up ran, the user is current and lives elsewhere, and `openMove` (the user's
    /// unfinished move, if any) is not copying it back onto the old pair.
    func purgeRefusal(user: UserRecord, openMove: MoveRecord?) -> String? {
        if caughtUpAt == nil {
            return "the catch-up sync after the switch has not run yet: pair \(fromPair)'s copy may hold mail that \(toPair) lacks"
        }
        if user.state == .removed { return "the user was removed" }
        if user.pairID == fromPairID { return "pair \(fromPair) is the user's current pair: its copy is the live one" }
        if let openMove, openMove.toPairID == fromPairID {
            return "move \(openMove.id.rawValue) is copying the user back to pair \(fromPair)"
        }
        return nil
    }
}
