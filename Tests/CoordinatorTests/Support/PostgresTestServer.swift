import Foundation
import MailStoreTestSupport
import PostgresNIO

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL server for the tests: `initdb` into a temporary directory, `pg_ctl
/// start` listening only on a Unix socket in that directory (no TCP), run as the `postgres`
/// system account (initdb refuses root). One server per test process, started on first use;
/// each test gets a database of its own. The server is stopped when the process exits.
actor PostgresTestServer {
    /// The process's server.
    static let shared = PostgresTestServer()

    struct Running: Sendable {
        var directory: String
        var binaries: String
        var socketDirectory: String { directory }
        var socketPath: String { directory + "/.s.PGSQL.5432" }
    }

    private var running: Running?
    private var nextDatabase = 0

    /// The data directory of the server to stop at exit (set once, read by the exit handler).
    nonisolated(unsafe) private static var stopAtExit: (binaries: String, directory: String)?

    /// A new empty database on the server (started if needed) and the configuration to reach it.
    ///
    /// - Parameter maximumConnections: the client pool's size.
    func makeDatabase(maximumConnections: Int = 8) throws -> PostgresClient.Configuration {
        let server = try start()
        nextDatabase += 1
        let name = "duplex_test_\(nextDatabase)"
        try Self.runAsPostgres(server.binaries + "/createdb", ["-h", server.socketDirectory, "-U", "postgres", name], in: server.directory)
        var configuration = PostgresClient.Configuration(
            unixSocketPath: server.socketPath, username: "postgres", password: nil, database: name)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.keepAliveBehavior = nil
        return configuration
    }

    private func start() throws -> Running {
        if let running { return running }
        guard let binaries = Self.findBinaries() else {
            throw DovecotTestError.unavailable("PostgreSQL's initdb and pg_ctl were not found under /usr/lib/postgresql/*/bin")
        }
        guard SystemAccounts.isRoot, let account = SystemAccounts.user(named: "postgres") else {
            throw DovecotTestError.unavailable("the tests start PostgreSQL as the postgres account: run them as root with the postgresql package installed")
        }
        let directory = try TemporaryDirectory(prefix: "duplex-pg", mode: 0o700).path
        guard chown(directory, account.uid, account.gid) == 0 else {
            throw DovecotTestError.io("chown \(directory) to postgres failed: \(String(cString: strerror(errno)))")
        }
        let data = directory + "/data"
        try Self.runAsPostgres(
            binaries + "/initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"],
            in: directory)
        // Only the Unix socket in the temporary directory; durability is not what is tested.
        let options = [
            "-c listen_addresses=''", "-k \(directory)", "-c fsync=off", "-c synchronous_commit=off",
            "-c full_page_writes=off", "-c max_connections=120", "-c shared_buffers=32MB",
        ].joined(separator: " ")
        Self.stopAtExit = (binaries, data)
        atexit {
            guard let server = PostgresTestServer.stopAtExit else { return }
            _ = try? PostgresTestServer.runAsPostgres(
                server.binaries + "/pg_ctl", ["-D", server.directory, "-m", "immediate", "-w", "stop"], in: "/tmp")
            try? FileManager.default.removeItem(atPath: (server.directory as NSString).deletingLastPathComponent)
        }
        try Self.runAsPostgres(
            binaries + "/pg_ctl", ["-D", data, "-o", options, "-l", directory + "/server.log", "-w", "-t", "120", "start"],
            in: directory)
        let started = Running(directory: directory, binaries: binaries)
        running = started
        return started
    }

    /// Runs a PostgreSQL program as the postgres account, failing with its output.
    @discardableResult
    private static func runAsPostgres(_ program: String, _ arguments: [String], in directory: String) throws -> String {
        let result = try ExternalCommand.run(
            "/usr/sbin/runuser", ["-u", "postgres", "--", program] + arguments, timeout: 180)
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw DovecotTestError.io(
                "\((program as NSString).lastPathComponent) exited \(result.status): \(result.stderr)\(result.stdout)\n\(log.suffix(2000))")
        }
        return result.stdout
    }

    private static func findBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let bin = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: bin + "/initdb") { return bin }
        }
        if let initdb = ExternalCommand.executable(named: "initdb") {
            return (initdb as NSString).deletingLastPathComponent
        }
        return nil
    }
}
