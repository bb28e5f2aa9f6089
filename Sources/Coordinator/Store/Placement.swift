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

    /// The candidates with room, best first: least loaded relative to capacity × weight, in
    /// steps of 1/1000 of capacity × weight; within a step, ordered by a hash of the user's name
    /// and the pair's id. The steps let users arriving together spread over nearly equally
    /// loaded pairs instead of all queuing for the one least loaded pair's row lock; the hash
    /// gives the same user the same order.
    static func order(_ candidates: [Candidate], for user: CoordinatorName) -> [Candidate] {
        let seed = StableHash.fnv1a(user.value.utf8)
        return candidates.filter { $0.userCount < $0.capacity && $0.capacity > 0 && $0.weight > 0 }
            .map { candidate in
                // Capacity ≤ Int64.max / 1000 / weight in any real fleet; saturate rather than trap.
                let scaled = candidate.userCount.multipliedReportingOverflow(by: 1000)
                let step = scaled.overflow ? Int64.max : scaled.partialValue / (candidate.capacity * candidate.weight)
                return (candidate, step, mix(seed, candidate.id.rawValue))
            }
            .sorted { lhs, rhs in
                if lhs.1 != rhs.1 { return lhs.1 < rhs.1 }
                return lhs.2 != rhs.2 ? lhs.2 < rhs.2 : lhs.0.id < rhs.0.id
            }
            .map(\.0)
    }

    private static func mix(_ seed: UInt64, _ id: Int64) -> UInt64 {
        // splitmix64 finaliser: spreads neighbouring ids over the whole range.
        var value = seed ^ UInt64(bitPattern: id) &* 0x9e37_79b9_7f4a_7c15
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        return value ^ (value >> 31)
    }
}
