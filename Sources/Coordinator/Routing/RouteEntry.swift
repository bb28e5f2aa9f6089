/// What a route holds of its user, by id: the rest (names, hosts, health) is the fleet's,
/// shared by every user of a pair. About 130 bytes in memory with its key.
struct RouteEntry: Hashable, Sendable {
    var userID: UserID
    var tenantID: TenantID
    var pairID: PairID
    var epoch: Int64
    var preferredSide: HostSide
}
