import Foundation
import MailStore
import Testing

@testable import Dsync

/// Random interleavings of edits on both sides (saves, flag changes, expunges, moves, mailbox
/// create/rename/swap/delete/recreate, subscriptions, UID clashes, the same message delivered
/// to both sides) with syncs in between, some interrupted, some full, some without state.
/// After a final sync: both sides identical; every message that existed and was not expunged
/// (or deleted with its mailbox) on either side exists exactly once; no message exists twice
/// (except moved ones, see `moved`); every body is intact; and a second sync changes nothing.
@Suite struct DsyncPropertyTests {
    static let seeds: [UInt64] = [
        1, 2, 3, 5, 8, 13, 21, 34, 55, 89,
        0xD5E1, 0xBEEF, 0xC0FFEE, 0x5EED_0001, 0x5EED_0002, 0x1234_5678, 0xDEAD_BEEF, 0xFACE_FEED, 0x0BAD_CAFE, 0x7777_7777,
    ]
    static let steps = 40

    @Test(arguments: seeds)
    func randomEditsAndSyncs_converge(seed: UInt64) async throws {
        try await Self.run(seed: seed, steps: Self.steps)
    }

    /// A few of the seeds with B served by an agent over TLS: every sync, interrupted or
    /// not, goes through it.
    @Test(.tlsAgents, arguments: seeds.prefix(4))
    func randomEditsAndSyncs_convergeOverTLS(seed: UInt64) async throws {
        try await Self.run(seed: seed, steps: Self.steps, transport: .tls)
    }

    /// A longer search: `DSYNC_PROPERTY_SEEDS=N [DSYNC_PROPERTY_STEPS=M]` runs seeds 1000…1000+N−1.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DSYNC_PROPERTY_SEEDS"] != nil))
    func randomEditsAndSyncs_converge_manySeeds() async throws {
        let environment = ProcessInfo.processInfo.environment
        let count = UInt64(environment["DSYNC_PROPERTY_SEEDS"] ?? "") ?? 0
        let steps = Int(environment["DSYNC_PROPERTY_STEPS"] ?? "") ?? Self.steps
        for seed in 1000..<(1000 + count) { try await Self.run(seed: seed, steps: steps) }
    }

    static func run(seed: UInt64, steps: Int, transport: SyncTransport = .local) async throws {
        let run = try await RandomSyncRun(seed: seed, transport: transport)
        do {
            try await run.start()
            for _ in 0..<steps { try await run.step() }
            try await run.sync(full: false)
            try await run.check()
            // DSYNC_PROPERTY_LOG=1 prints every run's steps, to see what the seeds exercise.
            if ProcessInfo.processInfo.environment["DSYNC_PROPERTY_LOG"] != nil { print(run.failureContext) }
        } catch {
            Issue.record("\(error)\n\(run.failureContext)")
        }
    }
}

/// One random run: the fixture, the generator, the model of what must survive, and a log.
///
/// Unchecked `Sendable`: a run is used by one task at a time; the edits made "during" a sync
/// run synchronously inside that sync's own calls.
final class RandomSyncRun: @unchecked Sendable {
    let seed: UInt64
    var rng: SplitMix64
    let f: SyncFixture
    var log: [String] = []
    private var counter = 0
    /// Every message GUID ever saved.
    private var saved = Set<String>()
    /// GUIDs of messages never expunged, nor deleted with their mailbox, on either side.
    private var mustSurvive = Set<String>()
    /// GUIDs of messages moved to another mailbox: a move on one side racing an interrupted
    /// sync may leave a copy on purpose (nothing is lost), so they may exist more than once.
    private var moved = Set<String>()
    /// A sync was interrupted (perhaps in the middle of a rename cycle).
    private var interruptedBefore = false
    /// A sync without state followed an interrupted one: a mailbox may keep its temporary
    /// rename name, as nothing records its name from before.
    private var temporaryNamesMayStay = false

    static let names = ["Work", "Archive", "Archive/2024", "Lists", "Lists/Swift", "News", "Trash", "Sent"]
    static let flagTokens = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted", "$Work", "Later", "Junk", "junk", "$work"]

    init(seed: UInt64, transport: SyncTransport) async throws {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        let inboxA = rng.hex32(), inboxB = rng.hex32()
        let validityA = UInt32(1 + rng.below(1000)), validityB = UInt32(1 + rng.below(1000))
        self.rng = rng
        f = try await SyncFixture(transport: transport, inboxGUIDs: (inboxA, inboxB), inboxUIDValidities: (validityA, validityB))
    }

    var failureContext: String {
        "seed \(seed); steps:\n" + log.enumerated().map { "  \($0.offset): \($0.element)" }.joined(separator: "\n")
    }

    func side() -> (String, MailStore) { rng.chance(50) ? ("A", f.a) : ("B", f.b) }

    func randomFlags() -> String {
        (0..<rng.below(3)).map { _ in rng.pick(Self.flagTokens) }.joined(separator: " ")
    }

    func mailboxes(_ store: MailStore) throws -> [MailboxName] { try store.mailboxNames() }

    /// A common start: a few mailboxes with mail on A, synced.
    func start() async throws {
        try f.create(f.a, "Work", guid: rng.hex32(), uidValidity: UInt32(1 + rng.below(1000)))
        try f.create(f.a, "Archive", guid: rng.hex32(), uidValidity: UInt32(1 + rng.below(1000)))
        for (box, count) in [("INBOX", 4), ("Work", 3), ("Archive", 3)] {
            for _ in 0..<count {
                counter += 1
                let guid = "s\(seed)-\(counter)"
                try f.save(f.a, box, guid: guid, flags: randomFlags())
                saved.insert(guid)
                mustSurvive.insert(guid)
            }
        }
        log.append("start: INBOX 4, Work 3, Archive 3 messages on A")
        try await sync(full: false)
    }

    func step() async throws {
        let roll = rng.below(100)
        switch roll {
        case 0..<20: for _ in 0...rng.below(3) { try save() }
        case 20..<31: try changeFlags()
        case 31..<38: for _ in 0...rng.below(2) { try expunge() }
        case 38..<42: try moveMessage()
        case 42..<47: try createMailbox()
        case 47..<52: try renameMailbox()
        case 52..<54: try swapMailboxes()
        case 54..<57: try deleteMailbox()
        case 57..<59: try recreateMailbox()
        case 59..<62: try changeSubscription()
        case 62..<66: try deliverToBothSides()
        case 66..<80: try await sync(full: false)
        case 80..<92: try await interruptedSync()
        case 92..<95:
            if rng.chance(50) { try await sync(full: true) } else { try await syncWithConcurrentEdit() }
        case 95..<97: try await sync(full: false, state: false)
        default:
            // Let stamps age past the ambiguity margin, so that the next syncs save stamps
            // that let later syncs reuse unchanged mailboxes from the state (and take the fast path).
            log.append("pause")
            try await Task.sleep(for: .milliseconds(150))
        }
    }

    /// A sync during which one side is edited (right after it was read, or just before the
    /// changes are applied), as Dovecot or a delivery would: the sync may notice it or not, but
    /// nothing may be lost.
    func syncWithConcurrentEdit() async throws {
        let afterRead = rng.chance(50)
        let drawn: SyncSide = rng.chance(50) ? .a : .b
        // Over TLS the agent reads and changes B: the edit comes at that point of A's sync instead.
        let wrapped = f.transport == .tls ? .a : drawn
        let edit = rng.below(5)
        log.append("sync with an edit \(afterRead ? "after the read of" : "before applying on") \(wrapped):")
        let hook: @Sendable () throws -> Void = { [self] in
            switch edit {
            case 0: try save()
            case 1: try changeFlags()
            case 2: try expunge()
            case 3: try moveMessage()
            default: try renameMailbox()
            }
        }
        let base = LocalReplica(store: wrapped == .a ? f.a : f.b)
        let interfering = afterRead ? InterferingReplica(base, afterFirstRead: hook) : InterferingReplica(base, beforeFirstApply: hook)
        let replicaA: any Replica = wrapped == .a ? interfering : LocalReplica(store: f.a)
        let replicaB: any Replica = wrapped == .b ? interfering : try f.replicaB()
        do {
            let report = try await SyncSession(a: replicaA, b: replicaB, options: f.options()).run()
            log.append("  → planned \(report.plannedA) on A, \(report.plannedB) on B, changed during the sync: \(report.changedDuringSync)")
        } catch let error as DsyncError where error.code == .changedDuringSync {
            log.append("  → \(error.code): \(error.message)")
        }
    }

    /// A whole sync; nothing else writes the stores, so nothing may be skipped.
    func sync(full: Bool, state: Bool = true) async throws {
        if (full || !state) && interruptedBefore { temporaryNamesMayStay = true }
        log.append(full ? "full sync" : state ? "sync" : "sync without state")
        let report = try await f.session(f.options(full: full, state: state)).run()
        log[log.count - 1] += (report.fastPath ? ": fast path" : "") + ": planned \(report.plannedA) on A, \(report.plannedB) on B, UID conflicts \(report.uidConflicts), name conflicts \(report.nameConflicts)"
        #expect(!report.changedDuringSync && report.appliedA.skipped == 0 && report.appliedB.skipped == 0,
                "a sync with no concurrent writer reported changes during the sync: \(report)\n\(failureContext)")
    }

    func save() throws {
        let (label, store) = side()
        let box = rng.pick(try mailboxes(store))
        counter += 1
        let guid = "s\(seed)-\(counter)"
        let flags = randomFlags()
        var uid: UInt32?
        if rng.chance(15) { uid = try store.status(of: box).uidNext + UInt32(rng.below(4)) }
        log.append("save \(guid) on \(label) in \(box) flags [\(flags)] uid \(uid.map(String.init) ?? "next")")
        let message = try f.save(store, box.joined(), guid: guid, flags: flags, uid: uid)
        log[log.count - 1] += " → UID \(message.uid)"
        saved.insert(guid)
        mustSurvive.insert(guid)
    }

    func deliverToBothSides() throws {
        // The same message (one GUID) arriving on both sides in one mailbox, as after a
        // delivery retried on the other host.
        let statusesA = Dictionary(try f.a.listMailboxes().map { ($0.name, $0.guid) }, uniquingKeysWith: { x, _ in x })
        let shared = try f.b.listMailboxes().filter { statusesA[$0.name] == $0.guid }.map(\.name)
        guard !shared.isEmpty else { return log.append("deliver to both: no mailbox in common") }
        let box = rng.pick(shared)
        counter += 1
        let guid = "d\(seed)-\(counter)"
        let flagsA = randomFlags(), flagsB = randomFlags()
        let onA = try f.save(f.a, box.joined(), guid: guid, flags: flagsA)
        let onB = try f.save(f.b, box.joined(), guid: guid, flags: flagsB)
        log.append("deliver \(guid) to both in \(box): UID \(onA.uid) [\(flagsA)] on A, UID \(onB.uid) [\(flagsB)] on B")
        saved.insert(guid)
        mustSurvive.insert(guid)
    }

    func randomMessage(_ store: MailStore) throws -> (MailboxName, MessageInfo)? {
        var candidates: [(MailboxName, MessageInfo)] = []
        for box in try mailboxes(store) {
            for message in try store.listMessages(in: box) { candidates.append((box, message)) }
        }
        return candidates.isEmpty ? nil : rng.pick(candidates)
    }

    func changeFlags() throws {
        let (label, store) = side()
        guard let (box, message) = try randomMessage(store) else { return log.append("flags on \(label): no message") }
        let action = rng.pick(FlagUpdateAction.allCases)
        let flags = randomFlags()
        log.append("flags \(action) [\(flags)] on \(label) \(box) UID \(message.uid) (\(message.guid))")
        try store.updateFlags(in: box, uids: [message.uid], action, MessageFlags(SyncFlags(flags)))
    }

    func expunge() throws {
        let (label, store) = side()
        guard let (box, message) = try randomMessage(store) else { return log.append("expunge on \(label): no message") }
        log.append("expunge on \(label) \(box) UID \(message.uid) (\(message.guid))")
        _ = try store.expunge(in: box, uids: [message.uid])
        mustSurvive.remove(message.guid)
    }

    func moveMessage() throws {
        // IMAP MOVE: the same message (one GUID) saved in another mailbox, then expunged here.
        let (label, store) = side()
        guard let (box, message) = try randomMessage(store) else { return log.append("move on \(label): no message") }
        let targets = try mailboxes(store).filter { $0 != box }
        guard !targets.isEmpty else { return log.append("move on \(label): no other mailbox") }
        let target = rng.pick(targets)
        let saved = try store.saveMessage(
            in: target, bytes: SyncFixture.body(message.guid), options: SaveOptions(flags: message.flags, guid: message.guid))
        _ = try store.expunge(in: box, uids: [message.uid])
        log.append("move on \(label) \(box) UID \(message.uid) (\(message.guid)) → \(target) UID \(saved.uid)")
        moved.insert(message.guid)
    }

    func swapMailboxes() throws {
        let (label, store) = side()
        let folders = try renamableFolders(store)
        guard folders.count >= 2 else { return log.append("swap on \(label): fewer than two folders") }
        let first = rng.pick(folders)
        let second = rng.pick(folders.filter { $0 != first })
        counter += 1
        let temporary = try MailboxName("Swap\(counter)")
        do {
            try store.renameMailbox(first, to: temporary, includingChildren: false)
            try store.renameMailbox(second, to: first, includingChildren: false)
            try store.renameMailbox(temporary, to: second, includingChildren: false)
            log.append("swap \(first) and \(second) on \(label)")
        } catch let error as MailStoreError {
            log.append("swap \(first) and \(second) on \(label): \(error.code) (\(try mailboxes(store)))")
        }
    }

    func recreateMailbox() throws {
        // Deleted and created again under the same name: a new GUID and UIDVALIDITY.
        let (label, store) = side()
        let folders = try mailboxes(store).filter { !$0.isInbox }
        guard !folders.isEmpty else { return log.append("recreate on \(label): no folder") }
        let box = rng.pick(folders)
        let lost = try store.listMessages(in: box).map(\.guid)
        try store.deleteMailbox(box)
        mustSurvive.subtract(lost)
        let guid = rng.hex32()
        try store.createMailbox(box, guid: MailboxGUID(hex: guid), uidValidity: UInt32(1 + rng.below(1000)))
        log.append("recreate \(box) on \(label) as \(guid), losing \(lost)")
    }

    func createMailbox() throws {
        let (label, store) = side()
        let name = try MailboxName(rng.pick(Self.names))
        let guid = rng.hex32()
        let uidValidity = UInt32(1 + rng.below(1000))
        guard try !store.mailboxExists(name) else { return log.append("create \(name) on \(label): exists") }
        log.append("create \(name) on \(label) guid \(guid) uidvalidity \(uidValidity)")
        try store.createMailbox(name, guid: MailboxGUID(hex: guid), uidValidity: uidValidity)
    }

    /// Folders a user renames: not those the sync named temporarily (giving that name to
    /// another mailbox would make it a user's choice).
    func renamableFolders(_ store: MailStore) throws -> [MailboxName] {
        try mailboxes(store).filter { !$0.isInbox && !$0.levels[0].hasPrefix("DuplexRename-") }
    }

    func renameMailbox() throws {
        let (label, store) = side()
        let folders = try renamableFolders(store)
        guard !folders.isEmpty else { return log.append("rename on \(label): no folder") }
        let old = rng.pick(folders)
        counter += 1
        let target = try MailboxName(rng.chance(70) ? rng.pick(Self.names) : "Renamed\(counter)")
        do {
            try store.renameMailbox(old, to: target)
            log.append("rename \(old) → \(target) on \(label)")
        } catch let error as MailStoreError where error.code == .alreadyExists || error.code == .invalidArgument {
            log.append("rename \(old) → \(target) on \(label): \(error.code)")
        }
    }

    func deleteMailbox() throws {
        let (label, store) = side()
        let folders = try mailboxes(store).filter { !$0.isInbox }
        guard !folders.isEmpty else { return log.append("delete on \(label): no folder") }
        let box = rng.pick(folders)
        let lost = try store.listMessages(in: box).map(\.guid)
        log.append("delete \(box) on \(label) with \(lost)")
        try store.deleteMailbox(box)
        mustSurvive.subtract(lost)
    }

    func changeSubscription() throws {
        let (label, store) = side()
        let name = try MailboxName(rng.pick(Self.names + ["INBOX"]))
        if rng.chance(50) {
            log.append("subscribe \(name) on \(label)")
            try store.subscribe(name)
        } else {
            log.append("unsubscribe \(name) on \(label)")
            try store.unsubscribe(name)
        }
    }

    func interruptedSync() async throws {
        let (plan, _, _) = try await f.plan()
        let total = plan.changesA.count + plan.changesB.count
        let count = rng.below(total + 1)
        log.append("sync interrupted after \(count) of \(plan.changesA.count) + \(plan.changesB.count) changes")
        try await f.interruptedSync(after: count)
        if count > 0 { interruptedBefore = true }
    }

    /// The checks after the final sync.
    func check() async throws {
        let context = failureContext
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB, "the sides differ\nA:\n\(mapA)\nB:\n\(mapB)\n\(context)")
        for (label, map) in [("A", mapA), ("B", mapB)] {
            let counts = map.guidCounts
            for (guid, count) in counts where count > 1 && !moved.contains(guid) {
                Issue.record("message \(guid) is \(count) times on \(label)\n\(map)\n\(context)")
            }
            for guid in mustSurvive where counts[guid] == nil {
                Issue.record("message \(guid) was lost on \(label)\n\(map)\n\(context)")
            }
            for guid in counts.keys where !saved.contains(guid) {
                Issue.record("message \(guid) on \(label) was never saved\n\(context)")
            }
            for name in map.mailboxes.keys where name.hasPrefix("DuplexRename-") && !temporaryNamesMayStay {
                Issue.record("temporary mailbox \(name) left on \(label)\n\(context)")
            }
        }
        // Every body is the one saved under its GUID.
        for store in [f.a, f.b] {
            for box in try store.mailboxNames() {
                for message in try store.listMessages(in: box) {
                    let body = try f.body(store, box, uid: message.uid)
                    if body != SyncFixture.body(message.guid) {
                        Issue.record("\(store.root) \(box) UID \(message.uid): the body is not that of \(message.guid)\n\(context)")
                    }
                }
            }
        }
        let dry = try await f.session(f.options(dryRun: true)).run()
        #expect(dry.planA.isEmpty && dry.planB.isEmpty, "a second sync would change:\nA: \(dry.planA)\nB: \(dry.planB)\n\(context)")
        let again = try await f.session(f.options()).run()
        #expect(again.plannedA == 0 && again.plannedB == 0 && !again.changedDuringSync, "a second sync changed something\n\(context)")
    }
}
