import MailStore

/// How a host serves dsync to its peer (`duplex agent`).
public struct DsyncServerConfiguration: Sendable, Equatable {
    /// Address to listen on (`127.0.0.1`, `::`, a host name).
    public var host: String
    /// TCP port; 0 picks a free one (tests).
    public var port: Int
    /// This host's identity and whom it accepts.
    public var tls: DsyncTLSFiles
    /// Where a user's mail root is, e.g. `/var/vmail/%d/%n/Maildir` (see ``MailRootTemplate``).
    public var mailRoot: MailRootTemplate
    /// How long a connection may wait for a user's sync lock before it answers "lock timeout".
    public var lockTimeout: Duration
    /// A connection with no frame from the peer for this long is closed.
    public var idleTimeout: Duration
    /// How the served mail roots are written (fsync, lock timeouts, host name in file names).
    public var store: MailStoreConfiguration

    /// The port `duplex agent` listens on unless configured.
    public static let defaultPort = 7445

    public init(
        host: String = "0.0.0.0", port: Int = DsyncServerConfiguration.defaultPort, tls: DsyncTLSFiles,
        mailRoot: MailRootTemplate, lockTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(120),
        store: MailStoreConfiguration = MailStoreConfiguration()
    ) {
        self.store = store
        self.host = host
        self.port = port
        self.tls = tls
        self.mailRoot = mailRoot
        self.lockTimeout = lockTimeout
        self.idleTimeout = idleTimeout
    }
}
