import Foundation

/// A tenant: a customer or domain group whose users the coordinator places on pairs.
public struct TenantRecord: Hashable, Sendable {
    /// Immutable id.
    public var id: TenantID
    /// Unique name.
    public var name: CoordinatorName
    /// The pairs this tenant's users may be placed on (its shard group), sorted by name; `nil`
    /// means every pair. An empty list means none (new assignments are refused).
    public var allowedPairs: [CoordinatorName]?
    /// The most users the tenant may have assigned at once (removed users do not count); `nil`
    /// means no limit.
    public var userQuota: Int?
    /// How many users are assigned now (not removed).
    public var userCount: Int
    /// When the tenant was added.
    public var createdAt: Date

    public init(
        id: TenantID, name: CoordinatorName, allowedPairs: [CoordinatorName]?, userQuota: Int?, userCount: Int,
        createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.allowedPairs = allowedPairs
        self.userQuota = userQuota
        self.userCount = userCount
        self.createdAt = createdAt
    }
}

/// What ``CoordinatorStore/updateTenant(_:_:)`` changes: a `nil` field is left as it is.
public struct TenantUpdate: Hashable, Sendable {
    /// The tenant's new shard group; `.some(nil)` lifts the restriction.
    public var allowedPairs: [CoordinatorName]??
    /// The tenant's new user quota (at least 0); `.some(nil)` lifts it. A quota below the
    /// current number of users is allowed: it only stops new assignments.
    public var userQuota: Int??

    public init(allowedPairs: [CoordinatorName]?? = nil, userQuota: Int?? = nil) {
        self.allowedPairs = allowedPairs
        self.userQuota = userQuota
    }
}
