import Foundation

/// A user's assignment: which tenant it belongs to, which pair replicates its mail, and which
/// host of the pair proxies should prefer.
public struct UserRecord: Hashable, Sendable {
    /// Immutable id; a name removed and assigned again gets a new one.
    public var id: UserID
    /// The user's name (its login, as proxies look it up). At most one user that is not
    /// ``UserState/removed`` has a given name.
    public var name: CoordinatorName
    public var tenantID: TenantID
    public var tenant: CoordinatorName
    /// The pair replicating the user; `nil` only for a removed user whose pair was removed since.
    public var pairID: PairID?
    public var pair: CoordinatorName?
    /// The host proxies should prefer while it is up.
    public var preferredHost: HostSide
    public var state: UserState
    /// Whether the user's agents leave the user out of replication (Dovecot's `noreplicate`).
    public var noreplicate: Bool
    /// Starts at 1 and increases by one on every completed move, so an agent can tell a
    /// current assignment from one that came back to its pair after a move away.
    public var epoch: Int64
    /// The change version of the user's last change on its pair
    /// (see ``CoordinatorStore/userChanges(pair:since:limit:)``).
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UserID, name: CoordinatorName, tenantID: TenantID, tenant: CoordinatorName, pairID: PairID?,
        pair: CoordinatorName?, preferredHost: HostSide, state: UserState, noreplicate: Bool, epoch: Int64,
        version: Int64, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.name = name
        self.tenantID = tenantID
        self.tenant = tenant
        self.pairID = pairID
        self.pair = pair
        self.preferredHost = preferredHost
        self.state = state
        self.noreplicate = noreplicate
        self.epoch = epoch
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A user's state.
public enum UserState: String, Hashable, Sendable, CaseIterable, Codable {
    /// Assigned and replicated by its pair.
    case active
    /// Being moved to another pair (see ``MoveRecord``); still served by its current pair.
    case moving
    /// Removed: kept as a record (for agents' incremental pulls and history), never routed.
    case removed
}

/// Which users ``CoordinatorStore/listUsers(_:)`` returns: all conditions hold together.
public struct UserQuery: Hashable, Sendable {
    public var tenant: CoordinatorName?
    public var pair: CoordinatorName?
    /// A mask with `*` (any run of characters) and `?` (one character), as `doveadm
    /// replicator status` takes; case-sensitive.
    public var mask: String?
    /// Whether removed users are listed too.
    public var includeRemoved: Bool
    /// Lists users with ids greater than this (the previous page's ``UserPage/next``).
    public var after: UserID?
    /// The page size, 1–10 000.
    public var limit: Int

    public init(
        tenant: CoordinatorName? = nil, pair: CoordinatorName? = nil, mask: String? = nil,
        includeRemoved: Bool = false, after: UserID? = nil, limit: Int = 1000
    ) {
        self.tenant = tenant
        self.pair = pair
        self.mask = mask
        self.includeRemoved = includeRemoved
        self.after = after
        self.limit = limit
    }

    /// The largest page ``CoordinatorStore/listUsers(_:)`` returns.
    public static let maximumLimit = 10_000
}

/// One page of users, in id order.
public struct UserPage: Hashable, Sendable {
    public var users: [UserRecord]
    /// Where the next page starts (pass it as ``UserQuery/after``); `nil` on the last page.
    public var next: UserID?

    public init(users: [UserRecord], next: UserID?) {
        self.users = users
        self.next = next
    }
}

/// What the result of ``CoordinatorStore/assign(user:tenant:)`` says.
public struct Assignment: Hashable, Sendable {
    public var user: UserRecord
    /// Whether this call created it; `false` when the user was already assigned (the same
    /// answer as before).
    public var isNew: Bool

    public init(user: UserRecord, isNew: Bool) {
        self.user = user
        self.isNew = isNew
    }
}
