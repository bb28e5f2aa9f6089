import Foundation

/// What a demo run did and found: printed as a table for people, or with `--json` as one
/// JSON object (the keys below) for scripts and tests.
struct DemoSummary: Sendable, Codable {
    struct Pair: Sendable, Codable {
        var name: String
        var hosts: [String]
        var users: Int
    }

    struct Replicated: Sendable, Codable {
        /// Messages and bytes copied between hosts by all syncs.
        var messages = 0
        var bytes: Int64 = 0
        var syncs = 0
        var failedSyncs = 0
        /// Syncs run again because a side changed during them.
        var retriedSyncs = 0
    }

    struct Conflicts: Sendable, Codable {
        /// UIDs both hosts gave to different messages: both kept under fresh UIDs.
        var uid = 0
        /// Names two different mailboxes claimed: both kept, one renamed.
        var mailboxName = 0
    }

    struct Lag: Sendable, Codable {
        /// Changes whose lag was measured.
        var changes = 0
        var p50Seconds: Double?
        var p99Seconds: Double?
        var maxSeconds: Double?
    }

    /// `identical` when every user's mail is identical on both hosts of its pair, else
    /// `different`.
    var result: String
    var directory: String
    var coordinator: String
    var database: String
    var pairs: [Pair]
    /// Mail generated (or imported) before the fleet started.
    var generatedMessages = 0
    var generatedBytes: Int64 = 0
    var replicated = Replicated()
    var conflictsResolved = Conflicts()
    var lag = Lag()
    var activity = DemoActivity.Tally()
    /// Seconds per phase: fill, start, initialSync, activity, settle, verify; and in all.
    var phaseSeconds: [String: Double] = [:]
    var seconds = 0.0
    var users: [DemoVerifier.Report] = []

    /// The table people read.
    func text() -> String {
        var lines: [String] = []
        lines.append(
            Output.table(
                header: ["USER", "PAIR", "MAILBOXES", "MESSAGES", "SIZE", "RESULT"],
                rows: users.map {
                    [$0.user, $0.pair, "\($0.mailboxes)", "\($0.messages)", Self.size($0.bytes), $0.identical ? "identical" : "DIFFERENT"]
                }, rightAligned: [2, 3, 4]))
        for report in users where !report.identical {
            lines.append("\(report.user) (\(report.pair)):")
            lines += report.differences.map { "  \($0)" }
        }
        let identical = users.filter(\.identical).count
        let hosts = pairs.reduce(0) { $0 + $1.hosts.count }
        lines.append("")
        lines.append(
            result == "identical"
                ? "All \(users.count) users identical on both hosts of their pair (\(pairs.count) pairs, \(hosts) hosts) in \(Self.seconds(seconds))."
                : "\(users.count - identical) of \(users.count) users DIFFER between the hosts of their pair (see above).")
        let rows: [[String]] = [
            ["users", "\(users.count)"],
            ["mail before the run", "\(generatedMessages) messages, \(Self.size(generatedBytes))"],
            ["replicated", "\(replicated.messages) messages, \(Self.size(replicated.bytes)) in \(replicated.syncs) syncs"
                + " (\(replicated.failedSyncs) failed and retried, \(replicated.retriedSyncs) rerun after a change during the sync)"],
            ["conflicts resolved", "\(conflictsResolved.uid) UID, \(conflictsResolved.mailboxName) mailbox name"],
            ["replication lag", lag.changes == 0 ? "no changes measured"
                : "p50 \(DemoStatusBoard.lag(lag.p50Seconds)), p99 \(DemoStatusBoard.lag(lag.p99Seconds)), max \(DemoStatusBoard.lag(lag.maxSeconds)) over \(lag.changes) changes"],
            ["live activity", "\(activity.rounds) rounds: \(activity.deliveries) deliveries, \(activity.flagChanges) flag changes, "
                + "\(activity.expunges) expunges, mailboxes \(activity.mailboxesCreated) created / \(activity.mailboxesRenamed) renamed / "
                + "\(activity.mailboxesDeleted) deleted, \(activity.uidClashes) UID clashes"],
            ["phases", ["fill", "start", "initialSync", "activity", "settle", "verify"].compactMap { name in
                phaseSeconds[name].map { "\(name) \(Self.seconds($0))" }
            }.joined(separator: ", ")],
        ]
        lines += rows.map { "  " + $0[0].padding(toLength: 20, withPad: " ", startingAt: 0) + $0[1] }
        return lines.joined(separator: "\n") + "\n"
    }

    static func size(_ bytes: Int64) -> String {
        if bytes >= 1_048_576 { return String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        if bytes >= 1024 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        return "\(bytes) B"
    }

    static func seconds(_ value: Double) -> String { String(format: "%.1f s", value) }
}
