/// One open transaction (or, for reads, one connection) of a driver.
protocol SQLTransaction {
    /// Runs one statement with `$1`, `$2`, … placeholders bound to `binds` and returns its rows.
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow]
}

/// How a driver's database failure should be treated.
enum SQLFailure {
    /// A unique constraint refused a row.
    case uniqueViolation
    /// A deadlock or serialization failure: the whole transaction may be run again.
    case transient
    /// The database could not be reached or closed the connection.
    case unavailable
    /// Anything else.
    case other
}

/// What the SQL text of the two databases differs in.
struct SQLDialect: Sendable {
    /// Appended to a `SELECT` whose rows (of the given table alias) the transaction will
    /// change: `FOR UPDATE OF x` on PostgreSQL; empty on SQLite, whose single writer already
    /// excludes everyone else.
    var lockRows: @Sendable (_ alias: String) -> String
    /// The condition matching a user-name mask (`*`, `?`) bound as `$n`, and the pattern to bind.
    var maskCondition: @Sendable (_ column: String, _ placeholder: String) -> String
    var maskPattern: @Sendable (_ mask: String) -> String
    /// Run first in each migration's transaction to serialize concurrent migrators (PostgreSQL
    /// advisory lock); `nil` when transactions are serialized anyway (SQLite).
    var migrationLock: String?
}

/// A database a ``SQLCoordinatorStore`` runs on.
protocol SQLDriver: Sendable {
    var dialect: SQLDialect { get }
    /// The schema migrations, in order, for this database.
    var migrations: [SchemaMigration] { get }

    /// Runs `body` in a transaction that is committed when it returns and rolled back when it
    /// throws; writes of concurrent transactions are serialized as the database does.
    func transaction<Result: Sendable>(_ body: (any SQLTransaction) async throws -> Result) async throws -> Result

    /// Runs `body` on a connection without an explicit transaction (each statement on its own).
    func read<Result: Sendable>(_ body: (any SQLTransaction) async throws -> Result) async throws -> Result

    /// Classifies an error thrown by this driver.
    func classify(_ error: any Error) -> SQLFailure

    /// See ``CoordinatorStore/withLeaderLock(_:_:)``.
    func withLeaderLock<Result: Sendable>(_ name: String, _ body: @Sendable () async throws -> Result) async throws
        -> Result?
}

/// One step of the schema: its version and the statements that take the schema there.
struct SchemaMigration: Sendable {
    var version: Int
    var statements: [String]
}
