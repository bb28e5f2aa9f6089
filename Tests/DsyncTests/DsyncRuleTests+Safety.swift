import Foundation
import MailStore
import Testing

@testable import Dsync

/// State, fast path, full sync, the mass-loss guard and the user lock.
extension DsyncRuleTests {
    /// Builds the same two sides in any fixture (fixed mailbox GUIDs and UIDVALIDITYs), syncs
    /// them once with state, then makes changes on both sides that add only: new messages
    /// (with a UID clash), new mailboxes, added flags and subscriptions.
    static func makeAdditiveChanges(_ f: SyncFixture) async throws {
        try f.create(f.a, "Work", guid: guid1, uidValidity: 10)
        try f.save(f.a, guid: "in-1")
        try f.save(f.a, guid: "in-2")
        try f.save(f.a, "Work", guid: "w-1")
        try await f.sync()
        try f.save(f.a, guid: "a-new", flags: "\\Seen")
        try f.save(f.b, guid: "b-new")
        try f.save(f.b, "Work", guid: "w-b", uid: 9)
        try f.setFlags(f.a, uid: 1, .add, "\\Flagged")
        try f.setFlags(f.b, uid: 1, .add, "$Later")
        try f.setFlags(f.b, uid: 2, .add, "\\Answered")
        try f.create(f.a, "Lists", guid: guid2, uidValidity: 20)
        try f.save(f.a, "Lists", guid: "l-1")
        try f.create(f.b, "News", guid: guid3, uidValidity: 30)
        try f.save(f.b, "News", guid: "n-1")
        try f.subscribe(f.b, "News")
    }

    @Test(arguments: SyncTransport.allCases)
    func fullSyncAndSyncWithoutState_giveTheSameResultAsASyncWithState(transport: SyncTransport) async throws {
        let fixedInboxes = (Self.guid1.replacingOccurrences(of: "1", with: "a"), Self.guid1.replacingOccurrences(of: "1", with: "b"))
        var results: [String: StoreMap] = [:]
        for mode in ["state", "full", "none"] {
            let f = try await SyncFixture(transport: transport, inboxGUIDs: fixedInboxes, inboxUIDValidities: (5, 6))
            try await Self.makeAdditiveChanges(f)
            try await f.sync(full: mode == "full", state: mode != "none")
            let expected: [String: [UInt32: MessageEntry]] = [
                "INBOX": [1: m("in-1", "\\Flagged $Later"), 2: m("in-2", "\\Answered"), 4: m("a-new", "\\Seen"), 5: m("b-new")],
                "Work": [1: m("w-1"), 9: m("w-b")],
                "Lists": [1: m("l-1")],
                "News": [1: m("n-1")],
            ]
            try await f.expectConverged(expected)
            results[mode] = try mapOf(f.a)
            // A full sync of sides in sync changes nothing either.
            let full = try await f.sync(full: true)
            #expect(full.plannedA == 0 && full.plannedB == 0, "\(mode): a full sync of synced sides planned changes")
        }
        #expect(results["state"] == results["full"])
        #expect(results["state"] == results["none"])
    }

    @Test(arguments: SyncTransport.allCases)
    func secondSyncChangesNothing_andTheThirdTakesTheFastPath(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.saveMany(f.a, guids: (1...20).map { "m-\($0)" })
        try f.create(f.b, "Work")
        try f.save(f.b, "Work", guid: "b-1", uid: 100)
        let first = try await f.sync()
        #expect(first.plannedA > 0 && first.plannedB > 0 && !first.fastPath)

        // Stamps taken within 100 ms of a change are ambiguous: let the clock move on.
        try await Task.sleep(for: .milliseconds(250))
        let second = try await f.sync()
        #expect(second.plannedA == 0 && second.plannedB == 0, "the second sync planned changes")
        #expect(second.appliedA == ApplyReport() && second.appliedB == ApplyReport())

        let third = try await f.sync()
        #expect(third.fastPath, "the third sync read more than stamps")
        #expect(third.mailboxes == 2 && third.messages == 21)

        // A subscription alone leaves the fast path too.
        try f.subscribe(f.a, "Work")
        let subscribed = try await f.sync()
        #expect(!subscribed.fastPath && subscribed.appliedB.subscriptionChanges == 1)
        #expect(try mapOf(f.b).subscriptions == ["Work"])

        // Any change leaves the fast path.
        try f.setFlags(f.b, uid: 3, .add, "\\Seen")
        let fourth = try await f.sync()
        #expect(!fourth.fastPath && fourth.plannedA == 1 && fourth.plannedB == 0)
        try await f.expectConverged([
            "INBOX": Dictionary(uniqueKeysWithValues: (1...20).map { (UInt32($0), m("m-\($0)", $0 == 3 ? "\\Seen" : "")) }),
            "Work": [100: m("b-1")],
        ])
    }

    @Test(arguments: SyncTransport.allCases)
    func stateFile_isVersionedAndReplacedAtomically(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.save(f.a, guid: "m-1")
        try await f.sync()
        let firstHeader = try #require(try f.stateStore.loadHeader())
        #expect(firstHeader.version == SyncState.currentVersion && firstHeader.user == f.user)
        #expect(firstHeader.sideA == f.a.root && firstHeader.sideB == f.descriptionB)
        #expect(firstHeader.mailboxes == 1 && firstHeader.messages == 1)

        let raw = [UInt8](try #require(FileManager.default.contents(atPath: f.stateStore.headerPath)))
        #expect(raw.starts(with: Array("DXSH".utf8)), "the header is written in its binary form")
        let decoded = try SyncState.Header(binary: raw, path: f.stateStore.headerPath)
        #expect(decoded.version == 1 && decoded.user == f.user && decoded.messagesFile == firstHeader.messagesFile)
        #expect(decoded.stampA == firstHeader.stampA && decoded.stampB == firstHeader.stampB && decoded.generation == 1)

        try f.save(f.b, guid: "m-2")
        try await f.sync()
        let secondHeader = try #require(try f.stateStore.loadHeader())
        #expect(secondHeader.messagesFile != firstHeader.messagesFile)
        #expect(secondHeader.messages == 2)
        // Exactly the header and the one messages file it names; no temporary files left.
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: f.stateDirectory))
        #expect(files == [f.stateStore.key + ".state", secondHeader.messagesFile])
        let view = try f.stateStore.loadView(secondHeader)
        #expect(view.messageCount == 2)

        // A full sync, and a sync after the header was lost, leave no stale messages file either.
        try f.save(f.a, guid: "m-3")
        try await f.sync(full: true)
        try FileManager.default.removeItem(atPath: f.stateStore.headerPath)
        // What a crash during a write leaves, and files that are not this state's.
        let key = f.stateStore.key
        let foreign = ["bob@example.com-0123456789abcdef.6616f2ce2a137.messages", key + ".notes", key + "x.1234.messages"]
        for name in [key + ".state.tmp.4242", key + ".6616f2ce25239.messages.tmp.4242"] + foreign {
            try Data("x".utf8).write(to: URL(fileURLWithPath: f.stateDirectory + "/" + name))
        }
        try f.save(f.b, guid: "m-4")
        try await f.sync()
        let lastHeader = try #require(try f.stateStore.loadHeader())
        let remaining = Set(try FileManager.default.contentsOfDirectory(atPath: f.stateDirectory))
        #expect(remaining == Set([key + ".state", lastHeader.messagesFile] + foreign), "stale state files are left behind, or others' removed")
    }

    @Test(arguments: SyncTransport.allCases)
    func corruptState_fallsBackToAFullSync_withNoLoss(transport: SyncTransport) async throws {
        for corruption in ["garbage header", "newer version", "truncated messages", "missing messages"] {
            let f = try await SyncFixture(transport: transport)
            for guid in ["m-1", "m-2", "m-3"] { try f.save(f.a, guid: guid, flags: "\\Seen") }
            try await f.sync()
            let header = try #require(try f.stateStore.loadHeader())
            let messagesPath = f.stateDirectory + "/" + header.messagesFile
            switch corruption {
            case "garbage header":
                try Data("{\"version\": 1, \"user\": ".utf8).write(to: URL(fileURLWithPath: f.stateStore.headerPath))
            case "newer version":
                var newer = header
                newer.version = 99
                try Data(newer.binaryEncoded()).write(to: URL(fileURLWithPath: f.stateStore.headerPath))
            case "truncated messages":
                let data = try #require(FileManager.default.contents(atPath: messagesPath))
                try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: messagesPath))
            default:
                try FileManager.default.removeItem(atPath: messagesPath)
            }
            #expect(throws: DsyncError.self, "\(corruption): the state should not load") {
                let header = try f.stateStore.loadHeader()
                _ = try f.stateStore.loadView(try #require(header))
            }

            // Changes since the broken state: without a base nothing can be taken as expunged
            // or unflagged, so they come back (m-1 under a fresh UID: B's UID 1 is below A's
            // next UID); new mail goes through.
            try f.expunge(f.a, uids: [1])
            try f.setFlags(f.b, uid: 2, .remove, "\\Seen")
            try f.save(f.b, guid: "m-4")
            let report = try await f.sync()
            #expect(!report.fastPath, "\(corruption)")
            try await f.expectConverged(["INBOX": [2: m("m-2", "\\Seen"), 3: m("m-3", "\\Seen"), 4: m("m-4"), 5: m("m-1", "\\Seen")]])
            #expect(try f.stateStore.loadHeader()?.version == SyncState.currentVersion, "\(corruption): the state was not rewritten")
        }
    }

    @Test(arguments: SyncTransport.allCases)
    func massExpungeOnOneSide_isRefused_andNothingChanges(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.saveMany(f.a, guids: (1...200).map { "m-\($0)" })
        try await f.sync()

        try f.expunge(f.a, uids: Array(1...120))
        try f.setFlags(f.a, uid: 150, .add, "\\Seen")
        try f.save(f.b, guid: "new-on-b")
        let before = try f.maps(), files = try f.fileTree()
        let refused = await #expect(throws: DsyncError.self) { try await f.session(f.options()).run() }
        #expect(refused?.code == .massLoss)
        #expect(refused?.message.contains("120 of 200") == true, "\(refused?.message ?? "")")
        let after = try f.maps()
        #expect(after.a == before.a && after.b == before.b, "a refused sync changed a side")
        #expect(try f.fileTree() == files, "a refused sync wrote files")

        // A dry run is refused the same way.
        let dry = await #expect(throws: DsyncError.self) { try await f.session(f.options(dryRun: true)).run() }
        #expect(dry?.code == .massLoss)

        // Accepted, it goes through.
        let accepted = try await f.sync(acceptMassExpunge: true)
        #expect(accepted.appliedB.expunges == 120)
        var expected: [UInt32: MessageEntry] = [:]
        for uid in 121...200 { expected[UInt32(uid)] = m("m-\(uid)", uid == 150 ? "\\Seen" : "") }
        expected[201] = m("new-on-b")
        try await f.expectConverged(["INBOX": expected])
    }

    @Test(arguments: SyncTransport.allCases)
    func massLossGuard_countsTheCommonState_notJustTheVanishedMessages(transport: SyncTransport) async throws {
        // 120 messages in common; 61 (just over half) expunged on one side.
        let f = try await SyncFixture(transport: transport)
        try f.saveMany(f.b, guids: (1...120).map { "m-\($0)" })
        try await f.sync()
        try f.expunge(f.b, uids: Array(1...61))
        let before = try f.maps()
        let refused = await #expect(throws: DsyncError.self) { try await f.session(f.options()).run() }
        #expect(refused?.code == .massLoss)
        let after = try f.maps()
        #expect(after.a == before.a && after.b == before.b)
    }

    @Test(arguments: SyncTransport.allCases)
    func massLossGuard_countsDeletedMailboxes(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.create(f.a, "Big")
        try f.saveMany(f.a, "Big", guids: (1...150).map { "big-\($0)" })
        try f.saveMany(f.a, guids: (1...50).map { "in-\($0)" })
        try await f.sync()

        try f.delete(f.b, "Big")
        let before = try f.maps()
        let refused = await #expect(throws: DsyncError.self) { try await f.session(f.options()).run() }
        #expect(refused?.code == .massLoss)
        let after = try f.maps()
        #expect(after.a == before.a && after.b == before.b)

        try await f.sync(acceptMassExpunge: true)
        try await f.expectConverged(["INBOX": Dictionary(uniqueKeysWithValues: (1...50).map { (UInt32($0), m("in-\($0)")) })])
    }

    @Test(arguments: SyncTransport.allCases)
    func normalSizeExpunge_propagates(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.saveMany(f.a, guids: (1...200).map { "m-\($0)" })
        try await f.sync()
        try f.expunge(f.b, uids: Array(1...99))
        let report = try await f.sync()
        #expect(report.appliedA.expunges == 99)
        try await f.expectConverged(["INBOX": Dictionary(uniqueKeysWithValues: (100...200).map { (UInt32($0), m("m-\($0)")) })])
    }

    @Test(arguments: SyncTransport.allCases)
    func missingMailRoot_withAState_isRefusedAsMassLoss_andNothingChanges(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.save(f.a, guid: "m-1")
        try await f.sync()
        try FileManager.default.removeItem(atPath: f.b.root)
        let before = try mapOf(f.a)
        let refused = await #expect(throws: DsyncError.self) { try await f.session(f.options()).run() }
        #expect(refused?.code == .massLoss)
        #expect(try mapOf(f.a) == before)
        #expect(!FileManager.default.fileExists(atPath: f.b.root), "the missing side was recreated")
    }

    @Test(arguments: SyncTransport.allCases)
    func missingMailRoot_withoutAState_isNoSuchUser(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try FileManager.default.removeItem(atPath: f.b.root)
        let refused = await #expect(throws: DsyncError.self) { try await f.session(f.options()).run() }
        #expect(refused?.code == .noSuchUser)
        #expect(!FileManager.default.fileExists(atPath: f.b.root))
    }

    @Test(arguments: SyncTransport.allCases)
    func userLockHeldBySomeoneElse_makesASecondSyncTimeOut(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        try f.save(f.a, guid: "m-1")
        for side in ["A", "B"] {
            let holder = LocalReplica(store: side == "A" ? f.a : f.b)
            var options = f.options()
            options.lockTimeout = .milliseconds(200)
            let second = try f.session(options)
            let started = ContinuousClock.now
            let error = try await holder.withUserLock(timeout: .seconds(1)) {
                await #expect(throws: DsyncError.self) { try await second.run() }
            }
            #expect(error?.code == .lockTimeout, "lock on \(side)")
            #expect(ContinuousClock.now - started >= .milliseconds(150))
            #expect(try mapOf(f.b).messages["INBOX"] == [:], "nothing may be synced without the lock")
        }
        // Released, the sync runs.
        try await f.sync()
        try await f.expectConverged(["INBOX": [1: m("m-1")]])
    }
}

extension DsyncRuleTests {
    @Test(arguments: SyncTransport.allCases)
    func changesAfterAnUnambiguousState_areFound_inReusedAndReadMailboxesAlike(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        for name in ["One", "Two", "Three", "Four"] {
            try f.create(f.a, name)
            try f.saveMany(f.a, name, guids: (1...3).map { "\(name)-\($0)" })
        }
        try await f.sync()
        try await Task.sleep(for: .milliseconds(250))
        try await f.sync()  // a state whose stamps are unambiguous

        // One mailbox changed on each side, one renamed, one untouched (reused from the state).
        try f.setFlags(f.a, "One", uid: 2, .add, "\\Seen")
        try f.expunge(f.b, "Two", uids: [3])
        try f.rename(f.a, "Three", "Drei")
        try f.save(f.b, "Four", guid: "Four-4")
        let report = try await f.sync()
        #expect(!report.fastPath)
        try await f.expectConverged([
            "INBOX": [:],
            "One": [1: m("One-1"), 2: m("One-2", "\\Seen"), 3: m("One-3")],
            "Two": [1: m("Two-1"), 2: m("Two-2")],
            "Drei": [1: m("Three-1"), 2: m("Three-2"), 3: m("Three-3")],
            "Four": [1: m("Four-1"), 2: m("Four-2"), 3: m("Four-3"), 4: m("Four-4")],
        ])
    }
}

extension DsyncRuleTests {
    @Test(arguments: SyncTransport.allCases)
    func exhaustedUIDs_areRefusedWithAClearError_andNothingChanges(transport: SyncTransport) async throws {
        // The highest UID there is: it syncs as it is.
        let f = try await SyncFixture(transport: transport)
        try await f.sync()
        try f.save(f.a, guid: "top", uid: UInt32.max - 1)
        try await f.sync()
        try await f.expectConverged(["INBOX": [UInt32.max - 1: m("top")]])

        // A new message on B needs a fresh UID above A's highest one: there is none.
        let g = try await SyncFixture(transport: transport)
        try await g.sync()
        try g.save(g.a, guid: "top", uid: UInt32.max - 1)
        try g.save(g.b, guid: "low")
        let before = try g.maps()
        let refused = await #expect(throws: DsyncError.self) { try await g.session(g.options()).run() }
        #expect(refused?.code == .badData)
        #expect(refused?.message.contains("\"INBOX\"") == true, "\(refused?.message ?? "")")
        let after = try g.maps()
        #expect(after.a == before.a && after.b == before.b)
    }
}
