import Foundation

/// A move of a user from one pair to another.
///
/// The user stays on its source pair (state ``UserState/moving``) while its mail is copied;
/// the target pair's capacity is reserved from the start. Finishing switches the user's pair
/// and increases its epoch in one transaction; rolling back releases the reservation and
/// leaves the user where it was.
public struct MoveRecord: Hashable, Sendable {
    public var id: MoveID
    public var userID: UserID
    public var user: CoordinatorName
    public var fromPairID: PairID
    public var fromPair: CoordinatorName
    public var toPairID: PairID
    public var toPair: CoordinatorName
    public var phase: MovePhase
    public var startedAt: Date
    public var updatedAt: Date
    /// The last error reported for the move, if any.
    public var error: String?
    /// When the catch-up sync after the switch ran (or was found unneeded), for a finished
    /// move; until then the old pair's copy may hold mail the new pair lacks.
    public var caughtUpAt: Date?
    /// When the old pair's copy was deleted (`duplex user purge-old`), for a finished move.
    public var purgedAt: Date?

    public init(
        id: MoveID, userID: UserID, user: CoordinatorName, fromPairID: PairID, fromPair: CoordinatorName,
        toPairID: PairID, toPair: CoordinatorName, phase: MovePhase, startedAt: Date, updatedAt: Date, error: String?,
        caughtUpAt: Date? = nil, purgedAt: Date? = nil
    ) {
        self.caughtUpAt = caughtUpAt
        self.purgedAt = purgedAt
        self.id = id
        self.userID = userID
        self.user = user
        self.fromPairID = fromPairID
        self.fromPair = fromPair
        self.toPairID = toPairID
        self.toPair = toPair
        self.phase = phase
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.error = error
    }
}

/// Where a move is. A move goes forward through `created`, `copying`, `finalSync` and ends
/// `finished` or `rolledBack`; an unfinished move may be resumed from its phase.
public enum MovePhase: String, Hashable, Sendable, CaseIterable, Codable {
    /// Recorded, target capacity reserved, nothing copied yet.
    case created
    /// The mail is being copied to the target pair while the user stays on its source.
    case copying
    /// The user is briefly locked for the last sync before the switch.
    case finalSync
    /// The assignment and epoch were switched: the user lives on the target pair.
    case finished
    /// Abandoned: the user stayed on its source pair.
    case rolledBack

    /// Whether the move is over.
    public var isTerminal: Bool { self == .finished || self == .rolledBack }

    /// Whether ``CoordinatorStore/advanceMove(_:to:error:)`` may go from this phase to `next`
    /// (forward only, or staying in the same phase to record an error).
    public func canAdvance(to next: MovePhase) -> Bool {
        guard !isTerminal, !next.isTerminal else { return false }
        let order: [MovePhase] = [.created, .copying, .finalSync]
        guard let from = order.firstIndex(of: self), let to = order.firstIndex(of: next) else { return false }
        return to >= from
    }
}
