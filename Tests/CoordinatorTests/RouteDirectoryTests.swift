import Coordinator
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import PostgresNIO
import Testing

@testable import Coordinator

/// The routes and tokens a coordinator holds in memory (``RouteDirectory``), on the tests'
/// private PostgreSQL: they follow every change, whichever coordinator (store) made it, as
/// the database announces it; a load overtaken by a change keeps nothing stale; without
/// announcements nothing is served from memory.
@Suite(.serialized)
struct RouteDirectoryTests {
    /// Two stores on one new database, as two coordinators: `mine` with a running directory,
    /// `other` making changes. Both migrated, with tenant `example` and pairs `p1`, `p2`.
    private func withTwoCoordinators(
        running: Bool = true, _ body: @Sendable (_ mine: PostgresCoordinatorStore, _ other: PostgresCoordinatorStore, RouteDirectory) async throws -> Void
    ) async throws {
        let configuration = try await PostgresTestServer.shared.makeDatabase(maximumConnections: 4)
        let mine = PostgresCoordinatorStore(configuration: configuration)
        let other = PostgresCoordinatorStore(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await mine.run() }
            group.addTask { try await other.run() }
            defer { group.cancelAll() }
            try await other.migrate()
            _ = try await other.addTenant(name("example", .tenant), allowedPairs: nil, userQuota: nil)
            _ = try await other.addPair(try pairSpecification("p1", capacity: 100))
            _ = try await other.addPair(try pairSpecification("p2", capacity: 100))
            let directory = RouteDirectory(store: mine, feed: mine, logger: quietLogger)
            if running { group.addTask { await directory.run() } }
            try await body(mine, other, directory)
        }
    }

    /// Waits until the directory holds `user`'s route and it is the one the database's view
    /// gives now.
    private func waitUntilHeldAsInTheView(_ user: String, _ directory: RouteDirectory, _ store: PostgresCoordinatorStore) async throws {
        try await waitUntil("the held route of \(user) is the view's", guard: .seconds(120)) {
            guard let held = directory.heldRoute(user: name(user, .user)) else { return false }
            return held == (try await store.route(user: name(user, .user)))
        }
    }

    @Test func heldRoutes_followChangesMadeByAnotherCoordinator() async throws {
        try await withTwoCoordinators { _, other, directory in
            // Users assigned before and after the directory started listening.
            for user in ["u1@example.com", "u2@example.com"] {
                _ = try await other.assign(user: name(user, .user), tenant: name("example", .tenant))
            }
            try await waitUntilHeldAsInTheView("u1@example.com", directory, other)
            _ = try await other.assign(user: name("u3@example.com", .user), tenant: name("example", .tenant))
            for user in ["u2@example.com", "u3@example.com"] { try await waitUntilHeldAsInTheView(user, directory, other) }

            // A move's switch: the held route names the new pair and epoch.
            let u1 = try await other.user(name("u1@example.com", .user))
            let target = u1.pair?.value == "p1" ? "p2" : "p1"
            let move = try await other.createMove(user: u1.id, to: name(target, .pair))
            _ = try await other.finishMove(move.id)
            try await waitUntilHeldAsInTheView("u1@example.com", directory, other)
            let moved = try #require(directory.heldRoute(user: name("u1@example.com", .user)))
            #expect(moved.pair.value == target && moved.epoch == u1.epoch + 1, "\(moved)")

            // A host marked down: routes of its pair point at the other host.
            let u2 = try await other.route(user: name("u2@example.com", .user))
            _ = try await other.setHostHealth(pair: u2.pair, side: u2.preferredSide, health: .down)
            try await waitUntil("the held route of u2 shows its preferred host down", guard: .seconds(120)) {
                directory.heldRoute(user: name("u2@example.com", .user))?.currentSide == u2.preferredSide.other
            }
            try await waitUntilHeldAsInTheView("u2@example.com", directory, other)

            // A removed user is held no more and is not found; its name assigned again is a new id.
            let u3 = try await other.user(name("u3@example.com", .user))
            _ = try await other.removeUser(u3.id)
            try await waitUntil("u3 is no longer held", guard: .seconds(120)) {
                directory.heldRoute(user: name("u3@example.com", .user)) == nil
            }
            await #expect(throws: CoordinatorStoreError.self) { try await directory.route(user: name("u3@example.com", .user)) }
            let again = try await other.assign(user: name("u3@example.com", .user), tenant: name("example", .tenant))
            try await waitUntilHeldAsInTheView("u3@example.com", directory, other)
            #expect(directory.heldRoute(user: name("u3@example.com", .user))?.userID == again.user.id && again.user.id != u3.id)
        }
    }

    @Test func listeningConnectionEnded_changesMissedMeanwhileAreLoadedWhenListeningAgain() async throws {
        try await withTwoCoordinators { _, other, directory in
            _ = try await other.assign(user: name("u1@example.com", .user), tenant: name("example", .tenant))
            try await waitUntilHeldAsInTheView("u1@example.com", directory, other)
            let before = try #require(directory.heldRoute(user: name("u1@example.com", .user)))
            let listening = directory.state.withLock { $0.listening }

            // The server ends the directory's listening session (as a restart or a network
            // fault would), and the user moves while nothing may be listening.
            let ended = try await other.client.query(
                """
                SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
                WHERE datname = current_database() AND query ILIKE 'LISTEN%'
                """)
            var count = 0
            for try await wasEnded in ended.decode(Bool.self) where wasEnded { count += 1 }
            #expect(count == 1, "one listening session")
            let move = try await other.createMove(user: before.userID, to: name(before.pair.value == "p1" ? "p2" : "p1", .pair))
            _ = try await other.finishMove(move.id)

            try await waitUntilHeldAsInTheView("u1@example.com", directory, other)
            #expect(directory.heldRoute(user: name("u1@example.com", .user))?.epoch == before.epoch + 1)
            #expect(directory.state.withLock { $0.listening } >= listening + 2, "the directory stopped and listened again")
        }
    }

    @Test func verifiedToken_isForgottenWhenAnotherCoordinatorRevokesIt() async throws {
        try await withTwoCoordinators { _, other, directory in
            try await waitUntil("the directory listens", guard: .seconds(120)) { directory.state.withLock { $0.isListening } }
            let issued = try await other.createToken(label: "proxy", role: .tenant(name("example", .tenant)))
            let digest = TokenSecret.digest(of: issued.secret)
            // The token's creation is announced too (and forgets every held token): a
            // verification is held once it comes after that announcement.
            try await waitUntil("the verified token is held", guard: .seconds(120)) {
                let verified = try await directory.verifyToken(secret: issued.secret)
                #expect(verified == issued.record)
                return directory.state.withLock { $0.tokens[digest]?.record == issued.record }
            }
            #expect(try await directory.verifyToken(secret: "dpx_unknown") == nil)
            #expect(directory.state.withLock { $0.tokens[TokenSecret.digest(of: "dpx_unknown")] == nil }, "an unknown token is never held")

            _ = try await other.revokeToken(issued.record.id)
            try await waitUntil("the revoked token no longer verifies", guard: .seconds(120)) {
                try await directory.verifyToken(secret: issued.secret) == nil
            }
            #expect(directory.state.withLock { $0.tokens.isEmpty })
        }
    }

    @Test func loadOvertakenByAChange_keepsNothingStaleForThatUser() async throws {
        try await withTwoCoordinators(running: false) { _, other, directory in
            for user in ["a@example.com", "b@example.com"] {
                _ = try await other.assign(user: name(user, .user), tenant: name("example", .tenant))
            }
            // The events in the order a race gives them: listening starts, the fleet is loaded,
            // a page of users is asked for, a change of `a` is announced before the page comes.
            directory.startedListening()
            let fleet = try #require(directory.nextWork())
            try await directory.load(fleet)
            let page = try #require(directory.nextWork())
            #expect(page == .users(after: nil, listening: directory.state.withLock { $0.listening }))
            directory.received(.userChanged("a@example.com"))
            try await directory.load(page)
            #expect(directory.heldRoute(user: name("a@example.com", .user)) == nil, "a's row in the page may predate its change")
            #expect(directory.heldRoute(user: name("b@example.com", .user)) == (try await other.route(user: name("b@example.com", .user))))
            #expect(directory.nextWork() == nil)

            // A lookup of `a` reads the database, then `a` is loaded on its own.
            let fromDatabase = try await directory.route(user: name("a@example.com", .user))
            #expect(fromDatabase == (try await other.route(user: name("a@example.com", .user))))
            let single = try #require(directory.nextWork())
            #expect(single == .user("a@example.com", listening: directory.state.withLock { $0.listening }))
            try await directory.load(single)
            #expect(directory.heldRoute(user: name("a@example.com", .user)) == fromDatabase)

            // A fleet change voids the fleet until it is reloaded.
            directory.received(.fleetChanged)
            #expect(directory.heldRoute(user: name("b@example.com", .user)) == nil)
            try await directory.load(try #require(directory.nextWork()))
            #expect(directory.heldRoute(user: name("b@example.com", .user)) != nil)

            // Without announcements nothing is served from memory, and a load made while
            // listening before is not kept.
            let listeningBefore = directory.state.withLock { $0.listening }
            directory.stoppedListening()
            #expect(directory.heldRoute(user: name("b@example.com", .user)) == nil)
            #expect(directory.nextWork() == nil)
            let b = try #require(try await other.routeEntry(user: "b@example.com"))
            directory.usersLoaded([("b@example.com", b)], page: true, listening: listeningBefore)
            #expect(directory.state.withLock { $0.users.isEmpty })
            #expect(try await directory.route(user: name("b@example.com", .user)).user.value == "b@example.com")
            #expect(directory.state.withLock { $0.pendingUsers.isEmpty }, "nothing is queued while not listening")
        }
    }

    /// A route lookup answered on the event loop (``RouteLookupFastPath``): exactly the API's
    /// body and headers when the token and the route are held and the token may see the
    /// user's tenant; every other request handed on untouched, and none answered while a
    /// request handed on waits for its response (HTTP/1.1 answers in order).
    @Test func routeLookupFastPath_answersHeldLookups_andHandsOnEverythingElse() async throws {
        try await withTwoCoordinators { _, other, directory in
            try await waitUntil("the directory listens", guard: .seconds(120)) { directory.state.withLock { $0.isListening } }
            _ = try await other.addTenant(name("other", .tenant), allowedPairs: nil, userQuota: nil)
            _ = try await other.assign(user: name("alice@example.com", .user), tenant: name("example", .tenant))
            let admin = try await other.createToken(label: "admin", role: .admin)
            let tenant = try await other.createToken(label: "proxy", role: .tenant(name("example", .tenant)))
            let stranger = try await other.createToken(label: "stranger", role: .tenant(name("other", .tenant)))
            let agent = try await other.createToken(label: "agent", role: .agent(pair: name("p1", .pair)))
            try await waitUntilHeldAsInTheView("alice@example.com", directory, other)
            for issued in [admin, tenant, stranger, agent] {
                try await waitUntil("the token \(issued.record.label) is held", guard: .seconds(120)) {
                    _ = try await directory.verifyToken(secret: issued.secret)
                    return directory.heldToken(secret: issued.secret) == issued.record
                }
            }
            let route = try #require(directory.heldRoute(user: name("alice@example.com", .user)))
            let expected = Array(RouteRepresentation(route).json)

            let channel = EmbeddedChannel(handler: RouteLookupFastPath(routes: directory, logger: quietLogger))
            func send(_ path: String, secret: String?, method: HTTPRequest.Method = .get, fields: HTTPFields = [:]) throws {
                var head = HTTPRequest(method: method, scheme: nil, authority: nil, path: path, headerFields: fields)
                if let secret { head.headerFields[.authorization] = "Bearer \(secret)" }
                try channel.writeInbound(HTTPRequestPart.head(head))
                try channel.writeInbound(HTTPRequestPart.end(nil))
            }
            /// The request handed on, if one was: its head's path.
            func handedOn() throws -> String? {
                guard let part = try channel.readInbound(as: HTTPRequestPart.self) else { return nil }
                guard case .head(let head) = part else { Issue.record("a handed-on request starts with \(part)"); return nil }
                let end = try channel.readInbound(as: HTTPRequestPart.self)
                guard case .end = end else { Issue.record("a handed-on request ends with \(String(describing: end))"); return nil }
                return head.path
            }
            /// The answer written here, if one was: status, headers and body.
            func answered() throws -> (HTTPResponse, [UInt8])? {
                guard let first = try channel.readOutbound(as: HTTPResponsePart.self) else { return nil }
                guard case .head(let head) = first, case .body(let body) = try channel.readOutbound(as: HTTPResponsePart.self),
                    case .end(nil) = try channel.readOutbound(as: HTTPResponsePart.self)
                else { Issue.record("an answer is a head, one body and an end"); return nil }
                return (head, Array(body.readableBytesView))
            }

            let path = "/v1/users/alice@example.com/route"
            for secret in [admin.secret, tenant.secret] {
                try send(path, secret: secret)
                #expect(try handedOn() == nil)
                let (head, body) = try #require(try answered())
                #expect(head.status == .ok)
                #expect(head.headerFields[.contentType] == "application/json")
                #expect(head.headerFields[.contentLength] == String(expected.count))
                #expect(head.headerFields[.date]?.hasSuffix(" GMT") == true, "\(head.headerFields)")
                #expect(head.headerFields.count == 3, "\(head.headerFields)")
                #expect(body == expected)
            }

            // Refusals, routes not held and other requests are the API's to answer.
            let handOn: [(String, String?, HTTPRequest.Method, HTTPFields)] = [
                (path, stranger.secret, .get, [:]), (path, agent.secret, .get, [:]), (path, "dpx_unknown", .get, [:]),
                (path, nil, .get, [:]), ("/v1/users/nobody@example.com/route", admin.secret, .get, [:]),
                ("/v1/users/alice%40example.com/route", admin.secret, .get, [:]), (path + "?x=1", admin.secret, .get, [:]),
                ("/v1/users/alice@example.com", admin.secret, .get, [:]), (path, admin.secret, .head, [:]),
                (path, admin.secret, .get, [.connection: "close"]), ("/v1/users//route", admin.secret, .get, [:]),
            ]
            for (requestPath, secret, method, fields) in handOn {
                try send(requestPath, secret: secret, method: method, fields: fields)
                #expect(try handedOn() == requestPath, "\(method) \(requestPath)")
                #expect(try answered() == nil, "\(method) \(requestPath)")
                // The API's answer passes through, and ends the wait.
                try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .forbidden)))
                try channel.writeOutbound(HTTPResponsePart.end(nil))
                #expect(try channel.readOutbound(as: HTTPResponsePart.self) == .head(HTTPResponse(status: .forbidden)))
                #expect(try channel.readOutbound(as: HTTPResponsePart.self) == .end(nil))
            }

            // While a request handed on waits for its answer, a lookup behind it is handed on too.
            try send(path, secret: stranger.secret)
            try send(path, secret: admin.secret)
            #expect(try handedOn() == path)
            #expect(try handedOn() == path)
            #expect(try answered() == nil)
            for _ in 0..<2 {
                try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
                try channel.writeOutbound(HTTPResponsePart.end(nil))
            }
            while try channel.readOutbound(as: HTTPResponsePart.self) != nil {}
            try send(path, secret: admin.secret)
            #expect(try handedOn() == nil)
            #expect(try answered()?.1 == expected, "answered here again once both were answered")
            _ = try channel.finish()
        }
    }

    @Test func httpDate_isIMFFixdate() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")  // RFC 9110's example
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(1_796_036_400) == "Mon, 30 Nov 2026 11:00:00 GMT")
    }

    @Test func directory_onlyForAPostgreSQLPoolOfTwoConnectionsOrMore() async throws {
        for (connections, expected) in [(1, false), (2, true), (20, true)] {
            var configuration = PostgresClient.Configuration(unixSocketPath: "/nonexistent/.s.PGSQL.5432", username: "duplex", password: nil, database: "duplex")
            configuration.options.maximumConnections = connections
            let store = PostgresCoordinatorStore(configuration: configuration)
            #expect((RouteDirectory.make(for: store, logger: quietLogger) != nil) == expected, "a pool of \(connections)")
        }
        let sqlite = try await SQLiteCoordinatorStore(path: nil)
        #expect(RouteDirectory.make(for: sqlite, logger: quietLogger) == nil)
        await sqlite.close()
    }

    @Test(arguments: [
        ("u:alice@example.com", StoreChange.userChanged("alice@example.com")), ("+", .usersAdded), ("f", .fleetChanged),
        ("t", .tokensChanged),
    ])
    func announcement_isReadFromItsPayload(payload: String, change: StoreChange) {
        #expect(StoreChange(payload: payload) == change)
    }

    @Test(arguments: ["", "u:", "u", "x", "++", "U:alice@example.com"])
    func unknownAnnouncement_isIgnored(payload: String) {
        #expect(StoreChange(payload: payload) == nil)
    }
}
