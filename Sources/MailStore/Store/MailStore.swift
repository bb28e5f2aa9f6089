/// How a ``MailStore`` reads and writes a mail root.
public struct MailStoreConfiguration: Sendable, Equatable {
    /// The hierarchy separator of names at the API (the namespace separator); on disk it is
    /// always `.` (Maildir++). Default `/`.
    public var separator: Character
    /// The uidlist and keywords dotlocks (Dovecot: stale after 120 s).
    public var lock: DotlockConfiguration
    /// The subscriptions dotlock (Dovecot: stale after 30 s).
    public var subscriptionsLock: DotlockConfiguration
    /// Whether saved messages, rewritten files and their directories are fsynced
    /// (Dovecot's `mail_fsync = optimized` does the same for saves).
    public var fsync: Bool
    /// Who owns created files.
    public var owner: FileOwnerOption
    /// The host name used in new message file names.
    public var hostName: String

    public init(
        separator: Character = "/",
        lock: DotlockConfiguration = DotlockConfiguration(),
        subscriptionsLock: DotlockConfiguration = DotlockConfiguration(staleAfter: .seconds(30)),
        fsync: Bool = true,
        owner: FileOwnerOption = .inherit,
        hostName: String? = nil
    ) {
        self.separator = separator
        self.lock = lock
        self.subscriptionsLock = subscriptionsLock
        self.fsync = fsync
        self.owner = owner
        self.hostName = hostName ?? POSIX.hostName
    }
}

/// A user's mail root in Dovecot 2.3's Maildir++ layout: read and write mailboxes,
/// messages, flags, keywords, subscriptions, UIDs and GUIDs so that Dovecot reads exactly
/// what Duplex writes and the other way round.
///
/// The store keeps no state in memory: every call reads the disk, and every change is
/// made under Dovecot's own locks (`dovecot-uidlist.lock`, `dovecot-keywords.lock`,
/// `subscriptions.lock`), so Dovecot and other Duplex processes may use the same mail root
/// at the same time. Message files go through `tmp/`, are fsynced and then linked into
/// `new/` or `cur/`; control files are replaced by rename. A UID is never reused.
public struct MailStore: Sendable {
    /// The mail root (INBOX's Maildir), e.g. `/home/alice/Maildir`.
    public let root: String
    /// How the store behaves.
    public let configuration: MailStoreConfiguration

    /// Opens the mail root at `root`. Nothing is read or created until an operation runs.
    public init(root: String, configuration: MailStoreConfiguration = MailStoreConfiguration()) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
        self.configuration = configuration
    }

    /// Parses a user-facing mailbox name with the configured separator.
    public func mailboxName(_ name: String) throws -> MailboxName {
        try MailboxName(name, separator: configuration.separator)
    }

    /// The user-facing form of `name`.
    public func displayName(_ name: MailboxName) -> String {
        name.joined(separator: configuration.separator)
    }

    /// The directory of a mailbox.
    func directory(_ name: MailboxName) -> MailboxDirectory {
        MailboxDirectory(path: name.isInbox ? root : root + "/." + name.storageName, name: name)
    }

    func owner(for path: String) throws -> FileOwner? {
        try configuration.owner.resolve(forDirectoryOf: path + "/x")
    }

    /// Fails with `notFound` when the mail root does not exist or is not a directory.
    func requireRoot() throws {
        guard let status = try POSIX.statusIfExists(root) else {
            throw MailStoreError(.notFound, "mail root does not exist", path: root)
        }
        guard status.isDirectory else { throw MailStoreError(.badData, "mail root is not a directory", path: root) }
    }
}

/// Paths of one mailbox's Maildir.
struct MailboxDirectory: Sendable {
    let path: String
    let name: MailboxName
    var cur: String { path + "/cur" }
    var new: String { path + "/new" }
    var tmp: String { path + "/tmp" }
    var uidlist: String { path + "/dovecot-uidlist" }
    var keywords: String { path + "/dovecot-keywords" }
    func file(_ fileName: String, inNew: Bool) -> String { (inNew ? new : cur) + "/" + fileName }
}
