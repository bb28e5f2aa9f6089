import Foundation

extension SQLCoordinatorStore {
    public func createToken(label: String, role: TokenRole) async throws(CoordinatorStoreError) -> IssuedToken {
        var context = CoordinatorStoreError.Context()
        switch role {
        case .admin: break
        case .tenant(let tenant): context.tenant = tenant.value
        case .agent(let pair): context.pair = pair.value
        }
        guard label.utf8.count <= 200 else {
            throw .invalid("createToken", context, "the label is \(label.utf8.count) bytes long; the limit is 200")
        }
        let secret = TokenSecret.make()
        let at = now()
        let record = try await perform("createToken", context) { tx in
            var tenantID: SQLValue = .null
            var pairID: SQLValue = .null
            let kind: String
            switch role {
            case .admin:
                kind = "admin"
            case .tenant(let tenant):
                kind = "tenant"
                tenantID = SQLValue(try await self.readTenant(.name(tenant), tx, "createToken", context).id)
            case .agent(let pair):
                kind = "agent"
                pairID = SQLValue(try await self.pairIDs([pair], tx, "createToken", context)[0])
            }
            let rows = try await tx.query(
                """
                INSERT INTO duplex_tokens (label, role, tenant_id, pair_id, digest, created_at)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
                """, [.text(label), .text(kind), tenantID, pairID, .text(TokenSecret.digest(of: secret)), .date(at)])
            return try await self.readTokens("k.id = $1", [.integer(try rows[0].int64("id"))], tx)[0]
        }
        return IssuedToken(record: record, secret: secret)
    }

    public func verifyToken(secret: String) async throws(CoordinatorStoreError) -> TokenRecord? {
        // Anything else cannot be one of ours; not worth a query.
        guard secret.hasPrefix(TokenSecret.prefix), secret.utf8.count <= 128 else { return nil }
        return try await perform("verifyToken", write: false) { tx in
            try await self.readTokens(
                "k.digest = $1 AND k.revoked_at IS NULL", [.text(TokenSecret.digest(of: secret))], tx
            ).first
        }
    }

    public func listTokens() async throws(CoordinatorStoreError) -> [TokenRecord] {
        try await perform("listTokens", write: false) { tx in try await self.readTokens("true", [], tx) }
    }

    public func revokeToken(_ id: TokenID) async throws(CoordinatorStoreError) -> TokenRecord {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        let at = now()
        return try await perform("revokeToken", context) { tx in
            _ = try await tx.query(
                "UPDATE duplex_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [.date(at), SQLValue(id)])
            guard let token = try await self.readTokens("k.id = $1", [SQLValue(id)], tx).first else {
                throw CoordinatorStoreError.notFound("revokeToken", context, "the token")
            }
            return token
        }
    }

    private func readTokens(_ condition: String, _ binds: [SQLValue], _ tx: any SQLTransaction) async throws -> [TokenRecord] {
        let rows = try await tx.query(
            """
            SELECT k.id, k.label, k.role, t.name AS tenant_name, p.name AS pair_name, k.created_at, k.revoked_at
            FROM duplex_tokens k LEFT JOIN duplex_tenants t ON t.id = k.tenant_id LEFT JOIN duplex_pairs p ON p.id = k.pair_id
            WHERE \(condition) ORDER BY k.id
            """, binds)
        return try rows.map { row throws(CoordinatorStoreError) in
            let role: TokenRole
            switch try row.string("role") {
            case "admin": role = .admin
            case "tenant": role = .tenant(try row.name("tenant_name", .tenant))
            case "agent": role = .agent(pair: try row.name("pair_name", .pair))
            case let other: throw SQLRow.corrupt("role", "holds an unknown value \(other.debugDescription)")
            }
            return TokenRecord(
                id: try row.id("id"), label: try row.string("label"), role: role, createdAt: try row.date("created_at"),
                revokedAt: try row.optionalDate("revoked_at"))
        }
    }
}
