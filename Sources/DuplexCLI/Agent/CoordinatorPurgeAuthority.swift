import Dsync

/// The agent's check of a purge order: it reads its pair's whole user list from the
/// coordinator now (not its local copy, which may be a poll interval old) and refuses while
/// the order's user is on it by name, since the user's mail root is named after the name.
///
/// The order names the user's id and the pair it lives on now; a name that was removed and
/// assigned again to this pair is on the list, so the new user's mail is never deleted.
struct CoordinatorPurgeAuthority: DsyncPurgeAuthority {
    let link: CoordinatorLink

    func confirmPurge(_ order: DsyncPurgeOrder) async throws {
        var present: Bool?
        var version: Int64 = 0
        while true {
            let batch: CoordinatorChangeBatch
            do {
                batch = try await link.changes(since: version)
            } catch {
                throw DsyncError(.usage, "cannot read pair \(link.configuration.pair)'s user list from the coordinator to confirm the purge: \(error)", user: order.user)
            }
            for change in batch.changes where change.user == order.user { present = change.kind == .present }
            version = batch.version
            guard batch.hasMore else { break }
        }
        if present == true {
            throw DsyncError(.usage, "user \(order.user) is still on pair \(link.configuration.pair)'s user list at the coordinator", user: order.user)
        }
    }
}
