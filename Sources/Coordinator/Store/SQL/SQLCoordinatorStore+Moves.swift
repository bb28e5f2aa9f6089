import Foundation

extension SQLCoordinatorStore {
    public func createMove(user: UserID, to pair: CoordinatorName) async throws(CoordinatorStoreError) -> MoveRecord {
        let context = CoordinatorStoreError.Context(pair: pair.value, id: user.rawValue)
        let at = now()
        return try await perform("createMove", context) { tx in
            let current = try await self.lockCurrentUser(user, tx, "createMove", context)
            var named = context
            named.user = current.name.value
            guard current.state == .active, let fromPair = current.pairID else {
                throw CoordinatorStoreError.conflict("createMove", named, "the user is already moving")
            }
            let target = try await self.readPair(.name(pair), tx, "createMove", named)
            guard target.id != fromPair else {
                throw CoordinatorStoreError.conflict("createMove", named, "the user is already on the pair")
            }
            guard target.state == .active else {
                throw CoordinatorStoreError.conflict("createMove", named, "the pair is \(target.state.rawValue)")
            }
            let tenant = try await self.readTenant(.id(current.tenantID), tx, "createMove", named)
            if let allowed = tenant.allowedPairs, !allowed.contains(pair) {
                throw CoordinatorStoreError.conflict(
                    "createMove", named, "the pair is not in tenant \(tenant.name)'s shard group")
            }
            var version: Int64 = 0
            for pairID in [fromPair, target.id].sorted() {
                if pairID == target.id {
                    guard let changed = try await self.adjustPair(pairID, users: +1, onlyIfRoom: true, tx) else {
                        throw CoordinatorStoreError(
                            .capacityExhausted, operation: "createMove", context: named, message: "the pair has no room")
                    }
                    try await self.logChange(pair: pairID, version: changed, user: user, tx)
                } else {
                    version = try await self.recordChange(pair: pairID, user: user, users: 0, tx)
                }
            }
            _ = try await tx.query(
                "UPDATE duplex_users SET state = 'moving', version = $1, updated_at = $2 WHERE id = $3",
                [.integer(version), .date(at), SQLValue(user)])
            let inserted = try await tx.query(
                """
                INSERT INTO duplex_moves (user_id, from_pair_id, to_pair_id, phase, started_at, updated_at)
                VALUES ($1, $2, $3, 'created', $4, $4) RETURNING id
                """, [SQLValue(user), SQLValue(fromPair), SQLValue(target.id), .date(at)])
            return try await self.readMove(try inserted[0].id("id"), tx, "createMove", named)
        }
    }

    public func move(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        return try await perform("move", context, write: false) { tx in try await self.readMove(id, tx, "move", context) }
    }

    public func unfinishedMoves() async throws(CoordinatorStoreError) -> [MoveRecord] {
        try await perform("unfinishedMoves", write: false) { tx in
            try await self.readMoves("m.phase NOT IN ('finished', 'rolledBack') ORDER BY m.id", [], tx)
        }
    }

    public func advanceMove(_ id: MoveID, to phase: MovePhase, error: String?) async throws(CoordinatorStoreError)
        -> MoveRecord
    {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        let at = now()
        return try await perform("advanceMove", context) { tx in
            guard let move = try await self.readMoves("m.id = $1", [SQLValue(id)], tx, lock: true).first else {
                throw CoordinatorStoreError.notFound("advanceMove", context, "the move")
            }
            guard move.phase.canAdvance(to: phase) else {
                throw CoordinatorStoreError.conflict(
                    "advanceMove", Self.context(of: move), "the move cannot go from \(move.phase.rawValue) to \(phase.rawValue)")
            }
            _ = try await tx.query(
                "UPDATE duplex_moves SET phase = $1, error = $2, updated_at = $3 WHERE id = $4",
                [.text(phase.rawValue), SQLValue(error.map(Self.clip)), .date(at), SQLValue(id)])
            return try await self.readMove(id, tx, "advanceMove", context)
        }
    }

    public func finishMove(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord {
        try await endMove(id, finish: true, error: nil, operation: "finishMove")
    }

    public func rollBackMove(_ id: MoveID, error: String?) async throws(CoordinatorStoreError) -> MoveRecord {
        try await endMove(id, finish: false, error: error, operation: "rollBackMove")
    }

    // MARK: Helpers

    /// Finishes or rolls back a move in one transaction.
    ///
    /// Locks are taken user first, then the move, then the pairs in id order: the order
    /// ``removeUser(_:)`` uses too.
    private func endMove(_ id: MoveID, finish: Bool, error: String?, operation: String) async throws(CoordinatorStoreError)
        -> MoveRecord
    {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        let at = now()
        return try await perform(operation, context) { tx in
            guard let userRow = try await tx.query("SELECT user_id FROM duplex_moves WHERE id = $1", [SQLValue(id)]).first else {
                throw CoordinatorStoreError.notFound(operation, context, "the move")
            }
            let userID: UserID = try userRow.id("user_id")
            _ = try await self.readUsers("u.id = $1", [SQLValue(userID)], tx, lock: true)
            let move = try await self.readMoves("m.id = $1", [SQLValue(id)], tx, lock: true)[0]
            guard !move.phase.isTerminal else {
                throw CoordinatorStoreError.conflict(operation, Self.context(of: move), "the move is \(move.phase.rawValue)")
            }
            // Finishing frees the source's place (the target's was reserved at the start);
            // rolling back frees the target's reservation.
            var versions: [PairID: Int64] = [:]
            for pairID in [move.fromPairID, move.toPairID].sorted() {
                let freed = (pairID == move.fromPairID) == finish
                versions[pairID] = try await self.recordChange(pair: pairID, user: userID, users: freed ? -1 : 0, tx)
            }
            if finish {
                _ = try await tx.query(
                    """
                    UPDATE duplex_users SET pair_id = $1, epoch = epoch + 1, state = 'active', version = $2, updated_at = $3
                    WHERE id = $4
                    """, [SQLValue(move.toPairID), .integer(versions[move.toPairID] ?? 0), .date(at), SQLValue(userID)])
                // Reports from the old pair's hosts describe copies that are no longer replicated.
                _ = try await tx.query(
                    "DELETE FROM duplex_user_status WHERE user_id = $1 AND pair_id = $2",
                    [SQLValue(userID), SQLValue(move.fromPairID)])
            } else {
                _ = try await tx.query(
                    "UPDATE duplex_users SET state = 'active', version = $1, updated_at = $2 WHERE id = $3",
                    [.integer(versions[move.fromPairID] ?? 0), .date(at), SQLValue(userID)])
            }
            _ = try await tx.query(
                "UPDATE duplex_moves SET phase = $1, error = $2, updated_at = $3 WHERE id = $4",
                [
                    .text((finish ? MovePhase.finished : .rolledBack).rawValue), SQLValue(error.map(Self.clip)),
                    .date(at), SQLValue(id),
                ])
            return try await self.readMove(id, tx, operation, context)
        }
    }

    static func context(of move: MoveRecord) -> CoordinatorStoreError.Context {
        CoordinatorStoreError.Context(pair: move.toPair.value, user: move.user.value, id: move.id.rawValue)
    }

    /// Cuts free text to at most 1024 UTF-8 bytes, on a character boundary.
    static func clip(_ text: String) -> String {
        guard text.utf8.count > UserStatusReport.maximumErrorLength else { return text }
        var result = ""
        var length = 0
        for character in text {
            length += character.utf8.count
            guard length <= UserStatusReport.maximumErrorLength else { break }
            result.append(character)
        }
        return result
    }

    func openMove(of user: UserID, _ tx: any SQLTransaction) async throws -> MoveRecord? {
        try await readMoves("m.user_id = $1 AND m.phase NOT IN ('finished', 'rolledBack')", [SQLValue(user)], tx, lock: true)
            .first
    }

    func readMove(_ id: MoveID, _ tx: any SQLTransaction, _ operation: String, _ context: CoordinatorStoreError.Context)
        async throws -> MoveRecord
    {
        guard let move = try await readMoves("m.id = $1", [SQLValue(id)], tx).first else {
            throw CoordinatorStoreError.notFound(operation, context, "the move")
        }
        return move
    }

    func readMoves(_ condition: String, _ binds: [SQLValue], _ tx: any SQLTransaction, lock: Bool = false) async throws
        -> [MoveRecord]
    {
        let rows = try await tx.query(
            """
            SELECT m.id, m.user_id, u.name AS user_name, m.from_pair_id, f.name AS from_name, m.to_pair_id,
                t.name AS to_name, m.phase, m.started_at, m.updated_at, m.error, m.caught_up_at, m.purged_at
            FROM duplex_moves m JOIN duplex_users u ON u.id = m.user_id
            JOIN duplex_pairs f ON f.id = m.from_pair_id JOIN duplex_pairs t ON t.id = m.to_pair_id
            WHERE \(condition)
            """ + (lock ? driver.dialect.lockRows("m") : ""), binds)
        return try rows.map { row throws(CoordinatorStoreError) in
            MoveRecord(
                id: try row.id("id"), userID: try row.id("user_id"), user: try row.name("user_name", .user),
                fromPairID: try row.id("from_pair_id"), fromPair: try row.name("from_name", .pair),
                toPairID: try row.id("to_pair_id"), toPair: try row.name("to_name", .pair),
                phase: try row.enumeration("phase", MovePhase.self), startedAt: try row.date("started_at"),
                updatedAt: try row.date("updated_at"), error: try row.optionalString("error"),
                caughtUpAt: try row.optionalDate("caught_up_at"), purgedAt: try row.optionalDate("purged_at"))
        }
    }
}
