import PostgresNIO

extension PostgresCoordinatorStore {
    /// The current users with an id above `id`, in id order, at most `limit`, with their names:
    /// one page of the users a ``RouteDirectory`` holds.
    ///
    /// The rows are decoded straight into their types (a million users load in seconds).
    ///
    /// - Throws: ``CoordinatorStoreError`` `unavailable` when the database fails; `corrupt`
    ///   for a row that breaks the schema's rules.
    func routeEntries(after id: UserID?, limit: Int) async throws(CoordinatorStoreError) -> [(String, RouteEntry)] {
        let after = id?.rawValue ?? 0
        let limit = Int64(limit)
        return try await routeEntries(
            "routeEntries", .init(),
            """
            SELECT id, name, tenant_id, pair_id, epoch, preferred_host FROM duplex_users
            WHERE state <> 'removed' AND id > \(after) ORDER BY id LIMIT \(limit)
            """)
    }

    /// The current user named `name` as a ``RouteEntry``, or `nil` when there is none.
    ///
    /// - Throws: as ``routeEntries(after:limit:)``.
    func routeEntry(user name: String) async throws(CoordinatorStoreError) -> RouteEntry? {
        try await routeEntries(
            "routeEntry", .init(user: name),
            """
            SELECT id, name, tenant_id, pair_id, epoch, preferred_host FROM duplex_users
            WHERE state <> 'removed' AND name = \(name)
            """
        ).first?.1
    }

    private func routeEntries(
        _ operation: String, _ context: CoordinatorStoreError.Context, _ query: PostgresQuery
    ) async throws(CoordinatorStoreError) -> [(String, RouteEntry)] {
        var entries: [(String, RouteEntry)] = []
        do {
            let rows = try await client.query(query)
            for try await (id, name, tenant, pair, epoch, side) in rows.decode((Int64, String, Int64, Int64, Int64, String).self) {
                guard let side = HostSide(rawValue: side) else {
                    throw CoordinatorStoreError(
                        .corrupt, operation: operation, context: context,
                        message: "user \(id) has preferred_host \(side.debugDescription), not a or b")
                }
                entries.append(
                    (name, RouteEntry(userID: UserID(id), tenantID: TenantID(tenant), pairID: PairID(pair), epoch: epoch, preferredSide: side)))
            }
        } catch let error as CoordinatorStoreError {
            throw error
        } catch {
            throw CoordinatorStoreError(
                .unavailable, operation: operation, context: context, message: "the database cannot be reached or failed the read",
                cause: error)
        }
        return entries
    }
}
