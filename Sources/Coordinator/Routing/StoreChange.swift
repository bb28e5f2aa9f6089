/// A change another session made to what routes and tokens are read from, as the database
/// announces it: PostgreSQL's `NOTIFY` on the channel ``channel`` at the commit of the change
/// (the triggers of schema migration 5).
enum StoreChange: Hashable, Sendable {
    /// The user row with this name changed (moved, epoch, state, removed) or was deleted.
    case userChanged(String)
    /// Users were added (assigned); which ones is read from the store.
    case usersAdded
    /// A host (health, endpoints), or a pair's or tenant's name, was added, changed or removed.
    case fleetChanged
    /// A token was created, revoked or deleted.
    case tokensChanged

    /// The channel the announcements are sent on.
    static let channel = "duplex_changes"

    /// The change a payload announces (`u:NAME`, `+`, `f`, `t`), or `nil` for another payload
    /// (a newer schema's announcement this release does not know).
    init?(payload: String) {
        switch payload {
        case "+": self = .usersAdded
        case "f": self = .fleetChanged
        case "t": self = .tokensChanged
        default:
            guard payload.hasPrefix("u:"), payload.utf8.count > 2 else { return nil }
            self = .userChanged(String(payload.dropFirst(2)))
        }
    }
}

/// A store whose changes, made by any process, are announced to every process using it.
protocol StoreChangeFeed: Sendable {
    /// Receives the announcements of changes until the connection ends or the task is cancelled.
    ///
    /// - Parameters:
    ///   - listening: called once announcements are being received (anything committed after
    ///     it returns is announced).
    ///   - received: called with each change, in commit order.
    /// - Throws: when the database cannot be reached or the connection ends with an error.
    func followChanges(listening: @Sendable () async -> Void, received: @Sendable (StoreChange) async -> Void) async throws
}
