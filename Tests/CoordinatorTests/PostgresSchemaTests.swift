import Coordinator
import Logging
import PostgresNIO
import Testing

/// PostgreSQL-only schema behaviour: concurrent migrators, a newer schema, and the route view
/// as proxies query it with plain SQL.
@Suite struct PostgresSchemaTests {
    /// Runs `body` with a store and a plain client on one new database.
    private func withDatabase(
        _ body: @Sendable (PostgresCoordinatorStore, PostgresCoordinatorStore, PostgresClient) async throws -> Void
    ) async throws {
        let configuration = try await PostgresTestServer.shared.makeDatabase(maximumConnections: 4)
        let first = PostgresCoordinatorStore(configuration: configuration)
        let second = PostgresCoordinatorStore(configuration: configuration)
        let client = PostgresClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await first.run() }
            group.addTask { try await second.run() }
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(first, second, client)
        }
    }

    @Test func concurrentMigrators_applyEachStepOnce() async throws {
        try await withDatabase { first, second, client in
            async let a = first.migrate()
            async let b = second.migrate()
            let versions = try await [a, b]
            #expect(versions == [5, 5])
            let rows = try await client.query("SELECT count(*) FROM duplex_schema_version")
            var applied: Int64 = -1
            for try await count in rows.decode(Int64.self) { applied = count }
            #expect(applied == 5)
        }
    }

    @Test func newerSchema_isRefusedAndLeftAlone() async throws {
        try await withDatabase { store, _, client in
            try await store.migrate()
            try await client.query("INSERT INTO duplex_schema_version (version, applied_at) VALUES (99, 0)")
            let error = await expectStoreError(.corrupt) { try await store.migrate() }
            #expect(error?.description.contains("99") == true)
            let rows = try await client.query("SELECT max(version) FROM duplex_schema_version")
            for try await version in rows.decode(Int64.self) { #expect(version == 99) }
        }
    }

    @Test func routeView_answersAProxyQuery_andFollowsHealth() async throws {
        try await withDatabase { store, _, client in
            try await store.migrate()
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(name("example", .tenant), allowedPairs: nil, userQuota: nil)
            let user = try await store.assign(user: name("gina@example.com", .user), tenant: name("example", .tenant)).user
            let preferred = user.preferredHost

            func lookup() async throws -> (String, String, String, String) {
                // The query a Dovecot passdb sql or a Postfix map runs (ops/postgresql/duplex_user_route.md).
                let rows = try await client.query(
                    """
                    SELECT host, host_address, preferred_host, other_host FROM duplex_user_route
                    WHERE user_name = \("gina@example.com")
                    """)
                var found: [(String, String, String, String)] = []
                for try await row in rows.decode((String, String, String, String).self) { found.append(row) }
                try #require(found.count == 1)
                return found[0]
            }
            let up = try await lookup()
            #expect(up.0 == "p1-\(preferred.rawValue)" && up.1 == "p1-\(preferred.rawValue).example.net")
            #expect(up.2 == up.0 && up.3 == "p1-\(preferred.other.rawValue)")

            _ = try await store.setHostHealth(pair: name("p1", .pair), side: preferred, health: .down)
            let down = try await lookup()
            #expect(down.0 == "p1-\(preferred.other.rawValue)" && down.2 == "p1-\(preferred.rawValue)")
        }
    }
}
