import Foundation
import MailStore
import Testing

@testable import Dsync

/// ``LocalReplica/apply(_:source:)`` when a side changed between reading and applying.
@Suite struct LocalReplicaTests {
    /// Reads both sides as a sync does and returns the replicas with INBOX's GUID on each.
    func readBoth(_ f: SyncFixture) async throws -> (a: LocalReplica, b: LocalReplica, inboxA: String, inboxB: String) {
        let replicaA = LocalReplica(store: f.a), replicaB = LocalReplica(store: f.b)
        let viewA = try await replicaA.read(reusing: [:]), viewB = try await replicaB.read(reusing: [:])
        let inboxA = try #require(viewA.mailboxes.values.first { $0.name == ["INBOX"] }).guid
        let inboxB = try #require(viewB.mailboxes.values.first { $0.name == ["INBOX"] }).guid
        return (replicaA, replicaB, inboxA, inboxB)
    }

    /// The message changes of several mailboxes are applied side by side; each mailbox's
    /// still land in their planned order: a second run of copies commits the first one's
    /// batch first, flags and the expunge apply to the message that was there, and the
    /// subscription after them is made.
    @Test func changesOfManyMailboxesInterleaved_landInEachMailboxInThePlannedOrder() async throws {
        let f = try SyncFixture()
        let names = ["INBOX", "Work", "Lists", "Travel", "Archive"]
        for name in names.dropFirst() {
            try f.create(f.a, name)
            try f.create(f.b, name)
        }
        for name in names {
            try f.save(f.a, name, guid: "a-\(name)")
            try f.saveMany(f.b, name, guids: (1...3).map { "b-\(name)-\($0)" })
        }
        let replicaA = LocalReplica(store: f.a), replicaB = LocalReplica(store: f.b)
        _ = try await replicaA.read(reusing: [:])
        _ = try await replicaB.read(reusing: [:])
        var perMailbox: [[ReplicaChange]] = []
        for name in names {
            let a = try f.guid(of: f.a, name), b = try f.guid(of: f.b, name)
            perMailbox.append([
                .copyMessage(mailbox: a, uid: 2, guid: "b-\(name)-1", flags: SyncFlags("\\Seen"), sourceMailbox: b, sourceUID: 1),
                .setFlags(mailbox: a, uid: 1, flags: SyncFlags("\\Flagged")),
                .copyMessage(mailbox: a, uid: 3, guid: "b-\(name)-2", flags: SyncFlags(), sourceMailbox: b, sourceUID: 2),
                .copyMessage(mailbox: a, uid: 4, guid: "b-\(name)-3", flags: SyncFlags("$Later"), sourceMailbox: b, sourceUID: 3),
                .expunge(mailbox: a, uids: [1]),
                .raiseUIDNext(mailbox: a, to: 7),
            ])
        }
        // Round robin: every mailbox's next change before any mailbox's one after it.
        var changes: [ReplicaChange] = []
        for step in 0..<perMailbox[0].count {
            for list in perMailbox { changes.append(list[step]) }
        }
        changes.append(.subscribe(["Work"]))
        let report = try await replicaA.apply(changes, source: replicaB)

        #expect(report.messagesCopied == 15 && report.flagChanges == 5 && report.expunges == 5)
        #expect(report.subscriptionChanges == 1 && report.skipped == 0)
        let map = try mapOf(f.a)
        for name in names {
            let mailbox = try #require(map.mailboxes[name])
            #expect(mailbox.messages == [2: m("b-\(name)-1", "\\Seen"), 3: m("b-\(name)-2"), 4: m("b-\(name)-3", "$Later")], "\(name)")
            #expect(mailbox.uidNext == 7, "\(name)")
        }
        #expect(map.subscriptions == ["Work"])
    }

    @Test func copyRunRefusedBecauseItsUIDWasTaken_isSkippedAlone_andTheNextChangesApply() async throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "a-1")
        try f.save(f.b, guid: "b-1")
        let (replicaA, replicaB, inboxA, inboxB) = try await readBoth(f)
        // A delivery takes UID 2 on A after the sync read it.
        try f.save(f.a, guid: "delivered")
        let report = try await replicaA.apply([
            .copyMessage(mailbox: inboxA, uid: 2, guid: "b-1", flags: SyncFlags(), sourceMailbox: inboxB, sourceUID: 1),
            .setFlags(mailbox: inboxA, uid: 1, flags: SyncFlags("\\Seen")),
            .raiseUIDNext(mailbox: inboxA, to: 10),
        ], source: replicaB)

        #expect(report.skipped == 1)
        #expect(report.messagesCopied == 0)
        #expect(report.flagChanges == 1, "the flag change after the refused copy was not applied")
        let inbox = try #require(try mapOf(f.a).mailboxes["INBOX"])
        #expect(inbox.messages == [1: m("a-1", "\\Seen"), 2: m("delivered")])
        #expect(inbox.uidNext == 10, "the next UID after the refused copy was not raised")
    }

    @Test func flagRunOnAMailboxDeletedMeanwhile_isSkippedAlone_andTheNextChangesApply() async throws {
        let f = try SyncFixture()
        try f.create(f.a, "Work")
        try f.save(f.a, "Work", guid: "w-1")
        try f.save(f.a, guid: "a-1")
        let (replicaA, replicaB, inboxA, _) = try await readBoth(f)
        let work = try f.guid(of: f.a, "Work")
        try f.delete(f.a, "Work")
        let report = try await replicaA.apply([
            .setFlags(mailbox: work, uid: 1, flags: SyncFlags("\\Seen")),
            .setFlags(mailbox: inboxA, uid: 1, flags: SyncFlags("\\Flagged")),
            .subscribe(["INBOX"]),
        ], source: replicaB)

        #expect(report.skipped == 1)
        #expect(report.flagChanges == 1)
        #expect(report.subscriptionChanges == 1)
        let map = try mapOf(f.a)
        #expect(map.messages == ["INBOX": [1: m("a-1", "\\Flagged")]])
        #expect(map.subscriptions == ["INBOX"])
    }

    @Test func copyOfAMessageExpungedOnTheSourceMeanwhile_isSkipped_andTheRestIsCopied() async throws {
        let f = try SyncFixture()
        try f.save(f.b, guid: "b-1")
        try f.save(f.b, guid: "b-2")
        let (replicaA, replicaB, inboxA, inboxB) = try await readBoth(f)
        try f.expunge(f.b, uids: [1])
        let report = try await replicaA.apply([
            .copyMessage(mailbox: inboxA, uid: 1, guid: "b-1", flags: SyncFlags(), sourceMailbox: inboxB, sourceUID: 1),
            .copyMessage(mailbox: inboxA, uid: 2, guid: "b-2", flags: SyncFlags("\\Seen"), sourceMailbox: inboxB, sourceUID: 2),
        ], source: replicaB)

        #expect(report.skipped == 1 && report.messagesCopied == 1)
        #expect(try mapOf(f.a).messages == ["INBOX": [2: m("b-2", "\\Seen")]])
    }

    @Test func deleteOfAMailboxThatGotMailMeanwhile_isSkipped() async throws {
        let f = try SyncFixture()
        try f.create(f.a, "Work")
        let (replicaA, replicaB, _, _) = try await readBoth(f)
        let work = try f.guid(of: f.a, "Work")
        try f.save(f.a, "Work", guid: "late")
        let report = try await replicaA.apply([.deleteMailbox(guid: work)], source: replicaB)

        #expect(report.skipped == 1 && report.mailboxesDeleted == 0)
        #expect(try mapOf(f.a).messages["Work"] == [1: m("late")])
    }

    @Test func bodiesAreStillFound_byTheOldMailboxGUID_afterTheSourceAdoptedAnother() async throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "a-1")
        let (replicaA, replicaB, inboxA, inboxB) = try await readBoth(f)
        _ = try await replicaA.apply([.adoptIdentity(currentGUID: inboxA, guid: inboxB, uidValidity: 77)], source: replicaB)
        let bodies = try await readBodies(replicaA, [
            BodyRequest(mailbox: inboxA, guid: "a-1", uid: 1), BodyRequest(mailbox: inboxB, guid: "a-1", uid: 1),
            BodyRequest(mailbox: inboxB, guid: "gone", uid: 9),
        ])
        #expect(bodies == [SyncFixture.body("a-1"), SyncFixture.body("a-1"), nil])
        let status = try f.a.status(of: .inbox)
        #expect(status.guid.hex == inboxB && status.uidValidity == 77)
    }
}

/// Reads every requested body whole (nil for one that is gone).
func readBodies(_ replica: any Replica, _ requests: [BodyRequest]) async throws -> [[UInt8]?] {
    let stream = try await replica.bodies(requests)
    var result: [[UInt8]?] = []
    for _ in requests {
        guard let header = try await stream.nextMessage() else {
            result.append(nil)
            continue
        }
        var bytes: [UInt8] = []
        while let chunk = try await stream.nextChunk() { bytes += chunk.readableBytesView }
        #expect(Int64(bytes.count) == header.size)
        result.append(bytes)
    }
    try await stream.finish()
    return result
}
