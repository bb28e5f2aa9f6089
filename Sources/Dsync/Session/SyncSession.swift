import Foundation
import MailStore
import Synchronization

/// Options of one sync run (`duplex sync`).
public struct SyncOptions: Sendable {
    /// The user, for state files and messages.
    public var user: String
    /// Ignore the saved state and compare everything (still never duplicates).
    public var full = false
    /// Read every mailbox of both sides again, trusting no stamp (no fast path, no view
    /// reused from the state), but still plan against the saved state: the replicator's
    /// periodic full sync. Unlike ``full``, a message expunged on one side since the last
    /// sync is expunged on the other, not copied back.
    public var rereadAll = false
    /// Ask replica B's host for the sync state its own replicator saved with A's host
    /// (``Replica/pairStateHeader()``) and plan against it when it is later than the one
    /// in ``stateDirectory`` (the two hosts of a pair each run syncs of the user). Only for
    /// a replicator syncing a user's mail root with its configured peer: the peer's state
    /// names those two mail roots.
    public var usesPairState = false
    /// Plan only; change nothing.
    public var dryRun = false
    /// How long to wait for each side's user lock.
    public var lockTimeout: Duration = .seconds(30)
    /// Where states are kept; nil keeps none (every sync is a full sync).
    public var stateDirectory: String?
    /// The sides as a state saved by an earlier version may name them (the mail roots as they
    /// were typed, before they were made canonical): such a state is used when none is saved
    /// under the sides' own names, and replaced by one that is at the next save.
    public var formerStateSides: (a: String, b: String)?
    /// What to do about a mass disappearance on one side: refuse (the default), let it
    /// through, or restore it.
    public var massExpungeResolution = MassExpungeResolution.hold
    /// Whether a mass disappearance is let through (``MassExpungeResolution/accept``), as
    /// `--accept-mass-expunge` says; setting false goes back to ``MassExpungeResolution/hold``.
    public var acceptMassExpunge: Bool {
        get { massExpungeResolution == .accept }
        set { massExpungeResolution = newValue ? .accept : .hold }
    }
    /// Share of the common messages whose disappearance on one side counts as mass loss.
    public var massLossShare = 0.5
    /// A common state with fewer messages than this never counts as mass loss (emptying a
    /// small mailbox is ordinary housekeeping); from this size on, more than
    /// ``massLossShare`` of it vanishing from one side does.
    public var massLossMinimum = 100
    /// Before the first sync of a user (no saved state), create a side that has no mail
    /// root yet, and take "no mail root on either side" as nothing to sync (the
    /// replicator); without it both are errors (67).
    public var createMissing = false

    public init(user: String) { self.user = user }
}

/// What a sync did.
public struct SyncReport: Sendable, Codable {
    public var user: String
    /// Nothing changed since the last sync: only stamps were read.
    public var fastPath = false
    public var dryRun = false
    /// Changes planned for each side.
    public var plannedA = 0
    public var plannedB = 0
    /// What was applied on each side.
    public var appliedA = ApplyReport()
    public var appliedB = ApplyReport()
    public var uidConflicts = 0
    public var nameConflicts = 0
    /// Keywords left out of the merged flags because a mailbox could not store them on both
    /// sides (a Maildir mailbox names at most 26 keywords), counted once per mailbox; each
    /// mailbox's are named in a warning.
    public var keywordsDropped = 0
    /// Messages that vanished on a side in a mass disappearance and were copied back to it
    /// (``MassExpungeResolution/restore``).
    public var restoredA = 0
    public var restoredB = 0
    /// A side changed during the sync; run again.
    public var changedDuringSync = false
    /// Mailboxes and messages in the common state afterwards.
    public var mailboxes = 0
    public var messages = 0
    public var seconds = 0.0
    /// Where the time went, in order: each phase of the sync that ran (``SyncPhase``) and
    /// its wall time in seconds. Phases that did not run (the fast path stops after
    /// `stamp`) are absent.
    public var phases: [SyncPhaseTime] = []
    /// The planned changes, for `--dry-run`.
    public var planA: [String] = []
    public var planB: [String] = []
}

extension ApplyReport {
    /// Adds what another apply did.
    mutating func add(_ other: ApplyReport) {
        mailboxesCreated += other.mailboxesCreated
        mailboxesRenamed += other.mailboxesRenamed
        mailboxesDeleted += other.mailboxesDeleted
        messagesCopied += other.messagesCopied
        bytesCopied += other.bytesCopied
        flagChanges += other.flagChanges
        expunges += other.expunges
        renumbered += other.renumbered
        subscriptionChanges += other.subscriptionChanges
        skipped += other.skipped
    }
}

/// A step of a sync, as timed in ``SyncReport/phases``.
public enum SyncPhase: String, Sendable, Codable {
    /// Taking both sides' user locks (and any pause between tries).
    case lock
    /// Loading the saved state (and the peer's, with ``SyncOptions/usesPairState``).
    case state
    /// Taking both sides' stamps.
    case stamp
    /// Reading the mailboxes whose stamps changed, on both sides.
    case read
    /// Planning the changes.
    case plan
    /// Applying the changes on both sides.
    case apply
    /// Reading back what the apply changed, to check it against the plan.
    case verify
    /// Saving the new state.
    case save
}

/// The wall time one ``SyncPhase`` took.
public struct SyncPhaseTime: Sendable, Codable, Equatable {
    public var phase: SyncPhase
    /// Seconds.
    public var seconds: Double
}

/// Times the phases of one sync into its report.
struct PhaseClock {
    private var last = ContinuousClock.now

    /// Ends `phase` now: its time since the previous mark (or the clock's start) is added.
    mutating func mark(_ phase: SyncPhase, in report: inout SyncReport) {
        let now = ContinuousClock.now
        let elapsed = now - last
        last = now
        report.phases.append(SyncPhaseTime(phase: phase, seconds: elapsed.inSeconds))
    }
}

extension Duration {
    /// The duration in seconds.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// A one-shot flag shared with a closure.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Runs one two-way sync between two replicas of a user.
///
/// Order: both user locks; the saved state; the stamps of both sides (if nothing changed
/// since the state, stop: the fast path); reading what changed; the plan; the mass-loss
/// guard; applying the changes (``SyncPlan/applicationOrder``: both mailbox trees, then A's
/// and B's messages); verifying both sides against the plan; saving the
/// new state. The state is only replaced when both sides verifiably hold what was planned,
/// so an interrupted or disturbed sync leaves the previous state and the next sync
/// converges without losing or duplicating anything.
public struct SyncSession: Sendable {
    public let a: any Replica
    public let b: any Replica
    public let options: SyncOptions

    public init(a: any Replica, b: any Replica, options: SyncOptions) {
        self.a = a
        self.b = b
        self.options = options
    }

    public func run() async throws -> SyncReport {
        let started = ContinuousClock.now
        let deadline = started + options.lockTimeout
        let a = self.a, b = self.b
        var report: SyncReport
        var tries = 0
        // B's connection is prepared while A's lock is taken.
        b.prepareConnection()
        while true {
            tries += 1
            let entered = Flag()
            do {
                report = try await a.withUserLock(timeout: max(.zero, deadline - .now)) {
                    // This host's saved state is read while B's lock is asked for: A's lock
                    // already keeps this host's other syncs of the user from writing it.
                    let ownState = Task { self.loadOwnHeader() }
                    // So are A's stamps, when A is on this host: A's lock keeps other syncs
                    // out, and a stamp taken a little earlier only makes another writer's
                    // change look like one made during the sync, which is then read.
                    let earlyStampA = a is LocalReplica ? Task { try? await a.stamp() } : nil
                    // Both hosts may start a sync of the user at once, each holding its own
                    // side's lock and asking for the other's. Unless B's replica knows that
                    // this host is the one that waits (see RemoteReplica), B's lock is tried
                    // for a short, random while only; when it is busy, A's lock is let go for
                    // a moment and both are taken again, so one of two such syncs gets both
                    // locks and neither waits out its whole timeout.
                    let remaining = max(.zero, deadline - .now)
                    let attempt = min(remaining, Self.secondLockAttempt())
                    return try await b.withSecondUserLock(timeout: remaining, brief: attempt) {
                        entered.set()
                        return try await self.locked(
                            lockedAfter: ContinuousClock.now - started, ownHeader: await ownState.value, earlyStampA: earlyStampA)
                    }
                }
                break
            } catch var error as DsyncError where error.code == .lockTimeout && !entered.isSet {
                guard ContinuousClock.now >= deadline else {
                    // Lock-free for a random while that grows with each try: two syncs that
                    // keep colliding soon leave each other room.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 20...min(2000, 100 << min(tries, 5)))))
                    continue
                }
                // The last try's wait was short: say how long the locks were tried in all.
                if options.lockTimeout > .zero { error.message += "; both locks were tried for \(options.lockTimeout)" }
                throw error
            }
        }
        let elapsed = ContinuousClock.now - started
        report.seconds = elapsed.inSeconds
        return report
    }

    /// The stamps of `replica`: those taken `early` when there are, else taken now.
    private static func stamp(_ replica: any Replica, early: Task<StoreStamp?, Never>?) async throws -> StoreStamp {
        if let early, let stamp = await early.value { return stamp }
        return try await replica.stamp()
    }

    /// How long one try for B's lock waits: 250 ms to 1 s, at random (see ``run()``).
    static func secondLockAttempt() -> Duration {
        .milliseconds(Int.random(in: 250...1000))
    }

    private func fail(_ code: DsyncError.Code, _ message: String) -> DsyncError {
        DsyncError(code, message, user: options.user)
    }

    /// The state store of this sync's two sides, when states are kept.
    private var stateStore: SyncStateStore? {
        options.stateDirectory.map {
            var store = SyncStateStore(directory: $0, user: options.user, sideA: a.description, sideB: b.description)
            store.formerSides = options.formerStateSides
            return store
        }
    }

    /// This host's saved state's header; nil without one, for a full sync, or when it cannot
    /// be read (warned about: the sync is then a full one).
    private func loadOwnHeader() -> SyncState.Header? {
        guard !options.full, let stateStore else { return nil }
        do {
            return try stateStore.loadHeader()
        } catch let error as DsyncError {
            FileHandle.standardError.write(Data("duplex: warning: \(error.description); doing a full sync\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("duplex: warning: \(error); doing a full sync\n".utf8))
        }
        return nil
    }

    private func locked(lockedAfter: Duration, ownHeader: SyncState.Header?, earlyStampA: Task<StoreStamp?, Never>?) async throws -> SyncReport {
        var report = SyncReport(user: options.user)
        report.dryRun = options.dryRun
        report.phases = [SyncPhaseTime(phase: .lock, seconds: lockedAfter.inSeconds)]
        var clock = PhaseClock()
        let stateStore = self.stateStore
        // This store's own header: its messages file is the one to replace when saving.
        var header = ownHeader
        // Whether B's host saved a later state than this host's (`header` is then its, from
        // this side); its view is fetched only when the stamps say something changed.
        var fromPeer = false
        if !options.full, options.usesPairState, stateStore != nil, let theirs = try await laterPairState(than: header) {
            header = theirs
            fromPeer = true
        }
        let existsA = try await a.exists(), existsB = try await b.exists()
        // A side whose whole mail root vanished after a sync, to be filled again from the other.
        var recreated: SyncSide?
        if !existsA || !existsB, options.createMissing, header == nil, (try? stateStore?.loadHeader()) == nil {
            if !existsA && !existsB { return report }
            if !options.dryRun { try await (existsA ? b : a).create() }
        } else if existsA != existsB, header != nil, options.massExpungeResolution == .restore {
            recreated = existsA ? .b : .a
            if options.dryRun {
                // Nothing may be created: the plan is shown against an empty side.
                throw fail(.usage, "mail root \((existsA ? b : a).description) is gone; --dry-run cannot show its restore without creating it")
            }
            try await (existsA ? b : a).create()
        } else if !existsA || !existsB {
            let missing = !existsA ? a.description : b.description
            if header != nil {
                throw fail(.massLoss, "mail root \(missing) is gone (or not a Maildir) although it was synced before; nothing was changed. Rerun with --restore-mass-expunge to fill it again from the other side, or, if the user was really removed there, remove the sync state")
            }
            if !existsA && !existsB {
                throw fail(.noSuchUser, "neither mail root exists (or is a Maildir): \(a.description), \(b.description); for a first sync, create one of them with: duplex mailbox create MAILROOT INBOX")
            }
            if b is RemoteReplica, !existsB {
                throw fail(.noSuchUser, "the user's mail root on \(missing) does not exist or is not a Maildir; for a first sync, create it on that host with: duplex mailbox create MAILROOT INBOX")
            }
            throw fail(.noSuchUser, "mail root \(missing) does not exist or is not a Maildir; create it for a first sync with: duplex mailbox create \(missing) INBOX")
        }

        clock.mark(.state, in: &report)
        // Both sides at once, here and for the reads below: each waits on its own disk or
        // on the network.
        // A's stamps taken before B's lock do for A when A existed then (it was not created
        // since).
        async let stampingA = Self.stamp(a, early: existsA ? earlyStampA : nil)
        async let stampingB = b.stamp()
        let (stampA, stampB) = try await (stampingA, stampingB)
        clock.mark(.stamp, in: &report)
        if !options.rereadAll, let header, Self.unchanged(header.stampA, stampA), Self.unchanged(header.stampB, stampB) {
            report.fastPath = true
            report.mailboxes = header.mailboxes
            report.messages = header.messages
            return report
        }
        var base: ReplicaView?
        if fromPeer {
            do {
                base = try await b.pairStateView().swappingSides()
            } catch let error as DsyncError where Self.unusablePairState(error) {
                warnUnusablePairState(error)
                header = ownHeader
            }
        }
        if base == nil, let saved = header, let stateStore {
            do {
                base = try stateStore.loadView(saved)
            } catch let error as DsyncError {
                FileHandle.standardError.write(Data("duplex: warning: \(error.description); doing a full sync\n".utf8))
                header = nil
            }
        }
        if recreated != nil {
            // The new side never unsubscribed anything: the other side's subscriptions are kept.
            base?.subscriptions = []
        }
        let reused = options.rereadAll ? nil : base
        let reusableA = Self.reusable(base: reused, saved: header?.stampA, now: stampA, side: .a)
        let reusableB = Self.reusable(base: reused, saved: header?.stampB, now: stampB, side: .b)
        async let readingA = a.read(reusing: reusableA)
        async let readingB = b.read(reusing: reusableB)
        let (viewA, viewB) = try await (readingA, readingB)
        // A sync from this host cut off while applying, from the state this one starts from:
        // the copies it made are common (see knownCommon).
        if let stateStore, let started = base, let pending = stateStore.loadPendingCopies(),
            pending.generation == header?.generation ?? 0,
            let known = Self.knownCommon(base: started, copies: pending.copies, a: viewA, b: viewB)
        {
            base = known
        }
        clock.mark(.read, in: &report)
        var plan = SyncPlanner.plan(base: base, a: viewA, b: viewB)
        let lost = Set(massLoss(plan)).union(recreated.map { [$0] } ?? [])
        if !lost.isEmpty {
            switch options.massExpungeResolution {
            case .hold:
                let side = SyncSide.allCases.first(where: lost.contains)!
                throw fail(.massLoss, "\(plan.vanished[side, default: 0]) of \(plan.commonMessages) messages vanished from \(side == .a ? a.description : b.description) since the last sync; refusing to expunge them on the other side. Nothing was changed. Check that replica, then rerun with --restore-mass-expunge to copy them back to it or with --accept-mass-expunge to expunge them on the other side too")
            case .accept:
                break
            case .restore:
                plan = SyncPlanner.plan(base: base, a: viewA, b: viewB, restoring: lost)
            }
        }
        report.restoredA = plan.restored[.a, default: 0]
        report.restoredB = plan.restored[.b, default: 0]
        report.plannedA = plan.changesA.count
        report.plannedB = plan.changesB.count
        report.uidConflicts = plan.uidConflicts
        report.nameConflicts = plan.nameConflicts
        report.keywordsDropped = plan.droppedKeywordCount
        for line in Self.droppedKeywordWarnings(plan.droppedKeywords, user: options.user) {
            FileHandle.standardError.write(Data(line.utf8))
        }
        report.mailboxes = plan.final.mailboxes.count
        report.messages = plan.final.messageCount
        clock.mark(.plan, in: &report)

        if !plan.uidsExhausted.isEmpty {
            throw fail(.badData, "mailboxes \(plan.uidsExhausted.map { "\"\($0)\"" }.joined(separator: ", ")) have no UIDs left for the messages that need new ones; nothing was changed")
        }
        if options.dryRun {
            var names: [String: String] = [:]
            for view in [viewA, viewB] {
                for mailbox in view.mailboxes.values { names[mailbox.guid] = mailbox.displayName }
            }
            for mailbox in plan.final.mailboxes.values { names[mailbox.guid] = mailbox.displayName }
            report.planA = plan.changesA.map { $0.description(names: names) }
            report.planB = plan.changesB.map { $0.description(names: names) }
            return report
        }

        // Written before any copy is made: a sync cut off while applying (the process killed)
        // leaves it, and the next sync from this host learns which copies arrived.
        let copies = PendingCopy.copies(in: plan)
        let journal = (base != nil && !copies.isEmpty) ? stateStore : nil
        try journal?.savePendingCopies(PendingCopies(generation: header?.generation ?? 0, copies: copies))
        for (side, changes) in plan.applicationOrder where !changes.isEmpty {
            if side == .a {
                report.appliedA.add(try await a.apply(changes, source: b))
            } else {
                report.appliedB.add(try await b.apply(changes, source: a))
            }
        }

        clock.mark(.apply, in: &report)
        // Verify: both sides must now hold exactly the planned view.
        async let stampingAfterA = a.stamp()
        async let stampingAfterB = b.stamp()
        let (afterA, afterB) = try await (stampingAfterA, stampingAfterB)
        let untouchedA = Self.untouched(view: viewA, before: stampA, after: afterA, final: plan.final)
        let untouchedB = Self.untouched(view: viewB, before: stampB, after: afterB, final: plan.final)
        async let checkingA = a.read(reusing: untouchedA)
        async let checkingB = b.read(reusing: untouchedB)
        let (checkA, checkB) = try await (checkingA, checkingB)
        let matches = Self.same(checkA, plan.final) && Self.same(checkB, plan.final)
        report.changedDuringSync = !matches || report.appliedA.skipped > 0 || report.appliedB.skipped > 0
        clock.mark(.verify, in: &report)
        let generation = (header?.generation ?? 0) + 1
        if matches, let stateStore {
            var common = plan.final
            common.keywordCapacities = [.a: Self.keywordCapacities(checkA, final: plan.final), .b: Self.keywordCapacities(checkB, final: plan.final)]
            try stateStore.save(view: common, stampA: afterA, stampB: afterB, previous: ownHeader, generation: generation)
        } else if let stateStore, let base, let known = Self.knownCommon(base: base, copies: copies, a: checkA, b: checkB) {
            // Stamps that match nothing: the next sync reads both sides whole.
            var none = afterA
            none.mailboxes = [:]
            none.subscriptions = nil
            try stateStore.save(view: known, stampA: none, stampB: none, previous: ownHeader, generation: generation)
        }
        // The sync ended: what it copied is in the state now, or was verified absent. (A sync
        // that threw keeps the journal for the next one.)
        journal?.removePendingCopies()
        clock.mark(.save, in: &report)
        return report
    }

    /// What is known to be common after a sync that a change on a side disturbed (the sides
    /// do not hold the planned view) or that was cut off while applying: the state the sync
    /// started from, plus every message it copied that is now on the side it was copied to,
    /// with its planned UID, GUID and flags. Nil when no copy arrived (the state the sync
    /// started from stays).
    ///
    /// Without the copies, a message copied from A to B and expunged on A before the state
    /// was saved would look new on B to the next sync and be copied back to A. A copy that
    /// did not arrive stays out, so the next sync copies it again; an expunge that was not
    /// made is still known from the starting state. No keyword capacities are kept: nothing
    /// of this state is reused, both sides are read whole.
    static func knownCommon(base: ReplicaView, copies: [PendingCopy], a: ReplicaView, b: ReplicaView) -> ReplicaView? {
        var known = base
        known.keywordCapacities = [:]
        var added = false
        var present: [SyncSide: [String: Set<MessageKey>]] = [:]
        for copy in copies {
            guard let arrived = (copy.side == .a ? a : b).mailboxes[copy.mailbox] else { continue }
            let keys = present[copy.side]?[copy.mailbox] ?? Set(arrived.messages.map { MessageKey(uid: $0.uid, guid: $0.guid) })
            present[copy.side, default: [:]][copy.mailbox] = keys
            guard keys.contains(MessageKey(uid: copy.uid, guid: copy.guid)) else { continue }
            var entry = known.mailboxes[copy.mailbox]
                ?? MailboxView(guid: arrived.guid, name: arrived.name, uidValidity: arrived.uidValidity, uidNext: arrived.uidNext, messages: [])
            let state = MessageState(uid: copy.uid, guid: copy.guid, flags: copy.flags)
            if let index = entry.messages.firstIndex(where: { $0.uid == copy.uid }) {
                entry.messages[index] = state
            } else {
                entry.messages.append(state)
                entry.messages.sort { $0.uid < $1.uid }
            }
            entry.uidNext = max(entry.uidNext, copy.uid &+ 1)
            known.mailboxes[copy.mailbox] = entry
            added = true
        }
        return added ? known : nil
    }

    /// A message by UID and GUID.
    struct MessageKey: Hashable {
        let uid: UInt32
        let guid: String
    }

    /// The header of the state B's host saved when it is later than `own` (a larger
    /// generation, or any when there is no own state), from this side (A and B exchanged);
    /// nil otherwise. A peer state that cannot be read is warned about and left out: this
    /// host's own state is still a correct base for everything but the peer's later syncs.
    private func laterPairState(than own: SyncState.Header?) async throws -> SyncState.Header? {
        do {
            guard let theirs = try await b.pairStateHeader(), theirs.user == options.user,
                (theirs.generation ?? 0) > (own?.generation ?? -1)
            else { return nil }
            return theirs.swappingSides(sideA: a.description, sideB: b.description)
        } catch let error as DsyncError where Self.unusablePairState(error) {
            warnUnusablePairState(error)
            return nil
        }
    }

    /// Errors of the peer's saved state (not of the connection) that leave it out.
    static func unusablePairState(_ error: DsyncError) -> Bool {
        error.code == .badData || error.code == .noSuchUser || error.code == .io
    }

    private func warnUnusablePairState(_ error: DsyncError) {
        let line = "duplex: warning: \(b.description)'s sync state of \(options.user) is unusable (\(error.description)); using this host's\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// The sides on which more than ``SyncOptions/massLossShare`` of the common messages (of
    /// a common state of at least ``SyncOptions/massLossMinimum``) vanished.
    func massLoss(_ plan: SyncPlan) -> [SyncSide] {
        guard plan.commonMessages >= options.massLossMinimum else { return [] }
        return SyncSide.allCases.filter { side in
            Double(plan.vanished[side, default: 0]) > options.massLossShare * Double(max(plan.commonMessages, 1))
        }
    }

    /// Whether nothing on a side changed since `saved` and `saved` was not taken so soon
    /// after a change that a change in the same clock tick could hide.
    static func unchanged(_ saved: StoreStamp, _ now: StoreStamp) -> Bool {
        saved.mailboxes == now.mailboxes && saved.subscriptions == now.subscriptions
            && saved.ambiguousMailboxes.isEmpty && !saved.subscriptionsAmbiguous
    }

    /// Mailboxes whose stamp did not change since the state: their view is the state's, with
    /// the keyword capacity the state kept for `side`. A state without one (written before
    /// Duplex kept them) reuses nothing: reading every mailbox once is cheaper than a plan
    /// that cannot know how many keywords a mailbox can still take.
    static func reusable(base: ReplicaView?, saved: StoreStamp?, now: StoreStamp, side: SyncSide) -> [String: MailboxView] {
        guard let base, let saved else { return [:] }
        let ambiguous = saved.ambiguousMailboxes
        let capacities = base.keywordCapacities[side] ?? [:]
        var byName: [String: MailboxView] = [:]
        for var mailbox in base.mailboxes.values {
            guard let capacity = capacities[mailbox.guid] else { continue }
            mailbox.keywordCapacity = capacity
            byName[mailbox.displayName] = mailbox
        }
        var result: [String: MailboxView] = [:]
        for (name, stamp) in now.mailboxes where saved.mailboxes[name] == stamp && !ambiguous.contains(name) {
            if let view = byName[name] { result[name] = view }
        }
        return result
    }

    /// What each mailbox of a side, as checked after the apply, can hold in keywords, to be
    /// kept in the state; a side that does not say (an older peer) is judged by the final
    /// messages, as the planner judges it.
    static func keywordCapacities(_ check: ReplicaView, final: ReplicaView) -> [String: KeywordCapacity] {
        var capacities: [String: KeywordCapacity] = [:]
        for (guid, mailbox) in final.mailboxes {
            capacities[guid] = check.mailboxes[guid]?.keywordCapacity ?? .estimated(from: mailbox.messages)
        }
        return capacities
    }

    /// One warning line per mailbox whose keywords did not all fit, naming the first few.
    static func droppedKeywordWarnings(_ dropped: [String: [String]], user: String) -> [String] {
        dropped.keys.sorted().map { mailbox in
            let keywords = dropped[mailbox]!
            let shown = keywords.prefix(8).joined(separator: " ") + (keywords.count > 8 ? " and \(keywords.count - 8) more" : "")
            return "duplex: warning: user \(user): mailbox \"\(mailbox)\" cannot hold the keywords of both sides (a Maildir mailbox has 26 keyword letters); \(keywords.count) left out of its messages on both sides: \(shown)\n"
        }
    }

    /// Mailboxes the apply did not touch on a side (same stamp) and that already held the
    /// final view: no need to read them again. Not when the stamp before was ambiguous: a
    /// change after the read, in the clock tick of the change before the stamp, leaves the
    /// stamp as it was and would be taken as synced.
    static func untouched(view: ReplicaView, before: StoreStamp, after: StoreStamp, final: ReplicaView) -> [String: MailboxView] {
        var result: [String: MailboxView] = [:]
        let ambiguous = before.ambiguousMailboxes
        for mailbox in view.mailboxes.values {
            let name = mailbox.displayName
            guard let stamp = before.mailboxes[name], after.mailboxes[name] == stamp, !ambiguous.contains(name),
                  let planned = final.mailboxes[mailbox.guid], Self.same(mailbox, planned) else { continue }
            result[name] = mailbox
        }
        return result
    }

    /// Whether a side's mailbox is exactly the planned one. The next UID too: the state's view
    /// of a mailbox is reused as it is while its stamp does not change, so a next UID above the
    /// planned one (mail delivered and expunged during the sync) must not be saved as synced.
    static func same(_ x: MailboxView, _ y: MailboxView) -> Bool {
        x.guid == y.guid && x.name == y.name && x.uidValidity == y.uidValidity && x.uidNext == y.uidNext && x.messages == y.messages
    }

    static func same(_ x: ReplicaView, _ y: ReplicaView) -> Bool {
        guard x.subscriptions == y.subscriptions, x.mailboxes.count == y.mailboxes.count else { return false }
        return x.mailboxes.allSatisfy { guid, mailbox in y.mailboxes[guid].map { same(mailbox, $0) } ?? false }
    }
}
