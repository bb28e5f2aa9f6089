/// One change of a pair's user list, as its agents pull them incrementally.
public struct UserChange: Hashable, Sendable {
    /// What happened to the user, from the pair's point of view.
    public enum Kind: Hashable, Sendable {
        /// The pair replicates the user, as given (assigned, changed, or moving onto or off it).
        case present(UserRecord)
        /// The pair no longer replicates the user: removed, or moved to another pair. The
        /// agent stops replicating it; the mail stays on the hosts until purged.
        case gone
    }

    /// The pair's change version of this change.
    public var version: Int64
    public var userID: UserID
    public var userName: CoordinatorName
    public var kind: Kind

    public init(version: Int64, userID: UserID, userName: CoordinatorName, kind: Kind) {
        self.version = version
        self.userID = userID
        self.userName = userName
        self.kind = kind
    }
}

/// A batch of a pair's user changes since a version.
public struct UserChangeBatch: Hashable, Sendable {
    /// The changes in version order, at most one per user (its latest in the batch).
    public var changes: [UserChange]
    /// The version to ask from next time: the last version the batch covers.
    public var version: Int64
    /// Whether more changes wait beyond `version`.
    public var hasMore: Bool

    public init(changes: [UserChange], version: Int64, hasMore: Bool) {
        self.changes = changes
        self.version = version
        self.hasMore = hasMore
    }
}
