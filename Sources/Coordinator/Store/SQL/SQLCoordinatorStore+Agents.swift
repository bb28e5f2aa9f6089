import Foundation

extension SQLCoordinatorStore {
    public func registerAgent(host: CoordinatorName, pair: CoordinatorName, version: String)
        async throws(CoordinatorStoreError) -> AgentRecord
    {
        let context = CoordinatorStoreError.Context(pair: pair.value, host: host.value)
        guard version.utf8.count <= 64 else {
            throw .invalid("registerAgent", context, "the version is \(version.utf8.count) bytes long; the limit is 64")
        }
        let at = now()
        return try await perform("registerAgent", context) { tx in
            let (pairID, side) = try await self.hostOfPair(host, pair, tx, "registerAgent", context)
            _ = try await tx.query(
                """
                INSERT INTO duplex_agents (host, pair_id, side, version, registered_at, last_heartbeat)
                VALUES ($1, $2, $3, $4, $5, $5)
                ON CONFLICT (host) DO UPDATE SET pair_id = excluded.pair_id, side = excluded.side,
                    version = excluded.version, last_heartbeat = excluded.last_heartbeat
                """, [.text(host.value), SQLValue(pairID), .text(side.rawValue), .text(version), .date(at)])
            return try await self.readAgents("a.host = $1", [.text(host.value)], tx)[0]
        }
    }

    public func heartbeat(host: CoordinatorName) async throws(CoordinatorStoreError) -> AgentRecord {
        let context = CoordinatorStoreError.Context(host: host.value)
        let at = now()
        return try await perform("heartbeat", context) { tx in
            let rows = try await tx.query(
                "UPDATE duplex_agents SET last_heartbeat = $1 WHERE host = $2 RETURNING host", [.date(at), .text(host.value)])
            guard !rows.isEmpty else { throw CoordinatorStoreError.notFound("heartbeat", context, "the agent") }
            return try await self.readAgents("a.host = $1", [.text(host.value)], tx)[0]
        }
    }

    public func listAgents() async throws(CoordinatorStoreError) -> [AgentRecord] {
        try await perform("listAgents", write: false) { tx in try await self.readAgents("true", [], tx) }
    }

    public func recordStatus(_ reports: [UserStatusReport], pair: CoordinatorName, host: CoordinatorName)
        async throws(CoordinatorStoreError) -> StatusBatchResult
    {
        let context = CoordinatorStoreError.Context(pair: pair.value, host: host.value)
        guard reports.count <= 10_000 else {
            throw .invalid("recordStatus", context, "the batch holds \(reports.count) reports; the limit is 10000")
        }
        let at = now()
        return try await perform("recordStatus", context) { tx in
            let (pairID, _) = try await self.hostOfPair(host, pair, tx, "recordStatus", context)
            var ignored: [UserID] = []
            for report in reports {
                // Only users the pair replicates now; a report racing a move or a removal is dropped.
                let stored = try await tx.query(
                    """
                    INSERT INTO duplex_user_status (user_id, host, pair_id, queued_priority, last_fast_sync, last_full_sync,
                        last_success, failed, held, last_error, reported_at, full_sync_due)
                    SELECT u.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM duplex_users u
                    WHERE u.id = $1 AND u.pair_id = $3 AND u.state <> 'removed'
                    ON CONFLICT (user_id, host) DO UPDATE SET pair_id = excluded.pair_id,
                        queued_priority = excluded.queued_priority, last_fast_sync = excluded.last_fast_sync,
                        last_full_sync = excluded.last_full_sync, last_success = excluded.last_success,
                        failed = excluded.failed, held = excluded.held, last_error = excluded.last_error,
                        reported_at = excluded.reported_at, full_sync_due = excluded.full_sync_due
                    RETURNING user_id
                    """,
                    [
                        SQLValue(report.userID), .text(host.value), SQLValue(pairID), SQLValue(report.queuedPriority?.rawValue),
                        SQLValue(report.lastFastSync), SQLValue(report.lastFullSync), SQLValue(report.lastSuccessfulSync),
                        .bool(report.failed), .bool(report.held), SQLValue(report.lastError.map(Self.clip)), .date(at),
                        .bool(report.fullSyncDue),
                    ])
                if stored.isEmpty { ignored.append(report.userID) }
            }
            return StatusBatchResult(accepted: reports.count - ignored.count, ignored: ignored)
        }
    }

    public func status(user: UserID) async throws(CoordinatorStoreError) -> [UserStatusRecord] {
        let context = CoordinatorStoreError.Context(id: user.rawValue)
        return try await perform("status", context, write: false) { tx in
            _ = try await self.readUser(id: user, tx, "status", context)
            let rows = try await tx.query(
                """
                SELECT s.*, u.name AS user_name, p.name AS pair_name FROM duplex_user_status s
                JOIN duplex_users u ON u.id = s.user_id JOIN duplex_pairs p ON p.id = s.pair_id
                WHERE s.user_id = $1 ORDER BY s.host
                """, [SQLValue(user)])
            return try rows.map(Self.statusRecord)
        }
    }

    public func failedUsers(tenant: CoordinatorName?, limit: Int) async throws(CoordinatorStoreError) -> [UserStatusRecord] {
        let context = CoordinatorStoreError.Context(tenant: tenant?.value)
        guard (1...10_000).contains(limit) else { throw .invalid("failedUsers", context, "the limit \(limit) is outside 1-10000") }
        return try await perform("failedUsers", context, write: false) { tx in
            var tenantFilter = ""
            var binds: [SQLValue] = [.integer(Int64(limit))]
            if let tenant {
                let record = try await self.readTenant(.name(tenant), tx, "failedUsers", context)
                tenantFilter = "AND u.tenant_id = $2"
                binds.append(SQLValue(record.id))
            }
            // One query on the failed reports (an index holds only those), however many users
            // the pairs have.
            let rows = try await tx.query(
                """
                SELECT s.*, u.name AS user_name, p.name AS pair_name FROM duplex_user_status s
                JOIN duplex_users u ON u.id = s.user_id AND u.pair_id = s.pair_id JOIN duplex_pairs p ON p.id = s.pair_id
                WHERE s.failed AND u.state <> 'removed' \(tenantFilter)
                ORDER BY s.reported_at, u.name, s.host LIMIT $1
                """, binds)
            return try rows.map(Self.statusRecord)
        }
    }

    public func fleetSummary(tenant: CoordinatorName?) async throws(CoordinatorStoreError) -> [PairSummary] {
        let context = CoordinatorStoreError.Context(tenant: tenant?.value)
        return try await perform("fleetSummary", context, write: false) { tx in
            var pairs = try await self.readPairs(nil, tx)
            var tenantFilter = ""
            var binds: [SQLValue] = []
            if let tenant {
                let record = try await self.readTenant(.name(tenant), tx, "fleetSummary", context)
                tenantFilter = "AND u.tenant_id = $1"
                binds = [SQLValue(record.id)]
                let holding = try await tx.query(
                    "SELECT DISTINCT pair_id FROM duplex_users u WHERE u.state <> 'removed' \(tenantFilter)", binds)
                let held = Set(try holding.map { row throws(CoordinatorStoreError) in try row.int64("pair_id") })
                if let allowed = record.allowedPairs {
                    pairs = pairs.filter { held.contains($0.id.rawValue) || allowed.contains($0.name) }
                }
            }
            let users = try await tx.query(
                "SELECT u.pair_id, count(*) AS n FROM duplex_users u WHERE u.state <> 'removed' \(tenantFilter) GROUP BY u.pair_id",
                binds)
            var userCounts: [Int64: Int] = [:]
            for row in users { userCounts[try row.int64("pair_id")] = try row.int("n") }
            let priorities = SyncPriority.allCases
            let queuedColumns = priorities.map {
                "count(*) FILTER (WHERE s.queued_priority = '\($0.rawValue)') AS queued_\($0.rawValue)"
            }.joined(separator: ", ")
            let statusRows = try await tx.query(
                """
                SELECT s.pair_id, \(queuedColumns),
                    count(DISTINCT s.user_id) FILTER (WHERE s.failed) AS failed,
                    count(DISTINCT s.user_id) FILTER (WHERE s.held) AS held,
                    count(DISTINCT s.user_id) FILTER (WHERE s.full_sync_due) AS full_sync_due,
                    min(s.last_success) AS oldest_success
                FROM duplex_user_status s JOIN duplex_users u ON u.id = s.user_id AND u.pair_id = s.pair_id
                WHERE u.state <> 'removed' \(tenantFilter) GROUP BY s.pair_id
                """, binds)
            var statusByPair: [Int64: SQLRow] = [:]
            for row in statusRows { statusByPair[try row.int64("pair_id")] = row }
            return try pairs.map { pair throws(CoordinatorStoreError) in
                let status = statusByPair[pair.id.rawValue]
                var queued: [SyncPriority: Int] = [:]
                for priority in priorities { queued[priority] = try status?.int("queued_\(priority.rawValue)") ?? 0 }
                return PairSummary(
                    pairID: pair.id, pair: pair.name, state: pair.state, hostA: pair.hostA, hostB: pair.hostB,
                    capacity: pair.capacity, users: userCounts[pair.id.rawValue] ?? 0, queued: queued,
                    failed: try status?.int("failed") ?? 0, held: try status?.int("held") ?? 0,
                    fullResyncsDue: try status?.int("full_sync_due") ?? 0, oldestSuccessfulSync: try status?.optionalDate("oldest_success"))
            }
        }
    }

    // MARK: Helpers

    /// A row of `duplex_user_status` with `user_name` and `pair_name`.
    private static func statusRecord(_ row: SQLRow) throws(CoordinatorStoreError) -> UserStatusRecord {
        UserStatusRecord(
            user: try row.name("user_name", .user), pair: try row.name("pair_name", .pair), host: try row.name("host", .host),
            report: UserStatusReport(
                userID: try row.id("user_id"),
                queuedPriority: row.isNull("queued_priority") ? nil : try row.enumeration("queued_priority", SyncPriority.self),
                lastFastSync: try row.optionalDate("last_fast_sync"), lastFullSync: try row.optionalDate("last_full_sync"),
                lastSuccessfulSync: try row.optionalDate("last_success"), failed: try row.bool("failed"),
                held: try row.bool("held"), lastError: try row.optionalString("last_error"),
                fullSyncDue: try row.bool("full_sync_due")),
            reportedAt: try row.date("reported_at"))
    }

    /// The pair's id and the side `host` is on.
    private func hostOfPair(
        _ host: CoordinatorName, _ pair: CoordinatorName, _ tx: any SQLTransaction, _ operation: String,
        _ context: CoordinatorStoreError.Context
    ) async throws -> (PairID, HostSide) {
        let pairID = try await pairIDs([pair], tx, operation, context)[0]
        let rows = try await tx.query(
            "SELECT side FROM duplex_hosts WHERE pair_id = $1 AND name = $2", [SQLValue(pairID), .text(host.value)])
        guard let row = rows.first else {
            throw CoordinatorStoreError.invalid(operation, context, "the host is not one of the pair's hosts")
        }
        return (pairID, try row.enumeration("side", HostSide.self))
    }

    private func readAgents(_ condition: String, _ binds: [SQLValue], _ tx: any SQLTransaction) async throws -> [AgentRecord] {
        let rows = try await tx.query(
            """
            SELECT a.host, a.pair_id, p.name AS pair_name, a.side, a.version, a.registered_at, a.last_heartbeat
            FROM duplex_agents a JOIN duplex_pairs p ON p.id = a.pair_id WHERE \(condition) ORDER BY p.name, a.side
            """, binds)
        return try rows.map { row throws(CoordinatorStoreError) in
            AgentRecord(
                host: try row.name("host", .host), pairID: try row.id("pair_id"), pair: try row.name("pair_name", .pair),
                side: try row.enumeration("side", HostSide.self), version: try row.string("version"),
                registeredAt: try row.date("registered_at"), lastHeartbeat: try row.date("last_heartbeat"))
        }
    }
}
