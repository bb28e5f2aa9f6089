#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A change to a mailbox's identity or UID numbering made by rewriting its uidlist.
public struct UidlistUpdate: Sendable {
    /// New mailbox GUID, or nil to keep it.
    public var mailboxGUID: MailboxGUID?
    /// New UIDVALIDITY, or nil to keep it. Clients must then forget every UID they knew.
    public var uidValidity: UInt32?
    /// Raise the next UID to at least this value (it never goes down).
    public var minimumNextUID: UInt32?
    /// Give messages new UIDs: old UID → new UID. Every new UID must be at least the
    /// mailbox's next UID (UIDs are never reused); the file stays where it is.
    public var renumber: [UInt32: UInt32]

    public init(mailboxGUID: MailboxGUID? = nil, uidValidity: UInt32? = nil, minimumNextUID: UInt32? = nil, renumber: [UInt32: UInt32] = [:]) {
        self.mailboxGUID = mailboxGUID
        self.uidValidity = uidValidity
        self.minimumNextUID = minimumNextUID
        self.renumber = renumber
    }

    var isEmpty: Bool { mailboxGUID == nil && uidValidity == nil && minimumNextUID == nil && renumber.isEmpty }
}

extension MailStore {
    /// Rewrites a mailbox's uidlist under its lock: adopts a GUID or UIDVALIDITY, raises the
    /// next UID, or moves messages to new UIDs (as Dovecot's dsync does when two sides gave
    /// one UID to different messages: the old UID is expunged for clients and the message
    /// appears under the new one; the file is not copied).
    ///
    /// - Returns: the mailbox's status afterwards.
    /// - Throws: `uidNotAvailable` when a new UID is below the next UID or used twice;
    ///   `notFound` when the mailbox or a renumbered UID does not exist.
    @discardableResult
    public func updateUidlist(of name: MailboxName, _ update: UidlistUpdate) throws -> MailboxStatus {
        guard !update.isEmpty else { return try status(of: name) }
        let directory = try openDirectory(name)
        if try !uidlistIsReady(directory) { _ = try snapshot(name) }
        let updated: MailboxSnapshot = try withUidlistLock(directory) { lock in
            var snapshot = try readSnapshot(directory, uidlistRequired: true)
            guard snapshot.unassignedFiles.isEmpty else {
                throw MailStoreError(.uidNotAvailable, "new messages arrived in \"\(displayName(name))\" during the update; retry", path: directory.uidlist)
            }
            var uidlist = snapshot.uidlist
            let next = uidlist.nextUID
            var newNext = next
            if !update.renumber.isEmpty {
                let targets = Array(update.renumber.values)
                guard Set(targets).count == targets.count else {
                    throw MailStoreError(.uidNotAvailable, "two messages would get the same new UID", path: directory.uidlist)
                }
                for (old, new) in update.renumber {
                    guard new >= next, new < UInt32.max else {
                        throw MailStoreError(.uidNotAvailable, "cannot move UID \(old) to \(new): below the next UID \(next) (UIDs are never reused)", path: directory.uidlist)
                    }
                    guard snapshot.messages.contains(where: { $0.record.uid == old }) else {
                        throw MailStoreError(.notFound, "no message with UID \(old) to move to \(new)", path: directory.uidlist)
                    }
                    newNext = max(newNext, new + 1)
                }
                uidlist.records = uidlist.records.map { record in
                    var record = record
                    if let new = update.renumber[record.uid] { record.uid = new }
                    return record
                }.sorted { $0.uid < $1.uid }
            }
            if let minimum = update.minimumNextUID { newNext = max(newNext, minimum) }
            uidlist.headerNextUID = max(uidlist.headerNextUID, newNext)
            if let guid = update.mailboxGUID { uidlist.mailboxGUID = guid }
            if let validity = update.uidValidity {
                guard validity > 0 else { throw MailStoreError(.invalidArgument, "UIDVALIDITY 0 is not valid") }
                uidlist.uidValidity = validity
            }
            snapshot.uidlist = uidlist
            try snapshot.match()
            try rewriteUidlist(&snapshot, lock: lock)
            // Dovecot neither re-reads a maildir's uidlist nor refreshes the STATUS its
            // mailbox list index caches (UIDNEXT, UIDVALIDITY, GUID) while new/ and cur/
            // keep their modification times, so a change to the uidlist alone must move
            // one of them.
            if utimensat(AT_FDCWD, directory.cur, nil, 0) != 0 {
                throw MailStoreError.system("touch", path: directory.cur, errno: errno)
            }
            return snapshot
        }
        // The status from what was just written, not from another read of the mailbox.
        return MailboxStatus(
            name: name, guid: updated.mailboxGUID, uidValidity: updated.uidlist.uidValidity,
            uidNext: updated.uidlist.nextUID, messages: updated.messages.count,
            isSubscribed: try readSubscriptions().contains(name))
    }
}
