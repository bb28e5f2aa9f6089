import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import Dsync

/// Both hosts of a pair sync one user, as their two replicators do: each host syncs its
/// own mail root with the other host's agent over TLS and keeps its own state, and each
/// agent serves its replicator's states to the other (``DsyncPairState``).
///
/// A host whose own state predates messages the other host's syncs brought to it must not
/// take those messages for new ones when the other host has expunged them since: they
/// would be copied back under fresh UIDs. Each sync starts from the later state.
@Suite(.tlsAgents, .timeLimit(.minutes(10))) struct PairStateTests {
    @Test func bothHostsSyncInTurns_anExpungeOnOneIsNeverUndoneByTheOthersOlderState() async throws {
        try await PairOfHosts.with { pair in
            try pair.saveOnA(["g1", "g2", "g3", "g4"])
            try await pair.a.sync()
            #expect(try pair.messages(pair.b) == pair.expected(["g1", "g2", "g3", "g4"]))

            // B syncs a change of its own: its state is now the later one.
            _ = try pair.b.store.updateFlags(in: .inbox, uids: [1], .add, MessageFlags(SyncFlags("\\Seen")))
            try await pair.b.sync()
            #expect(try pair.a.savedGeneration() == 1 && pair.b.savedGeneration() == 2)

            // A brings two new messages to B; B's own state knows nothing of them.
            try pair.saveOnA(["g5", "g6"])
            try await pair.a.sync()
            #expect(try pair.messages(pair.b) == pair.expected(["g1", "g2", "g3", "g4", "g5", "g6"]))
            let (ownB, laterA) = (try pair.b.savedGeneration(), try pair.a.savedGeneration())
            #expect(ownB == 2 && laterA == 3, "B's own state (\(String(describing: ownB))) predates A's (\(String(describing: laterA)))")

            // A expunges them, and B's replicator is the next to sync.
            _ = try pair.a.store.expunge(in: .inbox, uids: [5, 6])
            let report = try await pair.b.sync()
            // B's sync: its side A is B, its side B is A's agent.
            #expect(report.appliedB.messagesCopied == 0, "B copied \(report.appliedB.messagesCopied) expunged messages back to A")
            #expect(report.appliedA.expunges == 2, "B expunged \(report.appliedA.expunges) of the 2")
            let expected = pair.expected(["g1", "g2", "g3", "g4"])
            #expect(try pair.messages(pair.a) == expected)
            #expect(try pair.messages(pair.b) == expected)
            #expect(try pair.a.store.listMessages(in: .inbox).first?.flags.system.contains(.seen) == true, "B's flag reached A")
            #expect(try pair.b.savedGeneration() == 4)

            // Either host's next sync finds nothing to do.
            for host in [pair.a, pair.b] {
                let again = try await host.sync()
                #expect(again.plannedA == 0 && again.plannedB == 0, "\(host.name): \(again.plannedA) + \(again.plannedB) changes")
            }
        }
    }

    @Test func bothHostsStartASyncAtOnce_bothEndWell_andNothingIsDuplicated() async throws {
        try await PairOfHosts.with { pair in
            try pair.saveOnA(["first"])
            try await pair.a.sync()
            var guids = ["first"]
            for round in 1...5 {
                try pair.saveOnA(["a\(round)"])
                try pair.save(on: pair.b, "b\(round)")
                guids += ["a\(round)", "b\(round)"]
                // Each holds its own lock and asks for the other's: neither may fail for the
                // lock, and whichever runs second finds nothing or little to do.
                async let fromA = pair.a.sync()
                async let fromB = pair.b.sync()
                _ = try await [fromA, fromB]
            }
            for host in [pair.a, pair.b] {
                let found = try host.store.listMessages(in: .inbox).map(\.guid)
                #expect(found.sorted() == guids.sorted(), "\(host.name) holds \(found)")
            }
            #expect(try pair.messages(pair.a) == pair.messages(pair.b))
        }
    }

    @Test func theReplicatorsFullSync_readsEverythingAgain_butKeepsAnExpungeMadeSinceTheLastSync() async throws {
        try await PairOfHosts.with { pair in
            try pair.saveOnA(["g1", "g2", "g3"])
            try await pair.a.sync()
            _ = try pair.b.store.expunge(in: .inbox, uids: [3])
            let report = try await pair.a.sync(rereadAll: true)
            #expect(!report.fastPath)
            #expect(report.appliedA.expunges == 1 && report.appliedB.messagesCopied == 0, "the expunge on B was undone")
            #expect(try pair.messages(pair.a) == pair.expected(["g1", "g2"]))
            #expect(try pair.messages(pair.b) == pair.expected(["g1", "g2"]))
        }
    }

    @Test func aPeersUnreadableState_isLeftOut_andTheSyncUsesItsOwn() async throws {
        try await PairOfHosts.with { pair in
            try pair.saveOnA(["g1", "g2"])
            try await pair.a.sync()
            try Data("not a state".utf8).write(to: URL(fileURLWithPath: pair.a.stateStore.headerPath))
            try pair.saveOnA(["g3"])
            // B has no state of its own and A's cannot be read: B compares everything, which
            // never duplicates.
            let report = try await pair.b.sync()
            #expect(report.appliedA.messagesCopied == 1, "B's sync copies g3 to B")
            #expect(try pair.messages(pair.a) == pair.expected(["g1", "g2", "g3"]))
            #expect(try pair.messages(pair.b) == pair.expected(["g1", "g2", "g3"]))
            #expect(try pair.b.savedGeneration() == 1)
        }
    }
}

/// Hosts A and B: each with a mail root for `alice@example.com`, an agent serving it on a
/// fixed loopback port, and a replicator's view (its state directory and its peer).
struct PairOfHosts: Sendable {
    static let user = "alice@example.com"

    /// One host: what its replicator syncs.
    struct Host: Sendable {
        let name: String
        let store: MailStore
        let stateDirectory: String
        let peer: String
        let tls: DsyncTLSFiles

        var stateStore: SyncStateStore {
            SyncStateStore(directory: stateDirectory, user: PairOfHosts.user, sideA: store.root, sideB: peer)
        }

        /// The generation of this host's own saved state.
        func savedGeneration() throws -> Int? { try stateStore.loadHeader()?.generation }

        /// One sync as this host's replicator runs it: its mail root with the peer's agent,
        /// starting from the later of the two hosts' states.
        @discardableResult
        func sync(rereadAll: Bool = false) async throws -> SyncReport {
            var options = SyncOptions(user: PairOfHosts.user)
            options.stateDirectory = stateDirectory
            options.usesPairState = true
            options.rereadAll = rereadAll
            options.createMissing = true
            options.lockTimeout = .seconds(30)
            let local = LocalReplica(store: store, createsParents: true)
            let remote = try RemoteReplica(endpoint: peer, user: PairOfHosts.user, tls: tls, asksPairState: true)
            let report = try await SyncSession(a: local, b: remote, options: options).run()
            #expect(!report.changedDuringSync, "\(name)'s sync saw a change during the sync")
            return report
        }
    }

    let a: Host
    let b: Host

    static func with(_ body: (PairOfHosts) async throws -> Void) async throws {
        try await TemporaryDirectory.with(prefix: "dsync-pair") { directory in
            let certificates = try TestCertificates(in: directory.appending("tls"))
            let ports = (a: try LoopbackPort.free(), b: try LoopbackPort.free())
            func host(_ name: String, _ files: DsyncTLSFiles, peerPort: Int) -> Host {
                Host(
                    name: name, store: MailStore(root: directory.appending("\(name)/alice"), configuration: SyncFixture.configuration),
                    stateDirectory: directory.appending("state-\(name)"), peer: "tls://127.0.0.1:\(peerPort)", tls: files)
            }
            let pair = PairOfHosts(a: host("a", certificates.hostA, peerPort: ports.b), b: host("b", certificates.hostB, peerPort: ports.a))
            try FileManager.default.createDirectory(atPath: pair.a.store.root, withIntermediateDirectories: true)
            try pair.a.store.createMailbox(.inbox)
            for (host, port) in [(pair.a, ports.a), (pair.b, ports.b)] {
                let configuration = DsyncServerConfiguration(
                    tls: host.tls, mailRoot: try MailRootTemplate(directory.appending(host.name) + "/%n"), lockTimeout: .seconds(30),
                    store: SyncFixture.configuration, pairState: DsyncPairState(directory: host.stateDirectory, peer: host.peer))
                _ = try await TLSAgents.start(configuration, port: port)
            }
            try await body(pair)
        }
    }

    /// Saves messages whose GUIDs are `guids` on A, with the next UIDs.
    func saveOnA(_ guids: [String]) throws {
        let batch = try a.store.makeSaveBatch(in: .inbox)
        for guid in guids {
            try batch.add(options: SaveOptions(guid: guid)) { try $0.write(SyncFixture.body(guid)) }
        }
        _ = try batch.commit()
    }

    /// Saves one message whose GUID is `guid` on `host`.
    func save(on host: Host, _ guid: String) throws {
        try host.store.saveMessage(in: .inbox, bytes: SyncFixture.body(guid), options: SaveOptions(guid: guid))
    }

    /// INBOX of `host` as "UID GUID" lines.
    func messages(_ host: Host) throws -> [String] {
        try host.store.listMessages(in: .inbox).map { "\($0.uid) \($0.guid)" }
    }

    /// `guids` as the lines ``messages(_:)`` gives when they have UIDs 1, 2, ….
    func expected(_ guids: [String]) -> [String] {
        guids.enumerated().map { "\($0.offset + 1) \($0.element)" }
    }
}
