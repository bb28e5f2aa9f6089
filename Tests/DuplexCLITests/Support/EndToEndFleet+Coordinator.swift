import Foundation
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

extension EndToEndFleet {
    // MARK: Administration through the CLI

    /// `duplex tenant add` and `duplex pair add`: the tenant, and the pair with its hosts'
    /// dsync endpoints on `portA` and `portB`. No agent has spoken yet, so the coordinator
    /// knows nothing of the hosts' health (`unknown`); only heartbeats make it `up`.
    func registerPair(portA: Int, portB: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await coordinatorCommand(["tenant", "add", Self.tenant], sourceLocation: sourceLocation)
        let added = try await coordinatorAnswer(
            APIPair.self,
            [
                "pair", "add", Self.pair, "--host-a", "\(Self.hostNames.a)=tls://127.0.0.1:\(portA)",
                "--host-b", "\(Self.hostNames.b)=tls://127.0.0.1:\(portB)", "--capacity", "10",
            ],
            sourceLocation: sourceLocation)
        #expect(added.hostA.name == Self.hostNames.a && added.hostB.name == Self.hostNames.b, "\(added)", sourceLocation: sourceLocation)
        #expect(added.hostA.health == "unknown" && added.hostB.health == "unknown", "\(added)", sourceLocation: sourceLocation)
    }

    /// `duplex user assign USER --tenant T`: the coordinator places ``user`` on the only pair.
    func assignUser(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let assigned = try await coordinatorAnswer(APIUser.self, ["user", "assign", Self.user, "--tenant", Self.tenant], sourceLocation: sourceLocation)
        try #require(assigned.pair == Self.pair, "the coordinator placed \(Self.user) on \(assigned.pair ?? "no pair")", sourceLocation: sourceLocation)
    }

    /// A file (mode 0600) holding a new `agent:pair-1` token's secret, made with `duplex
    /// coordinator token create` as an operator makes one for each host.
    func agentTokenFile(host: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let created = try await Self.run([
            "coordinator", "token", "create", "--config", coordinatorConfigPath, "--role", "agent:\(Self.pair)", "--label", host,
        ])
        try #require(created.status == 0, "duplex coordinator token create: \(created.stderr)", sourceLocation: sourceLocation)
        let path = directory.appending("\(host).token")
        try #require(
            FileManager.default.createFile(atPath: path, contents: Data(created.stdout.utf8), attributes: [.posixPermissions: 0o600]),
            "cannot write \(path)", sourceLocation: sourceLocation)
        return path
    }

    /// `duplex ARGUMENTS --json` against the coordinator with the admin token, decoded as
    /// the API's `T`.
    func coordinatorAnswer<T: Decodable>(
        _ type: T.Type, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> T {
        let output = try await coordinatorCommand(arguments + ["--json"], sourceLocation: sourceLocation)
        do {
            return try CoordinatorJSON.decode(T.self, from: Array(output.utf8))
        } catch {
            throw EndToEndFailure("duplex \(arguments.joined(separator: " ")) --json printed no \(T.self): \(CoordinatorJSON.describe(error))\n\(output)")
        }
    }

    // MARK: The fleet's status

    /// What the coordinator says of the fleet after the replicators settled.
    struct CoordinatorView: CustomStringConvertible {
        var status: APIStatus
        var user: APIUser

        var description: String { "duplex status: \(status)\nduplex user show: \(user)" }
    }

    /// Waits (polling, at most `limit`) until `duplex status --json` shows the pair with both
    /// hosts `up` (their agents' heartbeats), ``user`` on it, nothing queued, failed or held,
    /// no failed user, and `duplex user show USER --json` holds a report from each host with
    /// no failure and at least the last successful sync that host's replicator had when it
    /// settled (`settled`, by agent name `A`, `B`: the status the agents pushed after the
    /// syncs, not an older one).
    ///
    /// A registration alone also marks a host up; so the wait lasts at least until the
    /// heartbeat timeout has passed since both agents connected (`connected`), after which
    /// only heartbeats keep a host up (a run seldom ends sooner).
    ///
    /// - Returns: the coordinator's view when it holds.
    /// - Throws: a test failure with the last view when it does not come.
    @discardableResult
    func waitForCoordinatorView(
        settled: [String: ReplicatorAdminUserStatus], connected: ContinuousClock.Instant, limit: Duration = .seconds(300)
    ) async throws -> CoordinatorView {
        let heartbeatsOnly = connected + .seconds(Self.heartbeatTimeout + 1)
        let deadline = ContinuousClock.now + limit
        var problems: [String] = []
        var view: CoordinatorView?
        while ContinuousClock.now < deadline {
            let seen = CoordinatorView(
                status: try await coordinatorAnswer(APIStatus.self, ["status"]),
                user: try await coordinatorAnswer(APIUser.self, ["user", "show", Self.user]))
            view = seen
            problems = Self.problems(seen, settled: settled)
            if ContinuousClock.now < heartbeatsOnly { problems.append("the heartbeat timeout has not passed since the agents connected") }
            if problems.isEmpty { return seen }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw EndToEndFailure("the coordinator's view did not settle within \(limit): \(problems)\n\(view.map(String.init(describing:)) ?? "")")
    }

    /// What is not yet as ``waitForCoordinatorView(settled:connected:limit:)`` expects.
    private static func problems(_ view: CoordinatorView, settled: [String: ReplicatorAdminUserStatus]) -> [String] {
        var problems: [String] = []
        guard view.status.pairs.count == 1, let pair = view.status.pairs.first, pair.pair == Self.pair else {
            return ["the fleet is not the one pair \(Self.pair)"]
        }
        for host in [pair.hostA, pair.hostB] where host.health != "up" {
            problems.append("host \(host.name) is \(host.health ?? "of no health")")
        }
        if pair.state != "active" || pair.users != 1 { problems.append("the pair is \(pair.state) with \(pair.users) users") }
        if pair.queued != APIQueued(sync: 0, high: 0, low: 0) { problems.append("users queued: \(pair.queued)") }
        if pair.failed != 0 || pair.held != 0 || !view.status.failedUsers.isEmpty {
            problems.append("failed \(pair.failed), held \(pair.held), failed users \(view.status.failedUsers)")
        }
        if pair.oldestSuccessfulSync == nil { problems.append("no successful sync reported") }
        if view.user.pair != Self.pair || view.user.state != "active" { problems.append("the user is \(view.user.state) on \(view.user.pair ?? "no pair")") }
        for (name, host) in [("A", Self.hostNames.a), ("B", Self.hostNames.b)] {
            guard let report = view.user.status?.first(where: { $0.host == host }) else {
                problems.append("no report from \(host)")
                continue
            }
            if report.failed || report.held { problems.append("\(host) reports failed \(report.failed), held \(report.held)") }
            if let priority = report.priority, priority != "none" { problems.append("\(host) reports the user queued at \(priority)") }
            let synced = report.lastSuccessfulSync.flatMap(CoordinatorJSON.parseTime).map { Int64($0.timeIntervalSince1970.rounded(.down)) }
            let expected = settled[name]?.lastSuccessfulSync ?? 0
            if synced.map({ $0 < expected }) ?? true {
                problems.append("\(host) reports a last successful sync at \(report.lastSuccessfulSync ?? "never"), before \(expected)")
            }
        }
        return problems
    }
}
