import Coordinator
import Foundation
import Hummingbird
import Testing

/// Every route against every kind of token: admin, the tenant `acme`, the agent of `eu-1`,
/// no token and a revoked one. Allowed calls succeed with the documented status; refused
/// ones get 403 (a role that does not cover it) or 401 (no valid token) and change nothing.
@Suite struct APIRoleMatrixTests {
    enum Role: String, CaseIterable, Sendable {
        case admin, tenant, agent, none, revoked
    }

    struct Route: Sendable, CustomTestStringConvertible {
        var method: HTTPRequest.Method
        /// `{alice}` and `{move}` and `{revoked}` are replaced from the fixture.
        var path: String
        var body: String?
        /// The status of an allowed call.
        var success: Int
        /// The roles allowed besides admin.
        var alsoAllowed: Set<Role>

        var testDescription: String { "\(method) \(path)" }
    }

    static func hostJSON(_ name: String) -> String {
        #"{"name": "\#(name)", "dsync": "tls://\#(name).example.net:7445", "admin": "https://\#(name).example.net:7446"}"#
    }

    static let routes: [Route] = [
        Route(method: .post, path: "/v1/tenants", body: #"{"name": "newco"}"#, success: 201, alsoAllowed: []),
        Route(method: .get, path: "/v1/tenants", success: 200, alsoAllowed: [.tenant]),
        Route(method: .get, path: "/v1/tenants/acme", success: 200, alsoAllowed: [.tenant]),
        Route(method: .patch, path: "/v1/tenants/acme", body: #"{"user_quota": 50}"#, success: 200, alsoAllowed: []),
        Route(
            method: .post, path: "/v1/pairs",
            body: #"{"name": "eu-9", "capacity": 5, "host_a": \#(hostJSON("eu-9-a")), "host_b": \#(hostJSON("eu-9-b"))}"#,
            success: 201, alsoAllowed: []),
        Route(method: .get, path: "/v1/pairs", success: 200, alsoAllowed: [.tenant]),
        Route(method: .get, path: "/v1/pairs/eu-1", success: 200, alsoAllowed: [.tenant]),
        Route(method: .patch, path: "/v1/pairs/eu-1", body: #"{"weight": 2}"#, success: 200, alsoAllowed: []),
        Route(method: .put, path: "/v1/pairs/eu-1/hosts/a/health", body: #"{"health": "down"}"#, success: 204, alsoAllowed: []),
        Route(method: .delete, path: "/v1/pairs/eu-3", success: 204, alsoAllowed: []),
        Route(method: .post, path: "/v1/users", body: #"{"name": "carol@acme.example", "tenant": "acme"}"#, success: 201, alsoAllowed: [.tenant]),
        Route(method: .get, path: "/v1/users", success: 200, alsoAllowed: [.tenant]),
        Route(method: .get, path: "/v1/users/{alice}", success: 200, alsoAllowed: [.tenant]),
        Route(method: .patch, path: "/v1/users/{alice}", body: #"{"noreplicate": true}"#, success: 200, alsoAllowed: [.tenant]),
        Route(method: .delete, path: "/v1/users/{alice}", success: 200, alsoAllowed: [.tenant]),
        Route(method: .get, path: "/v1/users/{alice}/route", success: 200, alsoAllowed: [.tenant]),
        Route(method: .post, path: "/v1/users/{alice}/move", body: #"{"to": "{other}"}"#, success: 202, alsoAllowed: [.tenant]),
        Route(method: .get, path: "/v1/moves/{move}", success: 200, alsoAllowed: [.tenant]),
        Route(method: .get, path: "/v1/status", success: 200, alsoAllowed: [.tenant]),
        Route(method: .post, path: "/v1/agents/register", body: #"{"host": "eu-1-b", "pair": "eu-1", "version": "0.1.0"}"#, success: 200, alsoAllowed: [.agent]),
        Route(method: .post, path: "/v1/agents/heartbeat", body: #"{"host": "eu-1-a"}"#, success: 200, alsoAllowed: [.agent]),
        Route(method: .get, path: "/v1/pairs/eu-1/changes", success: 200, alsoAllowed: [.agent]),
        Route(
            method: .post, path: "/v1/pairs/eu-1/status", body: #"{"host": "eu-1-a", "reports": [{"user_id": 1, "priority": "high"}]}"#,
            success: 200, alsoAllowed: [.agent]),
        Route(method: .post, path: "/v1/tokens", body: #"{"label": "ops", "role": "agent:eu-2"}"#, success: 201, alsoAllowed: []),
        Route(method: .get, path: "/v1/tokens", success: 200, alsoAllowed: []),
        Route(method: .delete, path: "/v1/tokens/{revoked}", success: 200, alsoAllowed: []),
    ]

    static let matrix = routes.flatMap { route in Role.allCases.map { (route, $0) } }

    @Test(arguments: matrix)
    func route_isAllowedOnlyToItsRoles(_ route: Route, _ role: Role) async throws {
        try await APIFixture.with { api in
            let token: String? =
                switch role {
                case .admin: api.admin
                case .tenant: api.acme
                case .agent: api.agentEU1
                case .none: nil
                case .revoked: api.revoked
                }
            let other = api.alice.pair?.value == "eu-1" ? "eu-2" : "eu-1"
            let path = route.path.replacingOccurrences(of: "{alice}", with: api.alice.name.value)
                .replacingOccurrences(of: "{move}", with: String(api.moveID))
                .replacingOccurrences(of: "{revoked}", with: String(api.revokedID))
            let body = route.body?.replacingOccurrences(of: "{other}", with: other)
            let before = try await api.state()
            let answer = try await api.call(route.method, path, token: token, body: body)
            switch role {
            case .none, .revoked:
                #expect(answer.status == 401, "\(answer)")
                #expect(answer.error?.code == "unauthorized")
            case .admin:
                #expect(answer.status == route.success, "\(answer)")
            case .tenant, .agent:
                if route.alsoAllowed.contains(role) {
                    #expect(answer.status == route.success, "\(answer)")
                } else {
                    #expect(answer.status == 403, "\(answer)")
                    #expect(answer.error?.code == "forbidden")
                }
            }
            if answer.status == 401 || answer.status == 403 {
                #expect(try await api.state() == before)
            }
        }
    }

    @Test(arguments: Role.allCases)
    func healthz_needsNoToken(_ role: Role) async throws {
        try await APIFixture.with { api in
            let token = role == .none ? nil : api.admin
            let answer = try await api.call(.get, "/healthz", token: token)
            #expect(answer.status == 200)
            #expect(answer.text == "ok\n")
        }
    }

    @Test func malformedAuthorization_isRefusedWith401() async throws {
        try await APIFixture.with { api in
            for header in ["Basic \(api.admin)", "Bearer", "Bearer dpx_notatoken", api.admin] {
                let response = try await api.client.executeRequest(
                    uri: "/v1/tenants", method: .get, headers: [.authorization: header], body: nil)
                #expect(response.status.code == 401, "\(header.prefix(12))")
            }
        }
    }
}
