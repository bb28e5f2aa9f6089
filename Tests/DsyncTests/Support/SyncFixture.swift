import Foundation
import MailStore
import MailStoreTestSupport
import Synchronization
import Testing

@testable import Dsync

/// Two temporary mail roots, A and B, a state directory, and the calls the sync tests
/// make on them. Everything is removed when the fixture is released.
///
/// Side B is reached as ``init(transport:inboxes:inboxGUIDs:inboxUIDValidities:)`` says:
/// directly, or through an agent serving it over TLS (the edits and checks always work on
/// both mail roots directly).
final class SyncFixture: Sendable {
    let directory: TemporaryDirectory
    let a: MailStore
    let b: MailStore
    let stateDirectory: String
    let user = "alice@example.com"
    /// The agent serving B, for a fixture over TLS.
    private let agent = Mutex<Agent?>(nil)

    /// An agent serving B on loopback, and the certificates to reach it with.
    private struct Agent: Sendable {
        let port: Int
        let certificates: TestCertificates
        var endpoint: String { "tls://127.0.0.1:\(port)" }
    }

    /// Stores without fsync (speed) and with short lock timeouts (a stuck lock fails fast).
    static let configuration = MailStoreConfiguration(
        lock: DotlockConfiguration(timeout: .seconds(10)),
        subscriptionsLock: DotlockConfiguration(staleAfter: .seconds(30), timeout: .seconds(10)),
        fsync: false,
        hostName: "dsynctest")

    /// - Parameters:
    ///   - inboxes: create INBOX on both sides (each with its own GUID and UIDVALIDITY, as two
    ///     independently made Maildirs have).
    ///   - inboxGUIDs: the INBOX GUIDs (A, B) to use; random when nil.
    ///   - bName: the name of B's directory (a TLS peer finds it from the user's name).
    init(
        inboxes: Bool = true, inboxGUIDs: (String, String)? = nil, inboxUIDValidities: (UInt32, UInt32)? = nil,
        bName: String = "B"
    ) throws {
        directory = try TemporaryDirectory(prefix: "dsync-test")
        a = MailStore(root: directory.appending("A"), configuration: Self.configuration)
        b = MailStore(root: directory.appending(bName), configuration: Self.configuration)
        stateDirectory = directory.appending("state")
        for root in [a.root, b.root] {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        }
        if inboxes {
            try a.createMailbox(.inbox, guid: inboxGUIDs.flatMap { MailboxGUID(hex: $0.0) }, uidValidity: inboxUIDValidities?.0)
            try b.createMailbox(.inbox, guid: inboxGUIDs.flatMap { MailboxGUID(hex: $0.1) }, uidValidity: inboxUIDValidities?.1)
        }
    }

    /// Two mail roots whose B every sync reaches over `transport`.
    ///
    /// With ``SyncTransport/tls`` B's directory is named after the user (`%n`) and an agent
    /// serves it from the template `<directory>/%n` on a free loopback port for the rest of
    /// the test: one agent per fixture, so every sync has the same peer (the state is keyed
    /// by it). The test needs the ``TLSAgentsTrait``.
    convenience init(
        transport: SyncTransport, inboxes: Bool = true, inboxGUIDs: (String, String)? = nil,
        inboxUIDValidities: (UInt32, UInt32)? = nil
    ) async throws {
        try self.init(
            inboxes: inboxes, inboxGUIDs: inboxGUIDs, inboxUIDValidities: inboxUIDValidities, bName: transport == .tls ? "alice" : "B")
        if transport == .tls {
            let certificates = try certificates()
            let port = try await TLSAgents.start(try serverConfiguration(certificates))
            agent.withLock { $0 = Agent(port: port, certificates: certificates) }
        }
    }

    deinit { directory.cleanup() }

    // MARK: - Syncing

    func options(full: Bool = false, dryRun: Bool = false, acceptMassExpunge: Bool = false, state: Bool = true) -> SyncOptions {
        var options = SyncOptions(user: user)
        options.full = full
        options.dryRun = dryRun
        options.acceptMassExpunge = acceptMassExpunge
        options.stateDirectory = state ? stateDirectory : nil
        options.lockTimeout = .seconds(10)
        return options
    }

    /// Side B as a sync reaches it: a replica of its mail root, or the agent over TLS.
    func replicaB(full: Bool = false) throws -> any Replica {
        guard let agent = agent.withLock({ $0 }) else { return LocalReplica(store: b) }
        return try RemoteReplica(endpoint: agent.endpoint, user: user, tls: agent.certificates.hostA, full: full)
    }

    /// How syncs reach B.
    var transport: SyncTransport { agent.withLock { $0 == nil } ? .local : .tls }

    /// Side B's description, which keys the sync state with A's: its mail root, or the agent's
    /// `tls://127.0.0.1:PORT`.
    var descriptionB: String { agent.withLock { $0?.endpoint } ?? b.root }

    func session(_ options: SyncOptions) throws -> SyncSession {
        SyncSession(a: LocalReplica(store: a), b: try replicaB(full: options.full), options: options)
    }

    /// Runs one sync and checks that nothing was skipped (nothing else writes the stores).
    @discardableResult
    func sync(
        full: Bool = false, dryRun: Bool = false, acceptMassExpunge: Bool = false, state: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> SyncReport {
        let report = try await session(options(full: full, dryRun: dryRun, acceptMassExpunge: acceptMassExpunge, state: state)).run()
        #expect(!report.changedDuringSync, "the sync reported a change during the sync: \(report)", sourceLocation: sourceLocation)
        #expect(report.appliedA.skipped == 0 && report.appliedB.skipped == 0, "skipped changes: \(report)", sourceLocation: sourceLocation)
        return report
    }

    /// The state store the sessions use.
    var stateStore: SyncStateStore {
        SyncStateStore(directory: stateDirectory, user: user, sideA: a.root, sideB: descriptionB)
    }

    /// Plans a sync the way ``SyncSession`` does (saved state as the base) without applying
    /// it, reading both mail roots directly.
    func plan() async throws -> (plan: SyncPlan, a: LocalReplica, b: LocalReplica) {
        let replicaA = LocalReplica(store: a), replicaB = LocalReplica(store: b)
        return (try await plan(replicaA, replicaB), replicaA, replicaB)
    }

    private func plan(_ replicaA: any Replica, _ replicaB: any Replica) async throws -> SyncPlan {
        let header = try? stateStore.loadHeader()
        let base = try header.flatMap { try stateStore.loadView($0) }
        let viewA = try await replicaA.read(reusing: [:])
        let viewB = try await replicaB.read(reusing: [:])
        return SyncPlanner.plan(base: base, a: viewA, b: viewB)
    }

    /// Runs `body` with the plan of a sync and both sides as a session reaches them, holding
    /// both user locks as a session does.
    private func withPlan<T: Sendable>(_ body: @Sendable (SyncPlan, any Replica, any Replica) async throws -> T) async throws -> T {
        let replicaA = LocalReplica(store: a), replicaB = try replicaB()
        let timeout = options().lockTimeout
        return try await replicaA.withUserLock(timeout: timeout) {
            try await replicaB.withUserLock(timeout: timeout) {
                try await body(try await self.plan(replicaA, replicaB), replicaA, replicaB)
            }
        }
    }

    /// Simulates a sync interrupted after `countA` changes on A and `countB` on B, A's
    /// applied first: the state is not saved.
    func interruptedSync(countA: Int, countB: Int) async throws {
        try await withPlan { plan, replicaA, replicaB in
            _ = try await replicaA.apply(Array(plan.changesA.prefix(countA)), source: replicaB)
            _ = try await replicaB.apply(Array(plan.changesB.prefix(countB)), source: replicaA)
        }
    }

    /// Simulates a sync interrupted after `count` changes in the order a session applies
    /// them (``SyncPlan/applicationOrder``): the state is not saved.
    ///
    /// - Returns: the number of changes the plan had.
    @discardableResult
    func interruptedSync(after count: Int) async throws -> Int {
        try await withPlan { plan, replicaA, replicaB in
            var left = count
            for (side, changes) in plan.applicationOrder where left > 0 {
                let part = Array(changes.prefix(left))
                left -= part.count
                if side == .a {
                    _ = try await replicaA.apply(part, source: replicaB)
                } else {
                    _ = try await replicaB.apply(part, source: replicaA)
                }
            }
            return plan.changesA.count + plan.changesB.count
        }
    }

    // MARK: - Editing

    /// The body of a test message; `marker` is its Message-ID's local part.
    static func body(_ marker: String) -> [UInt8] {
        Array("From: sender@example.org\r\nTo: alice@example.com\r\nMessage-ID: <\(marker)@duplex.test>\r\nSubject: \(marker)\r\n\r\nThis is \(marker).\r\n".utf8)
    }

    /// Saves a message whose GUID and marker are `guid`.
    @discardableResult
    func save(
        _ store: MailStore, _ mailbox: String = "INBOX", guid: String, flags: String = "", uid: UInt32? = nil, date: Int64? = nil,
        marker: String? = nil
    ) throws -> SavedMessage {
        try store.saveMessage(
            in: try MailboxName(mailbox), bytes: Self.body(marker ?? guid),
            options: SaveOptions(uid: uid, flags: MessageFlags(SyncFlags(flags)), guid: guid, receivedDate: date))
    }

    /// Saves `guids` in one batch (fast), in order, with the next UIDs.
    func saveMany(_ store: MailStore, _ mailbox: String = "INBOX", guids: [String]) throws {
        let batch = try store.makeSaveBatch(in: try MailboxName(mailbox))
        for guid in guids {
            try batch.add(options: SaveOptions(guid: guid)) { try $0.write(Self.body(guid)) }
        }
        _ = try batch.commit()
    }

    @discardableResult
    func create(_ store: MailStore, _ mailbox: String, guid: String? = nil, uidValidity: UInt32? = nil) throws -> MailboxStatus {
        try store.createMailbox(try MailboxName(mailbox), guid: guid.flatMap { MailboxGUID(hex: $0) }, uidValidity: uidValidity)
    }

    func setFlags(_ store: MailStore, _ mailbox: String = "INBOX", uid: UInt32, _ action: FlagUpdateAction, _ flags: String) throws {
        let done = try store.updateFlags(in: try MailboxName(mailbox), uids: [uid], action, MessageFlags(SyncFlags(flags)))
        #expect(done == [uid], "no message \(uid) in \(mailbox) of \(store.root)")
    }

    func expunge(_ store: MailStore, _ mailbox: String = "INBOX", uids: [UInt32]) throws {
        let done = try store.expunge(in: try MailboxName(mailbox), uids: uids)
        #expect(done == uids.sorted(), "not all of \(uids) expunged in \(mailbox) of \(store.root)")
    }

    func rename(_ store: MailStore, _ old: String, _ new: String) throws {
        try store.renameMailbox(try MailboxName(old), to: try MailboxName(new))
    }

    func delete(_ store: MailStore, _ mailbox: String) throws {
        try store.deleteMailbox(try MailboxName(mailbox))
    }

    func subscribe(_ store: MailStore, _ mailbox: String) throws {
        try store.subscribe(try MailboxName(mailbox))
    }

    func unsubscribe(_ store: MailStore, _ mailbox: String) throws {
        try store.unsubscribe(try MailboxName(mailbox))
    }

    /// A message's whole body.
    func body(_ store: MailStore, _ mailbox: MailboxName, uid: UInt32) throws -> [UInt8] {
        let reader = try store.openMessage(in: mailbox, uid: uid)
        defer { reader.close() }
        return try reader.readAll()
    }

    func guid(of store: MailStore, _ mailbox: String) throws -> String {
        try store.status(of: try MailboxName(mailbox)).guid.hex
    }

    // MARK: - Checking

    /// Checks that both sides hold exactly `expected` (mailbox name → UID → (GUID, flags)),
    /// that they agree on every mailbox's GUID, UIDVALIDITY, next UID and on the
    /// subscriptions, and (by default) that another sync plans nothing.
    func expectConverged(
        _ expected: [String: [UInt32: MessageEntry]], secondSyncIsEmpty: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let mapA = try mapOf(a), mapB = try mapOf(b)
        #expect(mapA.messages == expected, "side A:\n\(mapA)", sourceLocation: sourceLocation)
        #expect(mapB.messages == expected, "side B:\n\(mapB)", sourceLocation: sourceLocation)
        #expect(mapA == mapB, "the sides differ:\nA:\n\(mapA)\nB:\n\(mapB)", sourceLocation: sourceLocation)
        if secondSyncIsEmpty {
            let dry = try await sync(dryRun: true, sourceLocation: sourceLocation)
            #expect(dry.planA.isEmpty && dry.planB.isEmpty, "a second sync would change:\nA: \(dry.planA)\nB: \(dry.planB)", sourceLocation: sourceLocation)
            let again = try await sync(sourceLocation: sourceLocation)
            #expect(again.plannedA == 0 && again.plannedB == 0, "a second sync planned changes", sourceLocation: sourceLocation)
        }
    }

    /// Both sides, read again.
    func maps() throws -> (a: StoreMap, b: StoreMap) { (try mapOf(a), try mapOf(b)) }

    /// Every file under the fixture's directory with its size and modification time, to show
    /// that a refused sync wrote nothing.
    func fileTree() throws -> [String: String] {
        var tree: [String: String] = [:]
        let root = directory.path
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return tree }
        for case let relative as String in enumerator {
            // The user locks, and listing caches a read may write.
            if relative.hasSuffix(".duplex-sync.lock") || relative.hasSuffix("duplex-scan.cache") { continue }
            let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + relative)
            // A directory's time moves when a listing cache is written into it, which a read
            // does once the mailbox has been still for a second (so, on a slow run, the refused
            // sync's read too): what a sync writes shows in the files themselves.
            if attributes[.type] as? FileAttributeType == .typeDirectory {
                tree[relative] = "directory"
                continue
            }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            let date = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            tree[relative] = "\(attributes[.type] ?? "?") \(size) \(date)"
        }
        return tree
    }
}

extension MessageFlags {
    init(_ flags: SyncFlags) { self = flags.messageFlags }
}
