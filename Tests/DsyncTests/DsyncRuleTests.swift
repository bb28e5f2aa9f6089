import Foundation
import MailStore
import Testing

@testable import Dsync

/// One test per sync rule (DESIGN "Sync semantics"), each on two temporary Maildirs,
/// each checking the exact UID → (GUID, flags) map of every mailbox on both sides.
/// Every test runs twice with the same expectations: B in this process, and B served by an
/// agent over mutual TLS on loopback (``SyncTransport``).
///
/// Messages: this file. Mailboxes: `DsyncRuleTests+Mailboxes.swift`. State, fast path,
/// mass-loss guard and locks: `DsyncRuleTests+Safety.swift`.
@Suite(.tlsAgents) struct DsyncRuleTests {
    @Test(arguments: SyncTransport.allCases)
    func newMessages_eachWay_keepUIDFlagsKeywordsAndReceivedDate(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.create(f.a, "Work")
        try await f.sync()

        try f.save(f.a, guid: "a-1", flags: "\\Seen $Work", date: 1_600_000_000)
        try f.save(f.a, guid: "a-2", date: 1_600_000_100)
        try f.save(f.b, "Work", guid: "b-1", flags: "\\Flagged \\Answered Later", date: 1_500_000_000)
        try f.save(f.b, "Work", guid: "b-7", flags: "\\Draft", uid: 7, date: 1_500_000_700)
        let report = try await f.sync()

        #expect(report.appliedA.messagesCopied == 2)
        #expect(report.appliedB.messagesCopied == 2)
        #expect(report.uidConflicts == 0)
        try await f.expectConverged([
            "INBOX": [1: m("a-1", "\\Seen $Work"), 2: m("a-2")],
            "Work": [1: m("b-1", "\\Answered \\Flagged Later"), 7: m("b-7", "\\Draft")],
        ])
        for store in [f.a, f.b] {
            let inbox = try store.listMessages(in: .inbox, options: MessageListOptions(receivedDate: true))
            #expect(inbox.map(\.receivedDate) == [1_600_000_000, 1_600_000_100], "received dates in \(store.root)")
            let work = try store.listMessages(in: try MailboxName("Work"), options: MessageListOptions(receivedDate: true))
            #expect(work.map(\.receivedDate) == [1_500_000_000, 1_500_000_700], "received dates in \(store.root)")
            for message in inbox + work {
                let box = inbox.contains(message) ? MailboxName.inbox : try MailboxName("Work")
                #expect(try f.body(store, box, uid: message.uid) == SyncFixture.body(message.guid))
            }
        }
        #expect(try mapOf(f.a).mailboxes["Work"]?.uidNext == 8)
    }

    @Test(arguments: SyncTransport.allCases)
    func newMessages_keepTheirUIDs_whenTheyFollowOneAnotherAcrossSyncs(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try await f.sync()
        try f.save(f.a, guid: "first")
        try await f.sync()
        try f.save(f.b, guid: "second", flags: "\\Seen")
        try await f.sync()
        try f.save(f.a, guid: "third", uid: 10)
        try await f.sync()
        try await f.expectConverged(["INBOX": [1: m("first"), 2: m("second", "\\Seen"), 10: m("third")]])
        #expect(try mapOf(f.b).mailboxes["INBOX"]?.uidNext == 11)
    }

    @Test(arguments: SyncTransport.allCases)
    func flagChanges_areMergedOneFlagAtATime_againstTheCommonState(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.save(f.a, guid: "m-1", flags: "\\Answered $Old")
        try f.save(f.a, guid: "m-2", flags: "\\Seen Keep Drop")
        try f.save(f.a, guid: "m-3", flags: "\\Flagged")
        try f.save(f.a, guid: "m-4", flags: "Junk")
        try await f.sync()

        // A adds \Seen and removes $Old; B adds \Flagged and $Work: all four changes stay.
        try f.setFlags(f.a, uid: 1, .add, "\\Seen")
        try f.setFlags(f.a, uid: 1, .remove, "$Old")
        try f.setFlags(f.b, uid: 1, .add, "\\Flagged $Work")
        // Both remove Drop; B also removes \Seen.
        try f.setFlags(f.a, uid: 2, .remove, "Drop")
        try f.setFlags(f.b, uid: 2, .remove, "Drop \\Seen")
        // A removes \Flagged while B adds \Seen.
        try f.setFlags(f.a, uid: 3, .remove, "\\Flagged")
        try f.setFlags(f.b, uid: 3, .add, "\\Seen")
        // Only B changes m-4: its keyword replaced.
        try f.setFlags(f.b, uid: 4, .replace, "NonJunk \\Deleted")
        let report = try await f.sync()

        #expect(report.appliedA.messagesCopied == 0 && report.appliedB.messagesCopied == 0)
        try await f.expectConverged([
            "INBOX": [
                1: m("m-1", "\\Answered \\Flagged \\Seen $Work"),
                2: m("m-2", "Keep"),
                3: m("m-3", "\\Seen"),
                4: m("m-4", "\\Deleted NonJunk"),
            ],
        ])
    }

    @Test(arguments: SyncTransport.allCases)
    func expunge_propagates_andBeatsAConcurrentFlagChange(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        for guid in ["m-1", "m-2", "m-3", "m-4"] { try f.save(f.a, guid: guid) }
        try await f.sync()

        try f.expunge(f.a, uids: [1])
        try f.setFlags(f.b, uid: 1, .add, "\\Seen \\Flagged")  // concurrent with A's expunge
        try f.expunge(f.b, uids: [4])
        try f.setFlags(f.a, uid: 4, .add, "$Important")  // concurrent with B's expunge
        let report = try await f.sync()

        #expect(report.appliedA.expunges == 1 && report.appliedB.expunges == 1)
        #expect(report.appliedA.messagesCopied == 0 && report.appliedB.messagesCopied == 0)
        try await f.expectConverged(["INBOX": [2: m("m-2"), 3: m("m-3")]])
        #expect(try mapOf(f.a).mailboxes["INBOX"]?.uidNext == 5)
    }

    @Test(arguments: SyncTransport.allCases)
    func uidTakenOnBothSidesByDifferentMessages_bothKeptWithFreshUIDsAboveBothNextUIDs(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.save(f.a, guid: "common")
        try await f.sync()

        // Both sides give UID 2 to different messages; B also has UID 5 (its next UID is 6).
        try f.save(f.a, guid: "from-a", flags: "\\Seen")
        try f.save(f.b, guid: "from-b")
        try f.save(f.b, guid: "from-b-5", uid: 5)
        let before = try f.maps()
        #expect(before.a.mailboxes["INBOX"]?.uidNext == 3 && before.b.mailboxes["INBOX"]?.uidNext == 6)
        let report = try await f.sync()

        // Fresh UIDs from max(3, 6) = 6, in GUID order: from-a, then from-b. UID 5 was free on A.
        #expect(report.uidConflicts == 2)
        #expect(report.appliedA.messagesCopied == 2 && report.appliedB.messagesCopied == 1)
        try await f.expectConverged([
            "INBOX": [1: m("common"), 5: m("from-b-5"), 6: m("from-a", "\\Seen"), 7: m("from-b")],
        ])
        let after = try mapOf(f.a)
        #expect(after.mailboxes["INBOX"]?.uidNext == 8)
        #expect(after.mailboxes["INBOX"]?.messages[2] == nil, "the clashing UID must be gone")
        for store in [f.a, f.b] {
            #expect(try f.body(store, .inbox, uid: 6) == SyncFixture.body("from-a"))
            #expect(try f.body(store, .inbox, uid: 7) == SyncFixture.body("from-b"))
        }
    }

    @Test(arguments: SyncTransport.allCases)
    func messagePresentOnBothSidesWithOneGUID_isNeverCopiedAgain(transport: SyncTransport) async throws {
        // Two independent copies of the same mail (no common state; INBOXes with different GUIDs).
        let f = try await SyncFixture(transport: transport)
        let guids = (1...5).map { "dup-\($0)" }
        try f.saveMany(f.a, guids: guids)
        try f.saveMany(f.b, guids: guids)
        try f.setFlags(f.a, uid: 3, .add, "\\Seen")
        try f.setFlags(f.b, uid: 3, .add, "\\Flagged")
        // The same mail in an "Archive" each side made on its own, saved in another order on B.
        try f.create(f.a, "Archive")
        try f.create(f.b, "Archive")
        let archived = (1...5).map { "arch-\($0)" }
        try f.saveMany(f.a, "Archive", guids: archived)
        try f.saveMany(f.b, "Archive", guids: archived.reversed())
        let report = try await f.sync()

        #expect(report.appliedA.messagesCopied == 0 && report.appliedB.messagesCopied == 0)
        #expect(report.appliedA.bytesCopied == 0 && report.appliedB.bytesCopied == 0)
        // Archive: arch-3 has UID 3 on both sides; the others got fresh UIDs from 6 (GUID order),
        // moved within each side, not copied.
        try await f.expectConverged([
            "INBOX": [1: m("dup-1"), 2: m("dup-2"), 3: m("dup-3", "\\Seen \\Flagged"), 4: m("dup-4"), 5: m("dup-5")],
            "Archive": [3: m("arch-3"), 6: m("arch-1"), 7: m("arch-2"), 8: m("arch-4"), 9: m("arch-5")],
        ])
        for store in [f.a, f.b] {
            for (uid, guid) in [(3, "arch-3"), (6, "arch-1"), (9, "arch-5")] {
                #expect(try f.body(store, try MailboxName("Archive"), uid: UInt32(uid)) == SyncFixture.body(guid))
            }
        }
    }

    @Test(arguments: SyncTransport.allCases)
    func firstSyncOfTwoNonEmptyIndependentCopies_mergesByGUID(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.save(f.a, guid: "a-1")
        try f.save(f.a, guid: "a-2", flags: "\\Seen")
        try f.save(f.a, guid: "shared", flags: "\\Answered")
        try f.save(f.b, guid: "shared", flags: "\\Seen")
        try f.save(f.b, guid: "b-1")
        try f.create(f.a, "Work")
        try f.save(f.a, "Work", guid: "w-1")
        try f.create(f.b, "Lists")
        try f.save(f.b, "Lists", guid: "l-1")
        try f.subscribe(f.a, "Work")
        try f.subscribe(f.b, "Lists")
        let report = try await f.sync(state: false)

        // INBOX: "shared" is UID 3 on A, which is free on B (next UID 3): it keeps 3. The others
        // get fresh UIDs from max(4, 3) in GUID order.
        #expect(report.appliedA.messagesCopied == 2 && report.appliedB.messagesCopied == 3)
        try await f.expectConverged([
            "INBOX": [3: m("shared", "\\Answered \\Seen"), 4: m("a-1"), 5: m("a-2", "\\Seen"), 6: m("b-1")],
            "Work": [1: m("w-1")],
            "Lists": [1: m("l-1")],
        ])
        #expect(try mapOf(f.a).subscriptions == ["Work", "Lists"])
    }
}

extension DsyncRuleTests {
    @Test(arguments: SyncTransport.allCases)
    func keywordsDifferingOnlyInCase_areOneKeyword_andSettle(transport: SyncTransport) async throws {
        // IMAP keywords are case-insensitive, and each side's dovecot-keywords keeps the
        // spelling it saw first: A knows "Junk", B "junk".
        let f = try await SyncFixture(transport: transport)
        try f.save(f.a, guid: "m-1")
        try f.save(f.a, guid: "m-2")
        try await f.sync()
        try f.setFlags(f.a, uid: 1, .add, "Junk")
        try f.setFlags(f.b, uid: 1, .add, "junk")
        try f.setFlags(f.b, uid: 2, .add, "JUNK $Later")
        try f.save(f.b, guid: "m-3", flags: "junk")
        try await f.sync()
        try await f.expectConverged(["INBOX": [1: m("m-1", "Junk"), 2: m("m-2", "Junk $Later"), 3: m("m-3", "Junk")]])
    }
}
