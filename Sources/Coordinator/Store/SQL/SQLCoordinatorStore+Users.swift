import Foundation

extension SQLCoordinatorStore {
    public func assign(user: CoordinatorName, tenant: CoordinatorName) async throws(CoordinatorStoreError) -> Assignment {
        let context = CoordinatorStoreError.Context(tenant: tenant.value, user: user.value)
        let at = now()
        return try await perform("assign", context) { tx in
            // One round trip for the tenant and whether the user exists: the common cases (a new
            // user, a repeated assign) need nothing else before placement.
            let tenants = try await tx.query(
                """
                SELECT t.id, t.restricted, t.user_quota,
                    (SELECT u.id FROM duplex_users u WHERE u.name = $1 AND u.state <> 'removed') AS existing_id
                FROM duplex_tenants t WHERE t.name = $2
                """, [.text(user.value), .text(tenant.value)])
            guard let tenantRow = tenants.first else { throw CoordinatorStoreError.notFound("assign", context, "the tenant") }
            if let existingID: UserID = try tenantRow.optionalID("existing_id") {
                let existing = try await self.readUser(id: existingID, tx, "assign", context)
                guard existing.tenant == tenant else {
                    throw CoordinatorStoreError.conflict("assign", context, "the user belongs to tenant \(existing.tenant)")
                }
                return Assignment(user: existing, isNew: false)
            }
            let tenantID: TenantID = try tenantRow.id("id")
            if !tenantRow.isNull("user_quota") {
                // A quota is checked with the tenant's row locked, so concurrent assigns of one
                // tenant with a quota take turns; tenants without a quota take no such lock.
                let locked = try await tx.query(
                    "SELECT t.user_quota FROM duplex_tenants t WHERE t.id = $1" + self.driver.dialect.lockRows("t"),
                    [SQLValue(tenantID)])
                let quota = try locked[0].optionalInt64("user_quota") ?? .max
                let count = try await tx.query(
                    "SELECT count(*) AS n FROM duplex_users WHERE tenant_id = $1 AND state <> 'removed'",
                    [SQLValue(tenantID)])
                if try count[0].int64("n") >= quota {
                    throw CoordinatorStoreError(
                        .quotaExceeded, operation: "assign", context: context,
                        message: "the tenant has \(quota) user(s), its quota")
                }
            }
            let candidateRows = try await tx.query(
                """
                SELECT p.id, p.name, p.user_count, p.capacity, p.weight FROM duplex_pairs p
                WHERE p.state = 'active' AND p.user_count < p.capacity
                    AND (NOT $1 OR p.id IN (SELECT pair_id FROM duplex_tenant_pairs WHERE tenant_id = $2))
                """, [.bool(try tenantRow.bool("restricted")), SQLValue(tenantID)]
            )
            var pairNames: [PairID: CoordinatorName] = [:]
            let candidates = try candidateRows.map { row throws(CoordinatorStoreError) in
                let candidate = Placement.Candidate(
                    id: try row.id("id"), userCount: try row.int64("user_count"), capacity: try row.int64("capacity"),
                    weight: try row.int64("weight"))
                pairNames[candidate.id] = try row.name("name", .pair)
                return candidate
            }
            // The counter is raised only while the pair still has room: the UPDATE re-checks
            // its condition on the newest row after waiting for the row lock, so concurrent
            // assigns never push a pair over its capacity.
            for candidate in Placement.order(candidates, for: user) {
                guard let version = try await self.adjustPair(candidate.id, users: +1, onlyIfRoom: true, tx) else { continue }
                let inserted = try await tx.query(
                    """
                    INSERT INTO duplex_users (name, tenant_id, pair_id, preferred_host, state, epoch, version,
                        created_at, updated_at)
                    VALUES ($1, $2, $3, $4, 'active', 1, $5, $6, $6)
                    ON CONFLICT (name) WHERE state <> 'removed' DO NOTHING
                    RETURNING id, created_at
                    """,
                    [
                        .text(user.value), SQLValue(tenantID), SQLValue(candidate.id),
                        .text(HostSide.preferred(for: user).rawValue), .integer(version), .date(at),
                    ])
                // Another transaction assigned the same user first: roll back (freeing the place
                // taken above) and answer with its assignment.
                guard let row = inserted.first else { throw RaceLost() }
                try await self.logChange(pair: candidate.id, version: version, user: try row.id("id"), tx)
                let assigned = UserRecord(
                    id: try row.id("id"), name: user, tenantID: tenantID, tenant: tenant, pairID: candidate.id,
                    pair: pairNames[candidate.id], preferredHost: HostSide.preferred(for: user), state: .active,
                    noreplicate: false, epoch: 1, version: version, createdAt: try row.date("created_at"),
                    updatedAt: try row.date("created_at"))
                return Assignment(user: assigned, isNew: true)
            }
            throw CoordinatorStoreError(
                .capacityExhausted, operation: "assign", context: context,
                message: "no active pair allowed for the tenant has room")
        }
    }

    public func user(_ name: CoordinatorName) async throws(CoordinatorStoreError) -> UserRecord {
        let context = CoordinatorStoreError.Context(user: name.value)
        return try await perform("user", context, write: false) { tx in
            guard let user = try await self.readUsers("u.name = $1 AND u.state <> 'removed'", [.text(name.value)], tx).first
            else { throw CoordinatorStoreError.notFound("user", context, "the user") }
            return user
        }
    }

    public func user(id: UserID) async throws(CoordinatorStoreError) -> UserRecord {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        return try await perform("user", context, write: false) { tx in try await self.readUser(id: id, tx, "user", context) }
    }

    public func listUsers(_ query: UserQuery) async throws(CoordinatorStoreError) -> UserPage {
        let context = CoordinatorStoreError.Context(tenant: query.tenant?.value, pair: query.pair?.value)
        guard (1...UserQuery.maximumLimit).contains(query.limit) else {
            throw .invalid("listUsers", context, "the limit \(query.limit) is outside 1-\(UserQuery.maximumLimit)")
        }
        return try await perform("listUsers", context, write: false) { tx in
            var conditions: [String] = []
            var binds: [SQLValue] = []
            func bind(_ value: SQLValue) -> String {
                binds.append(value)
                return "$\(binds.count)"
            }
            if let tenant = query.tenant {
                let rows = try await tx.query("SELECT id FROM duplex_tenants WHERE name = $1", [.text(tenant.value)])
                guard let row = rows.first else { throw CoordinatorStoreError.notFound("listUsers", context, "the tenant") }
                conditions.append("u.tenant_id = \(bind(.integer(try row.int64("id"))))")
            }
            if let pair = query.pair {
                let id = try await self.pairIDs([pair], tx, "listUsers", context)[0]
                conditions.append("u.pair_id = \(bind(SQLValue(id)))")
            }
            if let mask = query.mask {
                let placeholder = bind(.text(self.driver.dialect.maskPattern(mask)))
                conditions.append(self.driver.dialect.maskCondition("u.name", placeholder))
            }
            if !query.includeRemoved { conditions.append("u.state <> 'removed'") }
            if let after = query.after { conditions.append("u.id > \(bind(SQLValue(after)))") }
            let limit = bind(.integer(Int64(query.limit) + 1))
            var users = try await self.readUsers(
                conditions.isEmpty ? "true" : conditions.joined(separator: " AND "), binds, tx, suffix: "ORDER BY u.id LIMIT \(limit)")
            let hasMore = users.count > query.limit
            if hasMore { users.removeLast() }
            return UserPage(users: users, next: hasMore ? users.last?.id : nil)
        }
    }

    public func setNoreplicate(_ id: UserID, _ noreplicate: Bool) async throws(CoordinatorStoreError) -> UserRecord {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        let at = now()
        return try await perform("setNoreplicate", context) { tx in
            let user = try await self.lockCurrentUser(id, tx, "setNoreplicate", context)
            guard user.noreplicate != noreplicate, let pairID = user.pairID else { return user }
            let version = try await self.recordChange(pair: pairID, user: id, users: 0, tx)
            _ = try await tx.query(
                "UPDATE duplex_users SET noreplicate = $1, version = $2, updated_at = $3 WHERE id = $4",
                [.bool(noreplicate), .integer(version), .date(at), SQLValue(id)])
            return try await self.readUser(id: id, tx, "setNoreplicate", context)
        }
    }

    public func removeUser(_ id: UserID) async throws(CoordinatorStoreError) -> UserRecord {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        let at = now()
        return try await perform("removeUser", context) { tx in
            let user = try await self.lockCurrentUser(id, tx, "removeUser", context)
            guard let pairID = user.pairID else { throw CoordinatorStoreError.notFound("removeUser", context, "the user") }
            var pairs: [(PairID, Int64)] = [(pairID, -1)]
            if let move = try await self.openMove(of: id, tx) {
                pairs.append((move.toPairID, -1))
                _ = try await tx.query(
                    "UPDATE duplex_moves SET phase = 'rolledBack', error = $1, updated_at = $2 WHERE id = $3",
                    [.text("the user was removed"), .date(at), SQLValue(move.id)])
            }
            var version: Int64 = 0
            // Pairs are always locked in id order, so transactions touching two never deadlock.
            for (pair, delta) in pairs.sorted(by: { $0.0 < $1.0 }) {
                let changed = try await self.recordChange(pair: pair, user: id, users: delta, tx)
                if pair == pairID { version = changed }
            }
            _ = try await tx.query(
                "UPDATE duplex_users SET state = 'removed', version = $1, updated_at = $2 WHERE id = $3",
                [.integer(version), .date(at), SQLValue(id)])
            return try await self.readUser(id: id, tx, "removeUser", context)
        }
    }

    public func route(user: CoordinatorName) async throws(CoordinatorStoreError) -> UserRoute {
        let context = CoordinatorStoreError.Context(user: user.value)
        return try await perform("route", context, write: false) { tx in
            let rows = try await tx.query("SELECT * FROM duplex_user_route WHERE user_name = $1", [.text(user.value)])
            guard let row = rows.first else { throw CoordinatorStoreError.notFound("route", context, "the user") }
            func host(_ prefix: String) throws(CoordinatorStoreError) -> PairHost {
                PairHost(
                    name: try row.name("\(prefix)_host", .host), dsyncEndpoint: try row.endpoint("\(prefix)_dsync_endpoint"),
                    adminEndpoint: try row.endpoint("\(prefix)_admin_endpoint"),
                    health: try row.enumeration("\(prefix)_health", HostHealth.self))
            }
            return UserRoute(
                userID: try row.id("user_id"), user: try row.name("user_name", .user), tenant: try row.name("tenant", .tenant),
                pair: try row.name("pair", .pair), epoch: try row.int64("epoch"),
                preferredSide: try row.enumeration("preferred_side", HostSide.self), preferredHost: try host("preferred"),
                otherHost: try host("other"))
        }
    }

    public func userChanges(pair: CoordinatorName, since version: Int64, limit: Int) async throws(CoordinatorStoreError)
        -> UserChangeBatch
    {
        let context = CoordinatorStoreError.Context(pair: pair.value)
        guard version >= 0 else { throw .invalid("userChanges", context, "the version \(version) is below 0") }
        guard (1...10_000).contains(limit) else { throw .invalid("userChanges", context, "the limit \(limit) is outside 1-10000") }
        return try await perform("userChanges", context, write: false) { tx in
            let pairID = try await self.pairIDs([pair], tx, "userChanges", context)[0]
            let entries = try await tx.query(
                """
                SELECT c.version, c.user_id,
                    (SELECT m.to_pair_id FROM duplex_moves m
                     WHERE m.user_id = c.user_id AND m.phase NOT IN ('finished', 'rolledBack')) AS incoming_pair
                FROM duplex_user_changes c WHERE c.pair_id = $1 AND c.version > $2 ORDER BY c.version LIMIT $3
                """, [SQLValue(pairID), .integer(version), .integer(Int64(limit) + 1)])
            let hasMore = entries.count > limit
            let covered = entries.prefix(limit)
            var latest: [Int64: (version: Int64, incoming: Bool)] = [:]
            for entry in covered {
                let incoming = try entry.optionalInt64("incoming_pair") == pairID.rawValue
                latest[try entry.int64("user_id")] = (try entry.int64("version"), incoming)
            }
            var changes: [UserChange] = []
            for (userID, change) in latest {
                let user = try await self.readUser(id: UserID(userID), tx, "userChanges", context)
                let present = (user.pairID == pairID && user.state != .removed) || change.incoming
                changes.append(
                    UserChange(version: change.version, userID: user.id, userName: user.name, kind: present ? .present(user) : .gone))
            }
            changes.sort { $0.version < $1.version }
            return UserChangeBatch(
                changes: changes, version: try covered.last?.int64("version") ?? version, hasMore: hasMore)
        }
    }

    // MARK: Helpers

    /// The columns of a user row with its tenant's and pair's names.
    static let userSelect = """
        SELECT u.id, u.name, u.tenant_id, t.name AS tenant_name, u.pair_id, p.name AS pair_name, u.preferred_host,
            u.state, u.noreplicate, u.epoch, u.version, u.created_at, u.updated_at
        FROM duplex_users u JOIN duplex_tenants t ON t.id = u.tenant_id LEFT JOIN duplex_pairs p ON p.id = u.pair_id
        """

    func readUsers(_ condition: String, _ binds: [SQLValue], _ tx: any SQLTransaction, suffix: String = "", lock: Bool = false)
        async throws -> [UserRecord]
    {
        let rows = try await tx.query(
            "\(Self.userSelect) WHERE \(condition) \(suffix)" + (lock ? driver.dialect.lockRows("u") : ""), binds)
        return try rows.map { row throws(CoordinatorStoreError) in
            UserRecord(
                id: try row.id("id"), name: try row.name("name", .user), tenantID: try row.id("tenant_id"),
                tenant: try row.name("tenant_name", .tenant), pairID: try row.optionalID("pair_id"),
                pair: try row.optionalName("pair_name", .pair),
                preferredHost: try row.enumeration("preferred_host", HostSide.self),
                state: try row.enumeration("state", UserState.self), noreplicate: try row.bool("noreplicate"),
                epoch: try row.int64("epoch"), version: try row.int64("version"), createdAt: try row.date("created_at"),
                updatedAt: try row.date("updated_at"))
        }
    }

    func readUser(id: UserID, _ tx: any SQLTransaction, _ operation: String, _ context: CoordinatorStoreError.Context)
        async throws -> UserRecord
    {
        guard let user = try await readUsers("u.id = $1", [SQLValue(id)], tx).first else {
            throw CoordinatorStoreError.notFound(operation, context, "the user")
        }
        return user
    }

    /// The user with this id, locked for the transaction; removed users count as missing.
    func lockCurrentUser(_ id: UserID, _ tx: any SQLTransaction, _ operation: String, _ context: CoordinatorStoreError.Context)
        async throws -> UserRecord
    {
        guard let user = try await readUsers("u.id = $1", [SQLValue(id)], tx, lock: true).first, user.state != .removed else {
            throw CoordinatorStoreError.notFound(operation, context, "the user")
        }
        return user
    }

    /// Changes a pair's user count by `users` and takes its next change version, holding the
    /// pair's row lock to the end of the transaction (which orders the pair's versions in
    /// commit order). With `onlyIfRoom`, nothing happens unless the pair is active with room.
    ///
    /// - Returns: the new change version, or `nil` if the condition did not hold.
    func adjustPair(_ pair: PairID, users: Int64, onlyIfRoom: Bool = false, _ tx: any SQLTransaction) async throws -> Int64? {
        let condition = onlyIfRoom ? " AND state = 'active' AND user_count < capacity" : ""
        let rows = try await tx.query(
            """
            UPDATE duplex_pairs SET user_count = user_count + $1, change_version = change_version + 1
            WHERE id = $2\(condition) RETURNING change_version
            """, [.integer(users), SQLValue(pair)])
        return try rows.first?.int64("change_version")
    }

    func logChange(pair: PairID, version: Int64, user: UserID, _ tx: any SQLTransaction) async throws {
        _ = try await tx.query(
            "INSERT INTO duplex_user_changes (pair_id, version, user_id) VALUES ($1, $2, $3)",
            [SQLValue(pair), .integer(version), SQLValue(user)])
    }

    /// Adjusts the pair's user count, takes its next version and logs the user's change there.
    func recordChange(pair: PairID, user: UserID, users: Int64, _ tx: any SQLTransaction) async throws -> Int64 {
        guard let version = try await adjustPair(pair, users: users, tx) else {
            throw CoordinatorStoreError(.corrupt, operation: "read", message: "pair \(pair) of user \(user) is missing")
        }
        try await logChange(pair: pair, version: version, user: user, tx)
        return version
    }
}
