import Coordinator
import Foundation
import Hummingbird
import Testing

/// Acceptance 3: a tenant token cannot read, list, assign, move or see the status of
/// another tenant's users; each attempt is refused with 403 and changes nothing.
@Suite struct APITenantIsolationTests {
    @Test(arguments: StoreDriver.allCases)
    func tenantToken_isRefusedEverythingOfAnotherTenantsUsers(driver: StoreDriver) async throws {
        try await APIFixture.with(driver) { api in
            let alice = "/v1/users/alice@acme.example"
            let attempts: [(HTTPRequest.Method, String, String?)] = [
                (.get, alice, nil),
                (.get, alice + "/route", nil),
                (.patch, alice, #"{"noreplicate": true}"#),
                (.delete, alice, nil),
                (.post, alice + "/move", #"{"to": "eu-2"}"#),
                (.get, "/v1/moves/\(api.moveID)", nil),
                (.get, "/v1/users?tenant=acme", nil),
                (.post, "/v1/users", #"{"name": "eve@acme.example", "tenant": "acme"}"#),
                (.post, "/v1/users", #"{"name": "alice@acme.example", "tenant": "acme"}"#),
                (.get, "/v1/status?tenant=acme", nil),
                (.get, "/v1/tenants/acme", nil),
                (.get, "/v1/pairs/eu-1", nil),
            ]
            for (method, path, body) in attempts {
                let before = try await api.state()
                let answer = try await api.call(method, path, token: api.globex, body: body)
                #expect(answer.status == 403, "\(method) \(path): \(answer)")
                #expect(answer.error?.code == "forbidden", "\(method) \(path): \(answer)")
                #expect(answer.error?.message.contains("tenant:globex") == true, "\(method) \(path): \(answer)")
                #expect(try await api.state() == before, "\(method) \(path) changed the store")
            }
        }
    }

    @Test func tenantToken_listsAndCountsOnlyItsOwnUsers() async throws {
        try await APIFixture.with { api in
            let users = try await api.call(.get, "/v1/users", token: api.globex).object()["users"] as? [[String: Any]]
            #expect(users?.compactMap { $0["name"] as? String } == ["bob@globex.example"])
            let tenants = try await api.call(.get, "/v1/tenants", token: api.globex).object()["tenants"] as? [[String: Any]]
            #expect(tenants?.compactMap { $0["name"] as? String } == ["globex"])
            let pairs = try await api.call(.get, "/v1/pairs", token: api.globex).object()["pairs"] as? [[String: Any]]
            #expect(pairs?.compactMap { $0["name"] as? String } == ["eu-2"])
            let status = try await api.call(.get, "/v1/status", token: api.globex).object()
            let totals = try #require(status["totals"] as? [String: Any])
            #expect(totals["users"] as? Int == 1)
            // The same user is visible to its own tenant.
            #expect(try await api.call(.get, "/v1/users/alice@acme.example", token: api.acme).status == 200)
        }
    }

    @Test func agentToken_isRefusedAnotherPairsChangesStatusAndHosts() async throws {
        try await APIFixture.with { api in
            let attempts: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/pairs/eu-1/changes", nil),
                (.post, "/v1/pairs/eu-1/status", #"{"host": "eu-1-a", "reports": [{"user_id": \#(api.alice.id.rawValue), "failed": true}]}"#),
                (.post, "/v1/agents/register", #"{"host": "eu-1-b", "pair": "eu-1", "version": "0.1.0"}"#),
                (.post, "/v1/agents/heartbeat", #"{"host": "eu-1-a"}"#),
                (.get, "/v1/users/alice@acme.example", nil),
            ]
            for (method, path, body) in attempts {
                let before = try await api.state()
                let answer = try await api.call(method, path, token: api.agentEU2, body: body)
                #expect(answer.status == 403, "\(method) \(path): \(answer)")
                #expect(try await api.state() == before, "\(method) \(path) changed the store")
            }
        }
    }
}
