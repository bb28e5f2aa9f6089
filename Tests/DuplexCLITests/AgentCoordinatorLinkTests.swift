import Foundation
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

/// The parts of the agent's coordinator link that need no network: the local copy of the
/// user list and its file, applying changes, status reports and their bodies, the back-off
/// and the link's logged state.
@Suite struct AgentCoordinatorLinkTests {
    private func change(_ version: Int64, _ id: Int64, _ user: String, _ kind: CoordinatorUserChange.Kind, noReplicate: Bool = false)
        -> CoordinatorUserChange
    {
        CoordinatorUserChange(version: version, userID: id, user: user, kind: kind, noReplicate: noReplicate)
    }

    // MARK: The user list

    @Test func changes_addReplaceAndDropUsers_byID_andNameWhatLeft() throws {
        var list = CoordinatorUserList(pair: "eu-1")
        var applied = try list.apply([change(1, 7, "alice@example.com", .present), change(2, 8, "bob@example.com", .present)], version: 2)
        #expect(applied.changes == 2 && applied.gone.isEmpty)
        #expect(list.byName == ["alice@example.com": false, "bob@example.com": false] && list.version == 2)

        applied = try list.apply(
            [change(3, 8, "bob@example.com", .present, noReplicate: true), change(4, 7, "alice@example.com", .gone),
             change(5, 9, "carol@example.com", .gone)],
            version: 5)
        // carol was never in this copy: named anyway, the saved queue may hold her.
        #expect(applied.gone == ["alice@example.com", "carol@example.com"] && applied.changes == 2)
        #expect(list.byName == ["bob@example.com": true] && list.version == 5)

        // The same again changes nothing; a batch that ends before the copy is refused.
        #expect(try list.apply([change(3, 8, "bob@example.com", .present, noReplicate: true)], version: 5).changed == false)
        let error = #expect(throws: CoordinatorLinkError.self) { try list.apply([], version: 4) }
        #expect(error?.code == .badAnswer && list.version == 5)
    }

    @Test func cache_writtenAndReadBack_isTheSameList() throws {
        try TemporaryDirectory.with(prefix: "duplex-link") { directory in
            var list = CoordinatorUserList(pair: "eu-1")
            _ = try list.apply(
                [change(4, 12, "alice@example.com", .present), change(9, 3, "bob@example.com", .present, noReplicate: true)], version: 9)
            let path = directory.appending("users")
            #expect(try CoordinatorUserCache.read(path: path) == nil, "no file, no copy")
            try CoordinatorUserCache.save(list, to: path)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == """
                duplex-coordinator-users 1
                pair eu-1
                version 9
                user 3 bob@example.com noreplicate
                user 12 alice@example.com

                """)
            #expect(try CoordinatorUserCache.read(path: path) == list)
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        }
    }

    @Test(arguments: [
        ("", "users:1: the pair and version lines are missing"),
        ("duplex-coordinator-users 1\npair eu-1\nversion 3", "users:3: the last line has no newline"),
        ("something else\npair eu-1\nversion 3\n", "users:1: not a coordinator user list"),
        ("duplex-coordinator-users 2\npair eu-1\nversion 3\n", "users:1: format version 2 is not one this agent reads"),
        ("duplex-coordinator-users 1\npair\nversion 3\n", "users:2: expected \"pair NAME\""),
        ("duplex-coordinator-users 1\npair eu-1\nversion -1\n", "users:3: expected \"version N\""),
        ("duplex-coordinator-users 1\npair eu-1\nversion 3\nuser 1 alice\nuser x bob\n", "users:5: expected \"user ID NAME\""),
        ("duplex-coordinator-users 1\npair eu-1\nversion 3\nuser 1 alice maybe\n", "users:4: expected \"user ID NAME\""),
        ("duplex-coordinator-users 1\npair eu-1\nversion 3\nuser 1 alice\nuser 1 bob\n", "users:5: user id 1 is listed twice"),
        ("duplex-coordinator-users 1\npair eu-1\nversion 3\nuser 1 alice\nuser 2 alice\n", "users:5: user alice is listed twice"),
    ])
    func corruptCache_isReported_withPathAndLine(text: String, message: String) {
        let error = #expect(throws: CoordinatorLinkError.self) { try CoordinatorUserCache.parse(text, path: "users") }
        #expect(error?.code == .badCache)
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "")")
    }

    // MARK: Status reports

    /// A row of the replicator's status, as its admin interface carries it.
    private func row(_ name: String, priority: ReplicationPriority = .none, failed: Bool = false, error: String? = nil) throws -> ReplicationUserStatus {
        var object: [String: Any] = [
            "username": name, "priority": priority.rawValue, "lastFastSync": 1_795_969_616, "lastFullSync": 0,
            "lastSuccessfulSync": 1_795_969_616, "failed": failed, "nextSyncSeconds": 0, "held": false, "running": false,
        ]
        object["lastError"] = error
        return try JSONDecoder().decode(ReplicationUserStatus.self, from: JSONSerialization.data(withJSONObject: object))
    }

    @Test func statusReports_firstAllThenOnlyChanged_fullEveryN_neverNoreplicate() throws {
        var list = CoordinatorUserList(pair: "eu-1")
        _ = try list.apply(
            [change(1, 1, "alice", .present), change(2, 2, "bob", .present), change(3, 3, "carol", .present, noReplicate: true)],
            version: 3)
        var reporter = CoordinatorStatusReporter(fullEvery: 3)
        var statuses = ["alice": try row("alice"), "bob": try row("bob"), "carol": try row("carol")]

        var (reports, full) = reporter.reports(for: list, statuses: statuses)
        #expect(full && reports.map(\.userID) == [1, 2])
        #expect(reports[0].priority == "none" && reports[0].lastFullSync == nil)
        #expect(reports[0].lastFastSync == Date(timeIntervalSince1970: 1_795_969_616))
        reporter.accepted(reports)

        statuses["bob"] = try row("bob", priority: .high, failed: true, error: "peer unreachable")
        (reports, full) = reporter.reports(for: list, statuses: statuses)
        #expect(!full && reports.map(\.userID) == [2] && reports[0].failed && reports[0].lastError == "peer unreachable")
        // Not accepted (the push failed): offered again.
        (reports, full) = reporter.reports(for: list, statuses: statuses)
        #expect(!full && reports.map(\.userID) == [2])
        reporter.accepted(reports)

        (reports, full) = reporter.reports(for: list, statuses: statuses)
        #expect(full && reports.map(\.userID) == [1, 2], "the third push after the first full one is full again")
        // A user the replicator does not know is reported not queued.
        statuses["alice"] = nil
        (reports, _) = reporter.reports(for: list, statuses: statuses)
        #expect(reports == [CoordinatorStatusReport(userID: 1, status: nil)] && reports[0].priority == nil)
    }

    @Test func statusBodies_holdEveryReportOnce_withinTheAPIsLimits() throws {
        let reports = try (1...12_000).map { id in
            var report = CoordinatorStatusReport(userID: Int64(id), status: try row("u\(id)", error: String(repeating: "e", count: 40)))
            report.lastFullSync = Date(timeIntervalSince1970: 1_795_969_616)
            return report
        }
        let bodies = try CoordinatorStatusReporter.bodies(host: "mail1a.example.com", reports: reports)
        #expect(bodies.count > 2, "a 1 MB body holds fewer than 10 000 of these reports (the count alone would need 2 bodies)")
        var seen: [Int64] = []
        for (body, sent) in bodies {
            #expect(body.count <= CoordinatorStatusReporter.maximumBodySize && sent.count <= CoordinatorStatusReporter.maximumReports)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            #expect(object["host"] as? String == "mail1a.example.com")
            let items = try #require(object["reports"] as? [[String: Any]])
            #expect(items.map { $0["user_id"] as? Int64 } == sent.map(\.userID))
            #expect(items.first?["last_full_sync"] as? String == "2026-11-29T16:26:56Z")
            #expect(items.first?["priority"] as? String == "none" && items.first?["failed"] as? Bool == false)
            seen += sent.map(\.userID)
        }
        #expect(seen == reports.map(\.userID))
        #expect(try CoordinatorStatusReporter.bodies(host: "h", reports: []).isEmpty)
    }

    @Test func longError_isCutTo1024Bytes_onACharacterBoundary() throws {
        let report = CoordinatorStatusReport(userID: 1, status: try row("alice", failed: true, error: String(repeating: "é", count: 600)))
        #expect(report.lastError?.utf8.count == 1024 && report.lastError?.count == 512)
    }

    // MARK: Back-off and state

    @Test func backoff_doublesToItsCap_withJitter_andStartsOverAfterASuccess() {
        var backoff = CoordinatorBackoff(first: .seconds(1), cap: .seconds(8))
        #expect(backoff.failed(random: { 0 }) == .milliseconds(500))
        #expect(backoff.failed(random: { 0.999_999 }) < .seconds(2))
        #expect(backoff.failed(random: { 0.5 }) == .seconds(3))
        #expect(backoff.failed(random: { 1 }) == .seconds(8))
        for _ in 0..<100 { #expect(backoff.failed() <= .seconds(8)) }
        #expect(backoff.failed(random: { 0 }) == .seconds(4))
        backoff.succeeded()
        #expect(backoff.failed(random: { 1 }) == .seconds(1))
    }

    @Test func linkState_logsOncePerChange_notPerAttempt() {
        var state = CoordinatorLinkState.starting
        let start = Date(timeIntervalSince1970: 1_000)
        #expect(state.requestFailed(at: start, reason: "refused") == .lost(reason: "refused"))
        #expect(state.requestFailed(at: start + 5, reason: "timed out") == nil)
        #expect(state == .unreachable(since: start, reason: "refused"))
        #expect(state.requestSucceeded(at: start + 9) == .recovered(since: start))
        #expect(state.requestSucceeded(at: start + 10) == nil)
        var fresh = CoordinatorLinkState.starting
        #expect(fresh.requestSucceeded(at: start) == .connected)
    }
}

/// The `coordinator:` section of the agent's configuration: what it needs and what it refuses.
@Suite struct AgentCoordinatorConfigurationTests {
    private static let replicator = "replicator:\n  peer: tls://hostb.example.com:7445\n"

    private static func section(_ lines: [String]) -> String {
        "coordinator:\n" + lines.map { "  " + $0 + "\n" }.joined()
    }

    private static let good = [
        "url: https://127.0.0.1:7447", "token_file: agent.token", "pair: eu-1", "host: mail1a.example.com",
    ]

    private func withFixture(_ body: (AgentConfigurationTests.Fixture) async throws -> Void) async throws {
        try await TemporaryDirectory.with(prefix: "duplex-agent-coordinator-config") { directory in
            let fixture = try AgentConfigurationTests.Fixture(directory)
            try fixture.write("t0ken-value\n", to: "agent.token", mode: 0o600)
            try await body(fixture)
        }
    }

    @Test func section_relativePathsFromTheFilesDirectory_defaultsElsewhere() async throws {
        try await withFixture { fixture in
            let loaded = try await fixture.load(
                AgentConfigurationTests.minimalYAML + "\n" + Self.replicator + Self.section(Self.good + ["cache_file: cache/users"]))
            let coordinator = try #require(loaded.configuration.coordinator)
            #expect(coordinator.tokenFile == fixture.path + "/agent.token" && coordinator.token.value == "t0ken-value")
            #expect(coordinator.cacheFile == fixture.path + "/cache/users")
            #expect(coordinator.pollInterval == 30 && coordinator.heartbeatInterval == 15 && coordinator.statusInterval == 60)
            #expect(coordinator.fullStatusEvery == 10 && coordinator.trustedCA == nil)
            #expect(!"\(coordinator)".contains("t0ken-value") && !String(reflecting: coordinator).contains("t0ken-value"), "the token never shows")
            #expect(try await fixture.load(AgentConfigurationTests.minimalYAML + "\n" + Self.replicator).configuration.coordinator == nil)
        }
    }

    @Test(arguments: [
        (["url: https://127.0.0.1:7447"], "coordinator.token_file: is required"),
        (good.map { $0.replacingOccurrences(of: "https://127.0.0.1", with: "http://192.0.2.1") }, "coordinator.url"),
        (good + ["poll_interval: 0"], "coordinator.poll_interval: must be a whole number of seconds from 1 to 86400, got \"0\""),
        (good + ["status_interval: 1.5"], "coordinator.status_interval: must be a whole number of seconds"),
        (good + ["ca: missing.pem"], "missing.pem does not exist"),
        (good.map { $0.replacingOccurrences(of: "pair: eu-1", with: "pair: EU 1") }, "coordinator.pair"),
        (good.map { $0.replacingOccurrences(of: "agent.token", with: "empty.token") }, "empty.token holds no token"),
        (good + ["pull_interval: 5"], "coordinator.pull_interval"),
    ])
    func badSection_isRefused_namingTheKey(lines: [String], message: String) async throws {
        try await withFixture { fixture in
            try fixture.write("\n", to: "empty.token", mode: 0o600)
            let error = try await fixture.error(AgentConfigurationTests.minimalYAML + "\n" + Self.replicator + Self.section(lines))
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func section_withoutAReplicator_isRefused() async throws {
        try await withFixture { fixture in
            let error = try await fixture.error(AgentConfigurationTests.minimalYAML + "\n" + Self.section(Self.good))
            #expect(error.key == "coordinator.url" && error.message.contains("needs a replicator: section"), "\(error)")
        }
    }
}
