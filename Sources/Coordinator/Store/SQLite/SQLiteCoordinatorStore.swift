import Foundation
import Logging
import SQLiteNIO

/// The embedded ``CoordinatorStore``: one SQLite database file (or memory), for a single box
/// and `duplex demo`; the same behaviour as ``PostgresCoordinatorStore``.
///
/// One connection does everything and transactions take turns (`BEGIN IMMEDIATE`, one at a
/// time), so writes are serialized: capacity and uniqueness hold trivially. Leader locks are
/// local to the store, as only this process uses the file.
public final class SQLiteCoordinatorStore: SQLCoordinatorStore, @unchecked Sendable {
    private let database: SQLiteDatabaseActor

    /// Opens (creating if needed) the database at `path`, or an in-memory one for `nil`.
    ///
    /// - Parameter now: the clock stamped on records; tests pass their own.
    /// - Throws: ``CoordinatorStoreError`` `unavailable` when the file cannot be opened.
    public init(path: String?, logger: Logger = Logger(label: "duplex.coordinator.sqlite"), now: @escaping @Sendable () -> Date = { Date() })
        async throws(CoordinatorStoreError)
    {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: path.map { .file(path: $0) } ?? .memory, logger: logger)
            _ = try await connection.query("PRAGMA foreign_keys = ON")
            _ = try await connection.query("PRAGMA busy_timeout = 10000")
            if path != nil { _ = try await connection.query("PRAGMA journal_mode = WAL") }
        } catch {
            throw CoordinatorStoreError(
                .unavailable, operation: "open", message: "cannot open the SQLite database \(path ?? ":memory:")", cause: error)
        }
        database = SQLiteDatabaseActor(connection: connection)
        super.init(driver: SQLiteDriver(database: database), now: now)
    }

    /// Closes the database; the store cannot be used afterwards.
    public func close() async {
        await database.close()
    }
}

/// Owns the one connection and lets one transaction (or read) use it at a time, in arrival order.
actor SQLiteDatabaseActor {
    let connection: SQLiteConnection
    private var isBusy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var leaderLocks: Set<String> = []

    init(connection: SQLiteConnection) {
        self.connection = connection
    }

    func acquire() async {
        if !isBusy {
            isBusy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            isBusy = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    func takeLeaderLock(_ name: String) -> Bool { leaderLocks.insert(name).inserted }

    func releaseLeaderLock(_ name: String) { leaderLocks.remove(name) }

    func close() async {
        await acquire()
        try? await connection.close()
        release()
    }
}

/// ``SQLDriver`` on one SQLite connection.
struct SQLiteDriver: SQLDriver {
    let database: SQLiteDatabaseActor

    var dialect: SQLDialect {
        SQLDialect(
            lockRows: { _ in "" },
            maskCondition: { column, placeholder in "\(column) GLOB \(placeholder)" },
            maskPattern: Self.globPattern,
            migrationLock: nil)
    }

    var migrations: [SchemaMigration] { SchemaMigration.coordinator(.sqlite) }

    /// A `*`/`?` mask as a GLOB pattern (case-sensitive, like the mask); `[` is GLOB's only
    /// other special character and is matched literally as `[[]`.
    static func globPattern(_ mask: String) -> String {
        mask.replacingOccurrences(of: "[", with: "[[]")
    }

    func transaction<Result: Sendable>(_ body: (any SQLTransaction) async throws -> Result) async throws -> Result {
        try await exclusively { transaction in
            _ = try await transaction.query("BEGIN IMMEDIATE", [])
            do {
                let result = try await body(transaction)
                _ = try await transaction.query("COMMIT", [])
                return result
            } catch {
                _ = try? await transaction.query("ROLLBACK", [])
                throw error
            }
        }
    }

    func read<Result: Sendable>(_ body: (any SQLTransaction) async throws -> Result) async throws -> Result {
        try await exclusively(body)
    }

    private func exclusively<Result: Sendable>(_ body: (any SQLTransaction) async throws -> Result) async throws -> Result {
        await database.acquire()
        do {
            let result = try await body(SQLiteTransaction(connection: database.connection))
            await database.release()
            return result
        } catch {
            await database.release()
            throw error
        }
    }

    func classify(_ error: any Error) -> SQLFailure {
        guard let error = error as? SQLiteError else { return .other }
        switch error.reason {
        // The extended code is not exposed; SQLite's message names the kind of constraint.
        case .constraint where error.message.hasPrefix("UNIQUE"): return .uniqueViolation
        case .busy, .locked: return .transient
        case .cantOpen, .ioError, .readOnly, .full, .notADatabase: return .unavailable
        default: return .other
        }
    }

    func withLeaderLock<Result: Sendable>(_ name: String, _ body: @Sendable () async throws -> Result) async throws
        -> Result?
    {
        guard await database.takeLeaderLock(name) else { return nil }
        do {
            let result = try await body()
            await database.releaseLeaderLock(name)
            return result
        } catch {
            await database.releaseLeaderLock(name)
            throw error
        }
    }
}

/// The connection seen by one transaction or read.
struct SQLiteTransaction: SQLTransaction {
    let connection: SQLiteConnection

    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        let rows = try await connection.query(Self.numberedPlaceholders(sql), binds.map(Self.data))
        return rows.map { row in
            var values: [String: SQLValue] = [:]
            for column in row.columns {
                switch column.data {
                case .integer(let integer): values[column.name] = .integer(Int64(integer))
                case .text(let text): values[column.name] = .text(text)
                case .float(let double): values[column.name] = .integer(Int64(double))
                case .null, .blob: values[column.name] = .null
                }
            }
            return SQLRow(values: values)
        }
    }

    private static func data(_ value: SQLValue) -> SQLiteData {
        switch value {
        case .null: .null
        case .integer(let integer): .integer(SQLiteInt64(integer))
        case .text(let text): .text(text)
        case .bool(let bool): .integer(bool ? 1 : 0)
        case .date(let date): .integer(SQLiteInt64(SQLValue.microseconds(date)))
        }
    }

    /// `$1` placeholders as SQLite's `?1`: SQLite would read `$1` as a named parameter
    /// numbered by first appearance, not by its digits. The statements hold no `$` otherwise.
    static func numberedPlaceholders(_ sql: String) -> String {
        sql.replacingOccurrences(of: "$", with: "?")
    }
}
