import Hummingbird

extension CoordinatorAPI {
    /// `POST|GET /v1/tenants`, `GET|PATCH /v1/tenants/{tenant}`: admin; a tenant token reads
    /// its own tenant (and lists only it).
    func addTenantRoutes(to router: Router<CoordinatorRequestContext>) {
        let store = store
        router.post("/v1/tenants") { request, context in
            try Access.requireAdmin(try context.role(), to: "add tenants")
            var body = try await Self.body(of: request)
            let name = try body.name("name", .tenant)
            let allowedPairs = try body.optional("allowed_pairs", .stringList).map { names throws(APIError) in
                try Self.pairNames(names, field: body.path(of: "allowed_pairs"))
            }
            let quota = try body.optional("user_quota", .integer)
            try body.finish()
            let tenant = try await store.addTenant(name, allowedPairs: allowedPairs, userQuota: quota)
            return APIJSON.response(TenantRepresentation(tenant), status: .created)
        }
        router.get("/v1/tenants") { _, context in
            let tenants: [TenantRecord]
            switch try context.role() {
            case .admin: tenants = try await store.listTenants()
            case .tenant(let own): tenants = [try await store.tenant(own)]
            case let role: throw APIError.forbidden("a \(role.text) token may not list tenants")
            }
            return APIJSON.response(["tenants": tenants.map(TenantRepresentation.init)])
        }
        router.get("/v1/tenants/{tenant}") { _, context in
            let name = try Self.name("tenant", .tenant, in: context)
            try Access.requireTenant(name, try context.role(), to: "read the tenant")
            return APIJSON.response(TenantRepresentation(try await store.tenant(name)))
        }
        router.patch("/v1/tenants/{tenant}") { request, context in
            let name = try Self.name("tenant", .tenant, in: context)
            try Access.requireAdmin(try context.role(), to: "change tenants")
            var body = try await Self.body(of: request)
            var update = TenantUpdate()
            switch try body.patch("allowed_pairs", .stringList) {
            case .absent: break
            case .null: update.allowedPairs = .some(nil)
            case .value(let names): update.allowedPairs = .some(try Self.pairNames(names, field: body.path(of: "allowed_pairs")))
            }
            update.userQuota = try body.patch("user_quota", .integer).update
            try body.finish()
            return APIJSON.response(TenantRepresentation(try await store.updateTenant(name, update)))
        }
    }

    /// Each of `names` as a pair name, or `badRequest` naming the item.
    static func pairNames(_ names: [String], field: String) throws(APIError) -> [CoordinatorName] {
        var pairs: [CoordinatorName] = []
        for (index, text) in names.enumerated() {
            pairs.append(try JSONObjectReader.name(text, .pair, field: "field \"\(field)[\(index)]\""))
        }
        return pairs
    }
}
