import Hummingbird

extension CoordinatorAPI {
    /// The most failed users `GET /v1/status` lists.
    static let maximumFailedUsersListed = 100

    /// `GET /v1/status?tenant=T`: admin for the fleet or any tenant; a tenant token for its
    /// own tenant only.
    func addStatusRoute(to router: Router<CoordinatorRequestContext>) {
        let store = store
        router.get("/v1/status") { request, context in
            let role = try context.role()
            var tenant = try Self.nameQuery("tenant", .tenant, of: request)
            switch role {
            case .admin: break
            case .tenant(let own):
                if let tenant { try Access.requireTenant(tenant, role, to: "see the status") }
                tenant = own
            case .agent: throw APIError.forbidden("a \(role.text) token may not see the fleet's status")
            }
            let summaries = try await store.fleetSummary(tenant: tenant)
            let failed = try await Self.failedUsers(in: summaries, tenant: tenant, store)
            return APIJSON.response(
                StatusRepresentation(
                    pairs: summaries.map(SummaryRepresentation.init), totals: TotalsRepresentation(summaries),
                    failedUsers: failed.map(FailedUserRepresentation.init)))
        }
    }

    /// The reports of failed syncs, at most ``maximumFailedUsersListed``, oldest report first:
    /// one query whatever the size of the pairs (none when no pair counts a failure).
    static func failedUsers(in summaries: [PairSummary], tenant: CoordinatorName?, _ store: any CoordinatorStore) async throws
        -> [UserStatusRecord]
    {
        guard summaries.contains(where: { $0.failed > 0 }) else { return [] }
        return try await store.failedUsers(tenant: tenant, limit: maximumFailedUsersListed)
    }
}
