import Foundation
import MailStoreTestSupport

/// A private PostgreSQL server for one test: `initdb` into a temporary directory, then
/// `postgres` in the foreground as a child of the test, listening only on a unix socket in
/// that directory (no TCP), trusting local connections.
///
/// PostgreSQL refuses to run as root, so both run as the system user `postgres` (through
/// `setpriv`, which executes the program in place: the child's pid is the server's).
struct PostgresServer {
    let directory: TemporaryDirectory
    /// The directory of the server's unix socket: libpq's `host=` for it.
    var socketDirectory: String { directory.path }

    static let systemUser = "postgres"
    /// How long `initdb` and the start may take: generous, a passing test never waits this long.
    static let patience = Duration.seconds(180)

    /// The directory of `initdb` and `postgres` (the newest installed major version).
    static var binaryDirectory: String? {
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return versions.compactMap(Int.init).sorted().last.map { "\(base)/\($0)/bin" }
            .flatMap { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") ? $0 : nil }
    }

    /// Why a server cannot be started here, nil when it can.
    static var unavailableReason: String? {
        if binaryDirectory == nil { return "PostgreSQL not found in /usr/lib/postgresql (install postgresql)" }
        if ExternalCommand.executable(named: "psql") == nil { return "psql not found (install postgresql-client)" }
        if ExternalCommand.executable(named: "setpriv") == nil { return "setpriv not found (install util-linux)" }
        if !SystemAccounts.isRoot { return "tests must run as root to start PostgreSQL as \(systemUser)" }
        if SystemAccounts.user(named: systemUser) == nil { return "no system user \(systemUser)" }
        return nil
    }

    /// Runs `body` with a fresh server and stops it afterwards (fast shutdown), also when
    /// `body` throws.
    static func with<T>(_ body: (PostgresServer) async throws -> T) async throws -> T {
        guard unavailableReason == nil, let bin = binaryDirectory, let account = SystemAccounts.user(named: systemUser) else {
            throw DovecotTestError.unavailable(unavailableReason ?? "PostgreSQL is not usable")
        }
        return try await TemporaryDirectory.with(prefix: "duplex-pg") { directory in
            guard chown(directory.path, account.uid, account.gid) == 0 else {
                throw DovecotTestError.io("chown \(directory.path) to \(systemUser) failed: \(String(cString: strerror(errno)))")
            }
            let data = directory.appending("data")
            let initdb = try ExternalCommand.run(
                "/usr/bin/env", asPostgres(bin + "/initdb", ["-D", data, "-A", "trust", "-U", systemUser, "-E", "UTF8", "--no-sync"]),
                timeout: 120)
            guard initdb.status == 0 else { throw DovecotTestError.io("initdb failed (\(initdb.status)): \(initdb.stderr)") }
            let server = try BackgroundCommand(
                "/usr/bin/env",
                asPostgres(bin + "/postgres", ["-D", data, "-k", directory.path, "-c", "listen_addresses=", "-c", "fsync=off"]),
                outputDirectory: directory.path)
            defer { server.stop() }
            let postgres = PostgresServer(directory: directory)
            try await postgres.waitUntilReady(server)
            let result = try await body(postgres)
            // SIGINT: fast shutdown, without waiting for clients that are still connected.
            server.send(SIGINT)
            _ = await server.exitStatus(within: .seconds(120))
            return result
        }
    }

    /// `program arguments` run as `postgres` (through `env`, which finds `setpriv`).
    private static func asPostgres(_ program: String, _ arguments: [String]) -> [String] {
        ["setpriv", "--reuid=\(systemUser)", "--regid=\(systemUser)", "--init-groups", program] + arguments
    }

    private func waitUntilReady(_ server: BackgroundCommand) async throws {
        let deadline = ContinuousClock.now + Self.patience
        while (try? psql("SELECT 1").status) != 0 {
            guard server.exitStatus() == nil, ContinuousClock.now < deadline else {
                throw DovecotTestError.instanceFailed("postgres did not start: \(server.stderr)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Runs `sql` with `psql` as the superuser in `database`, stopping at the first error.
    ///
    /// - Returns: the result; rows are printed unaligned, without headers.
    func psql(_ sql: String, database: String = "postgres") throws -> ExternalCommand.Result {
        guard let psql = ExternalCommand.executable(named: "psql") else { throw DovecotTestError.unavailable("psql not found") }
        return try ExternalCommand.run(
            psql, ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-U", Self.systemUser, "-d", database, "-c", sql],
            timeout: 60)
    }
}
