import Replicator

/// The three tables of `duplex replicator`, as `doveadm replicator` prints them: pure
/// functions of the replicator's answer, the replicator's clock and the output width.
enum ReplicatorTables {
    /// `status`: Dovecot's seven counters, label and count, unchanged; then the stuck users
    /// when there are any (always with `verbose`), and with `verbose` the held users and the
    /// running syncs. The extra labels are no longer than Dovecot's, so the seven lines
    /// keep their layout.
    static func overview(_ statistics: ReplicatorStatistics, verbose: Bool, width: Int = DoveadmTable.defaultWidth) -> String {
        var lines = statistics.lines
        if verbose || statistics.stuck > 0 { lines.append(("Stuck users", statistics.stuck)) }
        if verbose {
            lines.append(("Held users (mass-loss guard)", statistics.held))
            lines.append(("Running syncs", statistics.running))
        }
        let table = DoveadmTable(
            columns: [.init(title: "field", hidesTitle: true), .init(title: "value", hidesTitle: true)], width: width)
        return table.render(lines.map { [$0.label, String($0.count)] })
    }

    /// `status MASK`: one row per user; a `stuck` column after doveadm's when a user is
    /// stuck (`running HH:MM:SS` or `failing HH:MM:SS`, how long; `-` for the others);
    /// `verbose` adds the last error (and lets the table be wider than `width`).
    ///
    /// - Parameter now: the replicator's clock (Unix seconds) the times are elapsed against.
    static func users(
        _ users: [ReplicatorAdminUserStatus], now: Int64, verbose: Bool, width: Int = DoveadmTable.defaultWidth
    ) -> String {
        var columns: [DoveadmTable.Column] = [.init(title: "username", expands: true)]
        for title in ["priority", "fast sync", "full sync", "success sync", "failed", "next sync secs"] {
            columns.append(.init(title: title))
        }
        let anyStuck = users.contains { $0.stuck != nil }
        if anyStuck { columns.append(.init(title: "stuck")) }
        if verbose { columns.append(.init(title: "last error")) }
        let rows = users.map { user in
            var row = [
                user.username, user.priority.description,
                elapsed(since: user.lastFastSync, now: now), elapsed(since: user.lastFullSync, now: now),
                elapsed(since: user.lastSuccessfulSync, now: now),
                user.held ? "held" : user.failed ? "y" : "-",
                user.held ? "-" : clock(user.nextSyncSeconds),
            ]
            if anyStuck { row.append(user.stuck.map { "\($0.reason.rawValue) \(elapsed(since: $0.since, now: now))" } ?? "-") }
            if verbose { row.append(user.lastError ?? "-") }
            return row
        }
        var table = DoveadmTable(columns: columns, width: width)
        // The stuck and error columns are not doveadm's: rather than let doveadm's shrinking
        // misalign a table they make too wide, the table grows past the width.
        if verbose || anyStuck { table.width = max(width, table.naturalWidth(rows)) }
        return table.render(rows)
    }

    /// `dsync-status`: one row per sync slot, the running syncs (by user) first, then the
    /// free slots as Dovecot shows an unconnected one. A sync running longer than the
    /// failure retry interval is marked `stuck` after its time.
    static func syncs(_ syncs: [SyncSlotStatus], slots: Int, width: Int = DoveadmTable.defaultWidth) -> String {
        var rows = syncs.map { [$0.username, $0.type, "Waiting for dsync to finish (\(clock($0.seconds))\($0.stuck ? ", stuck" : ""))"] }
        rows += repeatElement(["", "-", "Not connected"], count: max(0, slots - syncs.count))
        let columns: [DoveadmTable.Column] = [.init(title: "username", expands: true), .init(title: "type"), .init(title: "status")]
        return DoveadmTable(columns: columns, width: width).render(rows)
    }

    /// The time since `time` as doveadm shows it, `HH:MM:SS` (hours not wrapped); `-` for
    /// 0 (never).
    static func elapsed(since time: Int64, now: Int64) -> String {
        time == 0 ? "-" : clock(now - time)
    }

    /// Seconds as `HH:MM:SS`, hours not wrapped (`123:04:05`); negative counts as 0.
    static func clock(_ seconds: Int64) -> String {
        let seconds = max(0, seconds)
        func twoDigits(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(twoDigits(seconds / 3600)):\(twoDigits(seconds / 60 % 60)):\(twoDigits(seconds % 60))"
    }
}
