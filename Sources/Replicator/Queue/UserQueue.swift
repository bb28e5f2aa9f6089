import HeapModule

/// The replicator's queue: every user of the pair with its priority and sync history, and
/// the decision of whom to sync next. A pure state machine: every call takes the current
/// time (Unix seconds) and nothing here waits, reads files or runs syncs.
///
/// Ordering follows Dovecot 2.3.20+ (reference §3.2): one computed next-sync time per user,
/// smaller first; a pending request is aged by 15/30/45 minutes for low/high/sync so that
/// nothing starves; users never synced come first; failed users come back after a back-off;
/// idle users come due for their periodic full sync at their own phase of the interval.
/// Unlike Dovecot, full syncs are capped separately (``ReplicatorSettings/maxFullSyncs``)
/// and never hold back fast syncs: pending requests and retries wait in one heap, periodic
/// and forced full syncs in another, and the full heap is served only while a full-sync
/// slot is free.
public struct UserQueue: Sendable {
    public let settings: ReplicatorSettings

    struct Record: Sendable {
        var user: ReplicationUser
        /// Bumped whenever the user's place changes: heap entries with an older
        /// generation are stale and skipped.
        var generation: UInt32 = 0
        /// Set while a sync runs: whether it is a full one.
        var running: Bool?
    }

    struct Entry: Comparable, Sendable {
        var time: Int64
        var name: String
        var generation: UInt32

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            lhs.time != rhs.time ? lhs.time < rhs.time : lhs.name < rhs.name
        }
    }

    enum Lane { case requests, fullSyncs }

    private(set) var records: [String: Record] = [:]
    private var requests = Heap<Entry>()
    private var fullSyncs = Heap<Entry>()
    /// Users currently syncing, and how many of those syncs are full.
    public private(set) var runningCount = 0
    public private(set) var runningFullCount = 0

    public init(settings: ReplicatorSettings = ReplicatorSettings()) {
        self.settings = settings
    }

    // MARK: Users

    /// The number of known users.
    public var count: Int { records.count }

    /// One user's record.
    public func user(_ name: String) -> ReplicationUser? { records[name]?.user }

    /// Whether the user's sync is running now, and whether it is a full one.
    public func running(_ name: String) -> Bool? { records[name]?.running }

    /// All users, in no particular order.
    public var users: some Sequence<ReplicationUser> { records.values.lazy.map(\.user) }

    /// Makes a user known (priority none) if it is not; returns whether it was new.
    @discardableResult
    public mutating func add(_ name: String, now: Int64) -> Bool {
        guard records[name] == nil else { return false }
        var user = ReplicationUser(name: name)
        user.lastUpdate = now
        records[name] = Record(user: user)
        schedule(name, now: now)
        return true
    }

    /// Puts back a user as it was saved (state file): its place follows from its record.
    /// A user already known keeps the newer of the two (by last update).
    public mutating func restore(_ user: ReplicationUser, now: Int64) {
        if let known = records[user.name], known.user.lastUpdate > user.lastUpdate { return }
        let running = records[user.name]?.running
        records[user.name] = Record(user: user, generation: (records[user.name]?.generation ?? 0) &+ 1, running: running)
        if running == nil { schedule(user.name, now: now) }
    }

    /// Forgets a user; returns whether it was known. A sync running for it finishes
    /// without putting it back.
    @discardableResult
    public mutating func remove(_ name: String) -> Bool {
        guard let record = records.removeValue(forKey: name) else { return false }
        if let full = record.running { release(full: full) }
        return true
    }

    /// A change for the user (notification, `replicate`): raises its priority (never
    /// lowers it), makes it known if needed, and with `forceFull` makes its next sync a
    /// full one. A change during a running sync makes exactly one more sync follow.
    public mutating func notify(_ name: String, priority: ReplicationPriority, forceFull: Bool = false, now: Int64) {
        if records[name] == nil {
            records[name] = Record(user: ReplicationUser(name: name))
        }
        guard var record = records[name] else { return }
        if priority > record.user.priority {
            record.user.priority = priority
            record.user.lastUpdate = now
        } else if record.user.lastUpdate == 0 {
            record.user.lastUpdate = now
        }
        if forceFull { record.user.forceFullSync = true }
        records[name] = record
        schedule(name, now: now)
    }

    /// Lets a user held by the mass-loss guard sync again (the next sync is a full one).
    /// Returns whether it was held.
    @discardableResult
    public mutating func releaseHold(_ name: String, now: Int64) -> Bool {
        guard var record = records[name], record.user.held else { return false }
        record.user.held = false
        record.user.holdReason = nil
        record.user.forceFullSync = true
        record.user.lastUpdate = now
        if record.user.priority == .none { record.user.priority = .low }
        records[name] = record
        schedule(name, now: now)
        return true
    }

    // MARK: Deciding

    /// The syncs to start now, up to the free slots: due requests first (a full sync for
    /// them only when one is due and a full slot is free), then due full syncs while full
    /// slots are free. Each returned user is marked running: its priority goes back to
    /// none, so a change notified during the sync raises it again.
    public mutating func start(now: Int64) -> [SyncStart] {
        var starts: [SyncStart] = []
        while runningCount < settings.maxConnections {
            if let entry = head(.requests), entry.time <= now {
                requests.removeMin()
                let full = fullDue(entry.name, now: now) && runningFullCount < settings.maxFullSyncs
                starts.append(begin(entry.name, full: full, now: now))
            } else if runningFullCount < settings.maxFullSyncs, let entry = head(.fullSyncs), entry.time <= now {
                fullSyncs.removeMin()
                starts.append(begin(entry.name, full: true, now: now))
            } else {
                break
            }
        }
        return starts
    }

    /// When the next user comes due (Unix seconds), or nil when no user is waiting. The
    /// full lane counts only while a full slot is free.
    public mutating func nextDueTime() -> Int64? {
        let request = head(.requests)?.time
        let full = runningFullCount < settings.maxFullSyncs ? head(.fullSyncs)?.time : nil
        switch (request, full) {
        case (let r?, let f?): return min(r, f)
        case (let r?, nil): return r
        case (nil, let f?): return f
        case (nil, nil): return nil
        }
    }

    /// Records how a user's sync ended and puts the user back in line.
    ///
    /// - Returns: false when the user was forgotten meanwhile or for this outcome (no such
    ///   user on a side).
    @discardableResult
    public mutating func finished(_ name: String, _ outcome: SyncOutcome, now: Int64) -> Bool {
        guard var record = records[name], let full = record.running else { return false }
        record.running = nil
        release(full: full)
        var user = record.user
        switch outcome {
        case .success:
            user.lastSuccessfulSync = user.lastFastSync
            if full { user.lastFullSync = user.lastFastSync }
            user.lastSyncFailed = false
            user.failureCount = 0
            user.lastError = nil
            user.changedRetries = 0
        case .changedDuringSync where user.changedRetries < settings.changedDuringSyncRetries:
            user.changedRetries += 1
            if user.priority < .high {
                user.priority = .high
                user.lastUpdate = now
            }
        case .changedDuringSync:
            fail(&user, "a side kept changing during the sync (\(user.changedRetries + 1) attempts)", now: now)
        case .failure(let message):
            fail(&user, message, now: now)
        case .held(let reason):
            user.held = true
            user.holdReason = reason
            user.lastError = reason
        case .noSuchUser:
            records[name] = nil
            return false
        }
        record.user = user
        records[name] = record
        schedule(name, now: now)
        return true
    }

    private func fail(_ user: inout ReplicationUser, _ message: String, now: Int64) {
        user.lastSyncFailed = true
        user.failureCount += 1
        user.lastFailure = now
        user.lastError = message
        user.changedRetries = 0
    }

    // MARK: Times

    /// When a user is due next and in which lane; nil while it runs or is held.
    func placement(_ user: ReplicationUser) -> (lane: Lane, time: Int64)? {
        if user.held { return nil }
        if user.priority != .none {
            let time = user.lastFastSync == 0 ? 3 - Int64(user.priority.rawValue) : user.lastUpdate - user.priority.aging
            return (user.forceFullSync ? .fullSyncs : .requests, time)
        }
        if user.lastSyncFailed { return (.requests, user.lastFailure + retryDelay(user)) }
        if user.forceFullSync { return (.fullSyncs, user.lastUpdate - ReplicationPriority.sync.aging) }
        if user.lastFullSync == 0 { return (.fullSyncs, 0) }
        return (.fullSyncs, nextFullSyncTime(user))
    }

    /// The user's next sync time (Unix seconds), nil while it runs or is held.
    public func nextSyncTime(_ name: String, now: Int64) -> Int64? {
        guard let record = records[name], record.running == nil else { return nil }
        return placement(record.user)?.time
    }

    /// Whether the user's next sync must be a full one.
    public func fullDue(_ name: String, now: Int64) -> Bool {
        guard let user = records[name]?.user else { return false }
        return user.forceFullSync || user.lastFullSync == 0 || nextFullSyncTime(user) <= now
    }

    /// The user's phase within the full-sync interval: a stable hash of its name, so that
    /// full syncs spread evenly and keep their time across restarts.
    func phase(_ name: String) -> Int64 {
        Int64(Self.hash(name) % UInt64(max(settings.fullSyncInterval, 1)))
    }

    /// The first time at the user's phase at least half an interval after its last full
    /// sync: one full sync per interval on average, each user at its own time of day.
    func nextFullSyncTime(_ user: ReplicationUser) -> Int64 {
        let interval = max(settings.fullSyncInterval, 1)
        let earliest = user.lastFullSync + interval / 2
        let offset = ((phase(user.name) - earliest % interval) % interval + interval) % interval
        return earliest + offset
    }

    /// The wait after the user's last failure: the retry interval doubled per further
    /// failure, capped, plus a reproducible jitter.
    func retryDelay(_ user: ReplicationUser) -> Int64 {
        let doublings = min(max(user.failureCount - 1, 0), 30)
        let base = min(settings.failureRetryCap, settings.failureRetryInterval << Int64(doublings))
        let fraction = Double(Self.hash(user.name + "#\(user.failureCount)") % 1000) / 1000
        return base + Int64(Double(base) * settings.failureRetryJitter * fraction)
    }

    /// FNV-1a 64 of the name: stable across runs and platforms (Swift's hash is seeded).
    static func hash(_ text: String) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value &*= 0x100_0000_01b3
        }
        return value
    }

    // MARK: Heaps

    private mutating func schedule(_ name: String, now: Int64) {
        guard var record = records[name] else { return }
        record.generation &+= 1
        records[name] = record
        guard record.running == nil, let (lane, time) = placement(record.user) else { return }
        let entry = Entry(time: time, name: name, generation: record.generation)
        switch lane {
        case .requests: requests.insert(entry)
        case .fullSyncs: fullSyncs.insert(entry)
        }
        compactIfNeeded()
    }

    /// The first valid entry of a lane, dropping stale ones.
    private mutating func head(_ lane: Lane) -> Entry? {
        while true {
            let entry = lane == .requests ? requests.min : fullSyncs.min
            guard let entry else { return nil }
            if let record = records[entry.name], record.generation == entry.generation, record.running == nil { return entry }
            if lane == .requests { requests.removeMin() } else { fullSyncs.removeMin() }
        }
    }

    private mutating func begin(_ name: String, full: Bool, now: Int64) -> SyncStart {
        var record = records[name]!
        record.running = full
        record.generation &+= 1
        record.user.lastFastSync = now
        record.user.priority = .none
        if full { record.user.forceFullSync = false }
        records[name] = record
        runningCount += 1
        if full { runningFullCount += 1 }
        return SyncStart(user: name, full: full)
    }

    private mutating func release(full: Bool) {
        runningCount -= 1
        if full { runningFullCount -= 1 }
    }

    /// Rebuilds the heaps when stale entries outnumber the users (many priority changes).
    private mutating func compactIfNeeded() {
        let total = requests.count + fullSyncs.count
        guard total > 1024, total > 2 * records.count else { return }
        var fresh: [Entry] = [], full: [Entry] = []
        for (name, record) in records where record.running == nil {
            guard let (lane, time) = placement(record.user) else { continue }
            let entry = Entry(time: time, name: name, generation: record.generation)
            if lane == .requests { fresh.append(entry) } else { full.append(entry) }
        }
        requests = Heap(fresh)
        fullSyncs = Heap(full)
    }
}
