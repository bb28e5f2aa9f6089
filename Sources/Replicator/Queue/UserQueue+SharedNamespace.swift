extension UserQueue {
    /// The user to sync for a change `user` made in `mailbox`: the mailbox's owner when it
    /// lies in the shared namespace (``ReplicatorSettings/sharedNamespace``), else `user`.
    ///
    /// A shared mailbox is stored in its owner's mail root and synced under the owner's
    /// lock, so only the owner's sync carries the change; syncing the changing user too
    /// would only cost a sync. A mailbox name whose owner part is empty (`shared//x`)
    /// names nobody and leaves the change with `user`.
    ///
    /// - Parameters:
    ///   - user: Who made the change (the mail user of the session).
    ///   - mailbox: The mailbox as that user sees it (`shared/alice@example.com/Projects`);
    ///     nil when the input does not say.
    public func syncedUser(forChangeBy user: String, in mailbox: String?) -> String {
        guard let mailbox, let namespace = settings.sharedNamespace,
            let owner = namespace.owner(ofMailbox: mailbox, changedBy: user), !owner.isEmpty
        else { return user }
        return owner
    }

    /// A change `user` made in `mailbox`: queues the user ``syncedUser(forChangeBy:in:)``
    /// names as ``notify(_:priority:forceFull:now:)`` does, and returns it.
    @discardableResult
    public mutating func notify(_ user: String, mailbox: String?, priority: ReplicationPriority, now: Int64) -> String {
        let synced = syncedUser(forChangeBy: user, in: mailbox)
        notify(synced, priority: priority, now: now)
        return synced
    }
}
