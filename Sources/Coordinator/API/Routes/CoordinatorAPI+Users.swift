import Hummingbird

extension CoordinatorAPI {
    /// The default page size of `GET /v1/users`.
    static let defaultUserPageSize: Int64 = 100
    /// The largest page size of `GET /v1/users`.
    static let maximumUserPageSize: Int64 = 1000

    /// `/v1/users…` and `/v1/moves/{id}`: admin, or a tenant token for its tenant's users.
    /// Another tenant's user is refused with 403 before anything is changed.
    func addUserRoutes(to router: Router<CoordinatorRequestContext>) {
        let store = store
        let moveProgress = moveProgress
        let routes = routes
        router.post("/v1/users") { request, context in
            let role = try context.role()
            var body = try await Self.body(of: request)
            let name = try body.name("name", .user)
            let tenant = try body.name("tenant", .tenant)
            try body.finish()
            try Access.requireTenant(tenant, role, to: "assign users")
            let assignment = try await store.assign(user: name, tenant: tenant)
            return APIJSON.response(UserRepresentation(assignment.user), status: assignment.isNew ? .created : .ok)
        }
        router.get("/v1/users") { request, context in
            let role = try context.role()
            var tenant = try Self.nameQuery("tenant", .tenant, of: request)
            switch role {
            case .admin: break
            case .tenant(let own):
                if let tenant { try Access.requireTenant(tenant, role, to: "list users") }
                tenant = own
            case .agent: throw APIError.forbidden("a \(role.text) token may not list users; agents pull their pair's changes")
            }
            let mask = Self.query("mask", of: request)
            if let mask, mask.utf8.count > Self.maximumMaskLength {
                throw APIError.badRequest("query parameter mask is \(mask.utf8.count) bytes long; the limit is \(Self.maximumMaskLength)")
            }
            let after = try Self.integerQuery("after", of: request, in: 0...Int64.max, default: 0)
            let query = UserQuery(
                tenant: tenant, pair: try Self.nameQuery("pair", .pair, of: request), mask: mask,
                after: after == 0 ? nil : UserID(after),
                limit: Int(try Self.integerQuery("limit", of: request, in: 1...Self.maximumUserPageSize, default: Self.defaultUserPageSize)))
            let page = try await store.listUsers(query)
            return APIJSON.response(UserPage(users: page.users.map { UserRepresentation($0) }, next: page.next?.rawValue))
        }
        router.get("/v1/users/{user}") { _, context in
            let user = try await Self.user(in: context, store, to: "read users")
            return APIJSON.response(UserRepresentation(user, status: try await store.status(user: user.id)))
        }
        router.patch("/v1/users/{user}") { request, context in
            let user = try await Self.user(in: context, store, to: "change users")
            var body = try await Self.body(of: request)
            let noreplicate = try body.required("noreplicate", .bool)
            try body.finish()
            return APIJSON.response(UserRepresentation(try await store.setNoreplicate(user.id, noreplicate)))
        }
        router.delete("/v1/users/{user}") { _, context in
            let user = try await Self.user(in: context, store, to: "remove users")
            return APIJSON.response(UserRepresentation(try await store.removeUser(user.id)))
        }
        router.get("/v1/users/{user}/route") { _, context in
            // The hottest route (proxies look up every login): from memory where held, else
            // one query; the route's own tenant checked before it is answered.
            let role = try context.role()
            let name = try Self.name("user", .user, in: context)
            if case .agent = role { throw APIError.forbidden("a \(role.text) token may not look up routes") }
            let route: UserRoute
            if let routes {
                route = try await routes.route(user: name)
            } else {
                route = try await store.route(user: name)
            }
            try Access.requireTenant(route.tenant, role, to: "look up routes")
            return APIJSON.response(json: RouteRepresentation(route).json)
        }
        router.post("/v1/users/{user}/move") { request, context in
            let user = try await Self.user(in: context, store, to: "move users")
            var body = try await Self.body(of: request)
            let target = try body.name("to", .pair)
            try body.finish()
            return APIJSON.response(MoveRepresentation(try await store.createMove(user: user.id, to: target)), status: .accepted)
        }
        router.get("/v1/moves/{id}") { _, context in
            let role = try context.role()
            if case .agent = role { throw APIError.forbidden("a \(role.text) token may not read moves") }
            let move = try await Self.move(in: context, store, to: "read moves")
            return APIJSON.response(MoveRepresentation(move, progress: await moveProgress?.progress(of: move.id)))
        }
        router.post("/v1/moves/{id}/rollback") { _, context in
            let move = try await Self.move(in: context, store, to: "roll back moves")
            let rolledBack = try await store.rollBackMove(move.id, error: "rolled back by an operator")
            return APIJSON.response(MoveRepresentation(rolledBack, progress: await moveProgress?.progress(of: move.id)))
        }
    }

    /// The current user the path names, once the token may `action` it: admins any user,
    /// a tenant token its tenant's users, agent tokens none.
    ///
    /// - Throws: `badRequest` for an invalid name, `forbidden`, `notFound`.
    static func user(in context: CoordinatorRequestContext, _ store: any CoordinatorStore, to action: String) async throws
        -> UserRecord
    {
        let role = try context.role()
        let name = try Self.name("user", .user, in: context)
        if case .agent = role { throw APIError.forbidden("a \(role.text) token may not \(action)") }
        let user = try await store.user(name)
        try Access.requireTenant(user.tenant, role, to: action)
        return user
    }

    /// The move the path names, once the token may `action` it: admins any move, a tenant
    /// token its tenant's users' moves, agent tokens none.
    ///
    /// - Throws: `badRequest` for an invalid id, `forbidden`, `notFound`.
    static func move(in context: CoordinatorRequestContext, _ store: any CoordinatorStore, to action: String) async throws
        -> MoveRecord
    {
        let role = try context.role()
        if case .agent = role { throw APIError.forbidden("a \(role.text) token may not \(action)") }
        let move = try await store.move(MoveID(try Self.id("id", in: context)))
        if case .tenant = role {
            try Access.requireTenant(try await store.user(id: move.userID).tenant, role, to: action)
        }
        return move
    }

    /// `{"users": [user], "next": ID or null}`.
    struct UserPage: Encodable, Sendable {
        var users: [UserRepresentation]
        @EncodesNull var next: Int64?
    }
}
