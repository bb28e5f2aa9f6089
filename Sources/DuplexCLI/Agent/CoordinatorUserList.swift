/// The local copy of one pair's user list as its agents pull it from the coordinator
/// (`GET /v1/pairs/{pair}/changes?since=V`): the users the pair replicates, by their
/// immutable id, and the change version the copy is at.
///
/// It only changes by applying the coordinator's changes, in version order; the agent keeps
/// it in a cache file (``CoordinatorUserCache``) so that an outage of the coordinator never
/// stops replication.
struct CoordinatorUserList: Sendable, Equatable {
    /// One user of the pair.
    struct Entry: Sendable, Equatable {
        var name: String
        /// Never synced (Dovecot's `noreplicate` userdb field).
        var noReplicate: Bool
    }

    /// The pair the list is of.
    var pair: String
    /// The coordinator's change version the list includes; 0 before the first pull.
    var version: Int64 = 0
    /// The pair's users by id.
    private(set) var users: [Int64: Entry] = [:]

    init(pair: String, version: Int64 = 0, users: [Int64: Entry] = [:]) {
        self.pair = pair
        self.version = version
        self.users = users
    }

    /// What applying a batch did to the list.
    struct Applied: Sendable, Equatable {
        /// Names that left the list (gone, or renamed away): their queue entries go.
        var gone: [String] = []
        /// Whether any user was added, removed or changed.
        var changed: Bool { changes > 0 }
        var changes = 0
    }

    /// Applies one batch of changes and moves the version to `version` (the batch's).
    ///
    /// A `present` change adds the user or replaces its entry; a `gone` one drops it. A
    /// version below the list's is refused: a batch older than the copy would undo newer
    /// changes.
    ///
    /// - Throws: ``CoordinatorLinkError`` (`badAnswer`) when the batch goes backwards.
    mutating func apply(_ changes: [CoordinatorUserChange], version: Int64) throws(CoordinatorLinkError) -> Applied {
        guard version >= self.version else {
            throw CoordinatorLinkError(
                .badAnswer, "the change batch of pair \(pair) ends at version \(version), before the local copy's \(self.version)")
        }
        var applied = Applied()
        for change in changes {
            let previous = users[change.userID]
            switch change.kind {
            case .present:
                let entry = Entry(name: change.user, noReplicate: change.noReplicate)
                guard previous != entry else { continue }
                if let previous, previous.name != entry.name { applied.gone.append(previous.name) }
                users[change.userID] = entry
            case .gone:
                guard let previous else {
                    // Unknown here (a copy pulled from version 0 meets a user that came and
                    // went): it may still sit in the saved queue, so it goes there too.
                    applied.gone.append(change.user)
                    continue
                }
                users[change.userID] = nil
                applied.gone.append(previous.name)
            }
            applied.changes += 1
        }
        self.version = version
        return applied
    }

    /// Name → `noreplicate` of every user of the list.
    var byName: [String: Bool] {
        var names: [String: Bool] = [:]
        names.reserveCapacity(users.count)
        for entry in users.values { names[entry.name] = entry.noReplicate }
        return names
    }
}
