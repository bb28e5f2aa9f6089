import Coordinator
import Foundation
import Hummingbird
import Testing

/// Acceptance 6: malformed JSON, unknown fields, over-long names, unknown tenants or pairs,
/// invalid user names, and other bad values are refused with a 4xx whose message names
/// what is wrong, and the store is unchanged after each.
@Suite struct APIBadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var method: HTTPRequest.Method
        var path: String
        var body: String?
        var status: Int
        var code: String
        /// A part of the message that names what is wrong.
        var mentions: String

        var testDescription: String { "\(method) \(path) \(body ?? "") → \(status)" }
    }

    static let longTenant = String(repeating: "t", count: 64)
    static let longUser = String(repeating: "u", count: 250) + "@x.example"
    static let host = #""name": "eu-9-a", "dsync": "tls://eu-9-a.example.net:7445", "admin": "https://eu-9-a.example.net:7446""#

    static let cases: [Case] = [
        Case(method: .post, path: "/v1/tenants", body: #"{"name": "newco""#, status: 400, code: "bad_request", mentions: "malformed JSON"),
        Case(method: .post, path: "/v1/tenants", body: "", status: 400, code: "bad_request", mentions: "body is empty"),
        Case(method: .post, path: "/v1/tenants", body: #"["newco"]"#, status: 400, code: "bad_request", mentions: "must be a JSON object"),
        Case(method: .post, path: "/v1/tenants", body: #"{"name": "newco", "quota": 5}"#, status: 400, code: "bad_request", mentions: "unknown field \"quota\""),
        Case(method: .post, path: "/v1/tenants", body: #"{"name": "\#(longTenant)"}"#, status: 400, code: "bad_request", mentions: "64 bytes long; the limit is 63"),
        Case(method: .post, path: "/v1/tenants", body: #"{"name": "New Co"}"#, status: 400, code: "bad_request", mentions: "field \"name\""),
        Case(method: .post, path: "/v1/tenants", body: #"{"name": 7}"#, status: 400, code: "bad_request", mentions: "must be a string, not a number"),
        Case(method: .post, path: "/v1/tenants", body: #"{}"#, status: 400, code: "bad_request", mentions: "field \"name\" is required"),
        Case(method: .post, path: "/v1/tenants", body: #"{"name": "newco", "allowed_pairs": ["eu-9"]}"#, status: 404, code: "not_found", mentions: "eu-9"),
        Case(method: .post, path: "/v1/tenants", body: #"{"name": "newco", "allowed_pairs": ["EU 1"]}"#, status: 400, code: "bad_request", mentions: "allowed_pairs[0]"),
        Case(method: .post, path: "/v1/tenants", body: #"{"name": "newco", "user_quota": -1}"#, status: 400, code: "bad_request", mentions: "quota"),
        Case(method: .post, path: "/v1/tenants", body: #"{"name": "acme"}"#, status: 409, code: "conflict", mentions: "acme"),
        Case(method: .patch, path: "/v1/tenants/acme", body: #"{"user_quota": "many"}"#, status: 400, code: "bad_request", mentions: "field \"user_quota\" must be a whole number"),
        Case(method: .patch, path: "/v1/tenants/nobody", body: #"{"user_quota": 3}"#, status: 404, code: "not_found", mentions: "nobody"),
        Case(method: .post, path: "/v1/users", body: #"{"name": "eve@acme.example", "tenant": "nobody"}"#, status: 404, code: "not_found", mentions: "nobody"),
        Case(method: .post, path: "/v1/users", body: #"{"name": "eve smith@acme.example", "tenant": "acme"}"#, status: 400, code: "bad_request", mentions: "forbidden character at byte 3"),
        Case(method: .post, path: "/v1/users", body: #"{"name": "eve*@acme.example", "tenant": "acme"}"#, status: 400, code: "bad_request", mentions: "user name"),
        Case(method: .post, path: "/v1/users", body: #"{"name": "\#(longUser)", "tenant": "acme"}"#, status: 400, code: "bad_request", mentions: "the limit is 255"),
        Case(method: .post, path: "/v1/users", body: #"{"name": "eve@acme.example", "tenant": "acme", "pair": "eu-1"}"#, status: 400, code: "bad_request", mentions: "unknown field \"pair\""),
        Case(method: .post, path: "/v1/users/alice@acme.example/move", body: #"{"to": "eu-9"}"#, status: 404, code: "not_found", mentions: "eu-9"),
        Case(method: .post, path: "/v1/users/nobody@acme.example/move", body: #"{"to": "eu-2"}"#, status: 404, code: "not_found", mentions: "nobody@acme.example"),
        Case(method: .get, path: "/v1/users/a%20b@acme.example", body: nil, status: 400, code: "bad_request", mentions: "path parameter user"),
        Case(method: .patch, path: "/v1/users/alice@acme.example", body: #"{"noreplicate": "yes"}"#, status: 400, code: "bad_request", mentions: "true or false"),
        Case(method: .patch, path: "/v1/users/alice@acme.example", body: #"{"tenant": "globex"}"#, status: 400, code: "bad_request", mentions: "unknown field \"tenant\""),
        Case(method: .post, path: "/v1/users", body: #"{"name": "..", "tenant": "acme"}"#, status: 400, code: "bad_request", mentions: "USER@DOMAIN"),
        Case(method: .post, path: "/v1/users", body: #"{"name": "eve@", "tenant": "acme"}"#, status: 400, code: "bad_request", mentions: "USER@DOMAIN"),
        Case(method: .post, path: "/v1/users", body: #"{"name": "eve@@acme.example", "tenant": "acme"}"#, status: 400, code: "bad_request", mentions: "USER@DOMAIN"),
        Case(method: .get, path: "/v1/users?limit=0", body: nil, status: 400, code: "bad_request", mentions: "limit"),
        Case(method: .get, path: "/v1/users?limit=1001", body: nil, status: 400, code: "bad_request", mentions: "from 1 to 1000"),
        Case(method: .get, path: "/v1/users?tenant=nobody", body: nil, status: 404, code: "not_found", mentions: "nobody"),
        Case(method: .post, path: "/v1/pairs", body: #"{"name": "eu-9", "capacity": 5, "host_a": {\#(host)}, "host_b": {\#(host), "port": 1}}"#, status: 400, code: "bad_request", mentions: "unknown field \"host_b.port\""),
        Case(method: .post, path: "/v1/pairs", body: #"{"name": "eu-9", "capacity": 5, "host_a": {\#(host)}, "host_b": {"name": "eu-9-b", "dsync": "http://x:1", "admin": "http://x:2"}}"#, status: 400, code: "bad_request", mentions: "host_b.dsync"),
        Case(method: .post, path: "/v1/pairs", body: #"{"name": "eu-9", "capacity": 5, "state": "paused", "host_a": {\#(host)}, "host_b": {\#(host)}}"#, status: 400, code: "bad_request", mentions: "one of \"active\""),
        Case(method: .post, path: "/v1/pairs", body: #"{"name": "eu-9", "capacity": 5, "host_a": {\#(host)}}"#, status: 400, code: "bad_request", mentions: "field \"host_b\" is required"),
        Case(method: .put, path: "/v1/pairs/eu-1/hosts/c/health", body: #"{"health": "down"}"#, status: 400, code: "bad_request", mentions: "a or b"),
        Case(method: .put, path: "/v1/pairs/eu-1/hosts/a/health", body: #"{"health": "sick"}"#, status: 400, code: "bad_request", mentions: "\"health\""),
        Case(method: .delete, path: "/v1/pairs/nowhere", body: nil, status: 404, code: "not_found", mentions: "nowhere"),
        Case(method: .post, path: "/v1/pairs/eu-1/status", body: #"{"host": "eu-1-a", "reports": [{"user_id": 1, "failed": true, "why": "x"}]}"#, status: 400, code: "bad_request", mentions: "reports[0].why"),
        Case(method: .post, path: "/v1/pairs/eu-1/status", body: #"{"host": "eu-1-a", "reports": [{"user_id": 1, "last_fast_sync": "yesterday"}]}"#, status: 400, code: "bad_request", mentions: "RFC 3339"),
        Case(method: .post, path: "/v1/pairs/eu-1/status", body: #"{"host": "eu-2-a", "reports": []}"#, status: 400, code: "bad_request", mentions: "eu-2-a"),
        Case(method: .post, path: "/v1/agents/register", body: #"{"host": "eu-1-a", "pair": "eu-9", "version": "0.1.0"}"#, status: 404, code: "not_found", mentions: "eu-9"),
        Case(method: .post, path: "/v1/tokens", body: #"{"label": "x", "role": "root"}"#, status: 400, code: "bad_request", mentions: "admin, tenant:NAME or agent:PAIR"),
        Case(method: .post, path: "/v1/tokens", body: #"{"label": "x", "role": "tenant:nobody"}"#, status: 404, code: "not_found", mentions: "nobody"),
        Case(method: .delete, path: "/v1/tokens/abc", body: nil, status: 400, code: "bad_request", mentions: "positive whole number"),
        Case(method: .get, path: "/v1/moves/999", body: nil, status: 404, code: "not_found", mentions: "999"),
        Case(method: .get, path: "/v1/nothing", body: nil, status: 404, code: "not_found", mentions: "no route GET /v1/nothing"),
    ]

    @Test(arguments: cases)
    func badInput_isRefusedWithAClearMessage_andChangesNothing(_ request: Case) async throws {
        try await APIFixture.with { api in
            let before = try await api.state()
            let answer = try await api.call(request.method, request.path, token: api.admin, body: request.body)
            #expect(answer.status == request.status, "\(answer)")
            #expect(answer.error?.code == request.code, "\(answer)")
            #expect(answer.error?.message.contains(request.mentions) == true, "\(answer)")
            #expect(try await api.state() == before)
        }
    }

    @Test func bodyOverOneMebibyte_isRefusedWith413() async throws {
        try await APIFixture.with { api in
            let before = try await api.state()
            let padding = String(repeating: "x", count: CoordinatorAPI.maximumBodySize)
            let answer = try await api.call(.post, "/v1/tenants", token: api.admin, body: #"{"name": "newco", "pad": "\#(padding)"}"#)
            #expect(answer.status == 413, "\(answer.status)")
            #expect(answer.error?.code == "too_large")
            #expect(try await api.state() == before)
        }
    }

    @Test func errorMessages_neverHoldSQLOrSecrets() async throws {
        try await APIFixture.with { api in
            for request in Self.cases {
                let answer = try await api.call(request.method, request.path, token: api.admin, body: request.body)
                let message = answer.error?.message ?? ""
                #expect(!message.contains(api.admin))
                #expect(!message.uppercased().contains("SELECT ") && !message.uppercased().contains("INSERT "), "\(message)")
            }
        }
    }
}
