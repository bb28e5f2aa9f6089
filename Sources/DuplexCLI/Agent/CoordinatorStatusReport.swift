import Foundation
import Replicator

/// One user's replication status as the agent pushes it (`POST /v1/pairs/{pair}/status`,
/// docs/coordinator-api.md): the user's id, the priority it is queued at (nil: not
/// queued), its last syncs, whether the last one failed, whether it is held, the last
/// error, and whether its periodic full sync is due. Times are whole seconds.
struct CoordinatorStatusReport: Sendable, Hashable, Encodable {
    var userID: Int64
    var priority: String?
    var lastFastSync: Date?
    var lastFullSync: Date?
    var lastSuccessfulSync: Date?
    var failed = false
    var held = false
    var lastError: String?
    /// Not queued, not held, not running, the last sync did not fail, and the next sync time
    /// has come: the periodic full sync waits for a free slot (Dovecot's replicator counts
    /// these users as "Queued 'full resync' requests").
    var fullSyncDue = false

    /// The longest error sent, in UTF-8 bytes (what the coordinator keeps).
    static let maximumErrorLength = 1024

    /// A report of `status` (the replicator's row of the user) for user `id`; a user the
    /// replicator does not know (nil) is reported as not queued and never synced.
    init(userID: Int64, status: ReplicationUserStatus?) {
        self.userID = userID
        guard let status else { return }
        priority = status.priority.description
        lastFastSync = Self.time(status.lastFastSync)
        lastFullSync = Self.time(status.lastFullSync)
        lastSuccessfulSync = Self.time(status.lastSuccessfulSync)
        failed = status.failed
        held = status.held
        lastError = status.lastError.map(Self.cut)
        fullSyncDue = status.priority == .none && !status.held && !status.running && !status.failed && status.nextSyncSeconds == 0
    }

    /// Unix seconds as a time; 0 (never) as nil.
    private static func time(_ seconds: Int64) -> Date? {
        seconds > 0 ? Date(timeIntervalSince1970: TimeInterval(seconds)) : nil
    }

    /// `text` cut to ``maximumErrorLength`` bytes on a character boundary.
    private static func cut(_ text: String) -> String {
        guard text.utf8.count > maximumErrorLength else { return text }
        var cut = ""
        for character in text {
            guard cut.utf8.count + character.utf8.count <= maximumErrorLength else { break }
            cut.append(character)
        }
        return cut
    }

    private enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case priority
        case lastFastSync = "last_fast_sync"
        case lastFullSync = "last_full_sync"
        case lastSuccessfulSync = "last_successful_sync"
        case failed, held
        case lastError = "last_error"
        case fullSyncDue = "full_sync_due"
    }
}

/// Which status reports the agent pushes: those of users whose status changed since they
/// were last pushed, and every listed user's every ``fullEvery`` pushes (so a coordinator
/// that lost reports, or a user the coordinator ignored, is set right), in bodies the API
/// takes.
struct CoordinatorStatusReporter: Sendable {
    /// The most reports in one body (the API's limit).
    static let maximumReports = 10_000
    /// The largest body, in bytes: the API takes 1 MiB; room is left for the envelope.
    static let maximumBodySize = 1_000_000

    /// Every this many pushes, all users are pushed.
    let fullEvery: Int64
    /// What was last pushed (and accepted) per user id.
    private var pushed: [Int64: CoordinatorStatusReport] = [:]
    /// Pushes made; the first one is full.
    private var pushes: Int64 = 0

    init(fullEvery: Int64) {
        self.fullEvery = max(fullEvery, 1)
    }

    /// The reports to push now for the `noreplicate`-free users of `list`, given the
    /// replicator's rows by user name; forgets users that left the list.
    ///
    /// - Returns: the reports by user id, and whether this is a full push.
    mutating func reports(
        for list: CoordinatorUserList, statuses: [String: ReplicationUserStatus]
    ) -> (reports: [CoordinatorStatusReport], full: Bool) {
        let full = pushes % fullEvery == 0
        pushes += 1
        var reports: [CoordinatorStatusReport] = []
        for (id, entry) in list.users where !entry.noReplicate {
            let report = CoordinatorStatusReport(userID: id, status: statuses[entry.name])
            if full || pushed[id] != report { reports.append(report) }
        }
        pushed = pushed.filter { list.users[$0.key].map { !$0.noReplicate } ?? false }
        return (reports.sorted { $0.userID < $1.userID }, full)
    }

    /// Records that `reports` were accepted: they are not pushed again until they change.
    mutating func accepted(_ reports: some Sequence<CoordinatorStatusReport>) {
        for report in reports { pushed[report.userID] = report }
    }

    /// `{"host": host, "reports": [...]}` bodies holding every report once, each at most
    /// ``maximumReports`` reports and ``maximumBodySize`` bytes, with the reports each carries.
    static func bodies(
        host: String, reports: [CoordinatorStatusReport]
    ) throws -> [(body: [UInt8], reports: ArraySlice<CoordinatorStatusReport>)] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let prefix = Array(try encoder.encode(["host": host]).dropLast()) + Array(#","reports":["#.utf8)
        var bodies: [(body: [UInt8], reports: ArraySlice<CoordinatorStatusReport>)] = []
        var body = prefix
        var start = 0
        for (index, report) in reports.enumerated() {
            let item = Array(try encoder.encode(report))
            let count = index - start
            if count > 0, count == maximumReports || body.count + 1 + item.count + 2 > maximumBodySize {
                bodies.append((body + Array("]}".utf8), reports[start..<index]))
                body = prefix
                start = index
            }
            if index > start { body.append(UInt8(ascii: ",")) }
            body += item
        }
        if start < reports.count { bodies.append((body + Array("]}".utf8), reports[start...])) }
        return bodies
    }
}
