/// Dovecot 2.3's `replicator.db` (reference §3.5), read once when moving from Dovecot's
/// replicator so that every user keeps its sync history (and its full syncs stay spread).
///
/// One line per user, no header, fields separated by TAB, the user name escaped as Dovecot
/// does on its internal protocols (0x01 followed by `1`, `t`, `r`, `n` or `0` for 0x01,
/// TAB, CR, LF, NUL):
///
/// ```
/// <user> <priority 0-3> <last_update> <last_fast_sync> <last_full_sync> <failed 0|1> <state> [<last_successful_sync>]
/// ```
///
/// The dsync state (field 7) is not kept: Duplex's engines keep their own. A failed user
/// gets one failure at its last fast sync, so it is retried after the first back-off, as
/// Dovecot would. Unlike Dovecot, which stops at the first bad line, every good line is
/// kept and every bad one reported.
public enum DovecotReplicatorDatabase {
    /// Dovecot 2.3's file name in its state directory.
    public static let fileName = "replicator.db"

    /// Reads Dovecot's `replicator.db` at `path`.
    ///
    /// A pending request's `last_update` is clamped to no later than `now` (a file from a
    /// clock ahead would hold it back) and to no earlier than the priority's aging (15, 30,
    /// 45 minutes), where Dovecot's own ordering would fail its assertion (reference §3.5).
    ///
    /// - Parameter now: the current time, Unix seconds.
    /// - Returns: nil when the file does not exist.
    /// - Throws: ``ReplicatorStateError`` (`unreadable`) only when the file cannot be
    ///   opened or read.
    public static func read(at path: String, now: Int64) throws -> ReplicatorStateContents? {
        try StateFileReading.read(path: path) { fields, _, _ throws(StateLineRejection) in
            try user(fields, now: now)
        }
    }

    private static func user(_ fields: StateLineFields, now: Int64) throws(StateLineRejection) -> ReplicationUser {
        guard fields.count >= 7 else {
            throw StateLineRejection("expected 7 or 8 tab-separated fields, found \(fields.count)")
        }
        let name = try fields.text(0, "user", escape: 0x01) { byte in
            switch byte {
            case UInt8(ascii: "0"): 0x00
            case UInt8(ascii: "1"): 0x01
            case UInt8(ascii: "t"): 0x09
            case UInt8(ascii: "r"): 0x0d
            case UInt8(ascii: "n"): 0x0a
            default: byte  // as Dovecot's str_tabunescape
            }
        }
        guard !name.isEmpty else { throw StateLineRejection("field 1 (user): empty") }
        let rawPriority = try fields.number(1, "priority")
        guard let priority = Int(exactly: rawPriority).flatMap(ReplicationPriority.init(rawValue:)) else {
            throw fields.rejection(1, "priority", "not 0, 1, 2 or 3")
        }
        var user = ReplicationUser(name: name)
        user.priority = priority
        user.lastUpdate = try fields.number(2, "last_update")
        user.lastFastSync = try fields.number(3, "last_fast_sync")
        user.lastFullSync = try fields.number(4, "last_full_sync")
        user.lastSyncFailed = try fields.flag(5, "failed")
        if fields.count >= 8 { user.lastSuccessfulSync = try fields.number(7, "last_successful_sync") }
        if user.lastSyncFailed {
            user.failureCount = 1
            user.lastFailure = user.lastFastSync
        }
        if priority != .none {
            user.lastUpdate = max(min(user.lastUpdate, now), priority.aging)
        }
        return user
    }
}
