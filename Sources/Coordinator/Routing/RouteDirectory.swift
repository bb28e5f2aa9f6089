import Logging
import Synchronization

/// Every current user's route and the tokens recently verified, held in memory and kept
/// current by the store's announcements of changes, so that a route lookup and its token
/// check need no query.
///
/// Several coordinators may share one database: each learns of every change, whoever made it
/// (another coordinator, an operator's SQL), from PostgreSQL's `NOTIFY` at the change's commit
/// (``StoreChange``). A change is served from memory once its announcement has arrived; until
/// then a lookup answers as one that started just before the commit would (announcements of
/// one database arrive within milliseconds). While announcements cannot be received (before
/// the first `LISTEN`, or after the connection ended until it is made again) nothing is held:
/// every lookup and token check reads the database, as without a directory.
///
/// What is held, and how it stays current:
/// - Users by name, by id only (``RouteEntry``): loaded in pages of ``pageSize`` at start and
///   after every announcement of added users, reloaded one by one when announced changed. A
///   load that a change to one of its users overtook is not kept for that user. At most
///   ``maximumUsers`` are held (about 150 bytes each); a user not held is read from the
///   database and then loaded.
/// - The fleet (pairs' names and hosts with health, tenants' names): reloaded whole when any
///   of it is announced changed, and not used until reloaded.
/// - Tokens verified by the database, by digest, for at most ``tokenLifetime``: all forgotten
///   when any token is announced created, revoked or deleted, so a revocation holds on every
///   coordinator once announced. Unknown and revoked tokens are never held.
final class RouteDirectory: Sendable {
    /// Users loaded by one query.
    static let pageSize = 10_000
    /// The most users held; more are read from the database on each lookup.
    static let maximumUsers = 2_000_000
    /// The most users waiting to be loaded one by one; more are left to the database.
    static let maximumPendingUsers = 10_000
    /// The most tokens held; when full, all are forgotten.
    static let maximumTokens = 10_000
    /// How long a verified token is held at most, even without an announcement.
    static let tokenLifetime = Duration.seconds(60)

    /// A pair as routes show it.
    struct PairEntry: Hashable, Sendable {
        var name: CoordinatorName
        var hostA: PairHost
        var hostB: PairHost
    }

    /// The pairs and tenants routes name.
    struct Fleet: Hashable, Sendable {
        var pairs: [PairID: PairEntry]
        var tenants: [TenantID: CoordinatorName]
    }

    /// One load the loader runs next, made under the lock with the state it will be checked
    /// against when its answer comes back.
    enum Work: Hashable, Sendable {
        case fleet(listening: UInt64)
        case users(after: UserID?, listening: UInt64)
        case user(String, listening: UInt64)
    }

    struct State {
        /// Whether announcements are being received; nothing is served otherwise.
        var isListening = false
        /// Raised each time listening starts or stops: a load made under another one is stale.
        var listening: UInt64 = 0
        var users: [String: RouteEntry] = [:]
        /// The highest user id a page has loaded; the next page starts above it.
        var highestUserID: UserID?
        var needsUsers = false
        /// Whether every user that was there when listening started has been loaded; until
        /// then a user looked up and not held is left to the running pages.
        var hasAllUsers = false
        /// When listening started, for the log line saying how long loading took.
        var startedAt = ContinuousClock.now
        var pendingUsers: Set<String> = []
        /// Whether the loader runs a load (from ``nextWork()`` handing it out to the next call).
        var isLoading = false
        /// Users announced changed since the running load started: its answer for them may
        /// predate the change. Empty while no load runs.
        var changedDuringLoad: Set<String> = []
        var fleet: Fleet?
        var needsFleet = false
        var fleetChangedDuringLoad = false
        var tokens: [String: (record: TokenRecord, until: ContinuousClock.Instant)] = [:]
        /// Raised with every change of tokens: a verification started before is not held.
        var tokenGeneration: UInt64 = 0
    }

    let state = Mutex(State())
    let store: PostgresCoordinatorStore
    let feed: any StoreChangeFeed
    let logger: Logger
    /// Wakes the loader; one pending wake-up is enough, as the loader takes all the work there is.
    let wakeups: AsyncStream<Void>
    let wake: AsyncStream<Void>.Continuation

    /// A directory of `store`'s routes, empty until ``run()`` receives announcements from `feed`.
    init(store: PostgresCoordinatorStore, feed: any StoreChangeFeed, logger: Logger) {
        self.store = store
        self.feed = feed
        self.logger = logger
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wakeups = wakeups
        self.wake = wake
    }

    // MARK: Lookups

    /// The route of `user`: from memory when held, otherwise from the store (and the user is
    /// then loaded).
    ///
    /// - Throws: as ``CoordinatorStore/route(user:)``: `notFound` for a user with no current
    ///   assignment.
    func route(user: CoordinatorName) async throws(CoordinatorStoreError) -> UserRoute {
        if let route = heldRoute(user: user) { return route }
        let route = try await store.route(user: user)
        let isQueued = state.withLock { state in
            guard state.isListening, state.hasAllUsers, state.users.count < Self.maximumUsers,
                state.pendingUsers.count < Self.maximumPendingUsers
            else { return false }
            return state.pendingUsers.insert(user.value).inserted
        }
        if isQueued { wake.yield() }
        return route
    }

    /// The route of `user` if everything it shows is held.
    func heldRoute(user: CoordinatorName) -> UserRoute? {
        state.withLock { state in
            guard state.isListening, let fleet = state.fleet, let entry = state.users[user.value],
                let pair = fleet.pairs[entry.pairID], let tenant = fleet.tenants[entry.tenantID]
            else { return nil }
            let (preferred, other) = entry.preferredSide == .a ? (pair.hostA, pair.hostB) : (pair.hostB, pair.hostA)
            return UserRoute(
                userID: entry.userID, user: user, tenant: tenant, pair: pair.name, epoch: entry.epoch,
                preferredSide: entry.preferredSide, preferredHost: preferred, otherHost: other)
        }
    }

    /// The token whose secret is `secret`, if it is known and not revoked: from memory when
    /// held, otherwise verified by the store (and then held).
    ///
    /// - Throws: as ``CoordinatorStore/verifyToken(secret:)``.
    func verifyToken(secret: String) async throws(CoordinatorStoreError) -> TokenRecord? {
        let digest = TokenSecret.digest(of: secret)
        let now = ContinuousClock.now
        if let held = heldToken(digest: digest, now: now) { return held }
        let generation: UInt64? = state.withLock { $0.isListening ? $0.tokenGeneration : nil }
        let record = try await store.verifyToken(secret: secret)
        if let record, let generation {
            state.withLock { state in
                guard state.isListening, state.tokenGeneration == generation else { return }
                if state.tokens.count >= Self.maximumTokens { state.tokens.removeAll() }
                state.tokens[digest] = (record, now + Self.tokenLifetime)
            }
        }
        return record
    }

    /// The token whose secret is `secret` if it is held (verified by the store less than
    /// ``tokenLifetime`` ago, and no token changed since); nil when it is not, which is no
    /// refusal: ``verifyToken(secret:)`` asks the store then.
    func heldToken(secret: String) -> TokenRecord? {
        heldToken(digest: TokenSecret.digest(of: secret), now: .now)
    }

    private func heldToken(digest: String, now: ContinuousClock.Instant) -> TokenRecord? {
        state.withLock { state in
            guard state.isListening, let entry = state.tokens[digest], entry.until > now else { return nil }
            return entry.record
        }
    }

    // MARK: Announcements

    /// Announcements are being received: everything is loaded afresh.
    func startedListening() {
        state.withLock { state in
            Self.forgetEverything(&state)
            state.isListening = true
            state.needsFleet = true
            state.needsUsers = true
        }
        wake.yield()
    }

    /// Announcements stopped: nothing is served from memory until they resume.
    func stoppedListening() {
        state.withLock { Self.forgetEverything(&$0) }
    }

    /// Empties the state, and voids every load and verification under way (their answers may
    /// predate a change no announcement told of).
    private static func forgetEverything(_ state: inout State) {
        var fresh = State()
        fresh.listening = state.listening &+ 1
        fresh.tokenGeneration = state.tokenGeneration &+ 1
        state = fresh
    }

    /// Takes one announced change into account.
    func received(_ change: StoreChange) {
        let needsLoad = state.withLock { state -> Bool in
            guard state.isListening else { return false }
            switch change {
            case .userChanged(let name):
                if state.isLoading { state.changedDuringLoad.insert(name) }
                guard state.users.removeValue(forKey: name) != nil else { return false }
                guard state.pendingUsers.count < Self.maximumPendingUsers else { return false }
                state.pendingUsers.insert(name)
                return true
            case .usersAdded:
                state.needsUsers = true
                return true
            case .fleetChanged:
                state.fleet = nil
                state.needsFleet = true
                state.fleetChangedDuringLoad = true
                return true
            case .tokensChanged:
                state.tokens.removeAll()
                state.tokenGeneration &+= 1
                return false
            }
        }
        if needsLoad { wake.yield() }
    }

    // MARK: Loading

    /// The next load to run, or `nil` when everything announced is loaded.
    func nextWork() -> Work? {
        state.withLock { state in
            // The previous load, if any, is over: what changed during it no longer matters.
            state.changedDuringLoad.removeAll()
            state.isLoading = true
            guard let work = Self.takeWork(&state) else {
                state.isLoading = false
                return nil
            }
            return work
        }
    }

    /// The next load there is, marked as taken.
    private static func takeWork(_ state: inout State) -> Work? {
        guard state.isListening else { return nil }
        if state.needsFleet {
            state.needsFleet = false
            state.fleetChangedDuringLoad = false
            return .fleet(listening: state.listening)
        }
        // Pages first: they hold most users, and a user waiting alone may be in the next.
        if state.needsUsers, state.users.count < Self.maximumUsers {
            state.needsUsers = false
            return .users(after: state.highestUserID, listening: state.listening)
        }
        if let name = state.pendingUsers.popFirst() {
            return .user(name, listening: state.listening)
        }
        return nil
    }

    /// Keeps the fleet a ``Work/fleet(listening:)`` load read, unless it changed meanwhile.
    func fleetLoaded(_ fleet: Fleet, listening: UInt64) {
        state.withLock { state in
            guard state.isListening, state.listening == listening, !state.fleetChangedDuringLoad else { return }
            state.fleet = fleet
        }
    }

    /// Keeps the users a load read, except those changed meanwhile.
    ///
    /// - Parameters:
    ///   - page: the users of a ``Work/users(after:listening:)`` load, in id order; `nil`
    ///     for a ``Work/user(_:listening:)`` load.
    ///   - isFull: whether the page was full (more users may follow).
    func usersLoaded(_ users: [(String, RouteEntry)], page: Bool, isFull: Bool = false, listening: UInt64) {
        let loaded: (count: Int, after: Duration)? = state.withLock { state in
            guard state.isListening, state.listening == listening else { return nil }
            for (name, entry) in users where !state.changedDuringLoad.contains(name) {
                guard state.users.count < Self.maximumUsers else { break }
                state.users[name] = entry
            }
            guard page else { return nil }
            if let last = users.last { state.highestUserID = last.1.userID }
            if isFull {
                state.needsUsers = true
            } else if !state.hasAllUsers {
                state.hasAllUsers = true
                return (state.users.count, ContinuousClock.now - state.startedAt)
            }
            return nil
        }
        if let loaded {
            logger.info(
                "route directory loaded", metadata: ["users": "\(loaded.count)", "seconds": "\(loaded.after.components.seconds)"])
        }
    }

    /// Puts back a load that failed, to be run again.
    func loadFailed(_ work: Work) {
        state.withLock { state in
            switch work {
            case .fleet(let listening) where listening == state.listening: state.needsFleet = true
            case .users(_, let listening) where listening == state.listening: state.needsUsers = true
            case .user(let name, let listening) where listening == state.listening: state.pendingUsers.insert(name)
            default: break
            }
        }
    }

    /// Runs one load against the store and keeps its answer.
    func load(_ work: Work) async throws(CoordinatorStoreError) {
        switch work {
        case .fleet(let listening):
            let pairs = try await store.listPairs()
            let tenants = try await store.listTenants()
            let fleet = Fleet(
                pairs: Dictionary(
                    pairs.map { ($0.id, PairEntry(name: $0.name, hostA: $0.hostA, hostB: $0.hostB)) },
                    uniquingKeysWith: { first, _ in first }),
                tenants: Dictionary(tenants.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first }))
            fleetLoaded(fleet, listening: listening)
        case .users(let after, let listening):
            let users = try await store.routeEntries(after: after, limit: Self.pageSize)
            usersLoaded(users, page: true, isFull: users.count == Self.pageSize, listening: listening)
        case .user(let name, let listening):
            if let entry = try await store.routeEntry(user: name) {
                usersLoaded([(name, entry)], page: false, listening: listening)
            }
        }
    }
}
