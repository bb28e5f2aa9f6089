import Foundation
import MailStoreTestSupport

/// One host of the end-to-end pair: a private Dovecot 2.3 (``SnippetDovecot``) serving IMAP
/// on 127.0.0.1 from its own Maildirs (`home/USER/Maildir`, as `vmail`), with a static
/// passdb whose password is ``password``, optionally with `ops/dovecot/10-duplex-replication.conf`
/// so that its replication plugin notifies the agent beside it.
struct EndToEndIMAPHost {
    /// The host's name in the IMAP driver's arguments and in messages (`A`, `B`).
    let name: String
    let dovecot: SnippetDovecot
    /// The IMAP port on 127.0.0.1.
    let imapPort: Int

    /// Every user's password on the static passdb.
    static let password = "imap-e2e-secret"

    /// The agent's mail root template for this host's users.
    var mailRootTemplate: String { dovecot.directory.appending("home") + "/%u/Maildir" }
    /// Where the replication plugin writes `USER<TAB>low|high` (under `base_dir`).
    var notifyFifo: String { dovecot.baseDirectory + "/replication-notify-fifo" }
    /// Where the replication plugin asks `USER<TAB>sync`.
    var notifySocket: String { dovecot.baseDirectory + "/replication-notify" }
    /// The IMAP driver's `--host` argument.
    var driverArgument: String { "\(name)=127.0.0.1:\(imapPort)" }

    /// Runs `body` while the host's Dovecot runs (started in a temporary directory of its
    /// own, stopped with SIGTERM afterwards, also when `body` throws).
    ///
    /// - Parameter replicationPlugin: include the ops snippet that turns the replication
    ///   plugin on and keeps Dovecot's aggregator and replicator off.
    static func with<T>(
        _ name: String, replicationPlugin: Bool, _ body: (EndToEndIMAPHost) async throws -> T
    ) async throws -> T {
        try await TemporaryDirectory.with(prefix: "duplex-e2e-\(name.lowercased())") { directory in
            let port = try ReplicatingPair.freeLoopbackPort()
            let snippet = directory.appending("imap-host.conf")
            let replication = replicationPlugin ? "!include \(OpsKitFiles.path("ops/dovecot/10-duplex-replication.conf"))\n" : ""
            // Later settings win over the base configuration's `protocols =` (no listener).
            let settings = """
                # IMAP on loopback for the end-to-end test, plaintext (loopback only).
                protocols = imap
                disable_plaintext_auth = no
                auth_mechanisms = plain
                passdb {
                  driver = static
                  args = password=\(password)
                }
                service imap-login {
                  inet_listener imap {
                    address = 127.0.0.1
                    port = \(port)
                  }
                  inet_listener imaps {
                    port = 0
                  }
                }
                \(replication)
                """
            try Data(settings.utf8).write(to: URL(fileURLWithPath: snippet))
            let dovecot = try SnippetDovecot(in: directory, including: snippet, snippetHasPassdb: true)
            return try await dovecot.withRunning {
                try await body(EndToEndIMAPHost(name: name, dovecot: dovecot, imapPort: port))
            }
        }
    }
}
