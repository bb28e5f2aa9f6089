import Foundation

/// The store's behaviour, written once over a ``SQLDriver``: ``PostgresCoordinatorStore`` and
/// ``SQLiteCoordinatorStore`` are this class on their database.
///
/// Every operation is one transaction (or one read); a deadlock or serialization failure
/// reported by the database reruns the whole transaction, up to a few times.
public class SQLCoordinatorStore: CoordinatorStore, @unchecked Sendable {
    // @unchecked: every stored property is an immutable Sendable value; subclasses add only
    // immutable Sendable values.
    let driver: any SQLDriver
    let now: @Sendable () -> Date

    init(driver: any SQLDriver, now: @escaping @Sendable () -> Date) {
        self.driver = driver
        self.now = now
    }

    /// Thrown inside a transaction to roll it back and run the operation again: another
    /// transaction won a race the database settled (the same user assigned at the same time).
    struct RaceLost: Error {}

    /// How often a transaction is rerun after a deadlock, a serialization failure or a lost race.
    static let attempts = 8

    /// Runs `body` in a transaction (or as a read) and maps every failure to a
    /// ``CoordinatorStoreError`` with `operation` and `context`.
    func perform<Result: Sendable>(
        _ operation: String, _ context: CoordinatorStoreError.Context = .init(), write: Bool = true,
        _ body: (any SQLTransaction) async throws -> Result
    ) async throws(CoordinatorStoreError) -> Result {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return write ? try await driver.transaction(body) : try await driver.read(body)
            } catch var error as CoordinatorStoreError {
                if error.operation == "read" { error.operation = operation }
                if error.context == .init() { error.context = context }
                throw error
            } catch is RaceLost where attempt < Self.attempts {
                continue
            } catch {
                switch driver.classify(error) {
                case .transient where attempt < Self.attempts:
                    continue
                case .uniqueViolation:
                    throw CoordinatorStoreError(
                        .conflict, operation: operation, context: context, message: "a name given is already in use",
                        cause: error)
                case .unavailable:
                    throw CoordinatorStoreError(
                        .unavailable, operation: operation, context: context, message: "the database cannot be reached",
                        cause: error)
                case .transient, .other:
                    throw CoordinatorStoreError(
                        .unavailable, operation: operation, context: context,
                        message: "the database failed the operation", cause: error)
                }
            }
        }
    }

    // MARK: Schema

    @discardableResult
    public func migrate() async throws(CoordinatorStoreError) -> Int {
        let migrations = driver.migrations
        let newest = migrations.map(\.version).max() ?? 0
        try await perform("migrate") { tx in
            // Two concurrent CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL.
            if let lock = driver.dialect.migrationLock { _ = try await tx.query(lock, []) }
            _ = try await tx.query(
                "CREATE TABLE IF NOT EXISTS duplex_schema_version (version bigint PRIMARY KEY, applied_at bigint NOT NULL)",
                [])
        }
        for migration in migrations {
            try await perform("migrate") { tx in
                // Concurrent migrators wait here for each other, then see what the first applied.
                if let lock = driver.dialect.migrationLock { _ = try await tx.query(lock, []) }
                let applied = try await tx.query("SELECT max(version) AS version FROM duplex_schema_version", [])
                let current = try applied.first?.optionalInt64("version") ?? 0
                if current > newest {
                    throw CoordinatorStoreError(
                        .corrupt, operation: "migrate",
                        message: "the database has schema version \(current); this build knows up to \(newest)")
                }
                guard current < migration.version else { return }
                for statement in migration.statements {
                    _ = try await tx.query(statement, [])
                }
                _ = try await tx.query(
                    "INSERT INTO duplex_schema_version (version, applied_at) VALUES ($1, $2)",
                    [.integer(Int64(migration.version)), .integer(SQLValue.microseconds(now()))])
            }
        }
        return try await perform("migrate", write: false) { tx in
            let rows = try await tx.query("SELECT max(version) AS version FROM duplex_schema_version", [])
            return Int(try rows.first?.optionalInt64("version") ?? 0)
        }
    }

    // MARK: Leadership

    public func withLeaderLock<Result: Sendable>(
        _ name: String, _ body: @Sendable () async throws -> Result
    ) async throws -> Result? {
        try await driver.withLeaderLock(name, body)
    }
}

extension CoordinatorStoreError {
    static func notFound(_ operation: String, _ context: Context, _ what: String) -> CoordinatorStoreError {
        CoordinatorStoreError(.notFound, operation: operation, context: context, message: "\(what) does not exist")
    }

    static func invalid(_ operation: String, _ context: Context, _ message: String) -> CoordinatorStoreError {
        CoordinatorStoreError(.invalid, operation: operation, context: context, message: message)
    }

    static func conflict(_ operation: String, _ context: Context, _ message: String) -> CoordinatorStoreError {
        CoordinatorStoreError(.conflict, operation: operation, context: context, message: message)
    }
}
