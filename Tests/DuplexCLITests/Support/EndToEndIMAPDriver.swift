import Foundation
import MailStoreTestSupport
import Testing

/// The IMAP clients of the end-to-end tests: `Tests/Fixtures/imap_activity.py` run with
/// `python3` (standard library only), its reports and summaries kept in the fleet's
/// directory.
struct EndToEndIMAPDriver {
    let fleet: EndToEndFleet

    static var script: String { OpsKitFiles.path("Tests/Fixtures/imap_activity.py") }

    var reportsDirectory: String { fleet.directory.path }
    var seedReport: String { fleet.directory.appending("seed-report.json") }
    var activityReport: String { fleet.directory.appending("activity-report.json") }

    /// What one host's client did, as the driver reports it.
    struct Report: Decodable {
        var appended: [String: String]
        var expunged: [String]
        var failed: [String]
    }

    /// What `verify` saw on one host.
    struct HostSummary: Decodable, Equatable {
        var folders: [String]
        var subscribed: [String]
        var messages: [String: Int]
        var uidvalidity: [String: UInt32]
    }

    /// `imap_activity.py seed` on host A: the mail both hosts start from.
    func seed() async throws {
        let result = try await run(["seed", "--host", fleet.hostA.driverArgument, "--report", seedReport])
        try #require(result.status == 0, "imap_activity.py seed: \(result.stdout)\(result.stderr)")
    }

    /// `imap_activity.py activity` on both hosts at once.
    ///
    /// - Returns: each host's report, by host name.
    func activity() async throws -> [String: Report] {
        let result = try await run([
            "activity", "--host", fleet.hostA.driverArgument, "--host", fleet.hostB.driverArgument, "--seed-report", seedReport,
            "--report", activityReport,
        ])
        try #require(result.status == 0, "imap_activity.py activity: \(result.stdout)\(result.stderr)")
        return try JSONDecoder().decode([String: Report].self, from: Data(contentsOf: URL(fileURLWithPath: activityReport)))
    }

    /// `imap_activity.py verify` on both hosts against the reports written so far.
    ///
    /// - Returns: the driver's result (status 0: identical; 1: its output lists every
    ///   difference) and what it saw on each host.
    func verify() async throws -> (result: ExternalCommand.Result, summary: [String: HostSummary]) {
        let summaryPath = fleet.directory.appending("summary-\(UUID().uuidString).json")
        let reports = [seedReport, activityReport].filter { FileManager.default.fileExists(atPath: $0) }
        let result = try await run(
            ["verify", "--host", fleet.hostA.driverArgument, "--host", fleet.hostB.driverArgument, "--summary", summaryPath]
                + reports.flatMap { ["--expect", $0] })
        let data = try Data(contentsOf: URL(fileURLWithPath: summaryPath))
        return (result, try JSONDecoder().decode([String: HostSummary].self, from: data))
    }

    private func run(_ arguments: [String]) async throws -> ExternalCommand.Result {
        let common = ["--user", EndToEndFleet.user, "--password", EndToEndIMAPHost.password]
        return try await EndToEndFleet.runProgram("/usr/bin/env", ["python3", Self.script] + arguments + common, within: EndToEndFleet.patience)
    }
}

/// A step of the end-to-end test that did not come to pass, with what was seen.
struct EndToEndFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
