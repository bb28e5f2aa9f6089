import Coordinator
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A coordinator API over a new store with two tenants, three pairs, users, a move, an
/// agent and one token per role, driven through HummingbirdTesting's router client.
///
/// - Tenant `acme` may use every pair; tenant `globex` only `eu-2`.
/// - Pairs `eu-1` and `eu-2` (capacity 10), `eu-3` (disabled, so empty; capacity 5).
/// - Users `alice@acme.example` (acme, on eu-1 or eu-2), `mover@acme.example` (acme, with a
///   move to the other pair), `bob@globex.example` (globex, on eu-2).
/// - Agent `eu-1-a` registered for eu-1.
struct APIFixture: Sendable {
    let store: any CoordinatorStore
    let client: any TestClientProtocol
    /// Secrets by role.
    let admin: String
    let acme: String
    let globex: String
    let agentEU1: String
    let agentEU2: String
    let revoked: String
    let revokedID: Int64
    let alice: UserRecord
    let bob: UserRecord
    let moveID: Int64

    /// One API answer.
    struct Answer: CustomStringConvertible {
        var status: Int
        var text: String

        /// The body as a JSON object.
        func object(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
            let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            return try #require(value as? [String: Any], "not a JSON object: \(text)", sourceLocation: sourceLocation)
        }

        /// The error's `code` and `message`, when the body is the API's error shape.
        var error: (code: String, message: String)? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                let error = object["error"] as? [String: Any], let code = error["code"] as? String,
                let message = error["message"] as? String
            else { return nil }
            return (code, message)
        }

        var description: String { "\(status) \(text)" }
    }

    /// Sends one request with `token` (none when `nil`) and a raw body.
    func call(_ method: HTTPRequest.Method, _ path: String, token: String?, body: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.executeRequest(
            uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Answer(status: response.status.code, text: String(buffer: response.body))
    }

    /// Everything the store holds, to check that a refused request changed nothing.
    struct StoreState: Equatable {
        var tenants: [TenantRecord]
        var pairs: [PairRecord]
        var users: [UserRecord]
        var tokens: [TokenRecord]
        var agents: [AgentRecord]
        var moves: [MoveRecord]
        /// Every user's moves, finished and rolled back ones too.
        var userMoves: [[MoveRecord]]
        var statuses: [[UserStatusRecord]]
    }

    func state() async throws -> StoreState {
        let users = try await store.listUsers(UserQuery(includeRemoved: true, limit: UserQuery.maximumLimit)).users
        var statuses: [[UserStatusRecord]] = []
        var userMoves: [[MoveRecord]] = []
        for user in users {
            statuses.append(try await store.status(user: user.id))
            userMoves.append(try await store.moves(user: user.id))
        }
        return StoreState(
            tenants: try await store.listTenants(), pairs: try await store.listPairs(), users: users,
            tokens: try await store.listTokens(), agents: try await store.listAgents(), moves: try await store.unfinishedMoves(),
            userMoves: userMoves, statuses: statuses)
    }

    /// Runs `body` with a new fixture on `driver`'s store.
    static func with(
        _ driver: StoreDriver = .sqlite, _ body: @Sendable @escaping (APIFixture) async throws -> Void
    ) async throws {
        try await driver.withStore { store in
            let admin = try await store.createToken(label: "admin", role: .admin).secret
            _ = try await store.addPair(try pairSpecification("eu-1", capacity: 10))
            _ = try await store.addPair(try pairSpecification("eu-2", capacity: 10))
            _ = try await store.addPair(try pairSpecification("eu-3", capacity: 5, state: .disabled))
            _ = try await store.addTenant(name("acme", .tenant), allowedPairs: nil, userQuota: nil)
            _ = try await store.addTenant(name("globex", .tenant), allowedPairs: [name("eu-2", .pair)], userQuota: nil)
            let alice = try await store.assign(user: name("alice@acme.example", .user), tenant: name("acme", .tenant)).user
            let bob = try await store.assign(user: name("bob@globex.example", .user), tenant: name("globex", .tenant)).user
            let mover = try await store.assign(user: name("mover@acme.example", .user), tenant: name("acme", .tenant)).user
            let target = mover.pair?.value == "eu-1" ? "eu-2" : "eu-1"
            let move = try await store.createMove(user: mover.id, to: name(target, .pair))
            _ = try await store.registerAgent(host: name("eu-1-a", .host), pair: name("eu-1", .pair), version: "0.1.0")
            let revoked = try await store.createToken(label: "old", role: .admin)
            _ = try await store.revokeToken(revoked.record.id)
            let fixtureStore = store
            let app = Application(router: CoordinatorAPI(store: store).makeRouter())
            try await app.test(.router) { client in
                let fixture = APIFixture(
                    store: fixtureStore, client: client, admin: admin,
                    acme: try await fixtureStore.createToken(label: "acme", role: .tenant(name("acme", .tenant))).secret,
                    globex: try await fixtureStore.createToken(label: "globex", role: .tenant(name("globex", .tenant))).secret,
                    agentEU1: try await fixtureStore.createToken(label: "eu-1", role: .agent(pair: name("eu-1", .pair))).secret,
                    agentEU2: try await fixtureStore.createToken(label: "eu-2", role: .agent(pair: name("eu-2", .pair))).secret,
                    revoked: revoked.secret, revokedID: revoked.record.id.rawValue, alice: alice, bob: bob,
                    moveID: move.id.rawValue)
                try await body(fixture)
            }
        }
    }
}
