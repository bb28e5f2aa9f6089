import Foundation
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// `duplex tenant …`: the tables, argument checks before any request, and the commands
/// against a real `duplex coordinator`.
@Suite struct TenantCommandTests {
    @Test func tenantExamples_fromTheAPIDocument_renderAsFieldsAndATable() throws {
        let tenant = try CoordinatorJSON.decode(APITenant.self, from: Array(CoordinatorAPIExamples.tenant.utf8))
        #expect(TenantCommand.render(tenant) == """
            tenant         example
            id             1
            users          20
            user quota     1000
            allowed pairs  eu-1
            created        2026-11-29T23:37:08Z

            """)
        let list = try CoordinatorJSON.decode(APITenantList.self, from: Array(CoordinatorAPIExamples.tenantList.utf8))
        #expect(TenantCommand.render(list) == """
            TENANT     USERS  QUOTA  PAIRS  CREATED
            example       20   1000  eu-1   2026-11-29T23:37:08Z
            other.org      3      -  all    2026-11-30T08:00:00Z

            """)
    }

    @Test(arguments: [
        (["tenant", "add", "Example"], "tenant name \"Example\" must start with a lower-case letter or a digit"),
        (["tenant", "add", "ex ample"], "forbidden character at byte 2"),
        (["tenant", "add", "example", "--allowed-pairs", "eu-1,,eu-2"], "--allowed-pairs: pair name is empty"),
        (["tenant", "add", "example", "--user-quota=-1"], "--user-quota must be 0 or more"),
        (["tenant", "set", "example"], "nothing to change"),
        (["tenant", "set", "example", "--user-quota", "5", "--no-quota"], "exclude each other"),
        (["tenant", "set", "example", "--allowed-pairs", "eu-1", "--all-pairs"], "exclude each other"),
        (["tenant", "show", String(repeating: "a", count: 64)], "is 64 bytes long; the limit is 63"),
        (["tenant", "list", "--timeout", "0"], "--timeout must be more than 0"),
    ])
    func badArguments_exit64WithTheReason_beforeAnyRequest(arguments: [String], message: String) throws {
        try OfflineCoordinator.expectUsageError(arguments, message)
    }

    @Test func addListShowSet_againstARealCoordinator() async throws {
        let server = try await CoordinatorServer()
        for pair in ["eu-1", "eu-2"] {
            _ = try server.json(["pair", "add", pair, "--host-a", "\(pair)a=tls://127.0.0.1:7445", "--host-b", "\(pair)b=tls://127.0.0.2:7445", "--capacity", "5"])
        }
        let added = try server.json(["tenant", "add", "example", "--user-quota", "10"])
        #expect(added["name"] as? String == "example")
        #expect(added["user_quota"] as? Int == 10)
        #expect(added["allowed_pairs"] is NSNull)
        #expect(Set(added.keys) == ["id", "name", "allowed_pairs", "user_quota", "users", "created_at"])

        let changed = try server.json(["tenant", "set", "example", "--allowed-pairs", "eu-1,eu-2", "--no-quota"])
        #expect(changed["allowed_pairs"] as? [String] == ["eu-1", "eu-2"])
        #expect(changed["user_quota"] is NSNull)
        let reopened = try server.json(["tenant", "set", "example", "--all-pairs"])
        #expect(reopened["allowed_pairs"] is NSNull)

        let shown = try server.duplex(["tenant", "show", "example"])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("allowed pairs  all\n"))
        #expect(shown.stdout.contains("user quota     none\n"))

        let list = try server.json(["tenant", "list"])
        #expect((list["tenants"] as? [[String: Any]])?.map { $0["name"] as? String } == ["example"])

        // The server's refusals: its message after "duplex: ", the status's exit code.
        let again = try server.duplex(["tenant", "add", "example"])
        #expect(again.status == 73, "\(again.stderr)")
        #expect(again.stderr.hasPrefix("duplex: "), "\(again.stderr)")
        #expect(again.stderr.contains("example"))
        let missing = try server.duplex(["tenant", "show", "nobody"])
        #expect(missing.status == 68, "\(missing.stderr)")
        #expect(missing.stderr.hasPrefix("duplex: ") && missing.stderr.contains("nobody"), "\(missing.stderr)")
    }
}
