import Foundation

/// Users queued per priority.
struct QueuedRepresentation: Encodable, Sendable {
    var sync: Int
    var high: Int
    var low: Int

    init(_ queued: [SyncPriority: Int]) {
        sync = queued[.sync] ?? 0
        high = queued[.high] ?? 0
        low = queued[.low] ?? 0
    }

    init(sync: Int, high: Int, low: Int) {
        self.sync = sync
        self.high = high
        self.low = low
    }
}

/// One pair at a glance.
struct SummaryRepresentation: Encodable, Sendable {
    var pair: String
    var state: String
    var hostA: HostRepresentation
    var hostB: HostRepresentation
    var capacity: Int
    var users: Int
    var queued: QueuedRepresentation
    var failed: Int
    var held: Int
    var fullResyncsDue: Int
    @EncodesNull var oldestSuccessfulSync: Date?

    init(_ summary: PairSummary) {
        fullResyncsDue = summary.fullResyncsDue
        pair = summary.pair.value
        state = summary.state.rawValue
        hostA = HostRepresentation(summary.hostA)
        hostB = HostRepresentation(summary.hostB)
        capacity = summary.capacity
        users = summary.users
        queued = QueuedRepresentation(summary.queued)
        failed = summary.failed
        held = summary.held
        oldestSuccessfulSync = summary.oldestSuccessfulSync
    }
}

/// The sums over the listed pairs.
struct TotalsRepresentation: Encodable, Sendable {
    var pairs: Int
    var capacity: Int
    var users: Int
    var queued: QueuedRepresentation
    var failed: Int
    var held: Int
    var fullResyncsDue: Int
    @EncodesNull var oldestSuccessfulSync: Date?

    init(_ summaries: [PairSummary]) {
        fullResyncsDue = summaries.reduce(0) { $0 + $1.fullResyncsDue }
        pairs = summaries.count
        capacity = summaries.reduce(0) { $0 + $1.capacity }
        users = summaries.reduce(0) { $0 + $1.users }
        queued = QueuedRepresentation(
            sync: summaries.reduce(0) { $0 + ($1.queued[.sync] ?? 0) },
            high: summaries.reduce(0) { $0 + ($1.queued[.high] ?? 0) },
            low: summaries.reduce(0) { $0 + ($1.queued[.low] ?? 0) })
        failed = summaries.reduce(0) { $0 + $1.failed }
        held = summaries.reduce(0) { $0 + $1.held }
        oldestSuccessfulSync = summaries.compactMap(\.oldestSuccessfulSync).min()
    }
}

/// A user whose last sync failed on a host, with the error.
struct FailedUserRepresentation: Encodable, Sendable {
    var user: String
    var pair: String
    var host: String
    @EncodesNull var error: String?
    /// When the host reported the failure.
    var since: Date

    init(_ record: UserStatusRecord) {
        user = record.user.value
        pair = record.pair.value
        host = record.host.value
        error = record.report.lastError
        since = record.reportedAt
    }
}

/// `GET /v1/status`.
struct StatusRepresentation: Encodable, Sendable {
    var pairs: [SummaryRepresentation]
    var totals: TotalsRepresentation
    var failedUsers: [FailedUserRepresentation]
}
