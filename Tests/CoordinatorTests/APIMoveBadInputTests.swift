import Coordinator
import Foundation
import Hummingbird
import Testing

/// Bad requests about moves and purges: malformed JSON, unknown fields, an unknown pair, a
/// move to the user's own pair, another tenant's user with a tenant token. Each is refused
/// with a 4xx whose message names what is wrong, and the store, every move included, is
/// unchanged after it.
@Suite struct APIMoveBadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var path: String
        var body: String?
        /// `admin` or `acme` (a tenant token of tenant acme).
        var token: String = "admin"
        var status: Int
        var code: String
        /// A part of the message that names what is wrong.
        var mentions: String

        var testDescription: String { "POST \(path) \(body ?? "") as \(token) → \(status)" }
    }

    static let alice = "/v1/users/alice@acme.example"

    static let cases: [Case] = [
        Case(path: alice + "/move", body: #"{"to": "eu-2""#, status: 400, code: "bad_request", mentions: "malformed JSON"),
        Case(path: alice + "/move", body: "", status: 400, code: "bad_request", mentions: "body is empty"),
        Case(path: alice + "/move", body: #"{"to": "eu-2", "wait": true}"#, status: 400, code: "bad_request", mentions: "unknown field \"wait\""),
        Case(path: alice + "/move", body: #"{"pair": "eu-2"}"#, status: 400, code: "bad_request", mentions: "field \"to\" is required"),
        Case(path: alice + "/move", body: #"{"to": 2}"#, status: 400, code: "bad_request", mentions: "must be a string"),
        Case(path: alice + "/move", body: #"{"to": "EU 2"}"#, status: 400, code: "bad_request", mentions: "field \"to\""),
        Case(path: alice + "/move", body: #"{"to": "eu-9"}"#, status: 404, code: "not_found", mentions: "eu-9"),
        Case(path: alice + "/move", body: #"{"to": "{own}"}"#, status: 409, code: "conflict", mentions: "already on the pair"),
        Case(path: alice + "/move", body: #"{"to": "eu-3"}"#, status: 409, code: "conflict", mentions: "disabled"),
        Case(path: "/v1/users/mover@acme.example/move", body: #"{"to": "eu-3"}"#, status: 409, code: "conflict", mentions: "already moving"),
        Case(path: "/v1/users/bob@globex.example/move", body: #"{"to": "eu-1"}"#, token: "acme", status: 403, code: "forbidden", mentions: "globex"),
        Case(path: "/v1/moves/{move}/rollback", body: nil, token: "globex", status: 403, code: "forbidden", mentions: "acme"),
        Case(path: alice + "/purge-old", body: #"{"move": "3"}"#, status: 400, code: "bad_request", mentions: "field \"move\" must be a whole number"),
        Case(path: alice + "/purge-old", body: #"{"mvoe": 3}"#, status: 400, code: "bad_request", mentions: "unknown field \"mvoe\""),
        Case(path: alice + "/purge-old", body: #"{"move": 0}"#, status: 400, code: "bad_request", mentions: "positive whole number"),
        Case(path: alice + "/purge-old", body: #"{"move": 1"#, status: 400, code: "bad_request", mentions: "malformed JSON"),
        Case(path: "/v1/users/bob@globex.example/purge-old", body: "{}", token: "acme", status: 403, code: "forbidden", mentions: "globex"),
        Case(path: "/v1/users/nobody@acme.example/purge-old", body: "{}", status: 404, code: "not_found", mentions: "nobody@acme.example"),
        // This coordinator has no moves configuration: no certificate to reach agents with.
        Case(path: alice + "/purge-old", body: "{}", status: 503, code: "unavailable", mentions: "no moves configuration"),
    ]

    @Test(arguments: cases)
    func badMoveOrPurgeRequest_isRefusedWithAClearMessage_andChangesNothing(_ request: Case) async throws {
        try await APIFixture.with { api in
            let before = try await api.state()
            let token = ["admin": api.admin, "acme": api.acme, "globex": api.globex][request.token]
            let path = request.path.replacingOccurrences(of: "{move}", with: String(api.moveID))
            let body = request.body?.replacingOccurrences(of: "{own}", with: api.alice.pair?.value ?? "?")
            let answer = try await api.call(.post, path, token: token, body: body)
            #expect(answer.status == request.status, "\(answer)")
            #expect(answer.error?.code == request.code, "\(answer)")
            #expect(answer.error?.message.contains(request.mentions) == true, "\(answer)")
            #expect(try await api.state() == before)
        }
    }
}
