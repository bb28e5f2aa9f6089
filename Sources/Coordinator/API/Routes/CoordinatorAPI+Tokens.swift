import Hummingbird

extension CoordinatorAPI {
    /// `/v1/tokens…`: admin only. A new token's secret is in the creation's answer only.
    func addTokenRoutes(to router: Router<CoordinatorRequestContext>) {
        let store = store
        router.post("/v1/tokens") { request, context in
            try Access.requireAdmin(try context.role(), to: "create tokens")
            var body = try await Self.body(of: request)
            let label = try body.required("label", .string)
            let roleText = try body.required("role", .string)
            try body.finish()
            let role: TokenRole
            do {
                role = try TokenRole(text: roleText)
            } catch let error as TokenRoleSyntaxError {
                throw APIError.badRequest("field \"role\": \(error.reason)")
            }
            let issued = try await store.createToken(label: label, role: role)
            return APIJSON.response(Issued(token: TokenRepresentation(issued.record), secret: issued.secret), status: .created)
        }
        router.get("/v1/tokens") { _, context in
            try Access.requireAdmin(try context.role(), to: "list tokens")
            return APIJSON.response(["tokens": try await store.listTokens().map(TokenRepresentation.init)])
        }
        router.delete("/v1/tokens/{id}") { _, context in
            try Access.requireAdmin(try context.role(), to: "revoke tokens")
            let id = try Self.id("id", in: context)
            return APIJSON.response(TokenRepresentation(try await store.revokeToken(TokenID(id))))
        }
    }

    /// `{"token": token, "secret": "…"}`.
    struct Issued: Encodable, Sendable {
        var token: TokenRepresentation
        var secret: String
    }
}
