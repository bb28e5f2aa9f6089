import Foundation

/// A user as the API shows it; `GET /v1/users/{user}` adds the agents' reports.
struct UserRepresentation: Encodable, Sendable {
    var id: Int64
    var name: String
    var tenant: String
    @EncodesNull var pair: String?
    var preferredHost: String
    var state: String
    var noreplicate: Bool
    var epoch: Int64
    var createdAt: Date
    var updatedAt: Date
    /// One report per host that reported; left out of lists.
    var status: [ReportRepresentation]?

    init(_ user: UserRecord, status: [UserStatusRecord]? = nil) {
        id = user.id.rawValue
        name = user.name.value
        tenant = user.tenant.value
        pair = user.pair?.value
        preferredHost = user.preferredHost.rawValue
        state = user.state.rawValue
        noreplicate = user.noreplicate
        epoch = user.epoch
        createdAt = user.createdAt
        updatedAt = user.updatedAt
        self.status = status?.map(ReportRepresentation.init)
    }
}

/// One host's last status report about a user.
struct ReportRepresentation: Encodable, Sendable {
    var host: String
    /// The queued priority; `null` when the user is not queued.
    @EncodesNull var priority: String?
    @EncodesNull var lastFastSync: Date?
    @EncodesNull var lastFullSync: Date?
    @EncodesNull var lastSuccessfulSync: Date?
    var failed: Bool
    var held: Bool
    @EncodesNull var lastError: String?
    var reportedAt: Date

    init(_ record: UserStatusRecord) {
        host = record.host.value
        priority = record.report.queuedPriority?.rawValue
        lastFastSync = record.report.lastFastSync
        lastFullSync = record.report.lastFullSync
        lastSuccessfulSync = record.report.lastSuccessfulSync
        failed = record.report.failed
        held = record.report.held
        lastError = record.report.lastError
        reportedAt = record.reportedAt
    }
}

/// Where a user's connections go now.
struct RouteRepresentation: Encodable, Sendable {
    var user: String
    var tenant: String
    var pair: String
    var epoch: Int64
    /// The host to use now: the preferred one unless it is down.
    var host: HostRepresentation
    var preferredHost: HostRepresentation
    var otherHost: HostRepresentation

    init(_ route: UserRoute) {
        user = route.user.value
        tenant = route.tenant.value
        pair = route.pair.value
        epoch = route.epoch
        host = HostRepresentation(route.currentHost)
        preferredHost = HostRepresentation(route.preferredHost)
        otherHost = HostRepresentation(route.otherHost)
    }
}

/// A move of a user between pairs.
struct MoveRepresentation: Encodable, Sendable {
    var id: Int64
    var user: String
    var from: String
    var to: String
    var phase: String
    var startedAt: Date
    var updatedAt: Date
    @EncodesNull var error: String?
    /// When the catch-up sync after the switch ran; null before (and for unfinished moves).
    @EncodesNull var caughtUpAt: Date?
    /// When the old pair's copy was purged; null until `purge-old`.
    @EncodesNull var purgedAt: Date?
    /// The leader's progress of the move, null when this coordinator does not run it.
    @EncodesNull var progress: MoveProgressRepresentation?

    init(_ move: MoveRecord, progress: MoveProgress? = nil) {
        self.progress = progress.map(MoveProgressRepresentation.init)
        caughtUpAt = move.caughtUpAt
        purgedAt = move.purgedAt
        id = move.id.rawValue
        user = move.user.value
        from = move.fromPair.value
        to = move.toPair.value
        phase = Self.phase(move.phase)
        startedAt = move.startedAt
        updatedAt = move.updatedAt
        error = move.error
    }

    /// The phase as the API spells it (`final_sync`, `rolled_back`).
    static func phase(_ phase: MovePhase) -> String {
        switch phase {
        case .created: "created"
        case .copying: "copying"
        case .finalSync: "final_sync"
        case .finished: "finished"
        case .rolledBack: "rolled_back"
        }
    }
}

/// `progress` of a move: `{"phase", "round", "syncs", "messages_copied", "bytes_copied",
/// "current_sync", "catch_up_pending", "last_error", "updated_at"}`.
struct MoveProgressRepresentation: Encodable, Sendable {
    var phase: String
    var round: Int
    var syncs: Int
    var messagesCopied: Int
    var bytesCopied: Int64
    @EncodesNull var currentSync: String?
    var catchUpPending: Bool
    @EncodesNull var lastError: String?
    var updatedAt: Date

    init(_ progress: MoveProgress) {
        phase = MoveRepresentation.phase(progress.phase)
        round = progress.round
        syncs = progress.syncs
        messagesCopied = progress.messagesCopied
        bytesCopied = progress.bytesCopied
        currentSync = progress.currentSync
        catchUpPending = progress.catchUpPending
        lastError = progress.lastError
        updatedAt = progress.updatedAt
    }
}
