import ArgumentParser
import Foundation
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// `duplex pair …`: host arguments, tables, argument checks, and the commands against a
/// real `duplex coordinator`.
@Suite struct PairCommandTests {
    @Test func hostArgument_takesNameDsyncAndAdmin_andDefaultsTheAdminPort() throws {
        let full = try PairCommand.parseHost("mail1a=tls://Mail1A.example.com:7445,admin=https://10.0.0.1:9000", option: "--host-a")
        #expect(full == APIHost(name: "mail1a", dsync: "tls://mail1a.example.com:7445", admin: "https://10.0.0.1:9000", health: nil))
        let short = try PairCommand.parseHost("mail1b=tls://[::1]:7445", option: "--host-b")
        #expect(short.admin == "http://[::1]:7446")
    }

    @Test(arguments: [
        ("mail1a", "expected NAME=tls://HOST:PORT"),
        ("Mail1a=tls://h:1", "--host-a: host name \"Mail1a\" must start"),
        ("mail1a=http://h:1", "has a scheme other than tls"),
        ("mail1a=tls://h", "has no port"),
        ("mail1a=tls://h:1,admin=tls://h:2", "has a scheme other than http|https"),
        ("mail1a=tls://h:1,port=2", "unexpected \"port=2\""),
    ])
    func badHostArguments_sayWhatIsWrong(text: String, message: String) {
        #expect {
            try PairCommand.parseHost(text, option: "--host-a")
        } throws: { error in
            String(describing: error).contains(message)
        }
    }

    @Test func pairExamples_fromTheAPIDocument_renderAsFieldsAndATable() throws {
        let pair = try CoordinatorJSON.decode(APIPair.self, from: Array(CoordinatorAPIExamples.pair.utf8))
        #expect(PairCommand.render(pair) == """
            pair      eu-1
            id        1
            state     active
            users     20
            capacity  50000
            weight    1
            host a    mail1a.example.com tls://mail1a.example.com:7445 admin http://mail1a.example.com:7446 (up)
            host b    mail1b.example.com tls://mail1b.example.com:7445 admin http://mail1b.example.com:7446 (down)
            created   2026-11-29T23:37:08Z

            """)
        let list = try CoordinatorJSON.decode(APIPairList.self, from: Array(CoordinatorAPIExamples.pairList.utf8))
        #expect(PairCommand.render(list) == """
            PAIR  STATE   USERS  CAPACITY  WEIGHT  HOST A                   HOST B
            eu-1  active     20     50000       1  mail1a.example.com (up)  mail1b.example.com (down)

            """)
    }

    @Test(arguments: [
        (["pair", "add", "eu-1", "--host-a", "a=tls://h:1", "--host-b", "a=tls://i:1", "--capacity", "5"], "name the same host"),
        (["pair", "add", "eu-1", "--host-a", "a=tls://h:1", "--host-b", "b=tls://h:1", "--capacity", "5"], "same dsync endpoint"),
        (["pair", "add", "eu-1", "--host-a", "a=tls://h:1", "--host-b", "b=tls://i:1", "--capacity=-1"], "--capacity must be 0 or more"),
        (["pair", "add", "eu-1", "--host-a", "a=tls://h:1", "--host-b", "b=tls://i:1", "--capacity", "5", "--weight", "0"], "--weight must be from 1 to 1000"),
        (["pair", "drain", "EU"], "pair name \"EU\" must start"),
        (["pair", "remove", "eu/1"], "forbidden character at byte 2"),
    ])
    func badArguments_exit64WithTheReason_beforeAnyRequest(arguments: [String], message: String) throws {
        try OfflineCoordinator.expectUsageError(arguments, message)
    }

    @Test func addListStatesAndRemove_againstARealCoordinator() async throws {
        let server = try await CoordinatorServer()
        let added = try server.json([
            "pair", "add", "eu-1", "--host-a", "mail1a=tls://127.0.0.1:7445", "--host-b", "mail1b=tls://127.0.0.2:7445,admin=http://127.0.0.2:9000",
            "--capacity", "100", "--weight", "2",
        ])
        #expect(added["name"] as? String == "eu-1")
        #expect(added["capacity"] as? Int == 100)
        #expect(added["weight"] as? Int == 2)
        let hostA = try #require(added["host_a"] as? [String: Any])
        #expect(hostA["dsync"] as? String == "tls://127.0.0.1:7445")
        #expect(hostA["admin"] as? String == "http://127.0.0.1:7446")
        #expect((added["host_b"] as? [String: Any])?["admin"] as? String == "http://127.0.0.2:9000")

        for (command, state) in [("drain", "draining"), ("disable", "disabled"), ("enable", "active")] {
            #expect(try server.json(["pair", command, "eu-1"])["state"] as? String == state)
        }
        let table = try server.duplex(["pair", "list"])
        #expect(table.status == 0)
        #expect(table.stdout.hasPrefix("PAIR  STATE   USERS  CAPACITY  WEIGHT  HOST A"), "\(table.stdout)")
        #expect(table.stdout.contains("eu-1  active      0       100       2  mail1a ("), "\(table.stdout)")

        // A pair with a user cannot go: 409 → 73, and it stays.
        _ = try server.json(["tenant", "add", "example"])
        _ = try server.json(["user", "assign", "alice@example.com", "--tenant", "example"])
        let refused = try server.duplex(["pair", "remove", "eu-1"])
        #expect(refused.status == 73, "\(refused.stderr)")
        #expect(refused.stderr.hasPrefix("duplex: "))
        #expect(try server.json(["pair", "show", "eu-1"])["users"] as? Int == 1)

        _ = try server.json(["user", "remove", "alice@example.com"])
        let removed = try server.duplex(["pair", "remove", "eu-1"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout == "removed pair eu-1\n")
        #expect(try server.duplex(["pair", "show", "eu-1"]).status == 68)
    }
}
