import MailStore

/// A message's flags in a form that compares and merges exactly: system flags as bits and
/// keywords as a sorted set of names.
///
/// Keywords are case-insensitive (RFC 3501), and each side's `dovecot-keywords` keeps the
/// spelling it saw first, so `Junk` on one side and `junk` on the other are one keyword:
/// equal, hashed alike, merged as one.
public struct SyncFlags: Hashable, Sendable, Codable {
    /// ``SystemFlags`` raw bits (\Answered 1, \Flagged 2, \Deleted 4, \Seen 8, \Draft 16).
    public var system: UInt8
    /// Keyword names, sorted, without duplicates (ignoring case: of several spellings the
    /// first in code-point order is kept).
    public var keywords: [String]

    public init(system: UInt8 = 0, keywords: [String] = []) {
        self.system = system
        var seen = Set<String>()
        self.keywords = Array(Set(keywords)).sorted().filter { seen.insert($0.lowercased()).inserted }
    }

    /// The keywords as compared: without case.
    private var keywordKeys: Set<String> { Set(keywords.map { $0.lowercased() }) }

    public static func == (lhs: SyncFlags, rhs: SyncFlags) -> Bool {
        lhs.system == rhs.system && (lhs.keywords == rhs.keywords || lhs.keywordKeys == rhs.keywordKeys)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(system)
        hasher.combine(keywordKeys)
    }

    public init(_ flags: MessageFlags) {
        self.init(system: flags.system.rawValue, keywords: flags.keywords)
    }

    /// The store's form.
    public var messageFlags: MessageFlags {
        MessageFlags(system: SystemFlags(rawValue: system), keywords: keywords)
    }

    /// Three-way merge, one flag at a time: a flag changed on one side since `base` takes
    /// that side's value; a flag changed on both sides changed to the same value (a flag
    /// is on or off), so the merge never conflicts. Without a base the union is taken.
    public static func merge(base: SyncFlags?, _ a: SyncFlags, _ b: SyncFlags) -> SyncFlags {
        guard let base else {
            return SyncFlags(system: a.system | b.system, keywords: a.keywords + b.keywords)
        }
        let changedOnA = a.system ^ base.system
        let system = (a.system & changedOnA) | (b.system & ~changedOnA)
        let baseKeywords = base.keywordKeys, aKeywords = a.keywordKeys, bKeywords = b.keywordKeys
        var spellings: [String: [String]] = [:]
        for keyword in base.keywords + a.keywords + b.keywords { spellings[keyword.lowercased(), default: []].append(keyword) }
        var keywords: [String] = []
        for (key, spelled) in spellings {
            let inBase = baseKeywords.contains(key), inA = aKeywords.contains(key)
            if inA != inBase ? inA : bKeywords.contains(key) { keywords.append(contentsOf: spelled) }
        }
        return SyncFlags(system: system, keywords: keywords)
    }
}

/// One message as the sync engine sees it.
public struct MessageState: Hashable, Sendable, Codable {
    public var uid: UInt32
    /// The message GUID (Maildir: the uidlist `G` extension or the base file name).
    public var guid: String
    public var flags: SyncFlags

    public init(uid: UInt32, guid: String, flags: SyncFlags) {
        self.uid = uid
        self.guid = guid
        self.flags = flags
    }
}

/// One mailbox as the sync engine sees it on one side, or as both sides last agreed.
public struct MailboxView: Hashable, Sendable, Codable {
    /// The mailbox GUID, 32 hex digits.
    public var guid: String
    /// Name levels, e.g. `["Archive", "2024"]`.
    public var name: [String]
    public var uidValidity: UInt32
    public var uidNext: UInt32
    /// Messages in UID order.
    public var messages: [MessageState]
    /// What this side's copy of the mailbox can hold in keywords; nil when the side did not
    /// say (a peer or a saved state from before Duplex reported it), and in a common view.
    public var keywordCapacity: KeywordCapacity?

    public init(
        guid: String, name: [String], uidValidity: UInt32, uidNext: UInt32, messages: [MessageState],
        keywordCapacity: KeywordCapacity? = nil
    ) {
        self.guid = guid
        self.name = name
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.messages = messages
        self.keywordCapacity = keywordCapacity
    }

    /// The name with `/` between levels.
    public var displayName: String { name.joined(separator: "/") }
}

/// All mailboxes and subscriptions of one side.
public struct ReplicaView: Hashable, Sendable, Codable {
    /// Mailboxes by GUID.
    public var mailboxes: [String: MailboxView]
    /// Subscribed names (levels).
    public var subscriptions: Set<[String]>
    /// In a saved common state: what each side's copy of each mailbox (by GUID) could hold
    /// in keywords after that sync, so that a mailbox a later sync does not read again (its
    /// stamp did not change) still has its side's ``MailboxView/keywordCapacity``. Empty in
    /// a side's own view.
    public var keywordCapacities: [SyncSide: [String: KeywordCapacity]]

    public init(
        mailboxes: [String: MailboxView] = [:], subscriptions: Set<[String]> = [],
        keywordCapacities: [SyncSide: [String: KeywordCapacity]] = [:]
    ) {
        self.mailboxes = mailboxes
        self.subscriptions = subscriptions
        self.keywordCapacities = keywordCapacities
    }

    /// The number of messages in all mailboxes.
    public var messageCount: Int { mailboxes.values.reduce(0) { $0 + $1.messages.count } }

    /// The same common state seen from the other host: each side's keyword capacities
    /// under the other side's name.
    public func swappingSides() -> ReplicaView {
        var view = self
        view.keywordCapacities = Dictionary(uniqueKeysWithValues: keywordCapacities.map { ($0.key.other, $0.value) })
        return view
    }
}
