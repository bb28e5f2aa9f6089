import Foundation

/// Dovecot's own dsync as the engine: runs
/// `doveadm [-c CONFIG] [-o KEY=VALUE…] sync -u USER [-f] -l LOCK [-N] -s STATE DEST`
/// as a subprocess with a timeout, keeps the state it prints for the next run, and maps its
/// exit codes (reference §6.4): 0 success; 2 changes during sync (run again); 67 no such
/// user; 1001 NOREPLICATE (233 as a process status) → the user leaves replication; 75 and
/// everything else a failure retried with back-off. This lets Dovecot deployments of any
/// mailbox format use the replicator with Dovecot's own dsync.
public struct DoveadmSyncEngine: SyncEngine {
    public var name: String { "doveadm" }
    /// The `doveadm` executable.
    public let doveadm: String
    /// `-c CONFIG`, when not the default configuration.
    public let configFile: String?
    /// `-o KEY=VALUE` settings for every run.
    public let settings: [String]
    /// Where to sync to, e.g. `tcps:peer.example.com:12345` or `remote:peer`.
    public let destination: String
    /// `-N`: all namespaces (needs a remote destination).
    public let allNamespaces: Bool
    /// `-l`: seconds to wait for the user's dsync lock.
    public let lockTimeout: Int
    /// A run taking longer is killed and counts as a failure.
    public let timeout: Duration
    /// Where each user's dsync state string is kept between runs.
    public let stateDirectory: String

    public init(
        doveadm: String = "/usr/bin/doveadm", configFile: String? = nil, settings: [String] = [], destination: String,
        allNamespaces: Bool = true, lockTimeout: Int = 30, timeout: Duration = .seconds(600), stateDirectory: String
    ) {
        self.doveadm = doveadm
        self.configFile = configFile
        self.settings = settings
        self.destination = destination
        self.allNamespaces = allNamespaces
        self.lockTimeout = lockTimeout
        self.timeout = timeout
        self.stateDirectory = stateDirectory
    }

    /// The process status doveadm exits with for NOREPLICATE (1001, truncated to 8 bits).
    static let noReplicateStatus: Int32 = 1001 & 0xff

    /// The arguments of one run.
    func arguments(user: String, full: Bool, state: String) -> [String] {
        var arguments: [String] = []
        if let configFile { arguments += ["-c", configFile] }
        for setting in settings { arguments += ["-o", setting] }
        arguments += ["sync", "-u", user]
        if full { arguments.append("-f") }
        arguments += ["-l", String(lockTimeout)]
        if allNamespaces { arguments.append("-N") }
        arguments += ["-s", state, destination]
        return arguments
    }

    public func sync(user: String, full: Bool) async -> SyncResult {
        let statePath = self.statePath(user)
        let state = (try? String(contentsOfFile: statePath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let run: (status: Int32, stdout: String, stderr: String)
        do {
            run = try await Self.run(doveadm, arguments(user: user, full: full, state: full ? "" : state), timeout: timeout)
        } catch {
            return SyncResult(.failure("doveadm sync could not run: \(error)"))
        }
        let newState = run.stdout.split(whereSeparator: \.isNewline).first.map { $0.split(separator: "\t").first.map(String.init) ?? "" } ?? ""
        let lastError = run.stderr.split(whereSeparator: \.isNewline).last.map(String.init) ?? "exit status \(run.status)"
        switch run.status {
        case 0:
            save(newState, to: statePath)
            return SyncResult(.success())
        case 2:
            save(newState, to: statePath)  // empty when Dovecot wants a full resync
            return SyncResult(.changedDuringSync)
        case 67:
            return SyncResult(.noSuchUser("doveadm sync: no such user: \(lastError)"))
        case Self.noReplicateStatus:
            return SyncResult(.noSuchUser("doveadm sync: the user is not to be replicated (noreplicate)"))
        case 75:
            return SyncResult(.failure("doveadm sync: temporary failure (lock timeout?): \(lastError)"))
        default:
            return SyncResult(.failure("doveadm sync exited \(run.status): \(lastError)"))
        }
    }

    /// The state file of a user: a hash of the name, so any name is a safe file name.
    func statePath(_ user: String) -> String {
        stateDirectory + "/" + String(UserQueue.hash(user), radix: 16) + ".doveadm-state"
    }

    private func save(_ state: String, to path: String) {
        try? FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((state + "\n").utf8), attributes: [.posixPermissions: 0o600]) else { return }
        _ = rename(temporary, path)
    }

    /// Runs a program, its output in temporary files (no pipe can fill up), killed after
    /// `timeout`.
    static func run(_ executable: String, _ arguments: [String], timeout: Duration) async throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("duplex-doveadm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("stdout"), err = directory.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let exit = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { exit.continuation.yield($0.terminationStatus) }
        try process.run()
        let pid = process.processIdentifier
        let status: Int32 = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                var statuses = exit.stream.makeAsyncIterator()
                return await statuses.next()
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            while let next = await group.next() {
                if let status = next {
                    group.cancelAll()
                    return status
                }
                // The timeout, before its exit was seen (so the pid is still its own): kill it;
                // its exit is still awaited (SIGKILL cannot be ignored).
                kill(pid, SIGKILL)
            }
            return -1
        }
        let stdout = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        return (status, stdout, stderr)
    }
}
