import Foundation

/// Where the coordinator's store lives, as `database.url` writes it.
///
/// - `postgres://USER@HOST:PORT/DATABASE` (port 5432 when left out; `postgresql://` too),
/// - `postgres://USER@/DATABASE?host=/run/postgresql` or `postgres:///DATABASE?host=/run/postgresql`
///   for a Unix socket in that directory (user `duplex` when left out),
/// - `sqlite:///ABSOLUTE/PATH` for the embedded store.
///
/// A password in the URL is refused: it belongs in `database.password_file`, which is not
/// shown in logs and process listings.
public enum CoordinatorDatabaseURL: Hashable, Sendable, CustomStringConvertible {
    case postgres(PostgresLocation)
    case sqlite(path: String)

    /// A PostgreSQL server and database.
    public struct PostgresLocation: Hashable, Sendable {
        /// A TCP host, or `nil` for a Unix socket.
        public var host: String?
        public var port: Int
        /// The directory of the Unix socket (`.s.PGSQL.PORT` in it), when `host` is `nil`.
        public var socketDirectory: String?
        public var user: String
        public var database: String

        /// The socket's path, when it is one.
        public var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }
    }

    /// The default: the embedded store in `/var/lib/duplex/coordinator.db`.
    public static let defaultURL = CoordinatorDatabaseURL.sqlite(path: "/var/lib/duplex/coordinator.db")
    /// The user of a PostgreSQL URL that names none.
    public static let defaultUser = "duplex"

    /// Parses `text`.
    ///
    /// - Throws: ``CoordinatorDatabaseURLError`` saying what is wrong.
    public init(parsing text: String) throws(CoordinatorDatabaseURLError) {
        func fail(_ reason: String) -> CoordinatorDatabaseURLError {
            CoordinatorDatabaseURLError(text: Self.redactingPassword(text), reason: reason)
        }
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard path.hasPrefix("/"), path.count > 1, !path.contains("\0"), !path.contains("?") else {
                throw fail("must be sqlite:///ABSOLUTE/PATH (three slashes before an absolute path)")
            }
            self = .sqlite(path: path)
            return
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"),
            let components = URLComponents(string: text)
        else {
            throw fail("must start with postgres://, postgresql:// or sqlite://")
        }
        guard components.password == nil else {
            throw fail("holds a password; put it in database.password_file instead")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !database.isEmpty, !database.contains("/") else { throw fail("names no database (…/DATABASE)") }
        var socketDirectory: String?
        for item in components.queryItems ?? [] {
            guard item.name == "host", let value = item.value, value.hasPrefix("/") else {
                throw fail("the only query parameter is host=/SOCKET/DIRECTORY")
            }
            socketDirectory = value
        }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 }
        if host == nil && socketDirectory == nil { throw fail("names neither a host nor ?host=/SOCKET/DIRECTORY") }
        if host != nil && socketDirectory != nil { throw fail("names both a host and a socket directory") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw fail("has a port outside 1–65535") }
        self = .postgres(
            PostgresLocation(
                host: host, port: port, socketDirectory: socketDirectory,
                user: components.user.flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultUser, database: database))
    }

    /// `text` with the password of its user information, if any, replaced by `***`, so a
    /// refused URL can be shown.
    static func redactingPassword(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let rest = text[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") else { return text }
        return String(text[..<rest.index(after: colon)]) + "***" + String(text[at...])
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite://\(path)"
        case .postgres(let location):
            if let host = location.host {
                return "postgres://\(location.user)@\(host):\(location.port)/\(location.database)"
            }
            return "postgres://\(location.user)@/\(location.database)?host=\(location.socketDirectory ?? "")"
        }
    }
}

/// A `database.url` that cannot be used.
public struct CoordinatorDatabaseURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The refused URL.
    public var text: String
    public var reason: String

    public var description: String { "\(text.debugDescription) \(reason)" }
}
