import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import Dsync

/// The operator's decisions about a mass disappearance (``MassExpungeResolution``): `restore`
/// copies what vanished back to the side that lost it, `accept` lets it through, and every
/// other change merges as usual either way. Each scenario runs with B local and with B served
/// over TLS, and checks the exact UID → (GUID, flags) map of both sides.
@Suite(.tlsAgents) struct MassExpungeResolutionTests {
    /// A sync with the saved state and `resolution`.
    private func sync(_ f: SyncFixture, _ resolution: MassExpungeResolution, dryRun: Bool = false) async throws -> SyncReport {
        var options = f.options(dryRun: dryRun)
        options.massExpungeResolution = resolution
        let report = try await f.session(options).run()
        #expect(!report.changedDuringSync && report.appliedA.skipped == 0 && report.appliedB.skipped == 0, "\(report)")
        return report
    }

    /// Both sides with messages `m-1` … `m-200` at UIDs 1 … 200, synced.
    private func twoHundredInCommon(_ transport: SyncTransport) async throws -> SyncFixture {
        let f = try await SyncFixture(transport: transport)
        try f.saveMany(f.a, guids: (1...200).map { "m-\($0)" })
        try await f.sync()
        return f
    }

    /// 200 messages in common; A loses 120 of them (and flags one it kept); B expunges one
    /// other message, flags one that A lost and gets a new one.
    private func massExpungeOnA(_ transport: SyncTransport) async throws -> SyncFixture {
        let f = try await twoHundredInCommon(transport)
        try f.expunge(f.a, uids: Array(1...120))
        try f.setFlags(f.a, uid: 150, .add, "\\Seen")
        try f.expunge(f.b, uids: [200])
        try f.setFlags(f.b, uid: 10, .add, "\\Flagged")
        try f.save(f.b, guid: "new-on-b")
        return f
    }

    @Test(arguments: SyncTransport.allCases)
    func restore_massExpungeOnOneSide_copiesThemBack_andOtherChangesMerge(transport: SyncTransport) async throws {
        let f = try await massExpungeOnA(transport)
        let held = await #expect(throws: DsyncError.self) { try await sync(f, .hold) }
        #expect(held?.code == .massLoss)
        #expect(held?.message.contains("--restore-mass-expunge") == true, "\(held?.message ?? "")")

        // A dry run shows the restore and changes nothing.
        let before = try f.maps(), files = try f.fileTree()
        let dry = try await sync(f, .restore, dryRun: true)
        #expect(dry.restoredA == 120 && dry.restoredB == 0)
        #expect(dry.planA.count == dry.plannedA && dry.plannedA > 0)
        let afterDry = try f.maps()
        #expect(afterDry.a == before.a && afterDry.b == before.b, "a dry run changed a side")
        #expect(try f.fileTree() == files, "a dry run wrote files")

        let report = try await sync(f, .restore)
        #expect(report.restoredA == 120 && report.restoredB == 0)
        #expect(report.uidConflicts == 0)
        // The lost messages, and the one new on B, come to A; B's ordinary expunge reaches A.
        #expect(report.appliedA.messagesCopied == 121)
        #expect(report.appliedA.expunges == 1)
        #expect(report.appliedB.expunges == 0 && report.appliedB.messagesCopied == 0)
        // Their UIDs are below A's next UID: B gives them fresh ones, the same A gives them.
        #expect(report.appliedB.renumbered == 120)

        var expected: [UInt32: MessageEntry] = [:]
        for uid in 121...199 { expected[UInt32(uid)] = m("m-\(uid)", uid == 150 ? "\\Seen" : "") }
        expected[201] = m("new-on-b")
        // Fresh UIDs from the larger next UID (B's 202), in GUID order, as for UID conflicts.
        for (offset, guid) in (1...120).map({ "m-\($0)" }).sorted().enumerated() {
            expected[UInt32(202 + offset)] = m(guid, guid == "m-10" ? "\\Flagged" : "")
        }
        try await f.expectConverged(["INBOX": expected])
        let (mapA, _) = try f.maps()
        #expect(mapA.guidCounts.values.allSatisfy { $0 == 1 }, "a message is duplicated")
        #expect(Set(mapA.guidCounts.keys) == Set((1...199).map { "m-\($0)" } + ["new-on-b"]), "a message was lost")
    }

    @Test(arguments: SyncTransport.allCases)
    func accept_massExpungeOnOneSide_expungesThemOnTheOtherSide(transport: SyncTransport) async throws {
        let f = try await massExpungeOnA(transport)
        let report = try await sync(f, .accept)
        #expect(report.restoredA == 0 && report.restoredB == 0)
        #expect(report.appliedB.expunges == 120 && report.appliedA.expunges == 1)
        var expected: [UInt32: MessageEntry] = [:]
        for uid in 121...199 { expected[UInt32(uid)] = m("m-\(uid)", uid == 150 ? "\\Seen" : "") }
        expected[201] = m("new-on-b")
        try await f.expectConverged(["INBOX": expected])
    }

    @Test(arguments: SyncTransport.allCases)
    func restore_deletedMailbox_comesBackWithItsGUIDUIDValidityAndUIDs(transport: SyncTransport) async throws {
        let f = try await SyncFixture(transport: transport)
        let big = try f.create(f.a, "Big")
        try f.saveMany(f.a, "Big", guids: (1...150).map { "big-\($0)" })
        try f.saveMany(f.a, guids: (1...50).map { "in-\($0)" })
        try f.subscribe(f.a, "Big")
        try await f.sync()
        let bigBefore = try #require(try f.maps().a.mailboxes["Big"])

        try f.delete(f.b, "Big")
        try f.expunge(f.a, uids: [1])  // an ordinary expunge, made on the other side
        let held = await #expect(throws: DsyncError.self) { try await sync(f, .hold) }
        #expect(held?.message.contains("150 of 200") == true, "\(held?.message ?? "")")

        let report = try await sync(f, .restore)
        #expect(report.restoredB == 150 && report.restoredA == 0)
        #expect(report.appliedB.mailboxesCreated == 1 && report.appliedB.messagesCopied == 150)
        #expect(report.appliedA.mailboxesDeleted == 0 && report.appliedA.renumbered == 0 && report.appliedA.messagesCopied == 0)
        #expect(report.appliedB.expunges == 1)
        try await f.expectConverged([
            "Big": Dictionary(uniqueKeysWithValues: (1...150).map { (UInt32($0), m("big-\($0)")) }),
            "INBOX": Dictionary(uniqueKeysWithValues: (2...50).map { (UInt32($0), m("in-\($0)")) }),
        ])
        let bigAfter = try #require(try f.maps().b.mailboxes["Big"])
        #expect(bigAfter.guid == big.guid.hex && bigAfter.guid == bigBefore.guid)
        #expect(bigAfter.uidValidity == bigBefore.uidValidity && bigAfter.uidNext == bigBefore.uidNext)
    }

    @Test(arguments: SyncTransport.allCases)
    func restore_vanishedMailRoot_isCreatedAgainAndFilledFromTheOtherSide(transport: SyncTransport) async throws {
        // Few messages: the guard's share does not apply to a whole mail root gone.
        let f = try await SyncFixture(transport: transport)
        try f.saveMany(f.a, guids: ["m-1", "m-2", "m-3"])
        try f.create(f.a, "Sent")
        try f.save(f.a, "Sent", guid: "s-1", flags: "\\Seen")
        try f.subscribe(f.a, "Sent")
        try await f.sync()
        try f.expunge(f.a, uids: [2])
        let mapBefore = try mapOf(f.a)
        try FileManager.default.removeItem(atPath: f.b.root)

        let held = await #expect(throws: DsyncError.self) { try await sync(f, .hold) }
        #expect(held?.code == .massLoss && held?.message.contains("--restore-mass-expunge") == true, "\(held?.message ?? "")")
        let accepted = await #expect(throws: DsyncError.self) { try await sync(f, .accept) }
        #expect(accepted?.code == .massLoss, "a whole mail root is never expunged on the other side")
        let dry = await #expect(throws: DsyncError.self) { try await sync(f, .restore, dryRun: true) }
        #expect(dry?.code == .usage)
        #expect(!FileManager.default.fileExists(atPath: f.b.root), "a refused sync created the mail root")

        let report = try await sync(f, .restore)
        #expect(report.restoredB == 1, "Sent's message; INBOX is merged with the new side's empty one")
        #expect(report.appliedA.messagesCopied == 0 && report.appliedA.expunges == 0 && report.appliedA.renumbered == 0)
        try await f.expectConverged(["INBOX": [1: m("m-1"), 3: m("m-3")], "Sent": [1: m("s-1", "\\Seen")]])
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapBefore, "side A changed")
        #expect(mapB == mapBefore, "side B is not what A holds")
    }

    @Test(arguments: SyncTransport.allCases)
    func restore_withoutAMassDisappearance_isAnOrdinarySync(transport: SyncTransport) async throws {
        let f = try await twoHundredInCommon(transport)
        try f.expunge(f.b, uids: Array(1...99))
        let report = try await sync(f, .restore)
        #expect(report.restoredA == 0 && report.restoredB == 0 && report.appliedA.expunges == 99)
        try await f.expectConverged(["INBOX": Dictionary(uniqueKeysWithValues: (100...200).map { (UInt32($0), m("m-\($0)")) })])
    }

    @Test(arguments: SyncTransport.allCases)
    func restore_massExpungeOnBothSides_restoresBoth(transport: SyncTransport) async throws {
        let f = try await twoHundredInCommon(transport)
        // 90 of 200 vanish on each side: over the share of 0.4 this test sets (more than half
        // cannot vanish on both sides).
        try f.expunge(f.a, uids: Array(1...110))
        try f.expunge(f.b, uids: Array(91...200))
        var options = f.options()
        options.massLossShare = 0.4
        let held = await #expect(throws: DsyncError.self) { try await f.session(options).run() }
        #expect(held?.code == .massLoss)
        options.massExpungeResolution = .restore
        let report = try await f.session(options).run()
        #expect(report.restoredA == 90 && report.restoredB == 90, "only the messages one side still has can come back")
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB)
        #expect(Set(mapA.guidCounts.keys) == Set((1...90).map { "m-\($0)" } + (111...200).map { "m-\($0)" }))
        #expect(mapA.guidCounts.values.allSatisfy { $0 == 1 }, "a message is duplicated")
        let again = try await sync(f, .hold)
        #expect(again.plannedA == 0 && again.plannedB == 0, "the restore did not converge")
    }

    @Test func restoreMassExpunge_cli_excludesAccept() throws {
        let result = try ExternalCommand.run(
            ExternalCommand.duplexExecutable, ["sync", "-u", "alice", "--accept-mass-expunge", "--restore-mass-expunge", "/tmp/x", "/tmp/y"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--accept-mass-expunge and --restore-mass-expunge exclude each other"), "\(result.stderr)")
    }
}

/// Dovecot reads what a restore leaves: both Maildirs list the same UIDs, GUIDs and flags
/// through `doveadm fetch`, every message once.
@Suite(.enabled(if: DovecotInstance.isAvailable, "needs Dovecot 2.3 (dovecot-core) and root"))
struct MassExpungeRestoreDovecotTests {
    @Test func restoredMaildirs_areReadByDoveadm_asTheSameMessages() async throws {
        let dovecot = try DovecotInstance(prefix: "duplex-restore")
        defer { try? dovecot.stop() }
        let user = "restore"
        let home = try dovecot.makeHomeDirectory(user: user)
        let stores = try ["A", "B"].map { name in
            let store = MailStore(root: home + "/" + name, configuration: SyncFixture.configuration)
            try FileManager.default.createDirectory(atPath: store.root, withIntermediateDirectories: false)
            try store.createMailbox(.inbox)
            return store
        }
        var options = SyncOptions(user: user)
        options.stateDirectory = home + "/state"
        func sync() async throws {
            let report = try await SyncSession(a: LocalReplica(store: stores[0]), b: LocalReplica(store: stores[1]), options: options).run()
            #expect(!report.changedDuringSync, "\(report)")
        }
        let batch = try stores[0].makeSaveBatch(in: .inbox)
        for index in 1...150 {
            try batch.add(options: SaveOptions(guid: "m-\(index)")) { try $0.write(SyncFixture.body("m-\(index)")) }
        }
        _ = try batch.commit()
        try await sync()
        _ = try stores[1].expunge(in: .inbox, uids: Array(1...100))
        _ = try stores[0].updateFlags(in: .inbox, uids: [5], .add, MessageFlags(system: [.seen]))
        options.massExpungeResolution = .restore
        try await sync()
        try dovecot.chownToVmail(path: home)

        var lists: [[String]] = []
        for store in stores {
            let out = try dovecot.doveadm(["-o", "mail_location=maildir:\(store.root)", "fetch", "-u", user, "uid guid flags", "mailbox", "INBOX"])
            let records = DoveadmOutputParser.parseRecords(out.stdout, fields: ["uid", "guid", "flags"])
            lists.append(records.map { record in
                let flags = (record["flags"] ?? "").split(separator: " ").filter { $0 != "\\Recent" }.joined(separator: " ")
                return "\(record["uid"] ?? "?") \(record["guid"] ?? "?") \(flags)"
            })
        }
        #expect(lists[0] == lists[1], "doveadm reads different messages on the two sides")
        #expect(lists[0].count == 150, "\(lists[0])")
        let guids = lists[0].map { String($0.split(separator: " ")[1]) }
        #expect(Set(guids).count == 150 && Set(guids) == Set((1...150).map { "m-\($0)" }), "a message is lost or duplicated")
        #expect(lists[0].contains { $0.hasSuffix(" m-5 \\Seen") }, "the flag set on the side that kept m-5 is lost: \(lists[0].prefix(10))")
    }
}
