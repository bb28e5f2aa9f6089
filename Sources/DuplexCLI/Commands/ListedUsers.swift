import Logging
import Replicator

/// The replicator's users from the agent's users file (`replicator.users_file`), applied at
/// start and again on each SIGHUP.
///
/// Applying a list adds the users it names (a known user keeps its state), removes from the
/// queue the users the previous list named and this one does not (users known only from
/// notifications, `duplex replicator add` or the saved state stay), and makes the engine
/// skip its `noreplicate` users, which leave the queue too. Only queue entries go: no mail,
/// sync state or lock is deleted.
actor ListedUsers {
    let replicator: Replicator
    let engine: NoReplicateSyncEngine
    let logger: Logger
    /// The list to apply: from the configuration at start, then from each reload.
    private var latest: (path: String?, users: [String], noReplicate: [String])
    /// The users the applied list named (not its `noreplicate` ones); empty before start.
    private var listed: Set<String> = []
    private var started = false

    init(replicator: Replicator, engine: NoReplicateSyncEngine, from configuration: ReplicatorConfiguration, logger: Logger) {
        self.replicator = replicator
        self.engine = engine
        self.logger = logger
        latest = (configuration.usersFile, configuration.users, configuration.noReplicateUsers)
    }

    /// Applies the configured list, once the saved queue is loaded (so that a `noreplicate`
    /// user from the saved state leaves it).
    func start() async {
        started = true
        let (added, removed) = await apply()
        if latest.path != nil {
            logger.info(
                "users from the users file",
                metadata: ["listed": "\(listed.count)", "new": "\(added)", "noreplicate": "\(latest.noReplicate.count)", "removed": "\(removed)"])
        }
    }

    /// Applies the users of a reloaded configuration (applied at start when it comes
    /// before).
    func reload(_ configuration: ReplicatorConfiguration) async {
        latest = (configuration.usersFile, configuration.users, configuration.noReplicateUsers)
        guard started else { return }
        let (added, removed) = await apply()
        logger.notice(
            "users file reloaded",
            metadata: [
                "path": "\(latest.path ?? "none")", "listed": "\(listed.count)", "added": "\(added)", "removed": "\(removed)",
                "noreplicate": "\(latest.noReplicate.count)",
            ])
    }

    /// - Returns: how many users became known, and how many left the queue.
    private func apply() async -> (added: Int, removed: Int) {
        let users = Set(latest.users)
        let noReplicate = Set(latest.noReplicate)
        // Excluded first: a sync starting meanwhile must not reach the peer.
        engine.exclude(noReplicate)
        var removed = 0
        for user in listed.subtracting(users).union(noReplicate).sorted() {
            if await replicator.remove(user) { removed += 1 }
        }
        listed = users
        let added = await replicator.add(users: latest.users)
        return (added, removed)
    }
}
