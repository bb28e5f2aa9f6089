import MailStore

/// Plans a two-way sync: compares both sides with the last common state and decides
/// every change, deterministically (the same inputs always give the same plan).
///
/// Mailboxes are matched by GUID (DESIGN "Sync semantics"):
/// - on both sides: renamed toward the side that changed the name since the common state
///   (both changed: the smaller name wins); UIDVALIDITY adopted from the side with more
///   messages (tie: the larger value), and then the common state of that mailbox is not used;
/// - on one side and in the common state: deleted on the other side, so deleted here too —
///   unless this side got new messages since, then it is recreated on the other side;
/// - on one side only: created on the other with the same GUID and UIDVALIDITY;
/// - two new mailboxes with one name (and always two INBOXes): merged into one, adopting
///   the larger GUID (as Dovecot does for an autocreated INBOX) — except that of two INBOXes
///   where only one holds mail, the one with mail keeps its GUID;
/// - two different mailboxes ending with one name otherwise: both kept, the one not known
///   under that name in the common state is renamed to `<name>-<GUID>`.
/// Messages follow ``MessagePlanner``; subscriptions are merged three-way by name.
///
/// Restoring a side (`restoring`, for ``MassExpungeResolution/restore``) turns what vanished
/// there since the common state into something to copy back: a mailbox deleted on that side
/// is created there again (same GUID, UIDVALIDITY and UIDs) and a message expunged there is
/// copied back. Everything else merges as usual.
public enum SyncPlanner {
    /// Name levels of the temporary name a mailbox gets while renames form a cycle.
    static func temporaryName(_ guid: String) -> [String] { ["DuplexRename-" + guid] }

    static func isTemporaryName(_ name: [String], guid: String) -> Bool { name == temporaryName(guid) }

    private struct Entry {
        var guid: String
        var a: MailboxView?
        var b: MailboxView?
        var base: MailboxView?
        var finalName: [String] = []
        var uidValidity: UInt32 = 0
        func view(_ side: SyncSide) -> MailboxView? { side == .a ? a : b }
    }

    /// Plans the changes that make `a` and `b` identical.
    ///
    /// - Parameters:
    ///   - base: the last common state, nil for a first or full sync.
    ///   - a: side A, every mailbox with its messages.
    ///   - b: side B.
    ///   - restoring: the sides on which what vanished since `base` is restored rather than
    ///     removed on the other side; empty for an ordinary sync.
    public static func plan(base: ReplicaView?, a: ReplicaView, b: ReplicaView, restoring: Set<SyncSide> = []) -> SyncPlan {
        var plan = SyncPlan()
        let baseBoxes = base?.mailboxes ?? [:]
        plan.commonMessages = base?.messageCount ?? 0
        var deletes: [SyncSide: [String]] = [.a: [], .b: []]

        // 1. Which mailboxes remain, matched by GUID.
        var entries: [String: Entry] = [:]
        let inboxA = a.mailboxes.values.first { $0.name == ["INBOX"] }
        let inboxB = b.mailboxes.values.first { $0.name == ["INBOX"] }
        var mergedInbox: Set<String> = []
        if let inboxA, let inboxB, inboxA.guid != inboxB.guid {
            // One INBOX per user: two GUIDs mean the same mailbox created twice.
            // An empty INBOX that no sync has seen yet (a mail root just created for this sync,
            // say on a new host or the target of a move) takes the GUID of the one with mail,
            // so the side with mail keeps its INBOX exactly as it was.
            let winner = baseBoxes[inboxA.guid] != nil ? inboxA.guid
                : baseBoxes[inboxB.guid] != nil ? inboxB.guid
                : inboxA.messages.isEmpty != inboxB.messages.isEmpty ? (inboxA.messages.isEmpty ? inboxB.guid : inboxA.guid)
                : max(inboxA.guid, inboxB.guid)
            entries[winner] = Entry(guid: winner, a: inboxA, b: inboxB, base: nil)
            mergedInbox = [inboxA.guid, inboxB.guid]
        }
        for guid in Set(a.mailboxes.keys).union(b.mailboxes.keys).sorted() where !mergedInbox.contains(guid) {
            let onA = a.mailboxes[guid], onB = b.mailboxes[guid], common = baseBoxes[guid]
            switch (onA, onB) {
            case (.some, .some):
                entries[guid] = Entry(guid: guid, a: onA, b: onB, base: common)
            case let (.some(only), nil), let (nil, .some(only)):
                let side: SyncSide = onA != nil ? .a : .b
                if let common {
                    let known = Set(common.messages.map { "\($0.uid) \($0.guid)" })
                    let hasNew = only.uidValidity != common.uidValidity
                        || only.messages.contains { !known.contains("\($0.uid) \($0.guid)") }
                    if hasNew || only.name == ["INBOX"] {
                        // Deleted on the other side, but this side has new mail: keep it.
                        entries[guid] = side == .a ? Entry(guid: guid, a: only, b: nil, base: nil) : Entry(guid: guid, a: nil, b: only, base: nil)
                    } else if restoring.contains(side.other) {
                        // Created again where it was deleted; with the common state kept, the
                        // message planner counts what it copies back.
                        entries[guid] = side == .a ? Entry(guid: guid, a: only, b: nil, base: common) : Entry(guid: guid, a: nil, b: only, base: common)
                    } else {
                        deletes[side, default: []].append(guid)
                        plan.vanished[side.other, default: 0] += common.messages.count
                    }
                } else {
                    entries[guid] = side == .a ? Entry(guid: guid, a: only, b: nil, base: nil) : Entry(guid: guid, a: nil, b: only, base: nil)
                }
            case (nil, nil):
                break
            }
        }

        // 2. Two new mailboxes with one name, one on each side: the same mailbox.
        let newOnA = entries.values.filter { $0.a != nil && $0.b == nil && $0.base == nil && baseBoxes[$0.guid] == nil }
        var newOnBByName: [[String]: Entry] = [:]
        for entry in entries.values where entry.b != nil && entry.a == nil && baseBoxes[entry.guid] == nil {
            newOnBByName[entry.b!.name] = entry
        }
        for entryA in newOnA.sorted(by: { $0.guid < $1.guid }) {
            guard let name = entryA.a?.name, let entryB = newOnBByName[name] else { continue }
            newOnBByName[name] = nil
            let winner = max(entryA.guid, entryB.guid)
            entries[entryA.guid] = nil
            entries[entryB.guid] = nil
            entries[winner] = Entry(guid: winner, a: entryA.a, b: entryB.b, base: nil)
        }

        // 3. Final names, unique.
        for guid in entries.keys {
            var entry = entries[guid]!
            let nameA = entry.a?.name, nameB = entry.b?.name, nameBase = entry.base?.name
            // A temporary rename name (left by a sync interrupted in a rename cycle) was nobody's
            // choice: when it is all a side has, the name in the common state is taken instead.
            let remembered = baseBoxes[guid].map(\.name).flatMap { isTemporaryName($0, guid: guid) ? nil : $0 }
            switch (nameA, nameB) {
            case let (.some(x), .some(y)):
                if x == y { entry.finalName = isTemporaryName(x, guid: entry.a!.guid) ? remembered ?? x : x }
                else if isTemporaryName(x, guid: entry.a!.guid) { entry.finalName = y }
                else if isTemporaryName(y, guid: entry.b!.guid) { entry.finalName = x }
                else if x == nameBase { entry.finalName = y }
                else if y == nameBase { entry.finalName = x }
                else { entry.finalName = x.joined(separator: "/") <= y.joined(separator: "/") ? x : y }
            case let (.some(x), nil), let (nil, .some(x)):
                let current = (entry.a ?? entry.b)!
                entry.finalName = isTemporaryName(x, guid: current.guid) ? remembered ?? x : x
            case (nil, nil):
                continue
            }
            entries[guid] = entry
        }
        var taken: [[String]: String] = [:]
        let ordered = entries.values.sorted { lhs, rhs in
            // Keepers first: INBOX, then mailboxes known under their name, then by GUID.
            func rank(_ e: Entry) -> Int { e.finalName == ["INBOX"] ? 0 : e.base?.name == e.finalName ? 1 : 2 }
            return rank(lhs) != rank(rhs) ? rank(lhs) < rank(rhs) : lhs.guid < rhs.guid
        }
        for var entry in ordered {
            if taken[entry.finalName] != nil {
                plan.nameConflicts += 1
                var levels = entry.finalName
                let last = levels.removeLast()
                // The name shortened as far as needed for the suffix to fit the store's length
                // limit (a name that cannot be created would fail every sync of the user).
                func candidate(_ suffix: String) -> [String] {
                    var stem = last
                    while !stem.isEmpty, (try? MailboxName(levels: levels + [stem + suffix])) == nil { stem.removeLast() }
                    return levels + [stem + suffix]
                }
                var name = candidate("-" + entry.guid)
                var counter = 1
                while taken[name] != nil {
                    name = candidate("-" + entry.guid + "-\(counter)")
                    counter += 1
                }
                entry.finalName = name
            }
            taken[entry.finalName] = entry.guid
            entries[entry.guid] = entry
        }

        // 4. UIDVALIDITY and messages.
        var messageChanges: [SyncSide: [ReplicaChange]] = [.a: [], .b: []]
        for guid in entries.keys.sorted() {
            var entry = entries[guid]!
            let uidValidity: UInt32
            switch (entry.a, entry.b) {
            case let (.some(x), .some(y)):
                if x.uidValidity == y.uidValidity { uidValidity = x.uidValidity }
                else if x.messages.count != y.messages.count { uidValidity = x.messages.count > y.messages.count ? x.uidValidity : y.uidValidity }
                else { uidValidity = max(x.uidValidity, y.uidValidity) }
            case let (.some(x), nil), let (nil, .some(x)):
                uidValidity = x.uidValidity
            case (nil, nil):
                continue
            }
            entry.uidValidity = uidValidity
            entries[guid] = entry
            let usableBase = entry.base.flatMap { base -> [MessageState]? in
                guard base.uidValidity == uidValidity, entry.a?.uidValidity ?? uidValidity == uidValidity,
                      entry.b?.uidValidity ?? uidValidity == uidValidity else { return nil }
                return base.messages
            }
            if entry.base != nil && usableBase == nil {
                // The common state no longer describes this mailbox: nothing is taken as expunged.
                plan.commonMessages -= entry.base!.messages.count
            }
            let result = MessagePlanner.plan(
                mailbox: guid, sourceA: entry.a?.guid ?? guid, sourceB: entry.b?.guid ?? guid, base: usableBase,
                a: side(entry.a), b: side(entry.b), restoring: restoring)
            messageChanges[.a, default: []].append(contentsOf: result.changesA)
            messageChanges[.b, default: []].append(contentsOf: result.changesB)
            plan.vanished[.a, default: 0] += result.vanishedOnA
            plan.vanished[.b, default: 0] += result.vanishedOnB
            plan.restored[.a, default: 0] += result.restoredOnA
            plan.restored[.b, default: 0] += result.restoredOnB
            plan.uidConflicts += result.conflicts
            if result.uidsExhausted { plan.uidsExhausted.append(entry.finalName.joined(separator: "/")) }
            if !result.droppedKeywords.isEmpty { plan.droppedKeywords[entry.finalName.joined(separator: "/")] = result.droppedKeywords }
            plan.final.mailboxes[guid] = MailboxView(
                guid: guid, name: entry.finalName, uidValidity: uidValidity, uidNext: result.uidNext, messages: result.final)
        }

        // 5. Per side: deletes, identities, renames, creates, messages, subscriptions.
        let subscriptionChanges = planSubscriptions(base: base?.subscriptions, a: a.subscriptions, b: b.subscriptions, plan: &plan)
        for side in SyncSide.allCases {
            let view = side == .a ? a : b
            for guid in deletes[side, default: []].sorted() { plan.append(.deleteMailbox(guid: guid), to: side) }
            var occupied = Set(view.mailboxes.values.filter { !deletes[side, default: []].contains($0.guid) }.map(\.name))
            var renames: [(guid: String, from: [String], to: [String])] = []
            var creates: [ReplicaChange] = []
            for guid in entries.keys.sorted() {
                let entry = entries[guid]!
                if let current = entry.view(side) {
                    if current.guid != guid || current.uidValidity != entry.uidValidity {
                        plan.append(.adoptIdentity(currentGUID: current.guid, guid: guid, uidValidity: entry.uidValidity), to: side)
                    }
                    if current.name != entry.finalName { renames.append((guid, current.name, entry.finalName)) }
                } else {
                    creates.append(.createMailbox(guid: guid, name: entry.finalName, uidValidity: entry.uidValidity))
                }
            }
            // Renames in an order where each target is free; a cycle goes through a temporary name.
            while !renames.isEmpty {
                if let index = renames.firstIndex(where: { !occupied.contains($0.to) }) {
                    let rename = renames.remove(at: index)
                    plan.append(.renameMailbox(guid: rename.guid, to: rename.to), to: side)
                    occupied.remove(rename.from)
                    occupied.insert(rename.to)
                } else {
                    let temporary = temporaryName(renames[0].guid)
                    plan.append(.renameMailbox(guid: renames[0].guid, to: temporary), to: side)
                    occupied.remove(renames[0].from)
                    occupied.insert(temporary)
                    renames[0].from = temporary
                }
            }
            for create in creates { plan.append(create, to: side) }
            for change in messageChanges[side, default: []] { plan.append(change, to: side) }
            for change in subscriptionChanges[side, default: []] { plan.append(change, to: side) }
        }
        return plan
    }

    /// What the message planner needs of one side's mailbox; a mailbox the side does not have
    /// yet will be created there, with every keyword letter free.
    private static func side(_ view: MailboxView?) -> MessagePlanner.Side {
        guard let view else { return MessagePlanner.Side(messages: [], uidNext: 1) }
        return MessagePlanner.Side(
            messages: view.messages, uidNext: view.uidNext,
            keywordCapacity: view.keywordCapacity ?? .estimated(from: view.messages))
    }

    /// Three-way merge of subscriptions by name: a name subscribed on both sides stays;
    /// one changed on one side since the common state takes that side's value.
    static func planSubscriptions(base: Set<[String]>?, a: Set<[String]>, b: Set<[String]>, plan: inout SyncPlan) -> [SyncSide: [ReplicaChange]] {
        var changes: [SyncSide: [ReplicaChange]] = [.a: [], .b: []]
        var final = Set<[String]>()
        for name in a.union(b).union(base ?? []).sorted(by: { $0.joined(separator: "/") < $1.joined(separator: "/") }) {
            let inA = a.contains(name), inB = b.contains(name)
            let keep: Bool
            if let base { keep = base.contains(name) ? (inA && inB) : (inA || inB) } else { keep = inA || inB }
            if keep { final.insert(name) }
            if keep != inA { changes[.a, default: []].append(keep ? .subscribe(name) : .unsubscribe(name)) }
            if keep != inB { changes[.b, default: []].append(keep ? .subscribe(name) : .unsubscribe(name)) }
        }
        plan.final.subscriptions = final
        return changes
    }
}
