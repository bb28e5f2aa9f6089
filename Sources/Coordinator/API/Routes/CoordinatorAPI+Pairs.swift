import Hummingbird

extension CoordinatorAPI {
    /// `/v1/pairs…`: admin; a tenant token reads the pairs its tenant may be placed on.
    func addPairRoutes(to router: Router<CoordinatorRequestContext>) {
        let store = store
        router.post("/v1/pairs") { request, context in
            try Access.requireAdmin(try context.role(), to: "add pairs")
            var body = try await Self.body(of: request)
            let name = try body.name("name", .pair)
            let capacity = try body.required("capacity", .integer)
            let weight = try body.optional("weight", .integer) ?? 1
            let state = try body.optional("state", .oneOf(PairState.self)) ?? .active
            var hostA = try body.object("host_a")
            var hostB = try body.object("host_b")
            let specification = PairSpecification(
                name: name, hostA: try Self.host(&hostA), hostB: try Self.host(&hostB), capacity: capacity, weight: weight,
                state: state)
            try body.finish()
            return APIJSON.response(PairRepresentation(try await store.addPair(specification)), status: .created)
        }
        router.get("/v1/pairs") { _, context in
            let role = try context.role()
            var pairs = try await store.listPairs()
            switch role {
            case .admin: break
            case .tenant(let own):
                if let allowed = try await store.tenant(own).allowedPairs { pairs.removeAll { !allowed.contains($0.name) } }
            case .agent: throw APIError.forbidden("a \(role.text) token may not list pairs")
            }
            return APIJSON.response(["pairs": pairs.map(PairRepresentation.init)])
        }
        router.get("/v1/pairs/{pair}") { _, context in
            let name = try Self.name("pair", .pair, in: context)
            try await Self.requireReadable(pair: name, try context.role(), store)
            return APIJSON.response(PairRepresentation(try await store.pair(name)))
        }
        router.patch("/v1/pairs/{pair}") { request, context in
            let name = try Self.name("pair", .pair, in: context)
            try Access.requireAdmin(try context.role(), to: "change pairs")
            var body = try await Self.body(of: request)
            let update = PairUpdate(
                state: try body.optional("state", .oneOf(PairState.self)), capacity: try body.optional("capacity", .integer),
                weight: try body.optional("weight", .integer))
            try body.finish()
            return APIJSON.response(PairRepresentation(try await store.updatePair(name, update)))
        }
        router.put("/v1/pairs/{pair}/hosts/{side}/health") { request, context in
            let name = try Self.name("pair", .pair, in: context)
            try Access.requireAdmin(try context.role(), to: "set host health")
            guard let side = context.parameters.get("side").flatMap(HostSide.init(rawValue:)) else {
                throw APIError.badRequest("path parameter side must be a or b")
            }
            var body = try await Self.body(of: request)
            let health = try body.required("health", .oneOf(HostHealth.self))
            try body.finish()
            _ = try await store.setHostHealth(pair: name, side: side, health: health)
            return Response(status: .noContent)
        }
        router.delete("/v1/pairs/{pair}") { _, context in
            let name = try Self.name("pair", .pair, in: context)
            try Access.requireAdmin(try context.role(), to: "remove pairs")
            let pair = try await store.pair(name)
            try await store.removePair(pair.id)
            return Response(status: .noContent)
        }
    }

    /// A host of a pair from its object in a body: `name`, `dsync` (`tls://`) and `admin`
    /// (`http(s)://`); a new host's health is unknown.
    static func host(_ object: inout JSONObjectReader) throws(APIError) -> PairHost {
        let name = try object.name("name", .host)
        let dsyncText = try object.required("dsync", .string)
        let adminText = try object.required("admin", .string)
        try object.finish()
        let dsync: ServiceEndpoint
        let admin: ServiceEndpoint
        do {
            dsync = try ServiceEndpoint(dsyncText, allowed: [.tls])
        } catch {
            throw .badRequest("field \"\(object.path(of: "dsync"))\": \(error)")
        }
        do {
            admin = try ServiceEndpoint(adminText, allowed: [.http, .https])
        } catch {
            throw .badRequest("field \"\(object.path(of: "admin"))\": \(error)")
        }
        return PairHost(name: name, dsyncEndpoint: dsync, adminEndpoint: admin, health: .unknown)
    }

    /// Admins read every pair; a tenant token the pairs of its tenant's shard group (every
    /// pair when it has none); agent tokens none.
    static func requireReadable(pair: CoordinatorName, _ role: TokenRole, _ store: any CoordinatorStore) async throws {
        switch role {
        case .admin: return
        case .tenant(let own):
            if let allowed = try await store.tenant(own).allowedPairs, !allowed.contains(pair) {
                throw APIError.forbidden("a \(role.text) token may not read pair \(pair.value.debugDescription): it is not in the tenant's allowed pairs")
            }
        case .agent: throw APIError.forbidden("a \(role.text) token may not read pairs")
        }
    }
}
