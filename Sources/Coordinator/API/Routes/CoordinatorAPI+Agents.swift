import Hummingbird

extension CoordinatorAPI {
    /// The most status reports one `POST /v1/pairs/{pair}/status` carries.
    static let maximumReportsPerBatch = 10_000
    /// The default and largest number of change log entries per pull.
    static let defaultChangeLimit: Int64 = 1000
    static let maximumChangeLimit: Int64 = 10_000

    /// The agents' routes: the agent token of the pair (or an admin) registers and
    /// heartbeats the pair's hosts, pulls its user changes and pushes its status reports.
    func addAgentRoutes(to router: Router<CoordinatorRequestContext>) {
        let store = store
        router.post("/v1/agents/register") { request, context in
            let role = try context.role()
            var body = try await Self.body(of: request)
            let host = try body.name("host", .host)
            let pair = try body.name("pair", .pair)
            let version = try body.required("version", .string)
            try body.finish()
            try Access.requirePairAgent(pair, role, to: "register agents")
            return APIJSON.response(AgentRepresentation(try await store.registerAgent(host: host, pair: pair, version: version)))
        }
        router.post("/v1/agents/heartbeat") { request, context in
            let role = try context.role()
            var body = try await Self.body(of: request)
            let host = try body.name("host", .host)
            try body.finish()
            switch role {
            case .admin: break
            case .agent(let own):
                let pair = try await store.pair(own)
                guard pair.hostA.name == host || pair.hostB.name == host else {
                    throw APIError.forbidden("a \(role.text) token may not heartbeat host \(host.value.debugDescription): it is not one of the pair's hosts")
                }
            case .tenant: throw APIError.forbidden("a \(role.text) token may not heartbeat agents")
            }
            return APIJSON.response(AgentRepresentation(try await store.heartbeat(host: host)))
        }
        router.get("/v1/pairs/{pair}/changes") { request, context in
            let pair = try Self.name("pair", .pair, in: context)
            try Access.requirePairAgent(pair, try context.role(), to: "pull the user changes")
            let since = try Self.integerQuery("since", of: request, in: 0...Int64.max, default: 0)
            let limit = try Self.integerQuery("limit", of: request, in: 1...Self.maximumChangeLimit, default: Self.defaultChangeLimit)
            let batch = try await store.userChanges(pair: pair, since: since, limit: Int(limit))
            return APIJSON.response(
                ChangeBatch(changes: batch.changes.map(ChangeRepresentation.init), version: batch.version, hasMore: batch.hasMore))
        }
        router.post("/v1/pairs/{pair}/status") { request, context in
            let pair = try Self.name("pair", .pair, in: context)
            try Access.requirePairAgent(pair, try context.role(), to: "push status reports")
            var body = try await Self.body(of: request)
            let host = try body.name("host", .host)
            let items = try body.objects("reports")
            try body.finish()
            guard items.count <= Self.maximumReportsPerBatch else {
                throw APIError.badRequest("field \"reports\" holds \(items.count) reports; the limit is \(Self.maximumReportsPerBatch)")
            }
            var reports: [UserStatusReport] = []
            reports.reserveCapacity(items.count)
            for var item in items { reports.append(try Self.report(&item)) }
            let result = try await store.recordStatus(reports, pair: pair, host: host)
            return APIJSON.response(Recorded(accepted: result.accepted, ignored: result.ignored.map(\.rawValue)))
        }
    }

    /// One report of a status batch: `user_id` is required; the rest default to "not queued,
    /// never synced, not failed, not held, no error, no full sync due".
    static func report(_ item: inout JSONObjectReader) throws(APIError) -> UserStatusReport {
        let id = try item.required("user_id", .integer64)
        let report = UserStatusReport(
            userID: UserID(id), queuedPriority: try item.optional("priority", .oneOf(SyncPriority.self)),
            lastFastSync: try item.optional("last_fast_sync", .time), lastFullSync: try item.optional("last_full_sync", .time),
            lastSuccessfulSync: try item.optional("last_successful_sync", .time), failed: try item.optional("failed", .bool) ?? false,
            held: try item.optional("held", .bool) ?? false, lastError: try item.optional("last_error", .string),
            fullSyncDue: try item.optional("full_sync_due", .bool) ?? false)
        try item.finish()
        return report
    }

    /// `{"changes": [...], "version": V, "has_more": B}`.
    struct ChangeBatch: Encodable, Sendable {
        var changes: [ChangeRepresentation]
        var version: Int64
        var hasMore: Bool
    }

    /// `{"accepted": N, "ignored": [ids]}`.
    struct Recorded: Encodable, Sendable {
        var accepted: Int
        var ignored: [Int64]
    }
}
