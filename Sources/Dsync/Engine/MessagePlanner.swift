/// Plans the message changes of one mailbox present (or to be present) on both sides.
///
/// Rules (DESIGN "Sync semantics"; UID handling after Dovecot's dsync importer, reference
/// §6.10):
/// - A message of the common state present on both sides keeps its UID; its flags are
///   merged one flag at a time against the common state.
/// - A message of the common state missing on one side was expunged there: it is
///   expunged on the other side too, whatever flags changed (expunge wins).
/// - New messages (not in the common state) are merged by GUID: the same GUID new on
///   both sides is one message. A new message keeps its UID when that UID is still free on
///   the other side (at or above its next UID); otherwise, and when both sides gave one UID
///   to different messages, it gets a fresh UID on both sides, assigned in (GUID, UID)
///   order from max(next UID of A, next UID of B), so both sides end with the same map.
/// - Keywords that do not fit in the mailbox on both sides are dropped from the final flags
///   of every message (``KeywordPlanner``).
struct MessagePlanner {
    struct Side {
        var messages: [MessageState]
        var uidNext: UInt32
        /// What the side's copy of the mailbox can hold in keywords (``KeywordCapacity/empty``
        /// where it is about to be created).
        var keywordCapacity: KeywordCapacity = .empty
    }

    struct Result {
        var changesA: [ReplicaChange] = []
        var changesB: [ReplicaChange] = []
        var final: [MessageState] = []
        var uidNext: UInt32 = 1
        var vanishedOnA = 0
        var vanishedOnB = 0
        /// Messages of the common state copied back to A and to B instead of being expunged
        /// on the other side.
        var restoredOnA = 0
        var restoredOnB = 0
        var conflicts = 0
        /// Keywords of the merged flags that do not fit on both sides and were left out of
        /// the final flags, in code-point order.
        var droppedKeywords: [String] = []
        /// A message needed a fresh UID but the mailbox has none left (the next UID reached
        /// 2^32 − 1); the plan must not be applied.
        var uidsExhausted = false
    }

    /// A message of the final view, with the flags it has now on each side that already
    /// holds it (a flag change there where they differ from the final flags).
    private struct Placed {
        var message: MessageState
        var onA: SyncFlags?
        var onB: SyncFlags?
    }

    /// A new message and where it is.
    private struct NewItem {
        var guid: String
        var uidA: UInt32?
        var uidB: UInt32?
        var flags: SyncFlags
        var sortUID: UInt32 { min(uidA ?? .max, uidB ?? .max) }
    }

    /// - Parameters:
    ///   - mailbox: the mailbox's GUID after the sync.
    ///   - sourceA: its GUID on side A as read (where copies to B come from).
    ///   - sourceB: its GUID on side B as read (where copies to A come from).
    ///   - restoring: the sides whose missing messages of the common state are copied back.
    static func plan(
        mailbox: String, sourceA: String, sourceB: String, base: [MessageState]?, a: Side, b: Side, restoring: Set<SyncSide> = []
    ) -> Result {
        if let unchanged = unchangedSinceBase(mailbox: mailbox, base: base, a: a, b: b) { return unchanged }
        var result = Result()
        // Both sides and the common state in ascending UID order, walked side by side: no
        // per-UID tables for the thousands of messages that are on all three.
        let messagesA = Self.ascendingByUID(a.messages), messagesB = Self.ascendingByUID(b.messages)
        var handledA = [Bool](repeating: false, count: messagesA.count)
        var handledB = [Bool](repeating: false, count: messagesB.count)
        var placed: [Placed] = []
        placed.reserveCapacity(max(messagesA.count, messagesB.count))
        var expungeA: [UInt32] = [], expungeB: [UInt32] = []
        // Messages being restored on the other side: a fresh UID for them is no UID conflict.
        var restoredUIDsA = Set<UInt32>(), restoredUIDsB = Set<UInt32>()

        // 1. The common state.
        var nextA = 0, nextB = 0
        for common in Self.ascendingByUID(base ?? []) {
            while nextA < messagesA.count, messagesA[nextA].uid < common.uid { nextA += 1 }
            while nextB < messagesB.count, messagesB[nextB].uid < common.uid { nextB += 1 }
            let indexA = nextA < messagesA.count && messagesA[nextA].uid == common.uid && messagesA[nextA].guid == common.guid ? nextA : nil
            let indexB = nextB < messagesB.count && messagesB[nextB].uid == common.uid && messagesB[nextB].guid == common.guid ? nextB : nil
            if let indexA { handledA[indexA] = true }
            if let indexB { handledB[indexB] = true }
            switch (indexA, indexB) {
            case let (.some(x), .some(y)):
                let merged = SyncFlags.merge(base: common.flags, messagesA[x].flags, messagesB[y].flags)
                placed.append(Placed(
                    message: MessageState(uid: common.uid, guid: common.guid, flags: merged), onA: messagesA[x].flags, onB: messagesB[y].flags))
            case (.some(let x), nil) where restoring.contains(.b):
                // Left unhandled, it is planned below as a message new on A.
                handledA[x] = false
                restoredUIDsA.insert(common.uid)
                result.restoredOnB += 1
            case (nil, .some(let y)) where restoring.contains(.a):
                handledB[y] = false
                restoredUIDsB.insert(common.uid)
                result.restoredOnA += 1
            case (.some, nil):
                expungeA.append(common.uid)
                result.vanishedOnB += 1
            case (nil, .some):
                expungeB.append(common.uid)
                result.vanishedOnA += 1
            case (nil, nil):
                break
            }
        }

        // 2. New messages, merged by GUID (the k-th new copy on A pairs with the k-th on B).
        var itemsByGUID: [String: [NewItem]] = [:]
        var byUIDA: [UInt32: MessageState] = [:], byUIDB: [UInt32: MessageState] = [:]
        for (index, message) in messagesA.enumerated() where !handledA[index] {
            byUIDA[message.uid] = message
            itemsByGUID[message.guid, default: []].append(NewItem(guid: message.guid, uidA: message.uid, flags: message.flags))
        }
        for (index, message) in messagesB.enumerated() where !handledB[index] {
            byUIDB[message.uid] = message
            var list = itemsByGUID[message.guid, default: []]
            if let index = list.firstIndex(where: { $0.uidB == nil && $0.uidA != nil }) {
                list[index].uidB = message.uid
                list[index].flags = SyncFlags.merge(base: nil, list[index].flags, message.flags)
            } else {
                list.append(NewItem(guid: message.guid, uidB: message.uid, flags: message.flags))
            }
            itemsByGUID[message.guid] = list
        }
        let items = itemsByGUID.values.flatMap { $0 }.sorted {
            $0.guid != $1.guid ? $0.guid < $1.guid : $0.sortUID < $1.sortUID
        }

        var fresh = max(a.uidNext, b.uidNext)
        // Target UID on each side → what to do there, applied in ascending target order.
        var placementsA: [(target: UInt32, change: Placement)] = []
        var placementsB: [(target: UInt32, change: Placement)] = []
        func freshUID() -> UInt32 {
            // The store, like Dovecot, never gives out UID 2^32 − 1; and never overflow.
            guard fresh < UInt32.max else {
                result.uidsExhausted = true
                return fresh
            }
            defer { fresh += 1 }
            return fresh
        }
        for item in items {
            let target: UInt32
            var onA: SyncFlags?, onB: SyncFlags?
            switch (item.uidA, item.uidB) {
            case let (.some(x), .some(y)):
                if x == y {
                    target = x
                } else if x >= b.uidNext {
                    target = x
                    placementsB.append((x, .renumber(from: y)))
                } else if y >= a.uidNext {
                    target = y
                    placementsA.append((y, .renumber(from: x)))
                } else {
                    target = freshUID()
                    placementsA.append((target, .renumber(from: x)))
                    placementsB.append((target, .renumber(from: y)))
                    result.conflicts += 1
                }
                onA = byUIDA[x]?.flags
                onB = byUIDB[y]?.flags
            case let (.some(x), nil):
                if x >= b.uidNext {
                    target = x
                } else {
                    target = freshUID()
                    placementsA.append((target, .renumber(from: x)))
                    if !restoredUIDsA.contains(x) { result.conflicts += 1 }
                }
                placementsB.append((target, .copy(sourceUID: x)))
                onA = byUIDA[x]?.flags
            case let (nil, .some(y)):
                if y >= a.uidNext {
                    target = y
                } else {
                    target = freshUID()
                    placementsB.append((target, .renumber(from: y)))
                    if !restoredUIDsB.contains(y) { result.conflicts += 1 }
                }
                placementsA.append((target, .copy(sourceUID: y)))
                onB = byUIDB[y]?.flags
            case (nil, nil):
                continue
            }
            placed.append(Placed(message: MessageState(uid: target, guid: item.guid, flags: item.flags), onA: onA, onB: onB))
        }
        placed.sort { $0.message.uid < $1.message.uid }
        var final = placed.map(\.message)
        let keywords = KeywordPlanner.select(final, a: a.keywordCapacity, b: b.keywordCapacity)
        if !keywords.dropped.isEmpty {
            result.droppedKeywords = keywords.dropped
            for index in final.indices { final[index].flags = final[index].flags.keeping(keywords.kept) }
        }
        var flagsA: [(UInt32, SyncFlags, SyncFlags)] = [], flagsB: [(UInt32, SyncFlags, SyncFlags)] = []
        for (message, placement) in zip(final, placed) {
            if let current = placement.onA, current != message.flags { flagsA.append((message.uid, message.flags, current)) }
            if let current = placement.onB, current != message.flags { flagsB.append((message.uid, message.flags, current)) }
        }
        result.final = final
        result.uidNext = max(max(a.uidNext, b.uidNext), fresh, (final.last?.uid ?? 0) &+ 1)

        result.changesA = emit(mailbox: mailbox, source: sourceB, placements: placementsA, flags: flagsA, expunge: expungeA,
                               currentNext: a.uidNext, finalNext: result.uidNext, final: final)
        result.changesB = emit(mailbox: mailbox, source: sourceA, placements: placementsB, flags: flagsB, expunge: expungeB,
                               currentNext: b.uidNext, finalNext: result.uidNext, final: final)
        return result
    }

    /// `messages` in ascending UID order, one message per UID (the last given wins, as a
    /// table by UID would keep it). A side's view is already in that order: then it is
    /// returned as it is.
    static func ascendingByUID(_ messages: [MessageState]) -> [MessageState] {
        if zip(messages, messages.dropFirst()).allSatisfy({ $0.uid < $1.uid }) { return messages }
        var byUID: [UInt32: MessageState] = [:]
        for message in messages { byUID[message.uid] = message }
        return byUID.values.sorted { $0.uid < $1.uid }
    }

    /// The plan of a mailbox neither side changed since the common state (both hold exactly
    /// its messages, as when both views were reused from the saved state): the common state
    /// itself, and at most a raise of a side's next UID. The same result as the full plan,
    /// without its per-UID tables, which for a user's many untouched mailboxes were most of
    /// an incremental sync's planning time. Nil when anything differs, or a keyword would
    /// not fit, and the full plan runs.
    private static func unchangedSinceBase(mailbox: String, base: [MessageState]?, a: Side, b: Side) -> Result? {
        // Arrays that share storage (views reused from one state) compare without a scan.
        guard let base, a.messages == base, b.messages == base,
              zip(base, base.dropFirst()).allSatisfy({ $0.uid < $1.uid }),
              KeywordPlanner.select(base, a: a.keywordCapacity, b: b.keywordCapacity).dropped.isEmpty
        else { return nil }
        var result = Result()
        result.final = base
        result.uidNext = max(a.uidNext, b.uidNext, (base.last?.uid ?? 0) &+ 1)
        result.changesA = emit(mailbox: mailbox, source: mailbox, placements: [], flags: [], expunge: [],
                               currentNext: a.uidNext, finalNext: result.uidNext, final: [])
        result.changesB = emit(mailbox: mailbox, source: mailbox, placements: [], flags: [], expunge: [],
                               currentNext: b.uidNext, finalNext: result.uidNext, final: [])
        return result
    }

    private enum Placement {
        case renumber(from: UInt32)
        case copy(sourceUID: UInt32)
    }

    /// Orders one side's changes: copies and renumbers in ascending target UID (a UID can
    /// only be given at or above the next UID), then flags, expunges and the next UID.
    private static func emit(
        mailbox: String, source: String, placements: [(target: UInt32, change: Placement)], flags: [(UInt32, SyncFlags, SyncFlags)],
        expunge: [UInt32], currentNext: UInt32, finalNext: UInt32, final: [MessageState]
    ) -> [ReplicaChange] {
        /// The final message with UID `uid` (`final` is in ascending UID order).
        func finalMessage(_ uid: UInt32) -> MessageState {
            var low = 0, high = final.count
            while low < high {
                let middle = (low + high) / 2
                if final[middle].uid < uid { low = middle + 1 } else { high = middle }
            }
            return final[low]
        }
        var changes: [ReplicaChange] = []
        var pendingRenumber: [UInt32: UInt32] = [:]
        func flushRenumber() {
            if !pendingRenumber.isEmpty { changes.append(.renumber(mailbox: mailbox, pendingRenumber)) }
            pendingRenumber = [:]
        }
        for placement in placements.sorted(by: { $0.target < $1.target }) {
            switch placement.change {
            case .renumber(let from):
                pendingRenumber[from] = placement.target
            case .copy(let sourceUID):
                flushRenumber()
                let message = finalMessage(placement.target)
                changes.append(.copyMessage(
                    mailbox: mailbox, uid: placement.target, guid: message.guid, flags: message.flags,
                    sourceMailbox: source, sourceUID: sourceUID))
            }
        }
        flushRenumber()
        for (uid, flags, current) in flags.sorted(by: { $0.0 < $1.0 }) {
            changes.append(.setFlags(mailbox: mailbox, uid: uid, flags: flags, from: current))
        }
        if !expunge.isEmpty { changes.append(.expunge(mailbox: mailbox, uids: expunge.sorted())) }
        // Copies and renumbers already move the next UID past their targets.
        let nextAfterPlacements = max(currentNext, (placements.map(\.target).max() ?? 0) &+ 1)
        if nextAfterPlacements < finalNext { changes.append(.raiseUIDNext(mailbox: mailbox, to: finalNext)) }
        return changes
    }
}
