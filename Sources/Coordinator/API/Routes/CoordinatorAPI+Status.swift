import Hummingbird

extension CoordinatorAPI {
    /// The most failed users `GET /v1/status` lists.
    static let maximumFailedUsersListed = 100
    /// The most users of one pair scanned for failed ones per status request.
    static let maximumUsersScannedPerPair = 10_000

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

    /// The reports of failed syncs of the pairs that count failures, at most
    /// ``maximumFailedUsersListed``, oldest report first.
    ///
    /// The store has no query for failed users, so each pair with failures is scanned user by
    /// user (at most ``maximumUsersScannedPerPair``), stopping once its failures are found.
    static func failedUsers(in summaries: [PairSummary], tenant: CoordinatorName?, _ store: any CoordinatorStore) async throws
        -> [UserStatusRecord]
    {
        var found: [UserStatusRecord] = []
        for summary in summaries where summary.failed > 0 && found.count < maximumFailedUsersListed {
            var failedOnPair = Set<UserID>()
            var scanned = 0
            var after: UserID?
            scan: while scanned < maximumUsersScannedPerPair {
                let page = try await store.listUsers(UserQuery(tenant: tenant, pair: summary.pair, after: after, limit: 500))
                for user in page.users {
                    scanned += 1
                    for record in try await store.status(user: user.id) where record.report.failed && record.pair == summary.pair {
                        found.append(record)
                        failedOnPair.insert(user.id)
                    }
                    if failedOnPair.count >= summary.failed || found.count >= maximumFailedUsersListed { break scan }
                }
                guard let next = page.next else { break }
                after = next
            }
        }
        return Array(found.sorted { $0.reportedAt < $1.reportedAt }.prefix(maximumFailedUsersListed))
    }
}
