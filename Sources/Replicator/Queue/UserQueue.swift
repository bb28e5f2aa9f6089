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

    /// A user's place in a lane: 16 bytes, no reference to count. Equal times go by slot.
    struct Entry: Comparable, Sendable {
        var time: Int64
        var slot: Int32
        var generation: UInt32

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            lhs.time != rhs.time ? lhs.time < rhs.time : lhs.slot < rhs.slot
        }
    }

    enum Lane { case requests, fullSyncs }

    private(set) var records = Records()
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
    public func user(_ name: String) -> ReplicationUser? { records.slot(of: name).map(records.user(at:)) }

    /// Whether the user's sync is running now, and whether it is a full one.
    public func running(_ name: String) -> Bool? { records.slot(of: name).flatMap { records[$0].running } }

    /// All users, in no particular order.
    public var users: some Sequence<ReplicationUser> { records.usedSlots.lazy.map(records.user(at:)) }

    /// Makes a user known (priority none) if it is not; returns whether it was new.
    @discardableResult
    public mutating func add(_ name: String, now: Int64) -> Bool {
        guard records.slot(of: name) == nil else { return false }
        var user = ReplicationUser(name: name)
        user.lastUpdate = now
        schedule(records.insert(user), now: now)
        return true
    }

    /// Puts back a user as it was saved (state file): its place follows from its record.
    /// A user already known keeps the newer of the two (by last update).
    public mutating func restore(_ user: ReplicationUser, now: Int64) {
        var user = user
        if user.lastSyncFailed && user.failingSince == 0 { user.failingSince = user.lastFailure }
        guard let slot = records.slot(of: user.name) else {
            schedule(records.insert(user), now: now)
            return
        }
        if records[slot].lastUpdate > user.lastUpdate { return }
        records.update(slot, with: user)
        schedule(slot, now: now)
    }

    /// Forgets a user; returns whether it was known. A sync running for it finishes
    /// without putting it back.
    @discardableResult
    public mutating func remove(_ name: String) -> Bool {
        guard let slot = records.slot(of: name) else { return false }
        if let full = records[slot].running { release(full: full) }
        records.remove(slot)
        return true
    }

    /// A change for the user (notification, `replicate`): raises its priority (never
    /// lowers it), makes it known if needed, and with `forceFull` makes its next sync a
    /// full one. A change during a running sync makes exactly one more sync follow.
    public mutating func notify(_ name: String, priority: ReplicationPriority, forceFull: Bool = false, now: Int64) {
        let slot = records.slot(of: name) ?? records.insert(ReplicationUser(name: name))
        if priority > records[slot].priority {
            records[slot].priority = priority
            records[slot].lastUpdate = now
        } else if records[slot].lastUpdate == 0 {
            records[slot].lastUpdate = now
        }
        if forceFull { records[slot].flags.insert(.forceFull) }
        schedule(slot, now: now)
    }

    /// Lets a user held by the mass-loss guard sync again (the next sync is a full one).
    /// Returns whether it was held.
    @discardableResult
    public mutating func releaseHold(_ name: String, now: Int64) -> Bool {
        guard let slot = records.slot(of: name), records[slot].flags.contains(.held) else { return false }
        var user = records.user(at: slot)
        user.held = false
        user.holdReason = nil
        user.forceFullSync = true
        user.lastUpdate = now
        if user.priority == .none { user.priority = .low }
        records.update(slot, with: user)
        schedule(slot, now: now)
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
                let full = fullDue(records[entry.slot], now: now) && runningFullCount < settings.maxFullSyncs
                starts.append(begin(entry.slot, full: full, now: now))
            } else if runningFullCount < settings.maxFullSyncs, let entry = head(.fullSyncs), entry.time <= now {
                fullSyncs.removeMin()
                starts.append(begin(entry.slot, full: true, now: now))
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
        guard let slot = records.slot(of: name), let full = records[slot].running else { return false }
        records[slot].running = nil
        release(full: full)
        if case .success = outcome, !records[slot].flags.contains(.hasTexts) {
            // The common case, without building the whole record.
            records[slot].lastSuccessfulSync = records[slot].lastFastSync
            if full { records[slot].lastFullSync = records[slot].lastFastSync }
            records[slot].flags.remove(.failed)
            records[slot].failureCount = 0
            records[slot].failingSince = 0
            records[slot].changedRetries = 0
            schedule(slot, now: now)
            return true
        }
        var user = records.user(at: slot)
        switch outcome {
        case .success:
            user.lastSuccessfulSync = user.lastFastSync
            if full { user.lastFullSync = user.lastFastSync }
            user.lastSyncFailed = false
            user.failureCount = 0
            user.failingSince = 0
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
            records.remove(slot)
            return false
        }
        records.update(slot, with: user)
        schedule(slot, now: now)
        return true
    }

    private func fail(_ user: inout ReplicationUser, _ message: String, now: Int64) {
        if !user.lastSyncFailed || user.failingSince == 0 { user.failingSince = now }
        user.lastSyncFailed = true
        user.failureCount += 1
        user.lastFailure = now
        user.lastError = message
        user.changedRetries = 0
    }

    // MARK: Times

    /// When a user is due next and in which lane; nil while it runs or is held.
    func placement(_ record: Records.Record) -> (lane: Lane, time: Int64)? {
        if record.flags.contains(.held) { return nil }
        let forceFull = record.flags.contains(.forceFull)
        if record.priority != .none {
            let time = record.lastFastSync == 0 ? 3 - Int64(record.priority.rawValue) : record.lastUpdate - record.priority.aging
            return (forceFull ? .fullSyncs : .requests, time)
        }
        if record.flags.contains(.failed) {
            return (.requests, record.lastFailure + retryDelay(name: record.name, failureCount: Int(record.failureCount)))
        }
        if forceFull { return (.fullSyncs, record.lastUpdate - ReplicationPriority.sync.aging) }
        if record.lastFullSync == 0 { return (.fullSyncs, 0) }
        return (.fullSyncs, nextFullSyncTime(name: record.name, lastFullSync: record.lastFullSync))
    }

    /// The user's next sync time (Unix seconds), nil while it runs or is held.
    public func nextSyncTime(_ name: String, now: Int64) -> Int64? {
        guard let slot = records.slot(of: name), records[slot].running == nil else { return nil }
        return placement(records[slot])?.time
    }

    /// Whether the user's next sync must be a full one.
    public func fullDue(_ name: String, now: Int64) -> Bool {
        guard let slot = records.slot(of: name) else { return false }
        return fullDue(records[slot], now: now)
    }

    func fullDue(_ record: Records.Record, now: Int64) -> Bool {
        record.flags.contains(.forceFull) || record.lastFullSync == 0
            || nextFullSyncTime(name: record.name, lastFullSync: record.lastFullSync) <= now
    }

    /// The user's phase within the full-sync interval: a stable hash of its name, so that
    /// full syncs spread evenly and keep their time across restarts.
    func phase(_ name: String) -> Int64 {
        Int64(Self.hash(name) % UInt64(max(settings.fullSyncInterval, 1)))
    }

    /// The first time at the user's phase at least half an interval after its last full
    /// sync: one full sync per interval on average, each user at its own time of day.
    func nextFullSyncTime(_ user: ReplicationUser) -> Int64 {
        nextFullSyncTime(name: user.name, lastFullSync: user.lastFullSync)
    }

    func nextFullSyncTime(name: String, lastFullSync: Int64) -> Int64 {
        let interval = max(settings.fullSyncInterval, 1)
        let earliest = lastFullSync + interval / 2
        let offset = ((phase(name) - earliest % interval) % interval + interval) % interval
        return earliest + offset
    }

    /// The wait after the user's last failure: the retry interval doubled per further
    /// failure, capped, plus a reproducible jitter.
    func retryDelay(name: String, failureCount: Int) -> Int64 {
        let doublings = min(max(failureCount - 1, 0), 30)
        let base = min(settings.failureRetryCap, settings.failureRetryInterval << Int64(doublings))
        let fraction = Double(Self.hash(name + "#\(failureCount)") % 1000) / 1000
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

    private mutating func schedule(_ slot: Int32, now: Int64) {
        records[slot].generation &+= 1
        let record = records[slot]
        guard record.running == nil, let (lane, time) = placement(record) else { return }
        let entry = Entry(time: time, slot: slot, generation: record.generation)
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
            let record = records[entry.slot]
            if record.generation == entry.generation, !record.flags.contains(.free), record.running == nil { return entry }
            if lane == .requests { requests.removeMin() } else { fullSyncs.removeMin() }
        }
    }

    private mutating func begin(_ slot: Int32, full: Bool, now: Int64) -> SyncStart {
        records[slot].running = full
        records[slot].generation &+= 1
        records[slot].lastFastSync = now
        records[slot].priority = .none
        if full { records[slot].flags.remove(.forceFull) }
        runningCount += 1
        if full { runningFullCount += 1 }
        return SyncStart(user: records[slot].name, full: full)
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
        for slot in records.usedSlots where records[slot].running == nil {
            guard let (lane, time) = placement(records[slot]) else { continue }
            let entry = Entry(time: time, slot: slot, generation: records[slot].generation)
            if lane == .requests { fresh.append(entry) } else { full.append(entry) }
        }
        requests = Heap(fresh)
        fullSyncs = Heap(full)
    }
}
