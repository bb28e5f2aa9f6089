import Foundation
import Hummingbird

extension CoordinatorAPI {
    /// `POST /v1/users/{user}/purge-old`: admin, or a tenant token for its tenant's users.
    ///
    /// The body is `{}` (the user's latest finished move) or `{"move": ID}`. The name is
    /// resolved to the current user's id once; everything after acts on that id and the
    /// move's record (``MovePurger``). Answers 200 with the purge; 404, 409 when the purge is
    /// refused (nothing changed); 502 when a host of the old pair refused or could not be
    /// reached; 503 when this coordinator has no moves configuration.
    func addPurgeRoute(to router: Router<CoordinatorRequestContext>) {
        let store = store
        let purger = purger
        router.post("/v1/users/{user}/purge-old") { request, context in
            let user = try await Self.user(in: context, store, to: "purge users' old copies")
            var body = try await Self.body(of: request)
            let move = try body.optional("move", .integer64)
            try body.finish()
            if let move, move < 1 { throw APIError.badRequest("field move must be a positive whole number, got \(move)") }
            guard let purger else {
                throw APIError(.unavailable, "this coordinator has no moves configuration, so it cannot reach the agents to purge")
            }
            let outcome: MovePurger.Outcome
            do {
                outcome = try await purger.purgeOld(user: user.id, move: move.map(MoveID.init))
            } catch let error as MovePurgeError {
                throw APIError(.agentFailed, error.description)
            }
            return APIJSON.response(PurgeRepresentation(outcome))
        }
    }
}

/// `{"move": move, "pair": NAME, "already_purged": Bool, "hosts": [{"host", "existed", "mail_root"}]}`.
struct PurgeRepresentation: Encodable, Sendable {
    struct Host: Encodable, Sendable {
        var host: String
        var existed: Bool
        var mailRoot: String
    }

    var move: MoveRepresentation
    /// The pair whose copy was purged.
    var pair: String
    var alreadyPurged: Bool
    var hosts: [Host]

    init(_ outcome: MovePurger.Outcome) {
        move = MoveRepresentation(outcome.move)
        pair = outcome.move.fromPair.value
        alreadyPurged = outcome.alreadyPurged
        hosts = outcome.hosts.map { Host(host: $0.host.value, existed: $0.existed, mailRoot: $0.mailRoot) }
    }
}
