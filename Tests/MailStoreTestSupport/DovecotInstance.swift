import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A private Dovecot 2.3 instance used as the reference implementation in
/// tests.
///
/// Each instance lives in its own directory under /tmp (configuration,
/// `base_dir`, `state_dir`, log and the users' home directories), listens on
/// no network protocol and authenticates every user through a static
/// passdb/userdb that maps all users to the `vmail` account with home
/// `<directory>/home/<user>` and `mail_location = maildir:~/Maildir`.
///
/// Creating an instance starts the Dovecot master process; `stop()` sends
/// SIGTERM to exactly that process and removes the directory. Prefer
/// ``withInstance(_:)``, which always stops the instance.
///
/// All stored properties are immutable, so instances can be shared freely
/// between tasks; every doveadm call is an independent child process.
public final class DovecotInstance: Sendable {
    /// Root of the instance's private directory tree (mode 0755).
    public let directory: String
    /// The generated dovecot.conf.
    public let configPath: String
    /// Dovecot `base_dir` (sockets and master.pid).
    public let baseDirectory: String
    /// Dovecot `state_dir`.
    public let stateDirectory: String
    /// Dovecot `log_path`.
    public let logPath: String
    /// Parent of the per-user home directories (owned by vmail).
    public let homeRoot: String
    /// Dovecot `instance_name`, unique per instance.
    public let instanceName: String
    /// Pid of the Dovecot master process this instance started.
    public let masterPID: pid_t

    private let doveadmPath: String
    private let scratchDirectory: String

    /// How long to wait for the master process and its sockets at start. Every wait here
    /// ends as soon as what it waits for is seen; the bounds only guard a hang, and are
    /// generous because a loaded machine starts and stops Dovecot slowly.
    public static let startTimeout: TimeInterval = 120
    /// How long `stop()` waits for the master process to exit.
    public static let stopTimeout: TimeInterval = 120
    /// Upper bound for one doveadm invocation.
    public static let commandTimeout: TimeInterval = 300

    // MARK: - Availability

    /// Why Dovecot cannot be used here, or nil if it can.
    ///
    /// Requires the `dovecot` and `doveadm` binaries and root privileges
    /// (the master process must run as root to switch to vmail).
    public static var unavailableReason: String? {
        var missing: [String] = []
        if CommandRunner.findExecutable("doveadm") == nil { missing.append("doveadm") }
        if CommandRunner.findExecutable("dovecot") == nil { missing.append("dovecot") }
        if !missing.isEmpty {
            return "\(missing.joined(separator: " and ")) not found on PATH (install Debian package dovecot-core)"
        }
        if !SystemAccounts.isRoot {
            return "tests must run as root to start a private Dovecot instance"
        }
        return nil
    }

    /// True when a private Dovecot instance can be started.
    public static var isAvailable: Bool { unavailableReason == nil }

    // MARK: - Life cycle

    /// Creates the instance directory, writes the configuration and starts
    /// Dovecot. Returns once the master process and the auth-userdb socket
    /// exist.
    public init(prefix: String = "duplex-dovecot") throws {
        if let reason = Self.unavailableReason {
            throw DovecotTestError.unavailable(reason)
        }
        guard let dovecotPath = CommandRunner.findExecutable("dovecot"),
              let doveadmPath = CommandRunner.findExecutable("doveadm")
        else {
            throw DovecotTestError.unavailable("dovecot/doveadm not found")
        }
        let vmail = try SystemAccounts.ensureVmail()

        let tmp = try TemporaryDirectory(prefix: prefix)
        let dir = tmp.path
        var started = false
        defer { if !started { tmp.cleanup() } }

        let suffix = UUID().uuidString.prefix(8).lowercased()
        self.directory = dir
        self.configPath = dir + "/dovecot.conf"
        self.baseDirectory = dir + "/run"
        self.stateDirectory = dir + "/state"
        self.logPath = dir + "/dovecot.log"
        self.homeRoot = dir + "/home"
        self.scratchDirectory = dir + "/scratch"
        self.instanceName = "duplex-test-\(getpid())-\(suffix)"
        self.doveadmPath = doveadmPath

        let fm = FileManager.default
        do {
            for sub in [baseDirectory, stateDirectory, homeRoot, scratchDirectory] {
                try fm.createDirectory(atPath: sub, withIntermediateDirectories: true)
            }
            try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: scratchDirectory)
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: homeRoot)
        } catch {
            throw DovecotTestError.io("cannot prepare \(dir): \(error)")
        }
        guard chown(homeRoot, vmail.uid, vmail.gid) == 0 else {
            throw DovecotTestError.io("chown \(homeRoot) failed: \(String(cString: strerror(errno)))")
        }

        let config = Self.configuration(
            instanceName: instanceName, baseDirectory: baseDirectory, stateDirectory: stateDirectory,
            logPath: logPath, homeRoot: homeRoot, vmailUID: vmail.uid)
        guard fm.createFile(atPath: configPath, contents: Data(config.utf8)) else {
            throw DovecotTestError.io("cannot write \(configPath)")
        }

        let startCommand = [dovecotPath, "-c", configPath]
        let out = try CommandRunner.run(
            dovecotPath, ["-c", configPath], scratchDirectory: scratchDirectory,
            workingDirectory: dir, timeout: Self.startTimeout)
        if out.status != 0 {
            throw DovecotTestError.commandFailed(
                command: startCommand, status: out.status,
                stdout: String(decoding: out.stdout, as: UTF8.self),
                stderr: String(decoding: out.stderr, as: UTF8.self) + Self.logTail(logPath))
        }

        // Dovecot daemonizes; wait for the master pid file, then the socket
        // doveadm uses for user look-ups.
        let pidFile = baseDirectory + "/master.pid"
        let userdbSocket = baseDirectory + "/auth-userdb"
        let deadline = Date().addingTimeInterval(Self.startTimeout)
        var pid: pid_t?
        while Date() < deadline {
            if pid == nil, let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
               let value = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                pid = value
            }
            if pid != nil && fm.fileExists(atPath: userdbSocket) { break }
            usleep(20_000)
        }
        guard let pid else {
            throw DovecotTestError.instanceFailed(
                "dovecot did not write \(pidFile) within \(Self.startTimeout)s" + Self.logTail(logPath))
        }
        self.masterPID = pid
        guard fm.fileExists(atPath: userdbSocket) else {
            Self.terminateAndWait(pid: pid, configPath: configPath, timeout: Self.stopTimeout)
            throw DovecotTestError.instanceFailed(
                "\(userdbSocket) did not appear within \(Self.startTimeout)s" + Self.logTail(logPath))
        }
        started = true
    }

    /// Same as `init(prefix:)`; reads better at call sites.
    public static func start(prefix: String = "duplex-dovecot") throws -> DovecotInstance {
        try DovecotInstance(prefix: prefix)
    }

    /// Starts an instance, runs `body` and stops the instance afterwards,
    /// also when `body` throws (the body's error wins over a stop error).
    public static func withInstance<T>(
        prefix: String = "duplex-dovecot",
        isolation: isolated (any Actor)? = #isolation,
        _ body: (DovecotInstance) async throws -> T
    ) async throws -> T {
        let instance = try DovecotInstance(prefix: prefix)
        let result: T
        do {
            result = try await body(instance)
        } catch {
            try? instance.stop()
            throw error
        }
        try instance.stop()
        return result
    }

    /// Sends SIGTERM to the master process started by this instance (only
    /// that pid, and only while it still runs this instance's config), waits
    /// up to ``stopTimeout`` seconds for it and its children to exit, then
    /// removes the instance directory. Calling it again is harmless.
    ///
    /// Throws if the master process does not exit in time; the directory is
    /// left in place then, since Dovecot may still be using it.
    public func stop() throws {
        let exited = Self.terminateAndWait(pid: masterPID, configPath: configPath, timeout: Self.stopTimeout)
        guard exited else {
            throw DovecotTestError.instanceFailed(
                "dovecot master \(masterPID) did not exit within \(Self.stopTimeout)s after SIGTERM; left \(directory)")
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// True while the master process of this instance is alive.
    public var isRunning: Bool {
        Self.isOurMaster(pid: masterPID, configPath: configPath)
    }

    /// Current content of the instance log (empty if unreadable).
    public func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    // MARK: - Paths and ownership

    /// Home directory of `user`: `<directory>/home/<user>`.
    public func homeDirectory(user: String) -> String {
        homeRoot + "/" + user
    }

    /// The user's Maildir root: `<directory>/home/<user>/Maildir`.
    public func mailRoot(user: String) -> String {
        homeDirectory(user: user) + "/Maildir"
    }

    /// Creates the user's home directory (owned by vmail, mode 0700) if it
    /// does not exist yet, and returns its path.
    @discardableResult
    public func makeHomeDirectory(user: String) throws -> String {
        let home = homeDirectory(user: user)
        do {
            try FileManager.default.createDirectory(
                atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DovecotTestError.io("cannot create \(home): \(error)")
        }
        try SystemAccounts.chownToVmail(path: home)
        return home
    }

    /// Recursively chowns `path` to vmail:vmail (see
    /// `SystemAccounts.chownToVmail(path:)`). Use it after writing into a
    /// home directory as root, before calling doveadm.
    public func chownToVmail(path: String) throws {
        try SystemAccounts.chownToVmail(path: path)
    }

    /// Static form of ``chownToVmail(path:)``.
    public static func chownToVmail(path: String) throws {
        try SystemAccounts.chownToVmail(path: path)
    }

    // MARK: - doveadm

    /// Runs `doveadm -c <config> <args...>`.
    ///
    /// - Parameter checked: when true (the default) a non-zero exit status
    ///   throws `DovecotTestError.commandFailed` with the command line and
    ///   stderr; pass false to inspect failures yourself.
    @discardableResult
    public func doveadm(
        _ args: [String], stdin: Data? = nil, checked: Bool = true
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let command = [doveadmPath, "-c", configPath] + args
        let out = try CommandRunner.run(
            doveadmPath, Array(command.dropFirst()), stdin: stdin, scratchDirectory: scratchDirectory,
            workingDirectory: directory, timeout: Self.commandTimeout)
        let stdout = String(decoding: out.stdout, as: UTF8.self)
        let stderr = String(decoding: out.stderr, as: UTF8.self)
        if checked && out.status != 0 {
            throw DovecotTestError.commandFailed(command: command, status: out.status, stdout: stdout, stderr: stderr)
        }
        return (out.status, stdout, stderr)
    }

    /// Delivers `message` (raw RFC 5322 bytes) into `mailbox` with
    /// `doveadm save`.
    public func save(user: String, mailbox: String = "INBOX", message: Data) throws {
        try doveadm(["save", "-u", user, "-m", mailbox], stdin: message)
    }

    /// String convenience for `save(user:mailbox:message:)`; the text is stored
    /// as UTF-8 exactly as given.
    public func save(user: String, mailbox: String = "INBOX", message: String) throws {
        try save(user: user, mailbox: mailbox, message: Data(message.utf8))
    }

    /// `doveadm fetch -u USER 'uid guid flags' mailbox NAME`, sorted by uid.
    /// `\Recent` is not reported. For a mailbox that does not exist doveadm
    /// prints nothing and exits 0, so the result is empty.
    public func fetch(user: String, mailbox: String) throws -> [DoveadmMessage] {
        let args = ["fetch", "-u", user, "uid guid flags", "mailbox", mailbox]
        let out = try doveadm(args)
        do {
            return try DoveadmOutputParser.parseFetch(out.stdout).sorted { $0.uid < $1.uid }
        } catch DovecotTestError.unexpectedOutput(_, let output, let reason) {
            throw DovecotTestError.unexpectedOutput(command: ["doveadm"] + args, output: output, reason: reason)
        }
    }

    /// `doveadm fetch` with arbitrary single-line fields and an optional
    /// extra search query (appended after `mailbox NAME`). Each record maps
    /// field name to its raw value.
    public func fetchRecords(
        user: String, mailbox: String, fields: [String], query: [String] = []
    ) throws -> [[String: String]] {
        let out = try doveadm(["fetch", "-u", user, fields.joined(separator: " "), "mailbox", mailbox] + query)
        return DoveadmOutputParser.parseRecords(out.stdout, fields: fields)
    }

    /// `doveadm mailbox status -u USER 'guid uidvalidity uidnext messages' '*'`.
    /// Lists selectable mailboxes only, in doveadm's order.
    public func mailboxStatus(user: String) throws -> [DoveadmMailboxStatus] {
        let args = ["mailbox", "status", "-u", user, "guid uidvalidity uidnext messages", "*"]
        let out = try doveadm(args)
        do {
            return try DoveadmOutputParser.parseMailboxStatus(out.stdout)
        } catch DovecotTestError.unexpectedOutput(_, let output, let reason) {
            throw DovecotTestError.unexpectedOutput(command: ["doveadm"] + args, output: output, reason: reason)
        }
    }

    /// Status of one mailbox by name, or nil if doveadm does not list it.
    public func mailboxStatus(user: String, mailbox: String) throws -> DoveadmMailboxStatus? {
        try mailboxStatus(user: user).first { $0.name == mailbox }
    }

    /// `doveadm mailbox list -u USER [-s]`, in doveadm's order. Includes
    /// non-selectable parents such as `a` for `a/b`.
    public func mailboxList(user: String, subscribedOnly: Bool = false) throws -> [String] {
        var args = ["mailbox", "list", "-u", user]
        if subscribedOnly { args.append("-s") }
        return DoveadmOutputParser.parseMailboxList(try doveadm(args).stdout)
    }

    /// `doveadm flags add|remove|replace -u USER 'FLAGS' mailbox NAME uid UID`.
    public func flags(user: String, mailbox: String, uid: UInt32, action: DoveadmFlagAction, flags: [String]) throws {
        try doveadm(["flags", action.rawValue, "-u", user, flags.joined(separator: " "),
                     "mailbox", mailbox, "uid", String(uid)])
    }

    /// `doveadm expunge -u USER mailbox NAME uid UID`.
    public func expunge(user: String, mailbox: String, uid: UInt32) throws {
        try doveadm(["expunge", "-u", user, "mailbox", mailbox, "uid", String(uid)])
    }

    /// `doveadm mailbox create -u USER NAME`.
    public func createMailbox(user: String, mailbox: String) throws {
        try doveadm(["mailbox", "create", "-u", user, mailbox])
    }

    /// `doveadm mailbox rename -u USER OLD NEW`.
    public func renameMailbox(user: String, from old: String, to new: String) throws {
        try doveadm(["mailbox", "rename", "-u", user, old, new])
    }

    /// `doveadm mailbox delete -u USER [-r] NAME`.
    public func deleteMailbox(user: String, mailbox: String, recursive: Bool = false) throws {
        var args = ["mailbox", "delete", "-u", user]
        if recursive { args.append("-r") }
        try doveadm(args + [mailbox])
    }

    /// `doveadm mailbox subscribe -u USER NAME`.
    public func subscribe(user: String, mailbox: String) throws {
        try doveadm(["mailbox", "subscribe", "-u", user, mailbox])
    }

    /// `doveadm mailbox unsubscribe -u USER NAME`.
    public func unsubscribe(user: String, mailbox: String) throws {
        try doveadm(["mailbox", "unsubscribe", "-u", user, mailbox])
    }

    // MARK: - Internals

    static func configuration(
        instanceName: String, baseDirectory: String, stateDirectory: String,
        logPath: String, homeRoot: String, vmailUID: uid_t
    ) -> String {
        """
        # Private Dovecot instance for the Duplex test suite.
        instance_name = \(instanceName)
        base_dir = \(baseDirectory)
        state_dir = \(stateDirectory)
        listen = 127.0.0.1
        protocols =
        ssl = no
        log_path = \(logPath)
        default_login_user = dovenull
        default_internal_user = dovecot
        # vmail is a system account; its uid may be below the default of 500.
        first_valid_uid = \(vmailUID)
        mail_location = maildir:~/Maildir

        namespace inbox {
          inbox = yes
          separator = /
        }

        passdb {
          driver = static
          args = nopassword=y
        }

        userdb {
          driver = static
          args = uid=vmail gid=vmail home=\(homeRoot)/%u
        }

        """
    }

    private static func logTail(_ path: String, maxBytes: Int = 4000) -> String {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return "" }
        let text = String(decoding: data.suffix(maxBytes), as: UTF8.self)
        return "\n--- \(path) ---\n" + text
    }

    /// True if `pid` is alive, not a zombie, and (where /proc exists) is the
    /// dovecot master started with `configPath`.
    static func isOurMaster(pid: pid_t, configPath: String) -> Bool {
        guard pid > 0, processAlive(pid) else { return false }
        if let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") {
            let words = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.contains(configPath)
        }
        // No /proc: the liveness check is all we have.
        return !FileManager.default.fileExists(atPath: "/proc/self")
    }

    private static func processAlive(_ pid: pid_t) -> Bool {
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        // kill() succeeds for zombies; a zombie has already exited.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(after: close)...].split(separator: " ").first
            return state != "Z" && state != "X"
        }
        return true
    }

    private static func commandLine(_ pid: pid_t) -> Data? {
        FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
    }

    /// Direct children of `pid`, read from /proc (empty elsewhere).
    private static func children(of pid: pid_t) -> [pid_t] {
        let taskDir = "/proc/\(pid)/task"
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: taskDir) else { return [] }
        var result: [pid_t] = []
        for task in tasks {
            if let text = try? String(contentsOfFile: "\(taskDir)/\(task)/children", encoding: .utf8) {
                result += text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
        }
        return result
    }

    /// SIGTERM to `pid` if it is our master, then wait for it and the
    /// children it had to go away. Returns false if the master is still
    /// alive at the deadline. Children that outlive the master are not
    /// signalled; they only delay the return until the deadline.
    @discardableResult
    static func terminateAndWait(pid: pid_t, configPath: String, timeout: TimeInterval) -> Bool {
        guard isOurMaster(pid: pid, configPath: configPath) else { return true }
        // Remember each child's command line so a recycled pid is not
        // mistaken for a child that is still shutting down.
        let tree = children(of: pid).map { ($0, commandLine($0)) }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let masterGone = !isOurMaster(pid: pid, configPath: configPath)
            let childrenGone = !tree.contains { child, cmdline in
                processAlive(child) && commandLine(child) == cmdline
            }
            if masterGone && childrenGone { break }
            usleep(20_000)
        }
        // The daemonized master is re-parented to the nearest subreaper,
        // which may be this process; collect such zombies.
        for candidate in [pid] + tree.map(\.0) {
            reapIfOwnZombie(candidate)
        }
        return !isOurMaster(pid: pid, configPath: configPath)
    }

    /// Calls waitpid on `pid` only if it is a zombie whose parent is us.
    private static func reapIfOwnZombie(_ pid: pid_t) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, fields[0] == "Z", pid_t(fields[1]) == getpid() else { return }
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }
}
