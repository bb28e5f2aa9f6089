import Logging
import Replicator

/// The replicator's users from the agent's users file (`replicator.users_file`), applied at
/// start and again on each SIGHUP, merged with its pair's user list from the coordinator
/// (`coordinator:`), applied at start from the local copy and again after each pull.
///
/// The coordinator's list is authoritative for the users it lists (its `noreplicate` wins
/// over the users file's); the users file adds local extras, the users the coordinator
/// does not list. Applying the merged list adds the users it names (a known user keeps its
/// state), removes from the queue the users the previous list named and this one does not,
/// and the users the coordinator reports gone (users known only from notifications,
/// `duplex replicator add` or the saved state stay), and makes the engine skip the
/// `noreplicate` users, which leave the queue too. Only queue entries go: no mail, sync
/// state or lock is deleted.
actor ListedUsers {
    let replicator: Replicator
    let engine: NoReplicateSyncEngine
    let logger: Logger
    /// The list to apply: from the configuration at start, then from each reload.
    private var latest: (path: String?, users: [String], noReplicate: [String])
    /// The coordinator's list, name → `noreplicate`; nil without one.
    private var coordinatorUsers: [String: Bool]?
    /// Users the coordinator reported gone since the last apply.
    private var gone: Set<String> = []
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

    /// Applies the coordinator's list of the pair (`users`: name → `noreplicate`) and the
    /// names it reported `gone` (applied at start when it comes before).
    ///
    /// - Returns: how many users became known, and how many left the queue (0 before start).
    @discardableResult
    func coordinatorListChanged(_ users: [String: Bool], gone: some Sequence<String>) async -> (added: Int, removed: Int) {
        coordinatorUsers = users
        self.gone.formUnion(gone)
        guard started else { return (0, 0) }
        return await apply()
    }

    /// - Returns: how many users became known, and how many left the queue.
    private func apply() async -> (added: Int, removed: Int) {
        let coordinator = coordinatorUsers ?? [:]
        // The coordinator decides for the users it lists; the file adds the others.
        let extras = latest.users.filter { coordinator[$0] == nil }
        let users = Set(extras).union(coordinator.lazy.filter { !$0.value }.map(\.key))
        let noReplicate = Set(latest.noReplicate.filter { coordinator[$0] == nil }).union(coordinator.lazy.filter(\.value).map(\.key))
        // Excluded first: a sync starting meanwhile must not reach the peer.
        engine.exclude(noReplicate)
        var removed = 0
        for user in listed.union(gone).subtracting(users).union(noReplicate).sorted() {
            if await replicator.remove(user) { removed += 1 }
        }
        gone = []
        listed = users
        let added = await replicator.add(users: extras + coordinator.keys.filter { users.contains($0) }.sorted())
        return (added, removed)
    }
}
