import Foundation

/// A replication priority, as Dovecot's replicator orders them: `none < low < high < sync`.
public enum SyncPriority: String, Hashable, Sendable, CaseIterable, Codable, Comparable {
    case none
    case low
    case high
    case sync

    /// 0 for `none` up to 3 for `sync`.
    public var rank: Int {
        switch self {
        case .none: 0
        case .low: 1
        case .high: 2
        case .sync: 3
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// One user's replication status as one host's agent reports it.
///
/// Agents send these in batches (``CoordinatorStore/recordStatus(_:pair:host:)``); the store
/// keeps the last report per user and host.
public struct UserStatusReport: Hashable, Sendable {
    public var userID: UserID
    /// The priority the user is queued at; `nil` when it is not queued.
    public var queuedPriority: SyncPriority?
    public var lastFastSync: Date?
    public var lastFullSync: Date?
    public var lastSuccessfulSync: Date?
    /// Whether the last sync failed.
    public var failed: Bool
    /// Whether the user is held (a mass disappearance waits for an operator).
    public var held: Bool
    /// The last error, at most 1024 bytes (longer text is cut).
    public var lastError: String?
    /// Whether the user's periodic full sync is due and not started yet (not queued, not
    /// held, not running, not failed), as Dovecot's replicator counts "full resync" requests.
    public var fullSyncDue: Bool

    public init(
        userID: UserID, queuedPriority: SyncPriority? = nil, lastFastSync: Date? = nil, lastFullSync: Date? = nil,
        lastSuccessfulSync: Date? = nil, failed: Bool = false, held: Bool = false, lastError: String? = nil,
        fullSyncDue: Bool = false
    ) {
        self.fullSyncDue = fullSyncDue
        self.userID = userID
        self.queuedPriority = queuedPriority
        self.lastFastSync = lastFastSync
        self.lastFullSync = lastFullSync
        self.lastSuccessfulSync = lastSuccessfulSync
        self.failed = failed
        self.held = held
        self.lastError = lastError
    }

    /// The longest ``lastError`` kept, in UTF-8 bytes.
    public static let maximumErrorLength = 1024
}

/// A stored status report: whose, from which host, and when.
public struct UserStatusRecord: Hashable, Sendable {
    public var user: CoordinatorName
    public var pair: CoordinatorName
    public var host: CoordinatorName
    public var report: UserStatusReport
    public var reportedAt: Date

    public init(user: CoordinatorName, pair: CoordinatorName, host: CoordinatorName, report: UserStatusReport, reportedAt: Date) {
        self.user = user
        self.pair = pair
        self.host = host
        self.report = report
        self.reportedAt = reportedAt
    }
}

/// What ``CoordinatorStore/recordStatus(_:pair:host:)`` did with a batch.
public struct StatusBatchResult: Hashable, Sendable {
    /// Reports stored.
    public var accepted: Int
    /// Reports about users not (or no longer) on the reporting pair: ignored.
    public var ignored: [UserID]

    public init(accepted: Int, ignored: [UserID]) {
        self.accepted = accepted
        self.ignored = ignored
    }
}

/// One pair at a glance, for `duplex status`.
///
/// Counts come from the users assigned to the pair (optionally one tenant's) and the latest
/// report of each of its hosts' agents.
public struct PairSummary: Hashable, Sendable {
    public var pairID: PairID
    public var pair: CoordinatorName
    public var state: PairState
    public var hostA: PairHost
    public var hostB: PairHost
    public var capacity: Int
    /// Users assigned (not removed).
    public var users: Int
    /// Users queued, per priority, over both hosts' reports.
    public var queued: [SyncPriority: Int]
    /// Users whose last sync failed on either host.
    public var failed: Int
    /// Users held on either host.
    public var held: Int
    /// Users whose periodic full sync is due and not started, on either host.
    public var fullResyncsDue: Int
    /// The oldest last successful sync over the pair's reported users; `nil` when none reported one.
    public var oldestSuccessfulSync: Date?

    public init(
        pairID: PairID, pair: CoordinatorName, state: PairState, hostA: PairHost, hostB: PairHost, capacity: Int,
        users: Int, queued: [SyncPriority: Int], failed: Int, held: Int, fullResyncsDue: Int = 0, oldestSuccessfulSync: Date?
    ) {
        self.fullResyncsDue = fullResyncsDue
        self.pairID = pairID
        self.pair = pair
        self.state = state
        self.hostA = hostA
        self.hostB = hostB
        self.capacity = capacity
        self.users = users
        self.queued = queued
        self.failed = failed
        self.held = held
        self.oldestSuccessfulSync = oldestSuccessfulSync
    }
}
