import Coordinator
import Foundation
import Hummingbird
import Testing

/// The routes' answers: shapes as docs/coordinator-api.md shows them, and what they do.
@Suite struct APIRoutesTests {
    @Test func assign_isNewOnce_thenAnswersTheSameAssignment() async throws {
        try await APIFixture.with { api in
            let body = #"{"name": "carol@acme.example", "tenant": "acme"}"#
            let first = try await api.call(.post, "/v1/users", token: api.acme, body: body)
            #expect(first.status == 201, "\(first)")
            let again = try await api.call(.post, "/v1/users", token: api.admin, body: body)
            #expect(again.status == 200, "\(again)")
            let user = try first.object()
            #expect(try again.object()["pair"] as? String == user["pair"] as? String)
            #expect(Set(user.keys) == ["id", "name", "tenant", "pair", "preferred_host", "state", "noreplicate", "epoch", "created_at", "updated_at"])
            #expect(user["state"] as? String == "active")
            #expect(user["epoch"] as? Int == 1)
            let created = try #require(user["created_at"] as? String)
            #expect(created.hasSuffix("Z") && created.count == 20, "\(created)")
        }
    }

    @Test func route_pointsAtTheOtherHost_whenThePreferredOneIsDown() async throws {
        try await APIFixture.with { api in
            let path = "/v1/users/alice@acme.example/route"
            let route = try await api.call(.get, path, token: api.acme).object()
            let preferred = try #require(route["preferred_host"] as? [String: Any])
            let other = try #require(route["other_host"] as? [String: Any])
            #expect((route["host"] as? [String: Any])?["name"] as? String == preferred["name"] as? String)
            let pair = try #require(api.alice.pair?.value)
            let side = api.alice.preferredHost.rawValue
            let down = try await api.call(.put, "/v1/pairs/\(pair)/hosts/\(side)/health", token: api.admin, body: #"{"health": "down"}"#)
            #expect(down.status == 204)
            let after = try await api.call(.get, path, token: api.acme).object()
            #expect((after["host"] as? [String: Any])?["name"] as? String == other["name"] as? String)
            #expect((after["preferred_host"] as? [String: Any])?["health"] as? String == "down")
        }
    }

    @Test func tenantPatch_nullClearsTheQuota_absentLeavesIt() async throws {
        try await APIFixture.with { api in
            var tenant = try await api.call(.patch, "/v1/tenants/globex", token: api.admin, body: #"{"user_quota": 7}"#).object()
            #expect(tenant["user_quota"] as? Int == 7)
            #expect(tenant["allowed_pairs"] as? [String] == ["eu-2"])
            tenant = try await api.call(.patch, "/v1/tenants/globex", token: api.admin, body: #"{"allowed_pairs": null}"#).object()
            #expect(tenant["user_quota"] as? Int == 7)
            #expect(tenant["allowed_pairs"] is NSNull)
            tenant = try await api.call(.patch, "/v1/tenants/globex", token: api.admin, body: #"{"user_quota": null}"#).object()
            #expect(tenant["user_quota"] is NSNull)
        }
    }

    @Test func usersList_pagesWithNext() async throws {
        try await APIFixture.with { api in
            for index in 0..<5 {
                _ = try await api.call(.post, "/v1/users", token: api.admin, body: #"{"name": "u\#(index)@acme.example", "tenant": "acme"}"#)
            }
            var names: [String] = []
            var after: Int?
            repeat {
                let query = "/v1/users?tenant=acme&mask=u*&limit=2" + (after.map { "&after=\($0)" } ?? "")
                let page = try await api.call(.get, query, token: api.acme).object()
                names += (page["users"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                after = page["next"] as? Int
            } while after != nil
            #expect(names == (0..<5).map { "u\($0)@acme.example" })
        }
    }

    @Test func agentFlow_registerPullPushAndStatus() async throws {
        try await APIFixture.with { api in
            let agent = try await api.call(.post, "/v1/agents/heartbeat", token: api.agentEU1, body: #"{"host": "eu-1-a"}"#).object()
            #expect(agent["side"] as? String == "a")
            #expect(agent["pair"] as? String == "eu-1")
            let changes = try await api.call(.get, "/v1/pairs/eu-1/changes?since=0", token: api.agentEU1).object()
            let onPair = try await api.store.listUsers(UserQuery(pair: name("eu-1", .pair))).users
            let listed = (changes["changes"] as? [[String: Any]] ?? []).compactMap { $0["user_id"] as? Int }
            #expect(Set(listed) == Set(onPair.map { Int($0.id.rawValue) }))
            #expect(changes["has_more"] as? Bool == false)
            // Alice's reports go to her pair's agent; a user of another pair is ignored.
            let pair = try #require(api.alice.pair?.value)
            let token = pair == "eu-1" ? api.agentEU1 : api.agentEU2
            let body = #"""
                {"host": "\#(pair)-a", "reports": [
                  {"user_id": \#(api.alice.id.rawValue), "priority": null, "failed": true, "last_error": "peer unreachable",
                   "last_successful_sync": "2026-11-29T23:37:08Z", "full_sync_due": true},
                  {"user_id": 999999, "failed": false}]}
                """#
            let recorded = try await api.call(.post, "/v1/pairs/\(pair)/status", token: token, body: body).object()
            #expect(recorded["accepted"] as? Int == 1)
            #expect(recorded["ignored"] as? [Int] == [999999])
            let user = try await api.call(.get, "/v1/users/alice@acme.example", token: api.acme).object()
            let reports = try #require(user["status"] as? [[String: Any]])
            #expect(reports.count == 1)
            #expect(reports.first?["last_error"] as? String == "peer unreachable")
            #expect(reports.first?["last_successful_sync"] as? String == "2026-11-29T23:37:08Z")
            #expect(reports.first?["priority"] is NSNull)
            let status = try await api.call(.get, "/v1/status", token: api.admin).object()
            let failed = try #require(status["failed_users"] as? [[String: Any]])
            #expect(failed.map { $0["user"] as? String } == ["alice@acme.example"])
            #expect(failed.first?["error"] as? String == "peer unreachable")
            #expect((status["totals"] as? [String: Any])?["failed"] as? Int == 1)
            // The periodic full sync the agent reported due, per pair and in the totals.
            let pairs = try #require(status["pairs"] as? [[String: Any]])
            #expect(pairs.first { $0["pair"] as? String == pair }?["full_resyncs_due"] as? Int == 1, "\(pairs)")
            #expect(pairs.filter { $0["pair"] as? String != pair }.allSatisfy { $0["full_resyncs_due"] as? Int == 0 }, "\(pairs)")
            #expect((status["totals"] as? [String: Any])?["full_resyncs_due"] as? Int == 1)
        }
    }

    @Test func tokens_createListRevoke_andARevokedTokenStopsWorking() async throws {
        try await APIFixture.with { api in
            let issued = try await api.call(.post, "/v1/tokens", token: api.admin, body: #"{"label": "ci", "role": "tenant:acme"}"#)
            #expect(issued.status == 201)
            let object = try issued.object()
            let secret = try #require(object["secret"] as? String)
            let token = try #require(object["token"] as? [String: Any])
            #expect(token["role"] as? String == "tenant:acme")
            #expect(token["revoked_at"] is NSNull)
            #expect(try await api.call(.get, "/v1/tenants/acme", token: secret).status == 200)
            let listed = try await api.call(.get, "/v1/tokens", token: api.admin).text
            #expect(!listed.contains(secret))
            let id = try #require(token["id"] as? Int)
            let revoked = try await api.call(.delete, "/v1/tokens/\(id)", token: api.admin).object()
            #expect(revoked["revoked_at"] is String)
            #expect(try await api.call(.get, "/v1/tenants/acme", token: secret).status == 401)
        }
    }

    @Test func moveAndRemove_actOnTheUser() async throws {
        try await APIFixture.with { api in
            let move = try await api.call(.get, "/v1/moves/\(api.moveID)", token: api.acme).object()
            #expect(move["phase"] as? String == "created")
            #expect(move["user"] as? String == "mover@acme.example")
            #expect(move["error"] is NSNull)
            let removed = try await api.call(.delete, "/v1/users/alice@acme.example", token: api.acme).object()
            #expect(removed["state"] as? String == "removed")
            #expect(try await api.call(.get, "/v1/users/alice@acme.example", token: api.acme).status == 404)
            let busy = try await api.call(.delete, "/v1/pairs/eu-2", token: api.admin)
            #expect(busy.status == 409, "\(busy)")
        }
    }
}
