/// Identity and modification time of one file or directory, for change detection.
public struct FileStamp: Codable, Hashable, Sendable {
    public var inode: UInt64
    public var size: Int64
    public var seconds: Int64
    public var nanoseconds: Int64

    /// A stamp from its parts (as a saved sync state keeps them).
    public init(inode: UInt64, size: Int64, seconds: Int64, nanoseconds: Int64) {
        self.inode = inode
        self.size = size
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    init(_ status: POSIX.FileStatus, includeSize: Bool) {
        self.init(
            inode: status.inode, size: includeSize ? status.size : 0, seconds: status.modificationSeconds,
            nanoseconds: status.modificationNanoseconds)
    }

    /// Whether a change made in the same clock tick as this stamp could have left it
    /// unchanged: the modification time is within `margin` of `time` (nanosecond time
    /// stamps) or within 2 s (file systems with whole-second time stamps).
    public func isAmbiguous(at time: (seconds: Int64, nanoseconds: Int64), margin: Duration = .milliseconds(100)) -> Bool {
        let age = Duration.seconds(time.seconds - seconds) + .nanoseconds(time.nanoseconds - nanoseconds)
        return age < (nanoseconds == 0 ? .seconds(2) : margin)
    }
}

/// What a few `stat` calls say about one mailbox: if none of it changed, neither did its
/// messages, flags or UIDs (every create, rename or unlink in `new/`/`cur/` changes the
/// directory's time; every uidlist append or rewrite its size or inode).
public struct MailboxStamp: Codable, Hashable, Sendable {
    public var cur: FileStamp
    public var new: FileStamp
    public var uidlist: FileStamp?
    public var keywords: FileStamp?

    public init(cur: FileStamp, new: FileStamp, uidlist: FileStamp?, keywords: FileStamp?) {
        self.cur = cur
        self.new = new
        self.uidlist = uidlist
        self.keywords = keywords
    }

    /// Whether any part is ambiguous at `time` (see ``FileStamp/isAmbiguous(at:margin:)``).
    public func isAmbiguous(at time: (seconds: Int64, nanoseconds: Int64)) -> Bool {
        [cur, new, uidlist, keywords].contains { $0?.isAmbiguous(at: time) ?? false }
    }
}

/// The stamps of a whole mail root: its folder directories, their stamps and the
/// subscriptions file.
public struct StoreStamp: Codable, Hashable, Sendable {
    /// Stamps by mailbox name (levels joined by `/`).
    public var mailboxes: [String: MailboxStamp]
    public var subscriptions: FileStamp?
    /// When the stamps were taken, Unix seconds and nanoseconds.
    public var takenSeconds: Int64
    public var takenNanoseconds: Int64

    public init(mailboxes: [String: MailboxStamp], subscriptions: FileStamp?, takenSeconds: Int64, takenNanoseconds: Int64) {
        self.mailboxes = mailboxes
        self.subscriptions = subscriptions
        self.takenSeconds = takenSeconds
        self.takenNanoseconds = takenNanoseconds
    }

    /// Names whose stamp could hide a change made right after it was taken.
    public var ambiguousMailboxes: Set<String> {
        let time = (takenSeconds, takenNanoseconds)
        return Set(mailboxes.filter { $0.value.isAmbiguous(at: time) }.keys)
    }

    /// Whether the subscriptions stamp could hide a change.
    public var subscriptionsAmbiguous: Bool { subscriptions?.isAmbiguous(at: (takenSeconds, takenNanoseconds)) ?? false }
}

extension MailStore {
    /// Takes the stamps of every mailbox: one directory listing of the mail root and four
    /// `stat` calls per mailbox; reads no message list.
    ///
    /// - Throws: `notFound` when the mail root does not exist.
    public func stamp() throws -> StoreStamp {
        let time = POSIX.wallClock()
        var mailboxes: [String: MailboxStamp] = [:]
        for name in try mailboxNames() {
            let directory = directory(name)
            guard let cur = try POSIX.statusIfExists(directory.cur), let new = try POSIX.statusIfExists(directory.new) else { continue }
            mailboxes[name.joined(separator: "/")] = MailboxStamp(
                cur: FileStamp(cur, includeSize: false),
                new: FileStamp(new, includeSize: false),
                uidlist: try POSIX.statusIfExists(directory.uidlist).map { FileStamp($0, includeSize: true) },
                keywords: try POSIX.statusIfExists(directory.keywords).map { FileStamp($0, includeSize: true) })
        }
        let subscriptions = try POSIX.statusIfExists(root + "/subscriptions").map { FileStamp($0, includeSize: true) }
        return StoreStamp(mailboxes: mailboxes, subscriptions: subscriptions, takenSeconds: time.seconds, takenNanoseconds: time.nanoseconds)
    }
}
