/// How urgently a user needs a sync, as Dovecot 2.3's replicator names it: `none` < `low` <
/// `high` < `sync` (reference: `replication-common.h`, values 0–3).
///
/// Deliveries come as `high`, other changes as `low`; `sync` is a caller waiting for the
/// result (`replication_sync_timeout`). `none` means no change is pending: the user is only
/// due for a retry after a failure or for its periodic full sync.
public enum ReplicationPriority: Int, Sendable, Codable, CaseIterable, Comparable, CustomStringConvertible {
    case none = 0
    case low = 1
    case high = 2
    case sync = 3

    /// The name Dovecot uses on its wire protocols and in `doveadm replicator status`.
    public var description: String {
        switch self {
        case .none: "none"
        case .low: "low"
        case .high: "high"
        case .sync: "sync"
        }
    }

    /// Parses `none`, `low`, `high` or `sync` (exactly, as Dovecot does); nil otherwise.
    public init?(name: some StringProtocol) {
        switch name {
        case "none": self = .none
        case "low": self = .low
        case "high": self = .high
        case "sync": self = .sync
        default: return nil
        }
    }

    /// How much older than its last update a pending request counts (Dovecot 2.3.20+:
    /// 15, 30, 45 minutes), so that a request waiting long enough overtakes a younger one
    /// of a higher priority and nothing starves.
    public var aging: Int64 {
        Int64(rawValue) * 900
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
