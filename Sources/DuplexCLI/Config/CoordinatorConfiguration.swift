import Coordinator
import Foundation

/// The settings of `duplex coordinator`, read from one file and `DUPLEX_*` variables by
/// ``load(path:environment:)``; `ops/config/coordinator.yaml` documents each with its default.
struct CoordinatorConfiguration: Sendable, Equatable {
    /// Where the API listens and how often host health is checked.
    var service: CoordinatorService.Configuration
    /// The PEM certificate chain the API presents (`coordinator.tls.certificate`).
    var certificatePath: String
    /// Its PEM private key (`coordinator.tls.key`).
    var keyPath: String
    var database: Database
    /// The `moves:` section, or `nil` when it is not set (no moves are run).
    var moves: MoveConfiguration? = nil

    /// The `database:` section.
    struct Database: Sendable, Equatable {
        /// `database.url` (default ``CoordinatorDatabaseURL/defaultURL``).
        var url: CoordinatorDatabaseURL = .defaultURL
        /// `database.password_file`: a file holding PostgreSQL's password, or `nil` for none.
        var passwordFile: String?
        /// `database.pool_size`: PostgreSQL connections at most (default 10).
        var poolSize: Int = Self.defaultPoolSize
        /// `database.migrate_on_start`: apply missing migrations before serving (default false).
        var migrateOnStart = false

        static let defaultPoolSize = 10
        /// The largest pool accepted.
        static let maximumPoolSize = 1000
    }

    /// The store settings as the Coordinator target takes them, with the password read.
    ///
    /// - Throws: ``ConfigurationError`` when the password file cannot be read.
    func databaseAccess(configurationFile: String) throws -> CoordinatorDatabase {
        var password: String?
        if let passwordFile = database.passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile) else {
                throw ConfigurationError(
                    .unreadableFile, "\(passwordFile) cannot be read", file: configurationFile, key: Key.passwordFile)
            }
            password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        return CoordinatorDatabase(url: database.url, password: password, poolSize: database.poolSize)
    }
}
