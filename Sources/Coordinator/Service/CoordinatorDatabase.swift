import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Opens the store `database.url` names, for the coordinator's service and its commands.
public struct CoordinatorDatabase: Sendable {
    public var url: CoordinatorDatabaseURL
    /// PostgreSQL's password, read from `database.password_file` (trailing newline removed).
    public var password: String?
    /// PostgreSQL's most connections at once.
    public var poolSize: Int

    public init(url: CoordinatorDatabaseURL, password: String? = nil, poolSize: Int = 10) {
        self.url = url
        self.password = password
        self.poolSize = poolSize
    }

    /// An open store and, for PostgreSQL, the service that runs its connection pool.
    public struct Opened: Sendable {
        public var store: any CoordinatorStore
        /// Run it (first, in the service group) for as long as the store is used.
        public var poolService: (any Service)?
        let sqlite: SQLiteCoordinatorStore?

        /// Closes an embedded store (PostgreSQL's pool ends with its service).
        public func close() async {
            await sqlite?.close()
        }
    }

    /// Opens the store, without touching its schema.
    ///
    /// - Throws: ``CoordinatorStoreError`` `unavailable` when an SQLite file cannot be opened
    ///   (PostgreSQL connects when first used).
    public func open(logger: Logger) async throws(CoordinatorStoreError) -> Opened {
        switch url {
        case .sqlite(let path):
            let store = try await SQLiteCoordinatorStore(path: path, logger: logger)
            return Opened(store: store, poolService: nil, sqlite: store)
        case .postgres(let location):
            var configuration: PostgresClient.Configuration
            if let socket = location.socketPath {
                configuration = .init(unixSocketPath: socket, username: location.user, password: password, database: location.database)
            } else {
                configuration = .init(
                    host: location.host ?? "localhost", port: location.port, username: location.user, password: password,
                    database: location.database, tls: .prefer(.makeClientConfiguration()))
            }
            configuration.options.maximumConnections = poolSize
            let store = PostgresCoordinatorStore(configuration: configuration, logger: logger)
            return Opened(store: store, poolService: store, sqlite: nil)
        }
    }

    /// Runs `body` with the open store (its pool running), then closes it.
    public func withStore<Result: Sendable>(
        logger: Logger, _ body: @Sendable (any CoordinatorStore) async throws -> Result
    ) async throws -> Result {
        let opened = try await open(logger: logger)
        guard let pool = opened.poolService else {
            do {
                let result = try await body(opened.store)
                await opened.close()
                return result
            } catch {
                await opened.close()
                throw error
            }
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            defer { group.cancelAll() }
            return try await body(opened.store)
        }
    }
}
