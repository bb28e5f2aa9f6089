import Foundation

/// Everything the coordinator keeps: tenants, pairs, users and their placement, moves, agents,
/// replication status and API tokens.
///
/// Two drivers implement it with the same behaviour, checked by one conformance suite:
/// ``PostgresCoordinatorStore`` (production; several coordinators may share one database) and
/// ``SQLiteCoordinatorStore`` (one process: a single box and `duplex demo`).
///
/// Rules every method follows:
/// - Every multi-step change runs in one transaction: it happens whole or not at all.
/// - Bad input (an invalid value, an unknown tenant or pair) throws ``CoordinatorStoreError``
///   with the right code and the names concerned, and changes nothing.
/// - Destructive steps act on ids (``StoreID``), never on names.
/// - Every change of a user's assignment appends to its pair's change log, so agents can pull
///   their pair's user list incrementally.
public protocol CoordinatorStore: Sendable {
    // MARK: Schema

    /// Creates or upgrades the schema to the newest version this build knows, applying each
    /// missing migration in order, each in its own transaction.
    ///
    /// Safe to run again and from several processes at once.
    /// - Returns: the schema version now in place.
    /// - Throws: ``CoordinatorStoreError/Code/corrupt`` when the database has a newer schema
    ///   than this build knows; ``CoordinatorStoreError/Code/unavailable``.
    @discardableResult
    func migrate() async throws(CoordinatorStoreError) -> Int

    // MARK: Tenants

    /// Adds a tenant.
    ///
    /// - Parameters:
    ///   - allowedPairs: its shard group (pairs that must exist), or `nil` for every pair.
    ///   - userQuota: at most this many users at once (≥ 0), or `nil` for no limit.
    /// - Throws: `conflict` if the name is taken; `notFound` for an unknown pair; `invalid`
    ///   for a negative quota.
    func addTenant(_ name: CoordinatorName, allowedPairs: [CoordinatorName]?, userQuota: Int?)
        async throws(CoordinatorStoreError) -> TenantRecord

    /// All tenants, by name.
    func listTenants() async throws(CoordinatorStoreError) -> [TenantRecord]

    /// The tenant called `name`.
    ///
    /// - Throws: `notFound`.
    func tenant(_ name: CoordinatorName) async throws(CoordinatorStoreError) -> TenantRecord

    /// Changes a tenant's shard group or quota.
    ///
    /// - Throws: `notFound` for an unknown tenant or pair; `invalid` for a negative quota.
    func updateTenant(_ name: CoordinatorName, _ update: TenantUpdate) async throws(CoordinatorStoreError)
        -> TenantRecord

    // MARK: Pairs

    /// Adds a pair.
    ///
    /// - Throws: `conflict` if the pair name is taken or a host name is already one of another
    ///   pair's hosts (or both hosts have the same name); `invalid` for a capacity below 0, a
    ///   weight outside 1–1000, or a dsync endpoint that is not `tls://` or an admin endpoint
    ///   that is not `http(s)://`.
    func addPair(_ specification: PairSpecification) async throws(CoordinatorStoreError) -> PairRecord

    /// All pairs, by name.
    func listPairs() async throws(CoordinatorStoreError) -> [PairRecord]

    /// The pair called `name`.
    ///
    /// - Throws: `notFound`.
    func pair(_ name: CoordinatorName) async throws(CoordinatorStoreError) -> PairRecord

    /// Changes a pair's state, capacity or weight.
    ///
    /// - Throws: `notFound`; `invalid` for a capacity below 0 or a weight outside 1–1000.
    func updatePair(_ name: CoordinatorName, _ update: PairUpdate) async throws(CoordinatorStoreError) -> PairRecord

    /// Sets the health of the host on `side` of the pair (routes follow at once).
    ///
    /// - Throws: `notFound`.
    func setHostHealth(pair: CoordinatorName, side: HostSide, health: HostHealth) async throws(CoordinatorStoreError)
        -> PairRecord

    /// Removes an empty pair by id, with its hosts, agents, status reports, change log, finished
    /// moves and agent tokens; it is dropped from every tenant's shard group, and removed users
    /// that were on it keep their record without a pair.
    ///
    /// - Throws: `notFound`; `conflict` while users are assigned to it or moving onto it.
    func removePair(_ id: PairID) async throws(CoordinatorStoreError)

    // MARK: Users

    /// Assigns `user` to a pair of `tenant`, or returns the assignment it already has.
    ///
    /// In one transaction: among the tenant's allowed pairs, the active ones with room
    /// (users held < capacity) are candidates, and the least loaded relative to capacity ×
    /// weight is chosen (ties broken stably by the user's name); the preferred host is
    /// ``HostSide/preferred(for:)``. Concurrent calls for one user yield one assignment;
    /// concurrent calls for many users never put more users on a pair than its capacity.
    ///
    /// - Throws: `notFound` for an unknown tenant; `conflict` if the user is assigned to
    ///   another tenant; `quotaExceeded` when the tenant is at its quota;
    ///   `capacityExhausted` when no candidate pair has room.
    func assign(user: CoordinatorName, tenant: CoordinatorName) async throws(CoordinatorStoreError) -> Assignment

    /// The current (not removed) user called `name`.
    ///
    /// - Throws: `notFound`.
    func user(_ name: CoordinatorName) async throws(CoordinatorStoreError) -> UserRecord

    /// The user with this id, removed or not.
    ///
    /// - Throws: `notFound`.
    func user(id: UserID) async throws(CoordinatorStoreError) -> UserRecord

    /// One page of users matching `query`, in id order.
    ///
    /// - Throws: `notFound` for an unknown tenant or pair in the query; `invalid` for a limit
    ///   outside 1–``UserQuery/maximumLimit``.
    func listUsers(_ query: UserQuery) async throws(CoordinatorStoreError) -> UserPage

    /// Sets or clears a user's `noreplicate` flag.
    ///
    /// - Throws: `notFound` (also for a removed user).
    func setNoreplicate(_ id: UserID, _ noreplicate: Bool) async throws(CoordinatorStoreError) -> UserRecord

    /// Removes the user with this id: its state becomes ``UserState/removed``, its place on its
    /// pair (and any reservation of an unfinished move, which is rolled back) is freed, and its
    /// pair's agents see it gone. The name may then be assigned again, with a new id.
    ///
    /// - Throws: `notFound` for an unknown or already removed id.
    func removeUser(_ id: UserID) async throws(CoordinatorStoreError) -> UserRecord

    /// Where the user's connections go now.
    ///
    /// - Throws: `notFound` for an unknown or removed user.
    func route(user: CoordinatorName) async throws(CoordinatorStoreError) -> UserRoute

    /// The pair's user changes after `version` (0 for the full list), at most `limit` change
    /// log entries (1–10 000), each user once with its latest state.
    ///
    /// - Throws: `notFound` for an unknown pair; `invalid` for a negative version or a limit
    ///   out of range.
    func userChanges(pair: CoordinatorName, since version: Int64, limit: Int) async throws(CoordinatorStoreError)
        -> UserChangeBatch

    // MARK: Agents and status

    /// Records that the agent on `host` (one of `pair`'s hosts) runs `version`; registering
    /// again updates the version and the heartbeat.
    ///
    /// - Throws: `notFound` for an unknown pair; `invalid` if `host` is neither of the pair's
    ///   hosts or the version is longer than 64 bytes.
    func registerAgent(host: CoordinatorName, pair: CoordinatorName, version: String) async throws(CoordinatorStoreError)
        -> AgentRecord

    /// Records a heartbeat of a registered agent now.
    ///
    /// - Throws: `notFound` for an agent that has not registered.
    func heartbeat(host: CoordinatorName) async throws(CoordinatorStoreError) -> AgentRecord

    /// All registered agents, by pair and side.
    func listAgents() async throws(CoordinatorStoreError) -> [AgentRecord]

    /// Stores a batch of status reports from the agent on `host` of `pair`, replacing that
    /// host's previous report of each user, in one transaction. Reports about users not on the
    /// pair are ignored and listed in the result.
    ///
    /// - Throws: `notFound` for an unknown pair; `invalid` if `host` is not one of its hosts or
    ///   the batch holds more than 10 000 reports.
    func recordStatus(_ reports: [UserStatusReport], pair: CoordinatorName, host: CoordinatorName)
        async throws(CoordinatorStoreError) -> StatusBatchResult

    /// The stored reports of a user (one per host that reported), by host.
    ///
    /// - Throws: `notFound`.
    func status(user: UserID) async throws(CoordinatorStoreError) -> [UserStatusRecord]

    /// Every pair at a glance, by name; with `tenant`, only that tenant's users are counted and
    /// only its pairs (those holding its users or in its shard group) are listed.
    ///
    /// - Throws: `notFound` for an unknown tenant.
    func fleetSummary(tenant: CoordinatorName?) async throws(CoordinatorStoreError) -> [PairSummary]

    /// The reports saying a current user's last sync on its pair failed (one per user and host),
    /// oldest report first, at most `limit`; with `tenant`, only that tenant's users.
    ///
    /// - Throws: `notFound` for an unknown tenant; `invalid` for a limit outside 1-10 000.
    func failedUsers(tenant: CoordinatorName?, limit: Int) async throws(CoordinatorStoreError) -> [UserStatusRecord]

    // MARK: Moves

    /// Starts moving a user to another pair: reserves a place on the target (which must be
    /// active, have room and be allowed for the user's tenant) and marks the user moving.
    ///
    /// - Throws: `notFound`; `conflict` if the user is already moving or already on the
    ///   target; `capacityExhausted` if the target has no room.
    func createMove(user: UserID, to pair: CoordinatorName) async throws(CoordinatorStoreError) -> MoveRecord

    /// The move with this id.
    ///
    /// - Throws: `notFound`.
    func move(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord

    /// Moves not yet finished or rolled back, oldest first.
    func unfinishedMoves() async throws(CoordinatorStoreError) -> [MoveRecord]

    /// Records progress of a move: a later (or the same) phase, and an error or `nil`.
    ///
    /// - Throws: `notFound`; `conflict` for a move that is over or a phase that goes back.
    func advanceMove(_ id: MoveID, to phase: MovePhase, error: String?) async throws(CoordinatorStoreError)
        -> MoveRecord

    /// Finishes a move in one transaction: the user's pair becomes the target, its epoch
    /// increases by one, its state is active again, the source pair's place is freed and both
    /// pairs' change logs record it.
    ///
    /// - Throws: `notFound`; `conflict` if the move is over.
    func finishMove(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord

    /// Rolls a move back in one transaction: the target's reservation is freed and the user
    /// is active on its source pair again, epoch unchanged.
    ///
    /// - Throws: `notFound`; `conflict` if the move is over.
    func rollBackMove(_ id: MoveID, error: String?) async throws(CoordinatorStoreError) -> MoveRecord

    /// Every move of the user with this id (finished, rolled back or running), oldest first.
    ///
    /// - Throws: `notFound` for an unknown user id.
    func moves(user: UserID) async throws(CoordinatorStoreError) -> [MoveRecord]

    /// Records that a finished move's catch-up sync ran (or was found unneeded); recording it
    /// again changes nothing.
    ///
    /// - Throws: `notFound`; `conflict` for a move that is not finished.
    func markMoveCaughtUp(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord

    /// Records that the old pair's copy of a finished move's user was deleted; recording it
    /// again changes nothing and returns the first record.
    ///
    /// - Throws: `notFound`; `conflict` for a move that is not finished or not caught up,
    ///   a removed user, a user whose current pair is the move's source pair again, or a
    ///   user with an unfinished move onto that pair.
    func recordPurge(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord

    // MARK: Tokens

    /// Creates a token; the secret is in the result only.
    ///
    /// - Throws: `notFound` for the role's unknown tenant or pair; `invalid` for a label
    ///   longer than 200 bytes.
    func createToken(label: String, role: TokenRole) async throws(CoordinatorStoreError) -> IssuedToken

    /// The token whose secret this is, if it exists and is not revoked; `nil` otherwise.
    func verifyToken(secret: String) async throws(CoordinatorStoreError) -> TokenRecord?

    /// All tokens (revoked ones too), by id.
    func listTokens() async throws(CoordinatorStoreError) -> [TokenRecord]

    /// Revokes a token; revoking a revoked token changes nothing.
    ///
    /// - Throws: `notFound`.
    func revokeToken(_ id: TokenID) async throws(CoordinatorStoreError) -> TokenRecord

    // MARK: Leadership

    /// Runs `body` if this process holds the named leader lock, which is taken for the call
    /// and released after it; returns `nil` at once if another holder has it.
    ///
    /// On PostgreSQL the lock is a session advisory lock (`pg_try_advisory_lock`) held on one
    /// dedicated connection, so it is shared by every coordinator on the database and released
    /// if this process dies; on SQLite it is local to the store.
    func withLeaderLock<Result: Sendable>(
        _ name: String, _ body: @Sendable () async throws -> Result
    ) async throws -> Result?
}
