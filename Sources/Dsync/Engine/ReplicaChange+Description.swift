extension ReplicaChange: CustomStringConvertible {
    /// One line for people, e.g. `copy INBOX UID 7 (GUID 1795…vm,S=92,W=99) \Seen`.
    /// Mailboxes are shown by name when `names` knows the GUID (the sync's final names).
    public func description(names: [String: String]) -> String {
        func box(_ guid: String) -> String { names[guid].map { "\"\($0)\"" } ?? "mailbox \(guid)" }
        func flags(_ flags: SyncFlags) -> String {
            let text = flags.messageFlags.imapNames.joined(separator: " ")
            return text.isEmpty ? "no flags" : text
        }
        switch self {
        case .createMailbox(let guid, let name, let uidValidity):
            return "create mailbox \"\(name.joined(separator: "/"))\" (GUID \(guid), UIDVALIDITY \(uidValidity))"
        case .adoptIdentity(let currentGUID, let guid, let uidValidity):
            return "give \(box(guid)) (now GUID \(currentGUID)) GUID \(guid) and UIDVALIDITY \(uidValidity)"
        case .renameMailbox(let guid, let name):
            return "rename \(box(guid)) to \"\(name.joined(separator: "/"))\""
        case .deleteMailbox(let guid):
            return "delete \(box(guid)) (GUID \(guid))"
        case .renumber(let mailbox, let map):
            let moves = map.sorted { $0.key < $1.key }.map { "\($0.key)→\($0.value)" }.joined(separator: " ")
            return "move UIDs in \(box(mailbox)): \(moves)"
        case .copyMessage(let mailbox, let uid, let guid, let messageFlags, _, _):
            return "copy into \(box(mailbox)) UID \(uid) (GUID \(guid)) with \(flags(messageFlags))"
        case .setFlags(let mailbox, let uid, let messageFlags, _):
            return "set flags of \(box(mailbox)) UID \(uid) to \(flags(messageFlags))"
        case .expunge(let mailbox, let uids):
            return "expunge from \(box(mailbox)) UIDs \(uids.map(String.init).joined(separator: " "))"
        case .raiseUIDNext(let mailbox, let uidNext):
            return "raise the next UID of \(box(mailbox)) to \(uidNext)"
        case .subscribe(let name):
            return "subscribe \"\(name.joined(separator: "/"))\""
        case .unsubscribe(let name):
            return "unsubscribe \"\(name.joined(separator: "/"))\""
        }
    }

    public var description: String { description(names: [:]) }
}
