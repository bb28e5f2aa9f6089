/// The immutable id the coordinator gives a tenant, pair, user, move or token when it is created.
///
/// Ids are 64-bit integers drawn from the store's sequences (PostgreSQL identity columns,
/// SQLite `AUTOINCREMENT` rows): they are never reused, not even after the row is removed,
/// so every destructive step (remove, purge, move clean-up) acts on an id and a name removed
/// and later given to someone else never reaches the other's assignment or mail. Names
/// (``CoordinatorName``) are what people type; ids are what the store acts on.
///
/// `Entity` only keeps ids of different kinds apart at compile time.
public struct StoreID<Entity>: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The sequence value, at least 1.
    public let rawValue: Int64

    /// Wraps a value read from the store or given by a client.
    public init(_ rawValue: Int64) {
        self.rawValue = rawValue
    }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}

/// The id of a ``TenantRecord``.
public typealias TenantID = StoreID<TenantRecord>
/// The id of a ``PairRecord``.
public typealias PairID = StoreID<PairRecord>
/// The id of a ``UserRecord``: a user removed and assigned again gets a new one.
public typealias UserID = StoreID<UserRecord>
/// The id of a ``MoveRecord``.
public typealias MoveID = StoreID<MoveRecord>
/// The id of a ``TokenRecord``.
public typealias TokenID = StoreID<TokenRecord>
