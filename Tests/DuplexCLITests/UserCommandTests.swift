import Foundation
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// `duplex user …`: tables, argument checks, and the commands against a real
/// `duplex coordinator`.
@Suite struct UserCommandTests {
    static let now = Date(timeIntervalSince1970: CoordinatorAPIExamples.now)

    @Test func userExamples_fromTheAPIDocument_renderWithTheReportsAgainstTheServersClock() throws {
        let user = try CoordinatorJSON.decode(APIUser.self, from: Array(CoordinatorAPIExamples.userWithStatus.utf8))
        #expect(UserCommand.render(user, now: Self.now) == """
            user            alice@example.com
            id              7
            tenant          example
            pair            eu-1
            preferred host  a
            state           active
            noreplicate     no
            epoch           1
            created         2026-11-29T23:37:08Z
            updated         2026-11-29T23:37:08Z

            HOST                QUEUED  FAST SYNC  FULL SYNC  SUCCESS  FAILED  REPORTED  LAST ERROR
            mail1a.example.com  high    1m20s      3h00m      3m12s    yes     20s       peer unreachable

            """)
        let page = try CoordinatorJSON.decode(APIUserPage.self, from: Array(CoordinatorAPIExamples.userPage.utf8))
        #expect(page.next == nil)
        #expect(UserCommand.render(page.users) == """
            USER               TENANT   PAIR  HOST  STATE   EPOCH
            alice@example.com  example  eu-1  a     active      1

            """)
        let route = try CoordinatorJSON.decode(APIRoute.self, from: Array(CoordinatorAPIExamples.route.utf8))
        #expect(UserCommand.render(route) == """
            user            alice@example.com
            tenant          example
            pair            eu-1
            epoch           1
            host            mail1b.example.com tls://mail1b.example.com:7445 (down)
            preferred host  mail1a.example.com tls://mail1a.example.com:7445 (up)
            other host      mail1b.example.com tls://mail1b.example.com:7445 (down)

            """)
        let move = try CoordinatorJSON.decode(APIMove.self, from: Array(CoordinatorAPIExamples.move.utf8))
        #expect(!move.isOver)
        #expect(UserCommand.render(move).hasPrefix("move     3\nuser     alice@example.com\nfrom     eu-1\nto       eu-2\nphase    copying\n"))
    }

    @Test func aServerAnswerWithAControlCharacter_isShownAsQuestionMark() {
        #expect(CoordinatorDisplay.fields([("user", "a\u{1B}[2Jb")]) == "user  a?[2Jb\n")
    }

    @Test(arguments: [
        (["user", "assign", "alice example.com", "--tenant", "example"], "user: user name \"alice example.com\" has a forbidden character at byte 5"),
        (["user", "assign", "alice@example.com", "--tenant", "Example"], "--tenant: tenant name \"Example\""),
        (["user", "show", "a/b"], "forbidden character at byte 1"),
        (["user", "list", "--mask", ""], "--mask \"\": is empty"),
        (["user", "list", "--mask", "a b*"], "not a user name with * and ? wildcards"),
        (["user", "move", "alice@example.com", "--to", "EU"], "--to: pair name \"EU\""),
        (["user", "route", String(repeating: "a", count: 256)], "is 256 bytes long; the limit is 255"),
        (["user", "list", "--coordinator", "ftp://h:1"], "must start with https://"),
        (["user", "list", "--coordinator", "http://10.1.1.1:80"], "not a loopback address"),
        (["user", "list", "--coordinator", "https://h:1/v1"], "must have no path"),
    ])
    func badArguments_exit64WithTheReason_beforeAnyRequest(arguments: [String], message: String) throws {
        try OfflineCoordinator.expectUsageError(arguments, message)
    }

    @Test func assignShowListRouteRemove_againstARealCoordinator() async throws {
        let server = try await CoordinatorServer()
        _ = try server.json(["tenant", "add", "example"])
        _ = try server.json(["pair", "add", "eu-1", "--host-a", "a1=tls://127.0.0.1:7445", "--host-b", "b1=tls://127.0.0.2:7445", "--capacity", "10"])

        let assigned = try server.json(["user", "assign", "alice@example.com", "--tenant", "example"])
        #expect(assigned["pair"] as? String == "eu-1")
        #expect(assigned["tenant"] as? String == "example")
        // Asking again returns the same answer.
        let again = try server.json(["user", "assign", "alice@example.com", "--tenant", "example"])
        #expect(again["id"] as? Int == assigned["id"] as? Int && again["pair"] as? String == "eu-1")

        for index in 0..<4 { _ = try server.json(["user", "assign", "u\(index)@example.com", "--tenant", "example"]) }
        let listed = try server.json(["user", "list", "--tenant", "example", "--mask", "u*", "--all"])
        #expect((listed["users"] as? [[String: Any]])?.compactMap { $0["name"] as? String }.sorted()
            == ["u0@example.com", "u1@example.com", "u2@example.com", "u3@example.com"])
        #expect(listed["next"] is NSNull)
        let table = try server.duplex(["user", "list", "--pair", "eu-1"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.split(separator: "\n").count == 6, "\(table.stdout)")
        #expect(table.stdout.hasPrefix("USER "))

        let shown = try server.json(["user", "show", "alice@example.com"])
        #expect(shown["status"] as? [Any] != nil, "user show has the reports: \(shown)")
        let route = try server.json(["user", "route", "alice@example.com"])
        #expect(route["pair"] as? String == "eu-1")
        let routeHost = try #require(route["host"] as? [String: Any])
        #expect(["a1", "b1"].contains(routeHost["name"] as? String))

        // Another tenant's token sees nothing of this tenant's users: 403 → 77.
        _ = try server.json(["tenant", "add", "other"])
        let otherToken = try server.tokenFile(role: "tenant:other")
        for arguments in [["user", "show", "alice@example.com"], ["user", "route", "alice@example.com"],
                          ["user", "list", "--tenant", "example"], ["user", "remove", "alice@example.com"]] {
            let refused = try server.duplex(arguments, tokenFile: otherToken)
            #expect(refused.status == 77, "\(arguments): \(refused.status) \(refused.stderr)")
            #expect(refused.stderr.hasPrefix("duplex: "), "\(refused.stderr)")
        }

        let removed = try server.json(["user", "remove", "alice@example.com"])
        #expect(removed["state"] as? String == "removed")
        #expect(try server.duplex(["user", "route", "alice@example.com"]).status != 0)
    }

    @Test func tokenFromTheEnvironment_andAMissingOne() async throws {
        let server = try await CoordinatorServer()
        let secret = try String(contentsOfFile: server.adminTokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let viaEnvironment = try ExternalCommand.run(
            "/usr/bin/env",
            ["DUPLEX_TOKEN=\(secret)", "DUPLEX_COORDINATOR_URL=\(server.url)", "DUPLEX_COORDINATOR_CA=\(server.caPath)",
             ExternalCommand.duplexExecutable, "tenant", "list"])
        #expect(viaEnvironment.status == 0, "\(viaEnvironment.stderr)")
        #expect(viaEnvironment.stdout.hasPrefix("TENANT"))
        let none = try ExternalCommand.run(
            "/usr/bin/env", ["-u", "DUPLEX_TOKEN", "-u", "DUPLEX_TOKEN_FILE", ExternalCommand.duplexExecutable, "tenant", "list",
                             "--coordinator", server.url, "--ca", server.caPath])
        #expect(none.status == 64)
        #expect(none.stderr == "duplex: no API token: give --token-file PATH, or set DUPLEX_TOKEN_FILE or DUPLEX_TOKEN\n")
        let wrong = try ExternalCommand.run(
            "/usr/bin/env", ["DUPLEX_TOKEN=not-a-token", ExternalCommand.duplexExecutable, "tenant", "list",
                             "--coordinator", server.url, "--ca", server.caPath])
        #expect(wrong.status == 77, "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("not-a-token"))
    }
}
