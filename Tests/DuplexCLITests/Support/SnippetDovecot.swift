import Foundation
import MailStoreTestSupport

/// A private Dovecot 2.3 configuration that includes one snippet of `ops/dovecot/`, checked
/// with `doveconf` and, for the tests that need it, run in the foreground (`dovecot -F`) as
/// a child of the test, so that stopping it is a SIGTERM to a pid the test owns.
///
/// Everything lives in one temporary directory: `base_dir`, `state_dir`, the log and the
/// users' homes (`home/USER`, mail as `vmail` in `~/Maildir`). No protocol listens.
struct SnippetDovecot {
    let directory: TemporaryDirectory
    let configPath: String

    var baseDirectory: String { directory.appending("run") }
    var logPath: String { directory.appending("dovecot.log") }

    /// How long the master may take to make its sockets: generous, a passing test never waits
    /// this long.
    static let patience = Duration.seconds(180)

    /// Why Dovecot cannot be run here, nil when it can (see `DovecotInstance`).
    static var unavailableReason: String? { DovecotInstance.unavailableReason }

    /// Writes `dovecot.conf` in `directory`: the private base settings, a static passdb
    /// unless `snippetHasPassdb`, and `!include snippet`.
    ///
    /// - Throws: ``DovecotTestError`` when the directories or the file cannot be made.
    init(in directory: TemporaryDirectory, including snippet: String, snippetHasPassdb: Bool = false) throws {
        self.directory = directory
        self.configPath = directory.appending("dovecot.conf")
        let vmail = try SystemAccounts.ensureVmail()
        for sub in ["run", "state", "home"] {
            try FileManager.default.createDirectory(atPath: directory.appending(sub), withIntermediateDirectories: true)
        }
        try SystemAccounts.chownToVmail(path: directory.appending("home"))
        let passdb = snippetHasPassdb ? "" : """
            passdb {
              driver = static
              args = nopassword=y
            }

            """
        let configuration = """
            # Private Dovecot for the ops/dovecot snippet tests.
            instance_name = duplex-ops-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())
            base_dir = \(baseDirectory)
            state_dir = \(directory.appending("state"))
            listen = 127.0.0.1
            protocols =
            ssl = no
            log_path = \(logPath)
            default_login_user = dovenull
            default_internal_user = dovecot
            first_valid_uid = \(vmail.uid)
            mail_location = maildir:~/Maildir
            namespace inbox {
              inbox = yes
              separator = /
            }
            \(passdb)userdb {
              driver = static
              args = uid=vmail gid=vmail home=\(directory.appending("home"))/%u
            }
            !include \(snippet)

            """
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: configPath))
    }

    /// `doveconf -n -c dovecot.conf`: the settings that differ from Dovecot's defaults.
    func doveconf() throws -> ExternalCommand.Result {
        try ExternalCommand.run(try Self.executable("doveconf"), ["-n", "-c", configPath], timeout: 60)
    }

    /// `doveadm -c dovecot.conf ARGS`, standard input from `stdin`.
    func doveadm(_ arguments: [String], stdin: Data? = nil) throws -> ExternalCommand.Result {
        try ExternalCommand.run(try Self.executable("doveadm"), ["-c", configPath] + arguments, stdin: stdin, timeout: 120)
    }

    /// Runs `body` while `dovecot -F` runs on this configuration (started once its
    /// `auth-userdb` socket exists), then stops it with SIGTERM, also when `body` throws.
    func withRunning<T>(_ body: () async throws -> T) async throws -> T {
        let master = try BackgroundCommand(try Self.executable("dovecot"), ["-F", "-c", configPath], outputDirectory: directory.path)
        defer { master.stop() }
        let socket = baseDirectory + "/auth-userdb"
        let deadline = ContinuousClock.now + Self.patience
        while !FileManager.default.fileExists(atPath: socket) {
            guard master.exitStatus() == nil, ContinuousClock.now < deadline else {
                throw DovecotTestError.instanceFailed("dovecot -F -c \(configPath) did not start: \(master.stderr)\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let result = try await body()
        _ = await master.stop(within: .seconds(120))
        return result
    }

    /// Dovecot's log so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    static func executable(_ name: String) throws -> String {
        guard let path = ExternalCommand.executable(named: name) else {
            throw DovecotTestError.unavailable("\(name) not found (install Debian package dovecot-core)")
        }
        return path
    }
}
