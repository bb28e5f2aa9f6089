import ArgumentParser
import Coordinator
import Foundation
import Replicator

/// `duplex status [--tenant T] [--json]`: the fleet at a glance; `duplex status --pair P
/// [MASK]`: one pair's users as its replicator shows them.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the fleet at a glance, or one pair's users.",
        discussion: """
            Without --pair: one row per pair (its hosts and their health, users, users \
            queued at sync, high and low priority, users whose periodic full sync is due \
            (FULL DUE, Dovecot's queued "full resync" requests), failed and held users, and the lag: how \
            long ago the pair's least recently synced user last synced successfully), a total \
            row, then the users whose last sync failed, with the error. --tenant limits it \
            to one tenant's users (a tenant token must name its own tenant or none).

            With --pair P [MASK] (default '*'; quote it): for each host of P, a table of \
            P's users matching MASK as `duplex replicator status MASK` prints it on that \
            host, from the reports the agents sent to the coordinator. The coordinator does \
            not know when a user's next sync is due: "next sync secs" shows 00:00:00.

            \(CoordinatorCommandHelp.discussion)
            """
    )

    @Option(help: ArgumentHelp("Only this tenant's users.", valueName: "T"))
    var tenant: String?

    @Option(help: ArgumentHelp("Show this pair's users, per host, as its replicator does.", valueName: "P"))
    var pair: String?

    @Argument(help: "With --pair: the users to show, with * and ? wildcards (default '*').")
    var mask: String?

    @Flag(help: "With --pair: add each user's last error.")
    var verbose = false

    @OptionGroup var options: CoordinatorOptions

    func validate() throws {
        if let tenant { try CoordinatorOptions.checkName(tenant, .tenant, option: "--tenant") }
        if let pair { try CoordinatorOptions.checkName(pair, .pair, option: "--pair") }
        if let mask {
            guard pair != nil else { throw ValidationError("a MASK needs --pair P: the per-user table is one pair's") }
            try UserListCommand.checkMask(mask)
        }
        if verbose && pair == nil { throw ValidationError("--verbose applies to --pair only") }
    }

    func run() async throws {
        if let pair { return try await runPair(pair) }
        var query: [(name: String, value: String)] = []
        if let tenant { query.append(("tenant", tenant)) }
        try await options.show(
            CoordinatorRequest(.get, ["v1", "status"], query: query), as: APIStatus.self
        ) { Self.render($0, now: $1) }
    }

    private func runPair(_ pair: String) async throws {
        let client = try options.makeClient()
        let (pairRecord, pairResponse) = try await options.send(
            CoordinatorRequest(.get, ["v1", "pairs", pair]), as: APIPair.self, client: client)
        let listed = try await UserCommand.fetchUsers(options, tenant: tenant, pair: pair, mask: mask ?? "*", all: true)
        var users: [APIUser] = []
        var objects: [Any] = []
        var now = pairResponse.date ?? Date()
        for listedUser in listed.users {
            let (user, response) = try await options.send(
                CoordinatorRequest(.get, ["v1", "users", listedUser.name]), as: APIUser.self, client: client)
            users.append(user)
            objects.append(try JSONSerialization.jsonObject(with: Data(response.body)))
            if let date = response.date { now = date }
        }
        if options.json {
            let pairObject = try JSONSerialization.jsonObject(with: Data(pairResponse.body))
            return Output.write(try CoordinatorJSON.pretty(["pair": pairObject, "users": objects]))
        }
        Output.write(Self.render(pair: pairRecord, users: users, now: now, verbose: verbose, width: ReplicatorSocketOptions.tableWidth))
    }

    /// The fleet table, a total row, and the failed users; lags against `now` (the coordinator's clock).
    static func render(_ status: APIStatus, now: Date) -> String {
        func lag(_ summary: APIPairSummary) -> String {
            guard let oldest = summary.oldestSuccessfulSync else { return summary.users == 0 ? "-" : "never" }
            return CoordinatorDisplay.ago(oldest, now: now)
        }
        var rows = status.pairs.map { summary in
            [summary.pair, summary.state, CoordinatorDisplay.host(summary.hostA), CoordinatorDisplay.host(summary.hostB),
             String(summary.users), String(summary.capacity), String(summary.queued.sync), String(summary.queued.high),
             String(summary.queued.low), String(summary.fullResyncsDue ?? 0), String(summary.failed), String(summary.held),
             lag(summary)]
        }
        func total(_ value: (APIPairSummary) -> Int) -> String { String(status.pairs.reduce(0) { $0 + value($1) }) }
        // The fleet's lag is its worst pair's: the oldest successful sync of all.
        let oldest = status.pairs.compactMap { $0.oldestSuccessfulSync.flatMap(CoordinatorJSON.parseTime) }.min()
        let neverSynced = status.pairs.contains { $0.oldestSuccessfulSync == nil && $0.users > 0 }
        let totalLag = neverSynced ? "never" : oldest.map { CoordinatorJSON.lag(seconds: Int64(now.timeIntervalSince($0).rounded(.down))) } ?? "-"
        rows.append([
            "total", "", "", "", total(\.users), total(\.capacity), total(\.queued.sync), total(\.queued.high),
            total(\.queued.low), total { $0.fullResyncsDue ?? 0 }, total(\.failed), total(\.held), totalLag,
        ])
        var out = CoordinatorDisplay.table(
            header: ["PAIR", "STATE", "HOST A", "HOST B", "USERS", "CAPACITY", "SYNC", "HIGH", "LOW", "FULL DUE", "FAILED", "HELD", "LAG"],
            rows: rows, rightAligned: Set(4...12))
        if !status.failedUsers.isEmpty {
            out += "\nusers whose last sync failed:\n"
            out += CoordinatorDisplay.table(
                header: ["USER", "PAIR", "HOST", "SINCE", "ERROR"],
                rows: status.failedUsers.map {
                    [$0.user, $0.pair, $0.host, $0.since.map { CoordinatorDisplay.ago($0, now: now) } ?? "-", $0.error ?? "-"]
                })
        }
        return out
    }

    /// For each host of `pair`, a `host NAME (side, health):` line and the users as
    /// `duplex replicator status MASK` prints them there (the same formatter).
    static func render(pair: APIPair, users: [APIUser], now: Date, verbose: Bool, width: Int) -> String {
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        var out = ""
        for (side, host) in [("a", pair.hostA), ("b", pair.hostB)] {
            if !out.isEmpty { out += "\n" }
            out += CoordinatorDisplay.printable("host \(host.name) (\(side), \(host.health ?? "unknown")):") + "\n"
            let rows = users.map { user in
                replicatorStatus(user, report: user.status?.first { $0.host == host.name })
            }
            out += ReplicatorTables.users(rows, now: nowSeconds, verbose: verbose, width: width)
        }
        return out
    }

    /// A user's report from one host in the replicator's own shape; a host that sent none
    /// shows the user as never synced.
    static func replicatorStatus(_ user: APIUser, report: APIReport?) -> ReplicatorAdminUserStatus {
        func seconds(_ time: String?) -> Int64 {
            time.flatMap(CoordinatorJSON.parseTime).map { Int64($0.timeIntervalSince1970.rounded(.down)) } ?? 0
        }
        guard let report else { return ReplicatorAdminUserStatus(username: user.name) }
        return ReplicatorAdminUserStatus(
            username: user.name, priority: report.priority.flatMap { ReplicationPriority(name: $0) } ?? .none,
            lastFastSync: seconds(report.lastFastSync), lastFullSync: seconds(report.lastFullSync),
            lastSuccessfulSync: seconds(report.lastSuccessfulSync), failed: report.failed, lastError: report.lastError,
            held: report.held)
    }
}
