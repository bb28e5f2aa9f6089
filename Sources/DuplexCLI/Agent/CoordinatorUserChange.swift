/// One entry of a pair's change log as `GET /v1/pairs/{pair}/changes` answers it
/// (docs/coordinator-api.md): `{"version", "user_id", "user", "kind", "noreplicate"}`.
struct CoordinatorUserChange: Sendable, Equatable, Decodable {
    /// Whether the pair replicates the user from this change on.
    enum Kind: String, Sendable, Equatable, Decodable {
        /// Replicate it, with ``CoordinatorUserChange/noReplicate``.
        case present
        /// Removed, or moved to another pair: stop replicating it; its mail stays.
        case gone
    }

    var version: Int64
    /// The user's immutable id (status reports name users by it).
    var userID: Int64
    var user: String
    var kind: Kind
    var noReplicate: Bool

    init(version: Int64, userID: Int64, user: String, kind: Kind, noReplicate: Bool = false) {
        self.version = version
        self.userID = userID
        self.user = user
        self.kind = kind
        self.noReplicate = noReplicate
    }

    private enum CodingKeys: String, CodingKey {
        case version
        case userID = "userId"
        case user, kind
        case noReplicate = "noreplicate"
    }
}

/// One answer of `GET /v1/pairs/{pair}/changes`: `{"changes", "version", "has_more"}`.
struct CoordinatorChangeBatch: Sendable, Equatable, Decodable {
    var changes: [CoordinatorUserChange]
    /// The version to ask from next.
    var version: Int64
    /// More changes wait beyond ``version``.
    var hasMore: Bool
}
