import Dsync
import Synchronization

/// An engine that never syncs the users marked `noreplicate` and runs every other sync
/// through the engine it wraps.
///
/// A `noreplicate` user's sync ends at once as ``SyncOutcome/noSuchUser(_:)``, so the
/// replicator removes the user from its queue (and answers its waiters), as Dovecot's
/// replicator does when dsync answers NOREPLICATE (reference §3.6). A notification for the
/// user adds it back and the next sync removes it again; no peer is ever dialled for it.
public final class NoReplicateSyncEngine: SyncEngine, Sendable {
    /// The engine of every other user.
    public let base: any SyncEngine
    private let excluded: Mutex<Set<String>>

    /// - Parameters:
    ///   - base: the engine that syncs the users to replicate.
    ///   - excluding: the `noreplicate` users.
    public init(_ base: any SyncEngine, excluding: some Sequence<String> = []) {
        self.base = base
        self.excluded = Mutex(Set(excluding))
    }

    public var name: String { base.name }

    /// The `noreplicate` users now.
    public var excludedUsers: Set<String> { excluded.withLock { $0 } }

    /// Replaces the `noreplicate` users (a reloaded users file).
    public func exclude(_ users: some Sequence<String>) {
        let users = Set(users)
        excluded.withLock { $0 = users }
    }

    public func sync(user: String, full: Bool) async -> SyncResult {
        await sync(user: user, full: full, massExpunge: .hold)
    }

    public func sync(user: String, full: Bool, massExpunge: MassExpungeResolution) async -> SyncResult {
        if excluded.withLock({ $0.contains(user) }) {
            return SyncResult(.noSuchUser("the user is not to be replicated (noreplicate in the users file)"))
        }
        return await base.sync(user: user, full: full, massExpunge: massExpunge)
    }
}
