/// Which of the two sides a change is for.
public enum SyncSide: String, Sendable, Codable, CaseIterable {
    case a, b
    /// The other side.
    public var other: SyncSide { self == .a ? .b : .a }
}

/// One change to apply to one side. Mailboxes are named by GUID; the side's current name
/// is looked up when applying.
public enum ReplicaChange: Hashable, Sendable, Codable {
    /// Create a mailbox with the peer's GUID and UIDVALIDITY.
    case createMailbox(guid: String, name: [String], uidValidity: UInt32)
    /// Give an existing mailbox (found by its current GUID) another GUID and/or UIDVALIDITY.
    case adoptIdentity(currentGUID: String, guid: String, uidValidity: UInt32)
    /// Rename a mailbox (without its children).
    case renameMailbox(guid: String, to: [String])
    /// Delete a mailbox and its messages.
    case deleteMailbox(guid: String)
    /// Move messages to new UIDs within a mailbox.
    case renumber(mailbox: String, [UInt32: UInt32])
    /// Copy a message from the other side, found there by its GUID in the mailbox that had
    /// GUID `sourceMailbox` when the sync read it (`sourceUID` is its UID there before the
    /// sync, a hint: renumbering on that side may move it).
    case copyMessage(mailbox: String, uid: UInt32, guid: String, flags: SyncFlags, sourceMailbox: String, sourceUID: UInt32)
    /// Set a message's flags to exactly these, if it still has `from` (the flags the sync
    /// read on this side; nil: whatever it has): a message whose flags changed since the
    /// read is left for the next sync, which merges that change instead of overwriting it.
    case setFlags(mailbox: String, uid: UInt32, flags: SyncFlags, from: SyncFlags? = nil)
    /// Expunge messages.
    case expunge(mailbox: String, uids: [UInt32])
    /// Raise the mailbox's next UID.
    case raiseUIDNext(mailbox: String, to: UInt32)
    case subscribe([String])
    case unsubscribe([String])
}

extension ReplicaChange {
    /// The GUID of the one mailbox whose messages this change touches (copies, flags,
    /// expunges, renumbering, next-UID raises); nil for changes of the mailbox tree and the
    /// subscriptions.
    var messageMailbox: String? {
        switch self {
        case .copyMessage(let mailbox, _, _, _, _, _), .setFlags(let mailbox, _, _, _), .expunge(let mailbox, _),
            .renumber(let mailbox, _), .raiseUIDNext(let mailbox, _):
            mailbox
        case .createMailbox, .adoptIdentity, .renameMailbox, .deleteMailbox, .subscribe, .unsubscribe:
            nil
        }
    }
}

/// What a sync will do and what both sides will look like afterwards.
public struct SyncPlan: Sendable {
    /// Changes for side A, in the order they must be applied.
    public var changesA: [ReplicaChange] = []
    /// Changes for side B, in the order they must be applied.
    public var changesB: [ReplicaChange] = []
    /// What both sides hold after the changes: the next common state.
    public var final: ReplicaView = ReplicaView()
    /// Messages that disappeared on each side since the common state (they will be
    /// expunged on the other side), for the mass-loss guard.
    public var vanished: [SyncSide: Int] = [.a: 0, .b: 0]
    /// Messages of the common state that vanished on each side and are copied back to it
    /// (a plan restoring that side; see ``MassExpungeResolution/restore``).
    public var restored: [SyncSide: Int] = [.a: 0, .b: 0]
    /// Messages in the common state.
    public var commonMessages = 0
    /// Messages that got new UIDs because both sides used one UID for different messages
    /// or a UID was no longer free on the other side.
    public var uidConflicts = 0
    /// Mailboxes renamed to keep two different mailboxes that claimed one name.
    public var nameConflicts = 0
    /// Mailboxes (final names) where a message needs a fresh UID but none is left: the plan
    /// cannot be applied.
    public var uidsExhausted: [String] = []
    /// Keywords left out of the final flags because a side cannot store them (a Maildir
    /// mailbox names at most 26 keywords; see ``KeywordPlanner``), by mailbox (final name),
    /// in code-point order.
    public var droppedKeywords: [String: [String]] = [:]

    /// The number of keywords dropped, over all mailboxes.
    public var droppedKeywordCount: Int { droppedKeywords.values.reduce(0) { $0 + $1.count } }

    public func changes(for side: SyncSide) -> [ReplicaChange] { side == .a ? changesA : changesB }

    /// The changes in the order a sync applies them: the mailbox tree of A, the tree of B
    /// (deletes, identities, renames, creates), then the messages and subscriptions of A, of B.
    ///
    /// Both trees first, so that a sync interrupted while copying messages into a mailbox
    /// that two sides made separately (and that the sync merges under one GUID) has already
    /// given both sides that GUID: the next sync matches them by GUID even if one was renamed
    /// meanwhile, instead of keeping two mailboxes with the copied messages in both.
    public var applicationOrder: [(side: SyncSide, changes: [ReplicaChange])] {
        let (treeA, messagesA) = Self.splitTree(changesA)
        let (treeB, messagesB) = Self.splitTree(changesB)
        return [(.a, treeA), (.b, treeB), (.a, messagesA), (.b, messagesB)]
    }

    /// The leading mailbox-tree changes and the rest (the planner emits the tree first).
    static func splitTree(_ changes: [ReplicaChange]) -> ([ReplicaChange], [ReplicaChange]) {
        let end = changes.firstIndex { change in
            switch change {
            case .createMailbox, .adoptIdentity, .renameMailbox, .deleteMailbox: false
            default: true
            }
        } ?? changes.endIndex
        return (Array(changes[..<end]), Array(changes[end...]))
    }

    mutating func append(_ change: ReplicaChange, to side: SyncSide) {
        if side == .a { changesA.append(change) } else { changesB.append(change) }
    }

    /// Whether nothing needs to change on either side.
    public var isEmpty: Bool { changesA.isEmpty && changesB.isEmpty }
}
