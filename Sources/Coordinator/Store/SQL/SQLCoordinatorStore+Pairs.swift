import Foundation

extension SQLCoordinatorStore {
    public func addPair(_ specification: PairSpecification) async throws(CoordinatorStoreError) -> PairRecord {
        let context = CoordinatorStoreError.Context(pair: specification.name.value)
        try Self.check(capacity: specification.capacity, weight: specification.weight, "addPair", context)
        let hosts = [(HostSide.a, specification.hostA), (HostSide.b, specification.hostB)]
        for (side, host) in hosts {
            var hostContext = context
            hostContext.host = host.name.value
            guard host.dsyncEndpoint.scheme == .tls else {
                throw .invalid("addPair", hostContext, "host \(side.rawValue)'s dsync endpoint \(host.dsyncEndpoint) is not tls://")
            }
            guard host.adminEndpoint.scheme != .tls else {
                throw .invalid("addPair", hostContext, "host \(side.rawValue)'s admin endpoint \(host.adminEndpoint) is not http(s)://")
            }
        }
        guard specification.hostA.name != specification.hostB.name else {
            throw .conflict("addPair", context, "both hosts are called \(specification.hostA.name)")
        }
        let createdAt = now()
        return try await perform("addPair", context) { tx in
            if try await !tx.query("SELECT id FROM duplex_pairs WHERE name = $1", [.text(specification.name.value)]).isEmpty {
                throw CoordinatorStoreError.conflict("addPair", context, "the pair already exists")
            }
            for (_, host) in hosts {
                let taken = try await tx.query(
                    "SELECT p.name FROM duplex_hosts h JOIN duplex_pairs p ON p.id = h.pair_id WHERE h.name = $1",
                    [.text(host.name.value)])
                if let owner = taken.first {
                    var hostContext = context
                    hostContext.host = host.name.value
                    throw CoordinatorStoreError.conflict(
                        "addPair", hostContext, "the host is already in pair \(try owner.string("name").debugDescription)")
                }
            }
            let inserted = try await tx.query(
                """
                INSERT INTO duplex_pairs (name, state, capacity, weight, created_at)
                VALUES ($1, $2, $3, $4, $5) RETURNING id
                """,
                [
                    .text(specification.name.value), .text(specification.state.rawValue),
                    SQLValue(specification.capacity), SQLValue(specification.weight), .date(createdAt),
                ])
            let id: PairID = try inserted[0].id("id")
            for (side, host) in hosts {
                _ = try await tx.query(
                    """
                    INSERT INTO duplex_hosts (pair_id, side, name, address, dsync_endpoint, admin_endpoint, health)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    [
                        SQLValue(id), .text(side.rawValue), .text(host.name.value), .text(host.dsyncEndpoint.host),
                        .text(host.dsyncEndpoint.description), .text(host.adminEndpoint.description),
                        .text(host.health.rawValue),
                    ])
            }
            return try await self.readPair(.id(id), tx, "addPair", context)
        }
    }

    public func listPairs() async throws(CoordinatorStoreError) -> [PairRecord] {
        try await perform("listPairs", write: false) { tx in try await self.readPairs(nil, tx) }
    }

    public func pair(_ name: CoordinatorName) async throws(CoordinatorStoreError) -> PairRecord {
        let context = CoordinatorStoreError.Context(pair: name.value)
        return try await perform("pair", context, write: false) { tx in
            try await self.readPair(.name(name), tx, "pair", context)
        }
    }

    public func updatePair(_ name: CoordinatorName, _ update: PairUpdate) async throws(CoordinatorStoreError) -> PairRecord {
        let context = CoordinatorStoreError.Context(pair: name.value)
        try Self.check(capacity: update.capacity ?? 0, weight: update.weight ?? 1, "updatePair", context)
        return try await perform("updatePair", context) { tx in
            let rows = try await tx.query(
                """
                UPDATE duplex_pairs SET state = coalesce($1, state), capacity = coalesce($2, capacity),
                    weight = coalesce($3, weight)
                WHERE name = $4 RETURNING id
                """,
                [SQLValue(update.state?.rawValue), SQLValue(update.capacity), SQLValue(update.weight), .text(name.value)])
            guard let row = rows.first else { throw CoordinatorStoreError.notFound("updatePair", context, "the pair") }
            return try await self.readPair(.id(try row.id("id")), tx, "updatePair", context)
        }
    }

    public func setHostHealth(pair: CoordinatorName, side: HostSide, health: HostHealth) async throws(CoordinatorStoreError)
        -> PairRecord
    {
        let context = CoordinatorStoreError.Context(pair: pair.value)
        return try await perform("setHostHealth", context) { tx in
            let rows = try await tx.query(
                """
                UPDATE duplex_hosts SET health = $1
                WHERE side = $2 AND pair_id = (SELECT id FROM duplex_pairs WHERE name = $3) RETURNING pair_id
                """, [.text(health.rawValue), .text(side.rawValue), .text(pair.value)])
            guard let row = rows.first else { throw CoordinatorStoreError.notFound("setHostHealth", context, "the pair") }
            return try await self.readPair(.id(try row.id("pair_id")), tx, "setHostHealth", context)
        }
    }

    public func removePair(_ id: PairID) async throws(CoordinatorStoreError) {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        try await perform("removePair", context) { tx in
            let rows = try await tx.query(
                "SELECT p.name, p.user_count FROM duplex_pairs p WHERE p.id = $1" + self.driver.dialect.lockRows("p"),
                [SQLValue(id)])
            guard let row = rows.first else { throw CoordinatorStoreError.notFound("removePair", context, "the pair") }
            var named = context
            named.pair = try row.string("name")
            let held = try row.int64("user_count")
            guard held == 0 else {
                throw CoordinatorStoreError.conflict(
                    "removePair", named, "\(held) user(s) are assigned to the pair or moving onto it")
            }
            // Status rows and change-log entries cascade; removed users keep their record with
            // no pair; finished moves that name the pair cascade.
            _ = try await tx.query("DELETE FROM duplex_pairs WHERE id = $1", [SQLValue(id)])
        }
    }

    // MARK: Helpers

    static func check(capacity: Int, weight: Int, _ operation: String, _ context: CoordinatorStoreError.Context)
        throws(CoordinatorStoreError)
    {
        guard capacity >= 0 else { throw .invalid(operation, context, "the capacity \(capacity) is below 0") }
        guard (1...1000).contains(weight) else {
            throw .invalid(operation, context, "the weight \(weight) is outside 1-1000")
        }
    }

    enum PairKey {
        case id(PairID)
        case name(CoordinatorName)
    }

    func readPair(_ key: PairKey, _ tx: any SQLTransaction, _ operation: String, _ context: CoordinatorStoreError.Context)
        async throws -> PairRecord
    {
        guard let pair = try await readPairs(key, tx).first else {
            throw CoordinatorStoreError.notFound(operation, context, "the pair")
        }
        return pair
    }

    func readPairs(_ key: PairKey?, _ tx: any SQLTransaction) async throws -> [PairRecord] {
        let condition: String
        let binds: [SQLValue]
        switch key {
        case .id(let id): (condition, binds) = ("WHERE p.id = $1", [SQLValue(id)])
        case .name(let name): (condition, binds) = ("WHERE p.name = $1", [.text(name.value)])
        case nil: (condition, binds) = ("", [])
        }
        let rows = try await tx.query(
            """
            SELECT p.id, p.name, p.state, p.capacity, p.weight, p.user_count, p.change_version, p.created_at,
                \(Self.hostColumns("a")), \(Self.hostColumns("b"))
            FROM duplex_pairs p
            JOIN duplex_hosts a ON a.pair_id = p.id AND a.side = 'a'
            JOIN duplex_hosts b ON b.pair_id = p.id AND b.side = 'b'
            \(condition) ORDER BY p.name
            """, binds)
        return try rows.map { row throws(CoordinatorStoreError) in
            PairRecord(
                id: try row.id("id"), name: try row.name("name", .pair), state: try row.enumeration("state", PairState.self),
                hostA: try Self.host(row, "a"), hostB: try Self.host(row, "b"), capacity: try row.int("capacity"),
                weight: try row.int("weight"), userCount: try row.int("user_count"),
                changeVersion: try row.int64("change_version"), createdAt: try row.date("created_at"))
        }
    }

    /// The columns of a host joined as `alias`, named `alias_column`.
    static func hostColumns(_ alias: String) -> String {
        ["name", "dsync_endpoint", "admin_endpoint", "health"].map { "\(alias).\($0) AS \(alias)_\($0)" }
            .joined(separator: ", ")
    }

    /// The host read from columns named `prefix_name`, `prefix_dsync_endpoint`, ….
    static func host(_ row: SQLRow, _ prefix: String) throws(CoordinatorStoreError) -> PairHost {
        PairHost(
            name: try row.name("\(prefix)_name", .host), dsyncEndpoint: try row.endpoint("\(prefix)_dsync_endpoint"),
            adminEndpoint: try row.endpoint("\(prefix)_admin_endpoint"),
            health: try row.enumeration("\(prefix)_health", HostHealth.self))
    }
}
