import Foundation

/// A backend pair: two hosts whose agents keep each of the pair's users replicated between them.
public struct PairRecord: Hashable, Sendable {
    /// Immutable id.
    public var id: PairID
    /// Unique name.
    public var name: CoordinatorName
    /// Whether new users may be placed on it.
    public var state: PairState
    /// Host A.
    public var hostA: PairHost
    /// Host B.
    public var hostB: PairHost
    /// The most users it may hold (including users moving onto it).
    public var capacity: Int
    /// Its share in placement: pairs are filled in proportion to capacity × weight (1–1000).
    public var weight: Int
    /// Users held now: assigned, plus those moving onto it.
    public var userCount: Int
    /// The last change version of its user list (see ``CoordinatorStore/userChanges(pair:since:limit:)``).
    public var changeVersion: Int64
    /// When the pair was added.
    public var createdAt: Date

    public init(
        id: PairID, name: CoordinatorName, state: PairState, hostA: PairHost, hostB: PairHost, capacity: Int,
        weight: Int, userCount: Int, changeVersion: Int64, createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.state = state
        self.hostA = hostA
        self.hostB = hostB
        self.capacity = capacity
        self.weight = weight
        self.userCount = userCount
        self.changeVersion = changeVersion
        self.createdAt = createdAt
    }

    /// The host on `side`.
    public func host(_ side: HostSide) -> PairHost {
        side == .a ? hostA : hostB
    }
}

/// A pair's state.
public enum PairState: String, Hashable, Sendable, CaseIterable, Codable {
    /// Takes new users.
    case active
    /// Takes no new users; its users are being moved off.
    case draining
    /// Takes no new users; its users stay and keep replicating.
    case disabled
}

/// One of the two hosts of a pair.
public enum HostSide: String, Hashable, Sendable, CaseIterable, Codable {
    case a
    case b

    /// The pair's other host.
    public var other: HostSide { self == .a ? .b : .a }

    /// The side preferred for a user, chosen stably from the user's name: the low bit of its
    /// 64-bit FNV-1a hash (of the UTF-8 bytes), so the same name always gets the same side,
    /// on any machine and with either store, and names spread evenly over both sides.
    public static func preferred(for user: CoordinatorName) -> HostSide {
        StableHash.fnv1a(user.value.utf8) & 1 == 0 ? .a : .b
    }
}

/// A host's health as last set by a health check or an operator.
public enum HostHealth: String, Hashable, Sendable, CaseIterable, Codable {
    case up
    case down
    /// Not checked yet: routed to as if up.
    case unknown
}

/// A host of a pair: its identity, endpoints and health.
public struct PairHost: Hashable, Sendable {
    /// The host's name, as its agent identifies itself.
    public var name: CoordinatorName
    /// Where its agent serves dsync (`tls://host:port`).
    public var dsyncEndpoint: ServiceEndpoint
    /// Where its agent serves its admin HTTP interface (`http(s)://host:port`).
    public var adminEndpoint: ServiceEndpoint
    public var health: HostHealth

    public init(
        name: CoordinatorName, dsyncEndpoint: ServiceEndpoint, adminEndpoint: ServiceEndpoint,
        health: HostHealth = .unknown
    ) {
        self.name = name
        self.dsyncEndpoint = dsyncEndpoint
        self.adminEndpoint = adminEndpoint
        self.health = health
    }
}

/// What ``CoordinatorStore/addPair(_:)`` needs to add a pair.
public struct PairSpecification: Hashable, Sendable {
    public var name: CoordinatorName
    public var hostA: PairHost
    public var hostB: PairHost
    /// At least 0.
    public var capacity: Int
    /// 1–1000.
    public var weight: Int
    public var state: PairState

    public init(
        name: CoordinatorName, hostA: PairHost, hostB: PairHost, capacity: Int, weight: Int = 1,
        state: PairState = .active
    ) {
        self.name = name
        self.hostA = hostA
        self.hostB = hostB
        self.capacity = capacity
        self.weight = weight
        self.state = state
    }
}

/// What ``CoordinatorStore/updatePair(_:_:)`` changes: a `nil` field is left as it is.
public struct PairUpdate: Hashable, Sendable {
    public var state: PairState?
    /// At least 0. Lowering it below the users held is allowed: it only stops new assignments.
    public var capacity: Int?
    /// 1–1000.
    public var weight: Int?

    public init(state: PairState? = nil, capacity: Int? = nil, weight: Int? = nil) {
        self.state = state
        self.capacity = capacity
        self.weight = weight
    }
}
