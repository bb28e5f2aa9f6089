#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension MailStore {
    /// Lists the mailboxes that exist on disk: INBOX first, then folders in name order.
    ///
    /// Parents that exist only as part of a child's name (Dovecot's `\NonExistent`) are not
    /// listed. Reading a mailbox may assign UIDs to new files or create a missing uidlist,
    /// as Dovecot does.
    ///
    /// - Throws: `notFound` when the mail root does not exist; `badData` for a folder
    ///   directory whose name is not valid modified UTF-7, or any corrupt mailbox.
    public func listMailboxes() throws -> [MailboxStatus] {
        let names = try mailboxNames()
        let subscriptions = try readSubscriptions()
        return try names.map { try status($0, subscriptions: subscriptions) }
    }

    /// The names of the mailboxes on disk, INBOX first, then folders sorted by name.
    public func mailboxNames() throws -> [MailboxName] {
        try requireRoot()
        var folders: [MailboxName] = []
        for entry in try POSIX.directoryEntries(root) {
            let name = entry.name
            guard name.hasPrefix("."), name.count > 1, !name.hasPrefix("..") else { continue }
            // Dovecot renames a folder it deletes to this name first; a crash can leave it.
            if name == ".DOVECOT-TRASHED" { continue }
            var type = entry.type
            if type == UInt8(DT_UNKNOWN) {
                var st = stat()
                guard lstat(root + "/" + name, &st) == 0 else { continue }
                type = st.st_mode & S_IFMT == S_IFDIR ? UInt8(DT_DIR) : st.st_mode & S_IFMT == S_IFLNK ? UInt8(DT_LNK) : UInt8(DT_REG)
            }
            if type == UInt8(DT_LNK), try POSIX.statusIfExists(root + "/" + name)?.isDirectory == true {
                throw MailStoreError(.badData, "folder directory is a symbolic link; Duplex does not follow links", path: root + "/" + name)
            }
            guard type == UInt8(DT_DIR) else { continue }
            do {
                folders.append(try MailboxName(storageName: String(name.dropFirst())))
            } catch let error as MailStoreError {
                throw MailStoreError(.badData, error.message, path: root + "/" + name)
            }
        }
        folders.sort { $0.levels.lexicographicallyPrecedes($1.levels) }
        return [MailboxName.inbox] + folders
    }

    /// Whether the mailbox exists.
    public func mailboxExists(_ name: MailboxName) throws -> Bool {
        if name.isInbox { return try POSIX.statusIfExists(root)?.isDirectory == true }
        return try POSIX.statusIfExists(directory(name).path)?.isDirectory == true
    }

    /// The status of one mailbox: GUID, UIDVALIDITY, next UID, message count, subscription.
    ///
    /// - Throws: `notFound` when it does not exist; `badData` when it is corrupt.
    public func status(of name: MailboxName) throws -> MailboxStatus {
        try status(name, subscriptions: try readSubscriptions())
    }

    private func status(_ name: MailboxName, subscriptions: SubscriptionList) throws -> MailboxStatus {
        let snapshot = try snapshot(name)
        return MailboxStatus(
            name: name,
            guid: snapshot.mailboxGUID,
            uidValidity: snapshot.uidlist.uidValidity,
            uidNext: snapshot.uidlist.nextUID,
            messages: snapshot.messages.count,
            isSubscribed: subscriptions.contains(name))
    }

    /// Creates a mailbox with `cur/ new/ tmp/`, `maildirfolder` and a uidlist.
    ///
    /// The directory is built under `tmp/` and renamed into place, so no reader ever sees
    /// a half-made mailbox.
    ///
    /// - Parameters:
    ///   - name: the new mailbox.
    ///   - guid: its mailbox GUID (dsync passes the peer's); a new one when nil.
    ///   - uidValidity: its UIDVALIDITY (dsync passes the peer's); allocated from
    ///     `dovecot-uidvalidity` when nil.
    /// - Returns: the new mailbox's status.
    /// - Throws: `alreadyExists` when it exists; `notFound` when the mail root does not exist.
    @discardableResult
    public func createMailbox(_ name: MailboxName, guid: MailboxGUID? = nil, uidValidity: UInt32? = nil) throws -> MailboxStatus {
        if name.isInbox, try POSIX.statusIfExists(root) == nil {
            // A new user: make the mail root itself (its parent must exist).
            try POSIX.makeDirectory(root)
            try configuration.owner.resolve(forDirectoryOf: root)?.apply(path: root)
        }
        try requireRoot()
        try requireMaildirOrEmpty()
        let rootOwner = try owner(for: root)
        let target = directory(name)
        if name.isInbox {
            if POSIX.exists(target.cur) {
                throw MailStoreError(.alreadyExists, "mailbox \"INBOX\" already exists", path: target.cur)
            }
            try createMaildirDirectories(root, owner: rootOwner)
            try withUidlistLock(target) { lock in
                let uidlist = Uidlist(
                    uidValidity: try uidValidity ?? UIDValidityAllocator(root: root, owner: rootOwner).next(),
                    mailboxGUID: guid ?? MailboxGUID.generate())
                try lock.replaceTarget(with: uidlist.serialized(), fsync: configuration.fsync)
            }
            return try status(of: name)
        }
        if POSIX.exists(target.path) {
            throw MailStoreError(.alreadyExists, "mailbox \"\(displayName(name))\" already exists", path: target.path)
        }
        if let uidValidity, uidValidity == 0 {
            throw MailStoreError(.invalidArgument, "UIDVALIDITY 0 is not valid")
        }
        // A folder implies the mail root is a Maildir: give it INBOX's directories, as
        // Dovecot does when it first opens a user.
        try createMaildirDirectories(root, owner: rootOwner)
        let staging = root + "/tmp/duplex-mailbox.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        do {
            try POSIX.makeDirectory(staging)
            try rootOwner?.apply(path: staging)
            try createMaildirDirectories(staging, owner: rootOwner)
            try POSIX.writeFileAtomically(staging + "/maildirfolder", [], owner: rootOwner)
            let uidlist = Uidlist(
                uidValidity: try uidValidity ?? UIDValidityAllocator(root: root, owner: rootOwner).next(),
                mailboxGUID: guid ?? MailboxGUID.generate())
            try POSIX.writeFileAtomically(staging + "/dovecot-uidlist", uidlist.serialized(), owner: rootOwner)
            do {
                try POSIX.renameDirectoryNoReplace(staging, target.path)
            } catch let error as MailStoreError where error.code == .alreadyExists {
                throw MailStoreError(.alreadyExists, "mailbox \"\(displayName(name))\" already exists", path: target.path)
            }
            if configuration.fsync { try POSIX.fsyncDirectory(root) }
        } catch {
            try? POSIX.removeTree(staging)
            throw error
        }
        return try status(of: name)
    }

    /// Fails unless the mail root is a Maildir (has `cur/`) or an empty directory, so that a
    /// mistyped path (a home directory) is not turned into a Maildir.
    func requireMaildirOrEmpty() throws {
        if POSIX.exists(root + "/cur") { return }
        let entries = try POSIX.directoryEntries(root)
        guard entries.isEmpty else {
            throw MailStoreError(
                .badData,
                "not a Maildir (no cur/) and not empty; is this the mail root? Create INBOX in an empty directory first",
                path: root)
        }
    }

    /// Renames a mailbox and its children (`.Old.*` → `.New.*`), keeping GUIDs and UIDs.
    /// Subscriptions are by name and are not changed, as in Dovecot.
    ///
    /// - Throws: `invalidArgument` for INBOX or a target inside the source; `notFound`
    ///   when neither the mailbox nor any child exists; `alreadyExists` when the target exists.
    public func renameMailbox(_ old: MailboxName, to new: MailboxName) throws {
        try renameMailbox(old, to: new, includingChildren: true)
    }

    /// Renames a mailbox, with or without its children.
    ///
    /// The sync engine renames mailboxes one GUID at a time, so it renames without
    /// children; in Maildir++ every folder is its own directory, so that is a single rename.
    ///
    /// - Throws: as ``renameMailbox(_:to:)``.
    public func renameMailbox(_ old: MailboxName, to new: MailboxName, includingChildren: Bool) throws {
        try requireRoot()
        guard !old.isInbox, !new.isInbox else {
            throw MailStoreError(.invalidArgument, "renaming INBOX is not supported")
        }
        guard !includingChildren || !new.isSameOrDescendant(of: old) else {
            throw MailStoreError(.invalidArgument, "cannot rename \"\(displayName(old))\" into itself (\"\(displayName(new))\")")
        }
        let all = try mailboxNames()
        let moving = all.filter { includingChildren ? $0.isSameOrDescendant(of: old) : $0 == old }
        guard !moving.isEmpty else {
            throw MailStoreError(.notFound, "mailbox \"\(displayName(old))\" does not exist", path: directory(old).path)
        }
        let targets = moving.map { try! MailboxName(levels: new.levels + $0.levels.dropFirst(old.levels.count)) }
        for target in targets where POSIX.exists(directory(target).path) {
            throw MailStoreError(.alreadyExists, "mailbox \"\(displayName(target))\" already exists", path: directory(target).path)
        }
        for (source, target) in zip(moving, targets) {
            try POSIX.renameDirectoryNoReplace(directory(source).path, directory(target).path)
        }
        if configuration.fsync { try POSIX.fsyncDirectory(root) }
    }

    /// Deletes a mailbox and its messages; children stay (as in Dovecot's Maildir++).
    ///
    /// The directory is first renamed out of the tree (under `tmp/`), then removed, so a
    /// crash leaves either the whole mailbox or none of it.
    ///
    /// - Returns: the deleted mailbox's GUID, when it had one.
    /// - Throws: `invalidArgument` for INBOX; `notFound` when it does not exist.
    @discardableResult
    public func deleteMailbox(_ name: MailboxName) throws -> MailboxGUID? {
        try requireRoot()
        guard !name.isInbox else { throw MailStoreError(.invalidArgument, "INBOX cannot be deleted") }
        let target = directory(name)
        guard try POSIX.statusIfExists(target.path)?.isDirectory == true else {
            throw MailStoreError(.notFound, "mailbox \"\(displayName(name))\" does not exist", path: target.path)
        }
        let guid = (try? POSIX.readFileIfExists(target.uidlist)).flatMap { $0 }
            .flatMap { try? Uidlist(parsing: $0, path: target.uidlist) }?.mailboxGUID
        try POSIX.makeDirectoryIfMissing(root + "/tmp")
        let trash = root + "/tmp/duplex-deleted.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        try POSIX.rename(target.path, trash)
        if configuration.fsync { try POSIX.fsyncDirectory(root) }
        try POSIX.removeTree(trash)
        return guid
    }

    /// The subscribed names, in file order.
    public func subscriptions() throws -> [MailboxName] { try readSubscriptions().names }

    /// Adds `name` to `subscriptions` (the mailbox need not exist, as in IMAP).
    public func subscribe(_ name: MailboxName) throws {
        try updateSubscriptions { $0.insert(name) }
    }

    /// Removes `name` from `subscriptions`; nothing happens when it is not there.
    public func unsubscribe(_ name: MailboxName) throws {
        try updateSubscriptions { $0.remove(name) }
    }

    func readSubscriptions() throws -> SubscriptionList {
        let path = root + "/subscriptions"
        guard let bytes = try POSIX.readFileIfExists(path) else { return SubscriptionList() }
        return try SubscriptionList(parsing: bytes, path: path)
    }

    private func updateSubscriptions(_ change: (inout SubscriptionList) -> Bool) throws {
        try requireRoot()
        let path = root + "/subscriptions"
        try Dotlock.withLock(for: path, configuration: configuration.subscriptionsLock, owner: configuration.owner) { lock in
            var list = try readSubscriptions()
            guard change(&list) else { return }
            try lock.replaceTarget(with: list.serialized(), fsync: configuration.fsync)
        }
    }
}
