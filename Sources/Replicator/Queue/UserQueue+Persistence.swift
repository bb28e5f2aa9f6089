extension UserQueue {
    /// Every user as it is to be saved, in no particular order.
    ///
    /// A user whose sync is running is saved as still wanting it (at least a `low` request
    /// since the sync's start, and a full one if the running sync is full): the sync's
    /// start has already cleared the request, and a crash before the sync ends must not
    /// lose it until the next full sync.
    public var savedUsers: some Sequence<ReplicationUser> {
        let records = records
        return records.usedSlots.lazy.map { slot in
            var user = records.user(at: slot)
            guard let full = records[slot].running else { return user }
            if user.priority == .none {
                user.priority = .low
                user.lastUpdate = user.lastFastSync
            }
            if full { user.forceFullSync = true }
            return user
        }
    }

    /// Writes every user to the state file at `path` (see ``ReplicatorStateFile``).
    ///
    /// - Throws: ``ReplicatorStateError`` when it cannot be written; the previous file is
    ///   then intact.
    public func save(to path: String) throws {
        try ReplicatorStateFile.write(savedUsers, to: path)
    }

    /// Puts back saved users (a state file, Dovecot's `replicator.db`), each as
    /// ``restore(_:now:)`` does: a user known already keeps the newer record.
    public mutating func restore(_ users: some Sequence<ReplicationUser>, now: Int64) {
        for user in users { restore(user, now: now) }
    }
}
