import Dsync
import DuplexTLS
import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import Replicator

/// `duplex replicator release USER --restore|--accept` end to end: a replicator with the
/// native engine syncs `alice`'s local Maildir with a peer agent (a ``DsyncServer`` on
/// loopback, mutual TLS with certificates made here); the local side loses 120 of 200
/// messages, the user is held, and the operator's decision reaches the next sync only.
@Suite(.timeLimit(.minutes(15))) struct ReleaseTests {
    static let user = "alice"

    /// Everything one test needs; removed at the end.
    struct Pair {
        let directory: TemporaryDirectory
        var local: MailStore { MailStore(root: directory.appending("a/\(ReleaseTests.user)")) }
        var peer: MailStore { MailStore(root: directory.appending("b/\(ReleaseTests.user)")) }

        func tlsFiles(_ host: String, accepting peer: String) -> DsyncTLSFiles {
            let base = directory.appending("tls/")
            return DsyncTLSFiles(
                certificateChain: base + host + ".pem", privateKey: base + host + ".key", trustedCA: base + "ca.pem",
                allowedPeers: [peer])
        }

        func guids(_ store: MailStore) throws -> [String] {
            try store.listMessages(in: .inbox).map(\.guid).sorted()
        }
    }

    /// Runs `body` with a replicator whose engine dials a peer agent serving `b/%n`.
    private func withReplicator(_ body: (Pair, Replicator) async throws -> Void) async throws {
        try await TemporaryDirectory.with(prefix: "duplex-release") { directory in
            let pair = Pair(directory: directory)
            let authority = try DevelopmentCertificateAuthority(name: "Release Test CA")
            try FileManager.default.createDirectory(atPath: directory.appending("tls"), withIntermediateDirectories: true)
            try Data(authority.credential.certificatePEM.utf8).write(to: URL(fileURLWithPath: directory.appending("tls/ca.pem")))
            for host in ["host-a.test", "host-b.test"] {
                let credential = try authority.makeLeafCredential(for: host)
                try Data(credential.certificatePEM.utf8).write(to: URL(fileURLWithPath: directory.appending("tls/\(host).pem")))
                try Data(credential.privateKeyPEM.utf8).write(to: URL(fileURLWithPath: directory.appending("tls/\(host).key")))
            }
            try FileManager.default.createDirectory(atPath: pair.local.root, withIntermediateDirectories: true)
            try pair.local.createMailbox(.inbox)

            let server = try DsyncServer(
                configuration: DsyncServerConfiguration(
                    host: "127.0.0.1", port: 0, tls: pair.tlsFiles("host-b.test", accepting: "host-a.test"),
                    mailRoot: try MailRootTemplate(directory.appending("b") + "/%n"), lockTimeout: .seconds(10)),
                logger: silent)
            let (ports, listening) = AsyncStream<Int>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { listening.finish() }
                    try await server.run { address in listening.yield(address.port ?? 0) }
                }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next(), "the peer agent did not listen")
                let engine = NativeSyncEngine(
                    mailRoot: try MailRootTemplate(directory.appending("a") + "/%n"), peer: "tls://127.0.0.1:\(port)",
                    tls: pair.tlsFiles("host-a.test", accepting: "host-b.test"), stateDirectory: directory.appending("state"),
                    lockTimeout: .seconds(10))
                let replicator = Replicator(queue: UserQueue(), engine: engine, clock: ManualClock(), logger: silent)
                group.addTask { await replicator.run() }
                do {
                    try await body(pair, replicator)
                } catch {
                    await replicator.stop()
                    group.cancelAll()
                    throw error
                }
                await replicator.stop()
                group.cancelAll()
            }
        }
    }

    /// 200 messages synced to the peer, then 120 of them expunged locally: the next sync
    /// holds the user and changes nothing.
    private func holdAfterMassExpunge(_ pair: Pair, _ replicator: Replicator) async throws {
        let batch = try pair.local.makeSaveBatch(in: .inbox)
        for index in 1...200 {
            try batch.add(options: SaveOptions(guid: "m-\(index)")) { try $0.write(Array("Subject: m-\(index)\r\n\r\nbody\r\n".utf8)) }
        }
        _ = try batch.commit()
        let firstSynced = await replicator.notifyAndWait(Self.user)
        let first = await replicator.queue.user(Self.user)
        #expect(firstSynced, "the first sync failed: \(first.debugDescription)")
        #expect(try pair.guids(pair.peer).count == 200)

        _ = try pair.local.expunge(in: .inbox, uids: Array(1...120))
        #expect(await replicator.notifyAndWait(Self.user) == false)
        let held = try #require(await replicator.queue.user(Self.user))
        #expect(held.held, "\(held)")
        #expect(held.holdReason?.contains("120 of 200") == true, "\(held)")
        #expect(try pair.guids(pair.peer).count == 200, "a held sync changed the peer")
    }

    /// Checks that the user's last sync succeeded and left it free to sync.
    private func expectSynced(_ replicator: Replicator, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let user = try #require(await replicator.queue.user(Self.user), sourceLocation: sourceLocation)
        #expect(!user.held && !user.lastSyncFailed, "\(user)", sourceLocation: sourceLocation)
    }

    /// The admin socket's answer to `release` (the same call the socket makes).
    private func release(_ replicator: Replicator, _ mode: ReplicatorAdminRequest.ReleaseMode) async -> ReplicatorAdminResponse {
        await replicator.response(to: .release(user: Self.user, mode: mode))
    }

    @Test func releaseRestore_copiesTheVanishedMessagesBackToTheSideThatLostThem() async throws {
        try await withReplicator { pair, replicator in
            try await holdAfterMassExpunge(pair, replicator)
            #expect(await release(replicator, .restore).ok)
            // The release queued the sync; this waits for it (or, if it already runs, the next).
            #expect(await replicator.notifyAndWait(Self.user))
            let all = (1...200).map { "m-\($0)" }.sorted()
            #expect(try pair.guids(pair.local) == all, "the local side did not get its messages back")
            #expect(try pair.guids(pair.peer) == all, "the peer lost messages")
            let localMap = try pair.local.listMessages(in: .inbox).map { "\($0.uid) \($0.guid)" }
            let peerMap = try pair.peer.listMessages(in: .inbox).map { "\($0.uid) \($0.guid)" }
            #expect(localMap == peerMap, "the sides disagree on UIDs")
            try await expectSynced(replicator)

            // The decision was for that sync only: a new mass expunge holds the user again.
            _ = try pair.local.expunge(in: .inbox, uids: localMap.prefix(150).map { UInt32($0.split(separator: " ")[0])! })
            #expect(await replicator.notifyAndWait(Self.user) == false)
            #expect(await replicator.queue.user(Self.user)?.held == true)
            #expect(try pair.guids(pair.peer).count == 200)
        }
    }

    @Test func releaseAccept_letsTheDisappearanceReachThePeer() async throws {
        try await withReplicator { pair, replicator in
            try await holdAfterMassExpunge(pair, replicator)
            #expect(await release(replicator, .accept).ok)
            #expect(await replicator.notifyAndWait(Self.user))
            let kept = (121...200).map { "m-\($0)" }.sorted()
            #expect(try pair.guids(pair.local) == kept)
            #expect(try pair.guids(pair.peer) == kept, "the expunges did not reach the peer")
            try await expectSynced(replicator)
        }
    }

    @Test func release_ofAUserNotHeld_isRefused_andDecidesNothing() async throws {
        try await withReplicator { pair, replicator in
            let unknown = await release(replicator, .accept)
            #expect(!unknown.ok && unknown.error == "User not found", "\(unknown)")
            // Nothing was decided for alice: her mass expunge is held.
            try await holdAfterMassExpunge(pair, replicator)
            #expect(await release(replicator, .accept).ok)
            let again = await release(replicator, .restore)
            #expect(!again.ok && again.error == "User is not held", "\(again)")
            #expect(await replicator.notifyAndWait(Self.user))
            #expect(try pair.guids(pair.peer).count == 80, "the first decision (accept) is the one that counts")
        }
    }
}
