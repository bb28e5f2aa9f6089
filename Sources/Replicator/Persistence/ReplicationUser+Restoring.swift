extension ReplicationUser {
    /// This saved record put together with `known`, the record the replicator made for the
    /// same user after it started and before its saved queue was loaded (a notification or
    /// an admin command that came first): the saved sync history stays, and what was asked
    /// since is kept.
    ///
    /// Taking `known` alone would forget the user's last syncs, so that a restart under
    /// load makes the notified users look never synced and due for a full sync; taking the
    /// saved record alone would drop the request that came in.
    ///
    /// - Returns: the higher priority and the later last update of the two, a full sync
    ///   forced by either, each sync time the later of the two, the failure state of the
    ///   record whose last sync started later, and held when either is.
    func restored(keeping known: ReplicationUser) -> ReplicationUser {
        var user = self
        user.priority = max(priority, known.priority)
        user.lastUpdate = max(lastUpdate, known.lastUpdate)
        user.forceFullSync = forceFullSync || known.forceFullSync
        user.lastFullSync = max(lastFullSync, known.lastFullSync)
        user.lastSuccessfulSync = max(lastSuccessfulSync, known.lastSuccessfulSync)
        if known.lastFastSync > lastFastSync {
            // A sync began since the start: how it went is newer than the saved outcome.
            user.lastFastSync = known.lastFastSync
            user.lastSyncFailed = known.lastSyncFailed
            user.failureCount = known.failureCount
            user.lastFailure = known.lastFailure
            user.failingSince = known.failingSince
            user.lastError = known.lastError
            user.changedRetries = known.changedRetries
        }
        if known.held && !held {
            user.held = true
            user.holdReason = known.holdReason
        }
        return user
    }
}
