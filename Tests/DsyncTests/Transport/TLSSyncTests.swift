import Foundation
import MailStore
import Testing

@testable import Dsync

@Suite struct TLSSyncTests {
    @Test func firstSyncOverTLS_mergesBothSides_andTheSecondTakesTheFastPath() async throws {
        let f = try SyncFixture.overTLS()
        for i in 1...30 { try f.save(f.a, guid: "a-\(i)") }
        for i in 1...20 { try f.save(f.b, guid: "b-\(i)") }
        _ = try f.create(f.b, "Work")
        try f.save(f.b, "Work", guid: "w-1")
        try await f.withTLSPeer { peer in
        let report = try await peer.sync()
        #expect(report.appliedB.messagesCopied == 30 && report.appliedA.messagesCopied == 21)
        let mapA = try mapOf(f.a), mapB = try mapOf(f.b)
        #expect(mapA == mapB)
        #expect(mapA.messages["INBOX"]?.count == 50)
        // Stamps taken within 100 ms of a change are ambiguous: let the clock move on.
        try await Task.sleep(for: .milliseconds(250))
        let second = try await peer.sync()
        #expect(second.plannedA == 0 && second.plannedB == 0)
        let third = try await peer.sync()
        #expect(third.fastPath, "the third sync read more than stamps")
        }
    }
}

/// The stamps of the agent's side come in binary when both sides offer
/// `DsyncCapability.binaryStamps`, in JSON to a client that does not (an earlier one): the
/// same syncs, the same fast path, either way.
@Suite struct StampFormTests {
    @Test(arguments: [true, false])
    func stampsInBinaryOrJSON_syncAlike_andTheFastPathFollows(binary: Bool) async throws {
        let f = try SyncFixture.overTLS()
        for i in 1...5 { try f.save(f.a, guid: "a-\(i)") }
        _ = try f.create(f.b, "Work")
        for i in 1...4 { try f.save(f.b, "Work", guid: "w-\(i)") }
        let offered = binary ? [DsyncCapability.binaryStamps] : []
        try await f.withTLSPeer { peer in
            let first = try await peer.sync(capabilities: offered)
            #expect(first.appliedB.messagesCopied == 5 && first.appliedA.messagesCopied == 4)
            #expect(try mapOf(f.a) == mapOf(f.b))
            try await Task.sleep(for: .milliseconds(250))
            _ = try await peer.sync(capabilities: offered)
            let remote = try RemoteReplica(endpoint: peer.endpoint, user: f.user, tls: peer.certificates.hostA)
            remote.offeredCapabilities.withLock { $0 = offered }
            let third = try await SyncSession(a: LocalReplica(store: f.a), b: remote, options: f.options()).run()
            #expect(third.fastPath, "the third sync read more than stamps")
            #expect(remote.agreedCapabilities.withLock { $0 } == offered)
            // A change on the agent's side shows in its stamps, in either form.
            try f.save(f.b, guid: "b-late")
            try await Task.sleep(for: .milliseconds(250))
            let fourth = try await peer.sync(capabilities: offered)
            #expect(!fourth.fastPath && fourth.appliedA.messagesCopied == 1)
        }
    }

    @Test func binaryStamp_roundTrips_andATruncatedOrLongerOneIsAProtocolError() throws {
        let file = FileStamp(inode: 42, size: 4096, seconds: 1_790_000_000, nanoseconds: 123_456_789)
        let stamp = StoreStamp(
            mailboxes: [
                "INBOX": MailboxStamp(cur: file, new: file, uidlist: file, keywords: nil),
                "Sent/2026 – ünï": MailboxStamp(cur: file, new: FileStamp(inode: 7, size: 0, seconds: -1, nanoseconds: 0), uidlist: nil, keywords: file),
            ],
            subscriptions: nil, takenSeconds: 1_790_000_001, takenNanoseconds: 5)
        let bytes = stamp.wireBinary
        #expect(try StoreStamp(wireBinary: bytes, from: "peer") == stamp)
        #expect(try StoreStamp(wireBinary: StoreStamp(mailboxes: [:], subscriptions: file, takenSeconds: 0, takenNanoseconds: 0).wireBinary, from: "peer").mailboxes.isEmpty)
        for bad in [Array(bytes.dropLast()), Array(bytes.prefix(3)), [], bytes + [0]] {
            #expect {
                try StoreStamp(wireBinary: bad, from: "tls://hostb:7445")
            } throws: { error in
                guard let error = error as? DsyncError else { return false }
                return error.code == .protocolError && error.message.contains("tls://hostb:7445 sent a malformed stamp (\(bad.count) bytes)")
            }
        }
    }
}
