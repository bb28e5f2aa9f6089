import Coordinator
import Dsync
import DuplexTLS
import Foundation
import Logging
import MailStore
import MailStoreTestSupport
import Testing

@testable import Coordinator

/// Two pairs of real agents (``DsyncServer``s on 127.0.0.1, mutual TLS with certificates made
/// at test time) registered in a new store (SQLite or PostgreSQL), and the coordinator's side
/// of a move.
///
/// - Hosts `p1-a.test`, `p1-b.test` (pair `p1`) and `p2-a.test`, `p2-b.test` (pair `p2`);
///   each agent accepts its pair's other host and `coordinator.test`, and serves
///   `<directory>/<host>/%u`; it carries out purge orders from `coordinator.test` only, for a
///   user its pair's user list in the store no longer holds (``PairListPurgeAuthority``).
/// - Tenant `example`; the pairs hold 10 users each.
final class MoveFleet: Sendable {
    static let hosts = ["p1-a.test", "p1-b.test", "p2-a.test", "p2-b.test"]
    static let user = "alice@example.com"

    let directory: TemporaryDirectory
    let store: any CoordinatorStore
    /// The agents' ports by host.
    let ports: [String: Int]

    private init(directory: TemporaryDirectory, store: any CoordinatorStore, ports: [String: Int]) {
        self.directory = directory
        self.store = store
        self.ports = ports
    }

    deinit { directory.cleanup() }

    /// Stores without fsync (speed) and with short lock timeouts (a stuck lock fails fast).
    static let storeConfiguration = MailStoreConfiguration(
        lock: DotlockConfiguration(timeout: .seconds(10)),
        subscriptionsLock: DotlockConfiguration(staleAfter: .seconds(30), timeout: .seconds(10)),
        fsync: false,
        hostName: "movetest")

    /// Runs `body` with a fleet whose agents serve until it returns, then stops them.
    ///
    /// - Parameter driver: the coordinator's store: a new SQLite database, or a new database
    ///   on the tests' private PostgreSQL server.
    /// - Parameter secondPairState: `p2`'s state after the fleet is set up (it is disabled
    ///   while users are assigned, so they all land on `p1`).
    static func with<T: Sendable>(
        _ driver: StoreDriver = .sqlite, users: [String] = [MoveFleet.user], secondPairState: PairState = .active,
        _ body: @Sendable (MoveFleet) async throws -> T
    ) async throws -> T {
        let directory = try TemporaryDirectory(prefix: "move-test")
        let certificates = directory.appending("tls")
        try FileManager.default.createDirectory(atPath: certificates, withIntermediateDirectories: true)
        let authority = try DevelopmentCertificateAuthority(name: "Duplex Move Test CA")
        try write(authority.credential.certificatePEM, certificates + "/ca.pem")
        for host in hosts + ["coordinator.test"] {
            let credential = try authority.makeLeafCredential(for: host)
            try write(credential.certificatePEM, certificates + "/\(host).pem")
            try write(credential.privateKeyPEM, certificates + "/\(host).key")
        }
        return try await driver.withStore { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                var ports: [String: Int] = [:]
                for host in hosts {
                    try FileManager.default.createDirectory(atPath: directory.appending(host), withIntermediateDirectories: true)
                    let peer = host.hasSuffix("-a.test") ? host.replacingOccurrences(of: "-a.test", with: "-b.test")
                        : host.replacingOccurrences(of: "-b.test", with: "-a.test")
                    let configuration = DsyncServerConfiguration(
                        host: "127.0.0.1", port: 0,
                        tls: DsyncTLSFiles(
                            certificateChain: certificates + "/\(host).pem", privateKey: certificates + "/\(host).key",
                            trustedCA: certificates + "/ca.pem", allowedPeers: [peer, "coordinator.test"]),
                        mailRoot: try MailRootTemplate(directory.appending(host) + "/%u"), store: storeConfiguration)
                    let pair = String(host.prefix(while: { $0 != "-" }))
                    let purge = DsyncPurgeService(
                        pair: pair, identities: ["coordinator.test"], authority: PairListPurgeAuthority(store: store, pair: pair))
                    let server = try DsyncServer(configuration: configuration, logger: quietLogger, purge: purge)
                    let (listening, continuation) = AsyncStream<Int>.makeStream()
                    group.addTask {
                        defer { continuation.finish() }
                        do {
                            try await server.run { address in continuation.yield(address.port ?? 0) }
                        } catch where Task.isCancelled {}
                    }
                    var iterator = listening.makeAsyncIterator()
                    guard let port = await iterator.next(), port > 0 else { throw MoveFleetError("agent \(host) did not start") }
                    ports[host] = port
                }
                defer { group.cancelAll() }
                let fleet = MoveFleet(directory: directory, store: store, ports: ports)
                try await fleet.register(users: users, secondPairState: secondPairState)
                return try await body(fleet)
            }
        }
    }

    private func register(users: [String], secondPairState: PairState) async throws {
        for pair in ["p1", "p2"] {
            func host(_ side: String) throws -> PairHost {
                let hostName = "\(pair)-\(side).test"
                return PairHost(
                    name: name(hostName, .host),
                    dsyncEndpoint: try ServiceEndpoint("tls://127.0.0.1:\(ports[hostName]!)", allowed: [.tls]),
                    adminEndpoint: try ServiceEndpoint("https://127.0.0.1:7446", allowed: [.http, .https]), health: .up)
            }
            _ = try await store.addPair(
                PairSpecification(
                    name: name(pair, .pair), hostA: try host("a"), hostB: try host("b"), capacity: 10,
                    state: pair == "p1" ? .active : .disabled))
        }
        _ = try await store.addTenant(name("example", .tenant), allowedPairs: nil, userQuota: nil)
        for user in users {
            _ = try await store.assign(user: name(user, .user), tenant: name("example", .tenant))
        }
        _ = try await store.updatePair(name("p2", .pair), PairUpdate(state: secondPairState))
    }

    /// The user's mail root on `host`.
    func mailRoot(_ host: String, user: String = MoveFleet.user) -> MailStore {
        MailStore(root: directory.appending(host) + "/\(user)", configuration: Self.storeConfiguration)
    }

    /// Gives the user `count` messages over several mailboxes (with flags and keywords, and
    /// a subscription) on `p1-a.test`, then makes `p1-b.test` identical with a local sync,
    /// as the old pair's replication would have.
    func fillFirstPair(user: String = MoveFleet.user, count: Int) async throws {
        let a = mailRoot("p1-a.test", user: user)
        try FileManager.default.createDirectory(atPath: a.root, withIntermediateDirectories: true)
        let names = [MailboxName.inbox, try MailboxName("Work"), try MailboxName("Work/Projects"), try MailboxName("Archive")]
        for name in names { _ = try a.createMailbox(name) }
        try a.subscribe(try MailboxName("Work"))
        for index in 0..<count {
            var flags = MessageFlags()
            if index % 3 == 0 { flags.system.insert(.seen) }
            if index % 7 == 0 { flags.system.insert(.flagged) }
            if index % 11 == 0 { flags.keywords = ["$Work"] }
            _ = try a.saveMessage(in: names[index % names.count], bytes: Self.message(index, user: user), options: SaveOptions(flags: flags))
        }
        var options = SyncOptions(user: user)
        options.createMissing = true
        let b = mailRoot("p1-b.test", user: user)
        _ = try await SyncSession(a: LocalReplica(store: a), b: LocalReplica(store: b), options: options).run()
    }

    /// A small message, different for each index.
    static func message(_ index: Int, user: String) -> [UInt8] {
        Array(
            """
            From: sender\(index)@example.net\r
            To: \(user)\r
            Subject: message \(index)\r
            Message-ID: <\(index).\(UUID().uuidString)@example.net>\r
            \r
            Body of message \(index).\r\n
            """.utf8)
    }

    /// The move settings: the coordinator's certificate, states under the fleet's directory.
    func moveConfiguration(maxConcurrentMoves: Int = 2) -> MoveConfiguration {
        let tls = directory.appending("tls")
        return MoveConfiguration(
            certificateChain: tls + "/coordinator.test.pem", privateKey: tls + "/coordinator.test.key", trustedCA: tls + "/ca.pem",
            stateDirectory: directory.appending("moves"), maxConcurrentMoves: maxConcurrentMoves, catchUpDelay: .zero,
            lockTimeout: .seconds(30), retryInterval: .milliseconds(200), pollInterval: .milliseconds(100))
    }

    /// A move executor of this fleet, with `beforeSync` as its injected fault.
    func executor(
        maxConcurrentMoves: Int = 2, beforeSync: @escaping @Sendable (MoveID, PairHost, PairHost) async throws -> Void = { _, _, _ in }
    ) -> MoveExecutor {
        MoveExecutor(
            store: store, configuration: moveConfiguration(maxConcurrentMoves: maxConcurrentMoves), logger: quietLogger,
            beforeSync: beforeSync)
    }

    private static func write(_ text: String, _ path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}

/// The agent's rule for purge orders, read from the fleet's store as an agent reads its
/// pair's user list: a user still listed on the pair (by name, as mail roots are named)
/// keeps its mail.
struct PairListPurgeAuthority: DsyncPurgeAuthority {
    let store: any CoordinatorStore
    let pair: String

    func confirmPurge(_ order: DsyncPurgeOrder) async throws {
        var listed: [String: Bool] = [:]
        var version: Int64 = 0
        while true {
            let batch = try await store.userChanges(pair: name(pair, .pair), since: version, limit: 10_000)
            for change in batch.changes { listed[change.userName.value] = change.kind != .gone }
            version = batch.version
            if !batch.hasMore { break }
        }
        if listed[order.user] == true {
            throw DsyncError(.usage, "user \(order.user) is still on pair \(pair)'s user list", user: order.user)
        }
    }
}

/// A fleet that could not be set up.
struct MoveFleetError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A logger that drops everything.
let quietLogger = Logger(label: "move-test", factory: { _ in SwiftLogNoOpLogHandler() })

/// One message as compared across hosts: its GUID and flags.
struct MessageSnapshot: Hashable, CustomStringConvertible {
    var guid: String
    var flags: MessageFlags
    var description: String { "\(guid) \(flags.system.rawValue) \(flags.keywords.sorted())" }
}

/// What "identical" means for a user's mail on two hosts: the same mailboxes by name with
/// the same mailbox GUIDs and UIDVALIDITY, the same UID → (message GUID, flags) map in each,
/// and the same subscriptions. Dsync keeps all of them across hosts, including across pairs.
struct MailSnapshot: Hashable, CustomStringConvertible {
    struct Mailbox: Hashable {
        var guid: String
        var uidValidity: UInt32
        var messages: [UInt32: MessageSnapshot]
    }

    var mailboxes: [String: Mailbox]
    var subscriptions: Set<String>

    init(_ store: MailStore) throws {
        var mailboxes: [String: Mailbox] = [:]
        for name in try store.mailboxNames() {
            let (status, messages) = try store.contents(of: name)
            var map: [UInt32: MessageSnapshot] = [:]
            for message in messages {
                var flags = message.flags
                flags.keywords.sort()
                map[message.uid] = MessageSnapshot(guid: message.guid, flags: flags)
            }
            mailboxes[name.joined()] = Mailbox(guid: status.guid.hex, uidValidity: status.uidValidity, messages: map)
        }
        self.mailboxes = mailboxes
        subscriptions = Set(try store.subscriptions().map { $0.joined() })
    }

    /// Messages in all mailboxes.
    var messageCount: Int { mailboxes.values.reduce(0) { $0 + $1.messages.count } }

    /// Every message GUID with how often it occurs.
    var guidCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for mailbox in mailboxes.values { for message in mailbox.messages.values { counts[message.guid, default: 0] += 1 } }
        return counts
    }

    var description: String {
        mailboxes.keys.sorted().map { "\($0): \(mailboxes[$0]!.guid) \(mailboxes[$0]!.uidValidity) \(mailboxes[$0]!.messages.count) messages" }
            .joined(separator: "\n") + "\nsubscriptions \(subscriptions.sorted())"
    }
}
