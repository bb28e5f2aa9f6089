import Foundation
import Testing

@testable import DuplexCLI

/// `duplex user purge-old USER [--move ID]`: its output, its argument checks, and its
/// refusals by a real `duplex coordinator` (the purge itself, with real agents, is in
/// CoordinatorTests' MovePurgeTests).
@Suite struct CoordinatorPurgeOldCommandTests {
    static let purged = #"""
        {"move": {"id": 3, "user": "alice@example.com", "from": "eu-1", "to": "eu-2", "phase": "finished",
          "started_at": "2026-11-29T23:37:08Z", "updated_at": "2026-11-29T23:38:00Z", "error": null,
          "caught_up_at": "2026-11-29T23:39:00Z", "purged_at": "2026-11-30T08:00:00Z", "progress": null},
         "pair": "eu-1", "already_purged": false,
         "hosts": [{"host": "mail1a.example.com", "existed": true, "mail_root": "/var/vmail/example.com/alice/Maildir"},
                   {"host": "mail1b.example.com", "existed": false, "mail_root": "/var/vmail/example.com/alice/Maildir"}]}
        """#

    @Test func purgeAnswer_rendersTheMoveAndWhatEachOldHostDid() throws {
        let purge = try CoordinatorJSON.decode(APIPurge.self, from: Array(Self.purged.utf8))
        #expect(UserPurgeOldCommand.render(purge) == """
            user                alice@example.com
            move                3
            old pair            eu-1
            new pair            eu-2
            purged              2026-11-30T08:00:00Z
            mail1a.example.com  deleted /var/vmail/example.com/alice/Maildir
            mail1b.example.com  had no copy (/var/vmail/example.com/alice/Maildir)

            """)
        var again = purge
        again.alreadyPurged = true
        again.hosts = []
        #expect(UserPurgeOldCommand.render(again).hasSuffix("purged    2026-11-30T08:00:00Z\nnote      already purged; nothing was done\n"))
    }

    @Test(arguments: [
        (["user", "purge-old", "alice@example.com", "--move", "0"], "--move 0: a move id is a positive whole number"),
        (["user", "purge-old", "alice example.com"], "user: user name \"alice example.com\" has a forbidden character at byte 5"),
    ])
    func badArguments_exit64WithTheReason_beforeAnyRequest(arguments: [String], message: String) throws {
        try OfflineCoordinator.expectUsageError(arguments, message)
    }

    @Test func purgeOld_againstACoordinatorWithoutMoves_isRefusedAndChangesNothing() async throws {
        let server = try await CoordinatorServer()
        _ = try server.json(["tenant", "add", "example"])
        _ = try server.json(["pair", "add", "eu-1", "--host-a", "a1=tls://127.0.0.1:7445", "--host-b", "b1=tls://127.0.0.2:7445", "--capacity", "10"])
        let assigned = try server.json(["user", "assign", "alice@example.com", "--tenant", "example"])

        // Without a moves: section the coordinator has no certificate to reach agents: 503 → 69.
        let unconfigured = try server.duplex(["user", "purge-old", "alice@example.com"])
        #expect(unconfigured.status == 69, "\(unconfigured.status) \(unconfigured.stderr)")
        #expect(unconfigured.stderr.contains("no moves configuration"), "\(unconfigured.stderr)")
        // Another tenant's token is refused first: 403 → 77.
        _ = try server.json(["tenant", "add", "other"])
        let other = try server.duplex(["user", "purge-old", "alice@example.com"], tokenFile: try server.tokenFile(role: "tenant:other"))
        #expect(other.status == 77, "\(other.status) \(other.stderr)")
        let unknown = try server.duplex(["user", "purge-old", "nobody@example.com"])
        #expect(unknown.status == 68, "\(unknown.status) \(unknown.stderr)")

        let after = try server.json(["user", "show", "alice@example.com"])
        #expect(after["id"] as? Int == assigned["id"] as? Int && after["pair"] as? String == "eu-1" && after["state"] as? String == "active")
    }
}
