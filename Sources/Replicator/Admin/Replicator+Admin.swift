extension Replicator {
    /// Answers one admin request, in one step on the actor so that the answer is consistent
    /// (a user cannot change between the check and the change).
    func response(to request: ReplicatorAdminRequest) -> ReplicatorAdminResponse {
        let now = clock.now
        switch request {
        case .status(nil):
            return ReplicatorAdminResponse(ok: true, now: now, statistics: statistics())
        case .status(let mask?):
            return ReplicatorAdminResponse(ok: true, now: now, users: userStatus(UserMask(mask)).map(ReplicatorAdminUserStatus.init))
        case .dsyncStatus:
            return ReplicatorAdminResponse(ok: true, now: now, syncs: syncStatus(), slots: queue.settings.maxConnections)
        case .replicate(let mask, let priority, let full):
            let count = replicate(UserMask(mask), priority: priority, forceFull: full)
            logger.info("admin: replicate", metadata: ["mask": "\(mask)", "priority": "\(priority)", "full": "\(full)", "users": "\(count)"])
            return ReplicatorAdminResponse(ok: true, now: now, count: count)
        case .add(let mask):
            let count = add(UserMask(mask))
            logger.info("admin: add", metadata: ["mask": "\(mask)", "new_users": "\(count)"])
            return ReplicatorAdminResponse(ok: true, now: now, count: count)
        case .remove(let user):
            guard remove(user) else { return .failure("User not found") }
            logger.info("admin: removed user", metadata: ["user": "\(user)"])
            return ReplicatorAdminResponse(ok: true, now: now)
        case .release(let user, let mode):
            guard let known = queue.user(user) else { return .failure("User not found") }
            guard known.held else { return .failure("User is not held") }
            release(user, resolution: mode.resolution)
            logger.notice("admin: released held user", metadata: ["user": "\(user)", "mode": "\(mode.rawValue)"])
            return ReplicatorAdminResponse(ok: true, now: now)
        }
    }
}
