import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// The production ``CoordinatorStore``: PostgreSQL through postgres-nio's connection pool.
///
/// Several coordinators may share one database. Every value is a bind parameter. Run the store
/// (``run()``, or as a `Service` in a `ServiceGroup`) for as long as it is used: it owns the
/// connection pool.
///
/// Concurrency (READ COMMITTED, the PostgreSQL default):
/// - One current user per name: a partial unique index on `duplex_users (name) WHERE state <>
///   'removed'`, written with `ON CONFLICT DO NOTHING`; the loser of a race rolls back and
///   answers with the winner's assignment.
/// - Capacity: each pair has a `user_count` raised by `UPDATE … WHERE user_count < capacity`,
///   which re-checks the condition on the newest row after waiting for its row lock, so no
///   interleaving of assigns puts a pair over capacity. Only the chosen pair's row is locked,
///   so assigns onto different pairs run in parallel.
/// - Quota: assigns of a tenant with a quota lock the tenant's row and count; tenants without
///   a quota take no lock.
/// - Change versions: a pair's versions are taken under its row lock, so they commit in order
///   and an agent pulling "changes after v" never skips one.
/// - Deadlocks and serialization failures rerun the transaction.
public final class PostgresCoordinatorStore: SQLCoordinatorStore, Service, @unchecked Sendable {
    let client: PostgresClient
    /// The pool's most connections at once.
    let maximumConnections: Int

    /// A store on the database `configuration` names.
    ///
    /// - Parameters:
    ///   - configuration: postgres-nio's client configuration (host or Unix socket, user,
    ///     password, database, TLS, pool size).
    ///   - logger: for the pool's background messages.
    ///   - now: the clock stamped on records; tests pass their own.
    public init(
        configuration: PostgresClient.Configuration, logger: Logger = Logger(label: "duplex.coordinator.postgres"),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        maximumConnections = configuration.options.maximumConnections
        super.init(driver: PostgresDriver(client: client, logger: logger), now: now)
    }

    /// Runs the connection pool until the task is cancelled (or graceful shutdown).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.client.run()
        }
    }
}

/// ``SQLDriver`` on a `PostgresClient`.
struct PostgresDriver: SQLDriver {
    let client: PostgresClient
    let logger: Logger

    var dialect: SQLDialect {
        SQLDialect(
            lockRows: { " FOR UPDATE OF \($0)" },
            maskCondition: { column, placeholder in "\(column) LIKE \(placeholder) ESCAPE '\\'" },
            maskPattern: Self.likePattern,
            // A transaction-scoped advisory lock (key: "duplexmg" in ASCII), usable before the
            // version table exists.
            migrationLock: "SELECT pg_advisory_xact_lock(7238815586929110375)::text AS locked")
    }

    var migrations: [SchemaMigration] { SchemaMigration.coordinator(.postgres) }

    /// A `*`/`?` mask as a LIKE pattern, with LIKE's own wildcards and the escape escaped.
    static func likePattern(_ mask: String) -> String {
        var pattern = ""
        for character in mask {
            switch character {
            case "*": pattern.append("%")
            case "?": pattern.append("_")
            case "%", "_", "\\": pattern.append("\\\(character)")
            default: pattern.append(character)
            }
        }
        return pattern
    }

    func transaction<Result: Sendable>(_ body: (any SQLTransaction) async throws -> Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await body(PostgresTransaction(connection: connection, logger: logger))
            }
        } catch let error as PostgresTransactionError {
            // The store's own errors (and a lost race) must come out as thrown; the rollback
            // has happened either way.
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }

    func read<Result: Sendable>(_ body: (any SQLTransaction) async throws -> Result) async throws -> Result {
        try await client.withConnection { connection in
            try await body(PostgresTransaction(connection: connection, logger: logger))
        }
    }

    func classify(_ error: any Error) -> SQLFailure {
        guard let error = error as? PSQLError else { return .other }
        switch error.code {
        case .server:
            switch error.serverInfo?[.sqlState] {
            case "23505": return .uniqueViolation
            case "40001", "40P01": return .transient
            case let state? where state.hasPrefix("08") || state.hasPrefix("57P"): return .unavailable
            default: return .other
            }
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .sslUnsupported,
            .uncleanShutdown:
            return .unavailable
        default:
            return .other
        }
    }

    func withLeaderLock<Result: Sendable>(_ name: String, _ body: @Sendable () async throws -> Result) async throws
        -> Result?
    {
        // One key per lock name, stable across processes and releases.
        let key = Int64(bitPattern: StableHash.fnv1a(Array("duplex.leader.".utf8) + Array(name.utf8)))
        return try await client.withConnection { connection in
            let acquired = try await connection.query("SELECT pg_try_advisory_lock(\(key)) AS acquired", logger: logger)
            var isHeld = false
            for try await value in acquired.decode(Bool.self) { isHeld = value }
            guard isHeld else { return nil }
            let outcome: Swift.Result<Result, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            do {
                try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
            } catch {
                // A session lock must not go back to the pool with its connection: closing the
                // connection releases it.
                try? await connection.close()
            }
            return try outcome.get()
        }
    }
}

/// One leased connection, inside or outside a transaction.
struct PostgresTransaction: SQLTransaction {
    let connection: PostgresConnection
    let logger: Logger

    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .null: bindings.appendNull()
            case .integer(let integer): bindings.append(integer)
            case .text(let text): bindings.append(text)
            case .bool(let bool): bindings.append(bool)
            case .date(let date): bindings.append(date)
            }
        }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        var result: [SQLRow] = []
        for try await row in rows {
            var values: [String: SQLValue] = [:]
            for cell in row {
                values[cell.columnName] = try Self.value(of: cell)
            }
            result.append(SQLRow(values: values))
        }
        return result
    }

    private static func value(of cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .bool: return .bool(try cell.decode(Bool.self))
        case .timestamptz, .timestamp: return .date(try cell.decode(Date.self))
        case .text, .varchar, .name, .bpchar: return .text(try cell.decode(String.self))
        default:
            throw CoordinatorStoreError(
                .corrupt, operation: "read", message: "column \(cell.columnName) has an unexpected type \(cell.dataType)")
        }
    }
}

extension PostgresCoordinatorStore: StoreChangeFeed {
    /// Listens on ``StoreChange/channel`` on one connection of the pool, held until the
    /// connection ends or the task is cancelled.
    func followChanges(listening: @Sendable () async -> Void, received: @Sendable (StoreChange) async -> Void) async throws {
        try await client.withConnection { connection in
            try await connection.listen(on: StoreChange.channel) { notifications in
                await listening()
                for try await notification in notifications {
                    if let change = StoreChange(payload: notification.payload) { await received(change) }
                }
            }
        }
    }
}
