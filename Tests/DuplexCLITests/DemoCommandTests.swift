import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// `duplex demo` through the built binary: a whole fleet (coordinator, two pairs of agents
/// over mutual TLS) on loopback, generated mail, live changes on both hosts, the final
/// comparison, and its exit codes.
@Suite struct DemoCommandTests {
    /// Generous hang guard for one demo run; a passing run takes a fraction of it.
    static let patience: TimeInterval = 600

    static func summary(_ result: ExternalCommand.Result) throws -> DemoSummary {
        try JSONDecoder().decode(DemoSummary.self, from: Data(result.stdout.utf8))
    }

    @Test func fourUsers_liveChangesOnBothHosts_everyUserIdenticalAndExit0() async throws {
        let result = try await ExternalCommand.runOffPool(
            ExternalCommand.duplexExecutable, ["demo", "--users", "4", "--messages", "200", "--rounds", "3", "--json"],
            timeout: Self.patience)
        #expect(result.status == 0, "stderr:\n\(result.stderr)")
        let summary = try Self.summary(result)
        #expect(summary.result == "identical")
        #expect(summary.users.count == 4)
        for user in summary.users {
            #expect(user.identical, "\(user.user): \(user.differences)")
            #expect(user.messages > 0 && user.mailboxes >= DemoMailboxes.layout.count, "\(user.user)")
        }
        // Both pairs got users from the coordinator's placement, and both hosts of each.
        #expect(summary.pairs.count == 2 && summary.pairs.allSatisfy { $0.users > 0 && $0.hosts.count == 2 })
        #expect(summary.generatedMessages == 200)
        // The first syncs copied every generated message to the b hosts at least.
        #expect(summary.replicated.messages >= 200 && summary.replicated.bytes >= summary.generatedBytes)
        // The deliberate clash of each pair was resolved by a sync.
        #expect(summary.activity.uidClashes == 2)
        #expect(summary.conflictsResolved.uid >= 2)
        #expect(summary.activity.deliveries > 0 && summary.activity.flagChanges > 0 && summary.activity.expunges > 0)
        #expect(summary.activity.mailboxesCreated > 0)
        #expect(summary.lag.changes > 0 && summary.lag.p50Seconds != nil && summary.lag.p99Seconds != nil)
        // Without --keep or --keep-dir nothing is left behind.
        #expect(!FileManager.default.fileExists(atPath: summary.directory), "\(summary.directory) was not removed")
    }

    @Test func differenceMadeBeforeTheCheck_isNamedWithUserMailboxAndUID_andExit1() async throws {
        let result = try await ExternalCommand.runOffPool(
            ExternalCommand.duplexExecutable, ["demo", "--users", "2", "--messages", "40", "--rounds", "1", "--fault", "flag-on-b"],
            timeout: Self.patience)
        #expect(result.status == 1, "stdout:\n\(result.stdout)\nstderr:\n\(result.stderr)")
        // The fleet's first user (on host b of its pair) has the extra keyword; the other is
        // identical. The table says which user differs, and the lines after it say where.
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let different = lines.filter { $0.hasSuffix("DIFFERENT") }
        #expect(different.count == 1 && lines.filter { $0.hasSuffix("identical") }.count == 1, "stdout:\n\(result.stdout)")
        let user = try #require(different.first?.split(separator: " ").first.map(String.init))
        let header = try #require(lines.firstIndex { $0.hasPrefix("\(user) (pair-") }, "stdout:\n\(result.stdout)")
        let difference = lines[header + 1]
        #expect(difference.contains("mailbox INBOX: UID ") && difference.contains("$DemoFault"), "\(difference)")
        #expect(difference.contains(".demo.test"), "the hosts are named: \(difference)")
        #expect(result.stdout.contains("1 of 2 users DIFFER"))
    }

    @Test func realMaildir_importedForItsUser_isReplicatedIdentically() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-demo-test") { directory in
            let source = directory.appending("Maildir")
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            let store = MailStore(root: source)
            let inbox = try store.mailboxName("INBOX")
            let work = try store.mailboxName("Work/Übersicht")
            _ = try store.createMailbox(inbox)
            _ = try store.createMailbox(work)
            for number in 1...3 {
                try store.saveMessage(
                    in: inbox, bytes: Array("Subject: inbox \(number)\n\nbody \(number)\n".utf8),
                    options: SaveOptions(flags: MessageFlags(system: number == 1 ? [.seen] : [], keywords: number == 2 ? ["$label1"] : [])))
            }
            for number in 1...2 {
                try store.saveMessage(in: work, bytes: Array("Subject: work \(number)\n\nÜbersicht \(number)\n".utf8))
            }
            let before = try store.listMailboxes()
            let result = try await ExternalCommand.runOffPool(
                ExternalCommand.duplexExecutable,
                ["demo", "--maildir", source, "--user", "alice@example.org", "--users", "1", "--messages", "10", "--rounds", "0", "--json"],
                timeout: Self.patience)
            #expect(result.status == 0, "stderr:\n\(result.stderr)")
            let summary = try Self.summary(result)
            let alice = try #require(summary.users.first { $0.user == "alice@example.org" }, "\(summary.users.map(\.user))")
            #expect(alice.identical, "\(alice.differences)")
            #expect(alice.mailboxes == 2 && alice.messages == 5)
            #expect(summary.users.count == 2 && summary.users.allSatisfy(\.identical))
            // Imported means copied: the source is as it was.
            #expect(try store.listMailboxes() == before)
        }
    }

    @Test func maildirThatIsNoMaildir_isRefusedNamingThePath() throws {
        try TemporaryDirectory.with(prefix: "duplex-demo-test") { directory in
            let empty = directory.appending("empty")
            try FileManager.default.createDirectory(atPath: empty + "/cur", withIntermediateDirectories: true)
            let cases: [(arguments: [String], message: String)] = [
                (["--maildir", directory.appending("missing"), "--user", "a@example.org"], "\(directory.appending("missing")): no such file or directory"),
                (["--maildir", empty, "--user", "a@example.org"], "\(empty): not a Maildir (no new, tmp directory)"),
                (["--maildir", empty + "/cur"], "--maildir needs --user"),
                (["--user", "a@example.org"], "--user needs --maildir"),
                (["--maildir", empty, "--user", "no domain"], "--user"),
                (["--users", "0"], "--users must be between 1 and 1000"),
            ]
            for (arguments, message) in cases {
                let result = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["demo"] + arguments)
                #expect(result.status == 64, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
                #expect(result.stdout.isEmpty, "\(arguments): nothing runs")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: empty) == ["cur"])
        }
    }
}
