/// Chooses where the users of a draining pair go.
///
/// The same rule as placement (``CoordinatorStore/assign(user:tenant:)``): among the active
/// pairs other than the draining one, allowed for the user's tenant and with room, the least
/// loaded relative to capacity × weight; ties go to the pair whose name sorts first. The
/// store checks room again when the move is created, so a choice that lost a race is refused
/// there, not overfilled.
public enum DrainPlanner {
    /// The target for `user`, or `nil` when no pair can take it.
    ///
    /// - Parameters:
    ///   - allowedPairs: the user's tenant's shard group, or `nil` for every pair.
    ///   - pairs: every pair, with the user counts to compare (the caller adds the moves it
    ///     created since reading them).
    public static func target(for user: UserRecord, allowedPairs: [CoordinatorName]?, pairs: [PairRecord]) -> PairRecord? {
        let candidates = pairs.filter { pair in
            pair.id != user.pairID && pair.state == .active && pair.userCount < pair.capacity
                && (allowedPairs?.contains(pair.name) ?? true)
        }
        return candidates.min { left, right in
            // load = users / (capacity × weight), compared without division.
            let leftLoad = left.userCount * right.capacity * right.weight
            let rightLoad = right.userCount * left.capacity * left.weight
            return leftLoad != rightLoad ? leftLoad < rightLoad : left.name.value < right.name.value
        }
    }
}
