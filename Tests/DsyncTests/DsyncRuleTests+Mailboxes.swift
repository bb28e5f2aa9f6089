import Foundation
import MailStore
import Testing

@testable import Dsync

/// Mailbox rules: create, rename, delete, name clashes, UIDVALIDITY, subscriptions.
extension DsyncRuleTests {
    static let guid1 = "11111111111111111111111111111111"
    static let guid2 = "22222222222222222222222222222222"
    static let guid3 = "33333333333333333333333333333333"

    @Test(arguments: SyncTransport.allCases)
    func mailboxCreatedOnEachSide_isCreatedOnTheOtherWithItsGUIDAndUIDValidity(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try await f.sync()
        let work = try f.create(f.a, "Work")
        try f.save(f.a, "Work", guid: "w-1")
        let rust = try f.create(f.b, "Lists/Rust")
        try f.save(f.b, "Lists/Rust", guid: "r-1", flags: "\\Seen")
        let report = try await f.sync()

        #expect(report.appliedA.mailboxesCreated == 1 && report.appliedB.mailboxesCreated == 1)
        try await f.expectConverged(["INBOX": [:], "Work": [1: m("w-1")], "Lists/Rust": [1: m("r-1", "\\Seen")]])
        let (mapA, mapB) = try f.maps()
        for map in [mapA, mapB] {
            #expect(map.mailboxes["Work"]?.guid == work.guid.hex)
            #expect(map.mailboxes["Work"]?.uidValidity == work.uidValidity)
            #expect(map.mailboxes["Lists/Rust"]?.guid == rust.guid.hex)
            #expect(map.mailboxes["Lists/Rust"]?.uidValidity == rust.uidValidity)
        }
    }

    @Test(arguments: SyncTransport.allCases)
    func mailboxRenamedOnOneSide_isRenamedOnTheOther(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        let work = try f.create(f.a, "Work")
        try f.save(f.a, "Work", guid: "w-1")
        try f.save(f.a, "Work", guid: "w-2", flags: "\\Seen")
        try await f.sync()

        try f.rename(f.b, "Work", "Projects/2024")
        let report = try await f.sync()

        #expect(report.appliedA.mailboxesRenamed == 1 && report.appliedB.mailboxesRenamed == 0)
        #expect(report.appliedA.messagesCopied == 0)
        try await f.expectConverged(["INBOX": [:], "Projects/2024": [1: m("w-1"), 2: m("w-2", "\\Seen")]])
        #expect(try mapOf(f.a).mailboxes["Projects/2024"]?.guid == work.guid.hex)
    }

    @Test(arguments: SyncTransport.allCases)
    func mailboxesSwappedOnOneSide_areSwappedOnTheOther(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        let x = try f.create(f.a, "X")
        let y = try f.create(f.a, "Y")
        try f.save(f.a, "X", guid: "x-1")
        try f.save(f.a, "Y", guid: "y-1")
        try await f.sync()

        try f.rename(f.a, "X", "T")
        try f.rename(f.a, "Y", "X")
        try f.rename(f.a, "T", "Y")
        let report = try await f.sync()

        #expect(report.appliedB.messagesCopied == 0)
        try await f.expectConverged(["INBOX": [:], "X": [1: m("y-1")], "Y": [1: m("x-1")]])
        let mapB = try mapOf(f.b)
        #expect(mapB.mailboxes["X"]?.guid == y.guid.hex && mapB.mailboxes["Y"]?.guid == x.guid.hex)
    }

    @Test(arguments: SyncTransport.allCases)
    func mailboxRenameChain_isFollowedOnTheOtherSide(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        let one = try f.create(f.a, "One")
        let two = try f.create(f.a, "Two")
        try f.save(f.a, "One", guid: "o-1")
        try f.save(f.a, "Two", guid: "t-1")
        try await f.sync()

        // Two → Three, then One → Two.
        try f.rename(f.b, "Two", "Three")
        try f.rename(f.b, "One", "Two")
        let report = try await f.sync()

        #expect(report.appliedA.mailboxesRenamed == 2)
        try await f.expectConverged(["INBOX": [:], "Two": [1: m("o-1")], "Three": [1: m("t-1")]])
        let mapA = try mapOf(f.a)
        #expect(mapA.mailboxes["Two"]?.guid == one.guid.hex && mapA.mailboxes["Three"]?.guid == two.guid.hex)
    }

    @Test(arguments: SyncTransport.allCases)
    func mailboxesRenamedOnBothSides_inOppositeDirections_endUnderTheNewNames(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        let x = try f.create(f.a, "X", guid: Self.guid1)
        let y = try f.create(f.a, "Y", guid: Self.guid2)
        try f.save(f.a, "X", guid: "x-1")
        try f.save(f.a, "Y", guid: "y-1")
        try await f.sync()

        // A renames X → P, B renames Y → Q.
        try f.rename(f.a, "X", "P")
        try f.rename(f.b, "Y", "Q")
        try await f.sync()

        try await f.expectConverged(["INBOX": [:], "P": [1: m("x-1")], "Q": [1: m("y-1")]])
        let mapA = try mapOf(f.a)
        #expect(mapA.mailboxes["P"]?.guid == x.guid.hex && mapA.mailboxes["Q"]?.guid == y.guid.hex)
    }

    @Test(arguments: SyncTransport.allCases)
    func mailboxDeletedOnOneSide_isDeletedOnTheOther(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.create(f.a, "Work")
        try f.save(f.a, "Work", guid: "w-1")
        try f.save(f.a, "Work", guid: "w-2")
        try f.create(f.a, "Keep")
        try await f.sync()

        try f.delete(f.b, "Work")
        let report = try await f.sync()

        #expect(report.appliedA.mailboxesDeleted == 1)
        try await f.expectConverged(["INBOX": [:], "Keep": [:]])
    }

    @Test(arguments: SyncTransport.allCases)
    func mailboxDeletedOnOneSide_whileTheOtherGotNewMail_isKeptWithNothingLost(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        let work = try f.create(f.a, "Work")
        try f.save(f.a, "Work", guid: "w-1", flags: "\\Seen")
        try f.save(f.a, "Work", guid: "w-2")
        try await f.sync()

        try f.delete(f.a, "Work")
        try f.save(f.b, "Work", guid: "w-3")
        let report = try await f.sync()

        #expect(report.appliedA.mailboxesCreated == 1 && report.appliedB.mailboxesDeleted == 0)
        try await f.expectConverged(["INBOX": [:], "Work": [1: m("w-1", "\\Seen"), 2: m("w-2"), 3: m("w-3")]])
        let mapA = try mapOf(f.a)
        #expect(mapA.mailboxes["Work"]?.guid == work.guid.hex && mapA.mailboxes["Work"]?.uidValidity == work.uidValidity)
    }

    @Test(arguments: SyncTransport.allCases)
    func nameClashBetweenDifferentMailboxes_keepsBoth_renamingOneDeterministically(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.create(f.a, "Old1", guid: Self.guid2)
        try f.create(f.a, "Old2", guid: Self.guid1)
        try f.save(f.a, "Old1", guid: "o1-1")
        try f.save(f.a, "Old2", guid: "o2-1")
        try f.save(f.a, "Old2", guid: "o2-2")
        try await f.sync()

        // Each side gives the name "Shared" to a different mailbox.
        try f.rename(f.a, "Old1", "Shared")
        try f.rename(f.b, "Old2", "Shared")
        let report = try await f.sync()

        // Neither was known as "Shared": the smaller GUID keeps the name, the other gets -<GUID>.
        #expect(report.nameConflicts == 1)
        #expect(report.appliedA.messagesCopied == 0 && report.appliedB.messagesCopied == 0)
        try await f.expectConverged([
            "INBOX": [:],
            "Shared": [1: m("o2-1"), 2: m("o2-2")],
            "Shared-\(Self.guid2)": [1: m("o1-1")],
        ])
    }

    @Test(arguments: SyncTransport.allCases)
    func newMailboxOnOneSide_clashingWithARenameOnTheOther_keepsBoth(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.create(f.a, "Old", guid: Self.guid1)
        try f.save(f.a, "Old", guid: "old-1")
        try await f.sync()

        try f.rename(f.b, "Old", "Work")
        try f.create(f.a, "Work", guid: Self.guid3)
        try f.save(f.a, "Work", guid: "new-1")
        let report = try await f.sync()

        #expect(report.nameConflicts == 1)
        try await f.expectConverged([
            "INBOX": [:],
            "Work": [1: m("old-1")],
            "Work-\(Self.guid3)": [1: m("new-1")],
        ])
    }

    @Test(arguments: SyncTransport.allCases)
    func uidValidity_isEqualAfterSync_takenFromTheSideWithMoreMessages(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try await f.sync()
        try f.create(f.a, "Archive", guid: Self.guid1, uidValidity: 1000)
        try f.create(f.b, "Archive", guid: Self.guid2, uidValidity: 2000)
        for guid in ["arch-1", "arch-2", "arch-3"] { try f.save(f.a, "Archive", guid: guid) }
        try f.save(f.b, "Archive", guid: "arch-b")
        try await f.sync()

        // One mailbox (the larger GUID), A's UIDVALIDITY (more messages). UID 2 and 3 of A are
        // free on B (next UID 2); A's UID 1 and B's UID 1 get fresh UIDs from max(4, 2).
        try await f.expectConverged(["INBOX": [:], "Archive": [2: m("arch-2"), 3: m("arch-3"), 4: m("arch-1"), 5: m("arch-b")]])
        let mapB = try mapOf(f.b)
        #expect(mapB.mailboxes["Archive"]?.uidValidity == 1000)
        #expect(mapB.mailboxes["Archive"]?.guid == Self.guid2)
        let mapA = try mapOf(f.a)
        #expect(mapA.mailboxes["INBOX"]?.uidValidity == mapB.mailboxes["INBOX"]?.uidValidity)
    }

    @Test(arguments: SyncTransport.allCases, [true, false])
    func emptyNewInbox_takesTheGUIDOfTheInboxWithMail_whicheverIsLarger(transport: SyncTransport, mailSideHasLargerGUID: Bool) async throws {
        // A first sync into a mail root created for it (a new host, the target of a move): the
        // side with mail must keep its INBOX as it was, GUID, UIDVALIDITY and UIDs.
        let (small, large) = (Self.guid1, Self.guid2)
        let guids = mailSideHasLargerGUID ? (large, small) : (small, large)
        let f = try await SyncFixture(transport: transport, inboxGUIDs: guids, inboxUIDValidities: (700, 900))
        for guid in ["in-1", "in-2", "in-3"] { try f.save(f.a, "INBOX", guid: guid) }
        let before = try mapOf(f.a).mailboxes["INBOX"]

        try await f.sync()

        try await f.expectConverged(["INBOX": [1: m("in-1"), 2: m("in-2"), 3: m("in-3")]])
        for side in [f.a, f.b] {
            let inbox = try mapOf(side).mailboxes["INBOX"]
            #expect(inbox?.guid == guids.0)
            #expect(inbox?.uidValidity == 700)
        }
        #expect(try mapOf(f.a).mailboxes["INBOX"] == before)
    }

    @Test(arguments: SyncTransport.allCases)
    func mailboxRecreatedOnOneSide_replacesTheOldOne_whenTheOtherSideDidNotChangeIt(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        let old = try f.create(f.a, "Work", guid: Self.guid1, uidValidity: 100)
        try f.save(f.a, "Work", guid: "w-1")
        try await f.sync()

        try f.delete(f.a, "Work")
        try f.create(f.a, "Work", guid: Self.guid2, uidValidity: 200)
        try f.save(f.a, "Work", guid: "n-1")
        let report = try await f.sync()

        #expect(report.appliedB.mailboxesDeleted == 1 && report.appliedB.mailboxesCreated == 1)
        try await f.expectConverged(["INBOX": [:], "Work": [1: m("n-1")]])
        let mapB = try mapOf(f.b)
        #expect(mapB.mailboxes["Work"]?.guid == Self.guid2 && mapB.mailboxes["Work"]?.uidValidity == 200)
        #expect(old.uidValidity == 100)
    }

    @Test(arguments: SyncTransport.allCases)
    func mailboxRecreatedOnOneSide_whileTheOtherGotNewMail_losesNothingOfEither(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.create(f.a, "Work", guid: Self.guid1, uidValidity: 100)
        try f.save(f.a, "Work", guid: "w-1")
        try f.save(f.a, "Work", guid: "w-2")
        try await f.sync()

        try f.delete(f.a, "Work")
        try f.create(f.a, "Work", guid: Self.guid2, uidValidity: 200)
        try f.save(f.a, "Work", guid: "n-1")
        try f.save(f.b, "Work", guid: "w-3")
        let report = try await f.sync()

        // Both mailboxes stay; the smaller GUID (the old one) keeps the name.
        #expect(report.nameConflicts == 1)
        try await f.expectConverged([
            "INBOX": [:],
            "Work": [1: m("w-1"), 2: m("w-2"), 3: m("w-3")],
            "Work-\(Self.guid2)": [1: m("n-1")],
        ])
        let mapA = try mapOf(f.a)
        #expect(mapA.mailboxes["Work"]?.uidValidity == 100 && mapA.mailboxes["Work-\(Self.guid2)"]?.uidValidity == 200)
    }

    @Test(arguments: SyncTransport.allCases)
    func subscriptions_areMergedThreeWay(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        for name in ["Work", "Lists", "News"] { try f.create(f.a, name) }
        try f.subscribe(f.a, "INBOX")
        try f.subscribe(f.a, "Work")
        try f.subscribe(f.b, "Lists")
        try await f.sync()
        #expect(try mapOf(f.b).subscriptions == ["INBOX", "Work", "Lists"], "a first sync takes the union")

        try f.subscribe(f.a, "News")
        try f.unsubscribe(f.b, "Lists")
        try f.unsubscribe(f.a, "Work")
        try f.subscribe(f.b, "Not/There")
        let report = try await f.sync()

        #expect(report.appliedA.subscriptionChanges == 2 && report.appliedB.subscriptionChanges == 2)
        try await f.expectConverged(["INBOX": [:], "Work": [:], "Lists": [:], "News": [:]])
        #expect(try mapOf(f.a).subscriptions == ["INBOX", "News", "Not/There"])
    }
}

extension DsyncRuleTests {
    @Test(arguments: SyncTransport.allCases)
    func mailboxNamesWithNonASCIICharactersAndHierarchy_syncUnchanged(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.create(f.a, "Ärger/Spaß & Co")
        try f.save(f.a, "Ärger/Spaß & Co", guid: "u-1")
        try f.create(f.b, "日本語")
        try f.save(f.b, "日本語", guid: "u-2")
        try f.subscribe(f.b, "日本語")
        try await f.sync()
        try f.rename(f.a, "日本語", "Ärger/日本語")
        try await f.sync()
        try await f.expectConverged(["INBOX": [:], "Ärger/Spaß & Co": [1: m("u-1")], "Ärger/日本語": [1: m("u-2")]])
        #expect(try mapOf(f.a).subscriptions == ["日本語"])
    }
}

extension DsyncRuleTests {
    @Test(arguments: SyncTransport.allCases)
    func nameClashOnANameNearTheLengthLimit_stillKeepsBoth(transport: SyncTransport) async throws {
        let long = String(repeating: "x", count: 230)
        let f = try await SyncFixture(transport: transport)
        try f.create(f.a, "Old1", guid: Self.guid1)
        try f.create(f.a, "Old2", guid: Self.guid2)
        try f.save(f.a, "Old1", guid: "o1-1")
        try f.save(f.a, "Old2", guid: "o2-1")
        try await f.sync()
        try f.rename(f.a, "Old1", long)
        try f.rename(f.b, "Old2", long)
        let report = try await f.sync()

        #expect(report.nameConflicts == 1)
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB)
        #expect(mapA.messages[long] == [1: m("o1-1")])
        let renamed = try #require(mapA.mailboxes.first { $0.value.guid == Self.guid2 })
        #expect(renamed.key.hasSuffix("-" + Self.guid2) && renamed.value.messages == [1: m("o2-1")], "\(renamed.key)")
        let again = try await f.sync()
        #expect(again.plannedA == 0 && again.plannedB == 0)
    }
}
