/// The placement rule: which of the candidate pairs a new user goes to.
///
/// Pure, so both stores place alike and it can be tested without a database.
enum Placement {
    /// A pair that may take the user, with its load.
    struct Candidate: Hashable, Sendable {
        var id: PairID
        var userCount: Int64
        var capacity: Int64
        var weight: Int64
    }

    /// The candidates with room, best first: least loaded relative to capacity × weight; ties
    /// broken by a hash of the user's name and the pair's id, so that users arriving together
    /// spread over equally loaded pairs instead of all queuing on one, and the same user meets
    /// the same order.
    static func order(_ candidates: [Candidate], for user: CoordinatorName) -> [Candidate] {
        let seed = StableHash.fnv1a(user.value.utf8)
        return candidates.filter { $0.userCount < $0.capacity && $0.capacity > 0 && $0.weight > 0 }
            .sorted { lhs, rhs in
                // users/(capacity*weight) compared without division: exact for any sizes we allow.
                let left = lhs.userCount.multipliedFullWidth(by: rhs.capacity * rhs.weight)
                let right = rhs.userCount.multipliedFullWidth(by: lhs.capacity * lhs.weight)
                if left.high != right.high || left.low != right.low {
                    return left.high != right.high ? left.high < right.high : left.low < right.low
                }
                let lhsTie = mix(seed, lhs.id.rawValue)
                let rhsTie = mix(seed, rhs.id.rawValue)
                return lhsTie != rhsTie ? lhsTie < rhsTie : lhs.id < rhs.id
            }
    }

    private static func mix(_ seed: UInt64, _ id: Int64) -> UInt64 {
        // splitmix64 finaliser: spreads neighbouring ids over the whole range.
        var value = seed ^ UInt64(bitPattern: id) &* 0x9e37_79b9_7f4a_7c15
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        return value ^ (value >> 31)
    }
}
