import Foundation

extension SQLCoordinatorStore {
    public func moves(user: UserID) async throws(CoordinatorStoreError) -> [MoveRecord] {
        let context = CoordinatorStoreError.Context(id: user.rawValue)
        return try await perform("moves", context, write: false) { tx in
            _ = try await self.readUser(id: user, tx, "moves", context)
            return try await self.readMoves("m.user_id = $1 ORDER BY m.id", [SQLValue(user)], tx)
        }
    }

    public func markMoveCaughtUp(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        let at = now()
        return try await perform("markMoveCaughtUp", context) { tx in
            let move = try await self.lockFinishedMove(id, tx, "markMoveCaughtUp", context)
            guard move.caughtUpAt == nil else { return move }
            _ = try await tx.query("UPDATE duplex_moves SET caught_up_at = $1 WHERE id = $2", [.date(at), SQLValue(id)])
            return try await self.readMove(id, tx, "markMoveCaughtUp", context)
        }
    }

    public func recordPurge(_ id: MoveID) async throws(CoordinatorStoreError) -> MoveRecord {
        let context = CoordinatorStoreError.Context(id: id.rawValue)
        let at = now()
        return try await perform("recordPurge", context) { tx in
            // The user first, then the move: the order every move operation locks in.
            guard let userRow = try await tx.query("SELECT user_id FROM duplex_moves WHERE id = $1", [SQLValue(id)]).first else {
                throw CoordinatorStoreError.notFound("recordPurge", context, "the move")
            }
            let user = try await self.readUsers("u.id = $1", [SQLValue(try userRow.id("user_id") as UserID)], tx, lock: true)[0]
            let move = try await self.lockFinishedMove(id, tx, "recordPurge", context)
            guard move.purgedAt == nil else { return move }
            if let refusal = move.purgeRefusal(user: user, openMove: try await self.openMove(of: user.id, tx)) {
                throw CoordinatorStoreError.conflict("recordPurge", Self.context(of: move), refusal)
            }
            _ = try await tx.query("UPDATE duplex_moves SET purged_at = $1 WHERE id = $2", [.date(at), SQLValue(id)])
            return try await self.readMove(id, tx, "recordPurge", context)
        }
    }

    /// Move `id`, locked, which must be finished.
    private func lockFinishedMove(_ id: MoveID, _ tx: any SQLTransaction, _ operation: String, _ context: CoordinatorStoreError.Context)
        async throws -> MoveRecord
    {
        guard let move = try await readMoves("m.id = $1", [SQLValue(id)], tx, lock: true).first else {
            throw CoordinatorStoreError.notFound(operation, context, "the move")
        }
        guard move.phase == .finished else {
            throw CoordinatorStoreError.conflict(operation, Self.context(of: move), "the move is \(move.phase.rawValue), not finished")
        }
        return move
    }
}
