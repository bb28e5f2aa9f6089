/// What `doveadm mailbox status 'guid uidvalidity uidnext messages'` reports for a mailbox.
public struct MailboxStatus: Sendable, Equatable {
    /// The mailbox's name.
    public var name: MailboxName
    /// The mailbox GUID (uidlist header `G`).
    public var guid: MailboxGUID
    /// UIDVALIDITY (uidlist header `V`).
    public var uidValidity: UInt32
    /// The next UID that will be assigned: max(header N, highest UID + 1).
    public var uidNext: UInt32
    /// The number of messages (files in `new/` and `cur/`).
    public var messages: Int
    /// Whether the name is in `subscriptions`.
    public var isSubscribed: Bool
}

/// A mailbox as one read sees it (what a sync needs): its status, its messages and how its
/// keyword letters are used.
public struct MailboxContents: Sendable {
    public var status: MailboxStatus
    /// The messages in UID order.
    public var messages: [MessageInfo]
    /// The names in `dovecot-keywords`, by letter (names no message uses any more included:
    /// like Dovecot, the store never takes a letter back).
    public var keywords: KeywordTable
    /// Letters still free for new keywords: neither named in `dovecot-keywords` nor carried
    /// by a message file.
    public var freeKeywordLetters: Int
}

/// One message as listed by ``MailStore/listMessages(in:options:)``.
public struct MessageInfo: Sendable, Equatable {
    /// The UID (RFC 3501 §2.3.1.1).
    public var uid: UInt32
    /// The message GUID: the uidlist `G` extension, else the file's base name.
    public var guid: String
    /// System flags and keywords.
    public var flags: MessageFlags
    /// The physical size in bytes (`,S=` in the name, else the file size).
    public var size: Int64
    /// The received date, in Unix seconds (the file's modification time); nil unless asked for.
    public var receivedDate: Int64?
    /// The file name in `new/` or `cur/`.
    public var fileName: String
    /// Whether the file is in `new/`.
    public var isInNew: Bool
}

/// What ``MailStore/listMessages(in:options:)`` reads besides UID, GUID and flags.
public struct MessageListOptions: Sendable {
    /// Stat every file for its received date (and its size when the name has no `,S=`).
    public var receivedDate: Bool
    public init(receivedDate: Bool = false) { self.receivedDate = receivedDate }
}
