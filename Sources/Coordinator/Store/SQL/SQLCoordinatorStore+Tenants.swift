import Foundation

extension SQLCoordinatorStore {
    public func addTenant(_ name: CoordinatorName, allowedPairs: [CoordinatorName]?, userQuota: Int?)
        async throws(CoordinatorStoreError) -> TenantRecord
    {
        let context = CoordinatorStoreError.Context(tenant: name.value)
        if let userQuota, userQuota < 0 {
            throw .invalid("addTenant", context, "the user quota \(userQuota) is below 0")
        }
        let createdAt = now()
        return try await perform("addTenant", context) { tx in
            if try await !tx.query("SELECT id FROM duplex_tenants WHERE name = $1", [.text(name.value)]).isEmpty {
                throw CoordinatorStoreError.conflict("addTenant", context, "the tenant already exists")
            }
            let pairIDs = try await self.pairIDs(allowedPairs ?? [], tx, "addTenant", context)
            let inserted = try await tx.query(
                """
                INSERT INTO duplex_tenants (name, restricted, user_quota, created_at)
                VALUES ($1, $2, $3, $4) RETURNING id
                """, [.text(name.value), .bool(allowedPairs != nil), SQLValue(userQuota), .date(createdAt)])
            let id: TenantID = try inserted[0].id("id")
            try await self.setAllowedPairs(pairIDs, of: id, tx)
            return try await self.readTenant(.id(id), tx, "addTenant", context)
        }
    }

    public func listTenants() async throws(CoordinatorStoreError) -> [TenantRecord] {
        try await perform("listTenants", write: false) { tx in try await self.readTenants(nil, tx) }
    }

    public func tenant(_ name: CoordinatorName) async throws(CoordinatorStoreError) -> TenantRecord {
        let context = CoordinatorStoreError.Context(tenant: name.value)
        return try await perform("tenant", context, write: false) { tx in
            try await self.readTenant(.name(name), tx, "tenant", context)
        }
    }

    public func updateTenant(_ name: CoordinatorName, _ update: TenantUpdate) async throws(CoordinatorStoreError)
        -> TenantRecord
    {
        let context = CoordinatorStoreError.Context(tenant: name.value)
        if case .some(.some(let quota)) = update.userQuota, quota < 0 {
            throw .invalid("updateTenant", context, "the user quota \(quota) is below 0")
        }
        return try await perform("updateTenant", context) { tx in
            let rows = try await tx.query(
                "SELECT id FROM duplex_tenants t WHERE name = $1" + self.driver.dialect.lockRows("t"), [.text(name.value)])
            guard let row = rows.first else { throw CoordinatorStoreError.notFound("updateTenant", context, "the tenant") }
            let id: TenantID = try row.id("id")
            if let quota = update.userQuota {
                _ = try await tx.query("UPDATE duplex_tenants SET user_quota = $1 WHERE id = $2", [SQLValue(quota), SQLValue(id)])
            }
            if let allowed = update.allowedPairs {
                let pairIDs = try await self.pairIDs(allowed ?? [], tx, "updateTenant", context)
                _ = try await tx.query(
                    "UPDATE duplex_tenants SET restricted = $1 WHERE id = $2", [.bool(allowed != nil), SQLValue(id)])
                _ = try await tx.query("DELETE FROM duplex_tenant_pairs WHERE tenant_id = $1", [SQLValue(id)])
                try await self.setAllowedPairs(pairIDs, of: id, tx)
            }
            return try await self.readTenant(.id(id), tx, "updateTenant", context)
        }
    }

    // MARK: Helpers

    enum TenantKey {
        case id(TenantID)
        case name(CoordinatorName)
    }

    func readTenant(_ key: TenantKey, _ tx: any SQLTransaction, _ operation: String, _ context: CoordinatorStoreError.Context)
        async throws -> TenantRecord
    {
        guard let tenant = try await readTenants(key, tx).first else {
            throw CoordinatorStoreError.notFound(operation, context, "the tenant")
        }
        return tenant
    }

    func readTenants(_ key: TenantKey?, _ tx: any SQLTransaction) async throws -> [TenantRecord] {
        let condition: String
        let binds: [SQLValue]
        switch key {
        case .id(let id): (condition, binds) = ("WHERE t.id = $1", [SQLValue(id)])
        case .name(let name): (condition, binds) = ("WHERE t.name = $1", [.text(name.value)])
        case nil: (condition, binds) = ("", [])
        }
        let rows = try await tx.query(
            """
            SELECT t.id, t.name, t.restricted, t.user_quota, t.created_at,
                (SELECT count(*) FROM duplex_users u WHERE u.tenant_id = t.id AND u.state <> 'removed') AS user_count
            FROM duplex_tenants t \(condition) ORDER BY t.name
            """, binds)
        let allowed = try await tx.query(
            """
            SELECT tp.tenant_id, p.name FROM duplex_tenant_pairs tp JOIN duplex_pairs p ON p.id = tp.pair_id
            JOIN duplex_tenants t ON t.id = tp.tenant_id \(condition) ORDER BY p.name
            """, binds)
        var pairsByTenant: [Int64: [CoordinatorName]] = [:]
        for row in allowed {
            pairsByTenant[try row.int64("tenant_id"), default: []].append(try row.name("name", .pair))
        }
        return try rows.map { row throws(CoordinatorStoreError) in
            let id: TenantID = try row.id("id")
            return TenantRecord(
                id: id, name: try row.name("name", .tenant),
                allowedPairs: try row.bool("restricted") ? pairsByTenant[id.rawValue, default: []] : nil,
                userQuota: try row.optionalInt64("user_quota").map(Int.init), userCount: try row.int("user_count"),
                createdAt: try row.date("created_at"))
        }
    }

    /// The ids of the named pairs, all of which must exist.
    func pairIDs(
        _ names: [CoordinatorName], _ tx: any SQLTransaction, _ operation: String,
        _ context: CoordinatorStoreError.Context
    ) async throws -> [PairID] {
        var ids: [PairID] = []
        for name in Set(names).sorted() {
            let rows = try await tx.query("SELECT id FROM duplex_pairs WHERE name = $1", [.text(name.value)])
            guard let row = rows.first else {
                var context = context
                context.pair = name.value
                throw CoordinatorStoreError.notFound(operation, context, "the pair")
            }
            ids.append(try row.id("id"))
        }
        return ids
    }

    private func setAllowedPairs(_ pairIDs: [PairID], of tenant: TenantID, _ tx: any SQLTransaction) async throws {
        for pairID in pairIDs {
            _ = try await tx.query(
                "INSERT INTO duplex_tenant_pairs (tenant_id, pair_id) VALUES ($1, $2)", [SQLValue(tenant), SQLValue(pairID)])
        }
    }
}
