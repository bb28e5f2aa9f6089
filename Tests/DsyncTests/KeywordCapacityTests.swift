import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import Dsync

/// Keywords beyond what a Maildir mailbox can hold (26 letters through `dovecot-keywords`):
/// the sync keeps the keywords both sides can store, drops the others from the mailbox's
/// messages on both sides, and converges (``KeywordPlanner``). The scenarios run with B in
/// this process; the main ones also with B served by an agent over TLS.
@Suite struct KeywordCapacityTests {
    /// `k01 k02 … k26`: enough keywords to use every letter of a mailbox.
    static let allLetters = (1...26).map { "k" + ($0 < 10 ? "0" : "") + "\($0)" }

    static func keywords(_ names: [String]) -> String { names.joined(separator: " ") }

    /// The keywords named in `dovecot-keywords` of a side's INBOX.
    static func storedKeywords(_ store: MailStore) throws -> [String] {
        try store.mailboxContents(of: .inbox).keywords.names.compactMap { $0 }
    }

    /// One sync, however B is reached.
    typealias Sync = () async throws -> SyncReport

    // MARK: - Scenarios

    /// m-1 synced; then 20 keywords on it on each side, and m-2 new on the second side (B,
    /// or A when `swapped`).
    static func twentyKeywordsOnEachSide(_ f: SyncFixture, swapped: Bool, sync: Sync) async throws -> SyncReport {
        let (first, second) = swapped ? (f.b, f.a) : (f.a, f.b)
        try f.save(first, guid: "m-1")
        _ = try await sync()
        try f.setFlags(first, uid: 1, .add, Self.keywords((1...20).map { "a\($0)" }))
        try f.setFlags(second, uid: 1, .add, Self.keywords((1...20).map { "b\($0)" }))
        try f.save(second, guid: "m-2")
        return try await sync()
    }

    /// Each side had 6 letters left: 6 of the other side's keywords fit on each, taken by name
    /// as all are on one message; the other 28 are left out on both sides, whichever is A.
    static let twentyKeywordsOnEachSideResult: [String: [UInt32: MessageEntry]] = ["INBOX": [1: m("m-1", "a1 a10 a11 a12 a13 a14 b1 b10 b11 b12 b13 b14"), 2: m("m-2")]]

    /// B's INBOX names 26 keywords that no message carries any more (the store, like Dovecot,
    /// never takes a letter back, so B can store those 26 and nothing else) and did not
    /// change since the last sync; then A sets `Later` and `k05`.
    static func staleTableOnB(_ f: SyncFixture, sync: Sync) async throws -> SyncReport {
        try f.save(f.a, guid: "m-1")
        _ = try await sync()
        try f.setFlags(f.b, uid: 1, .add, Self.keywords(Self.allLetters))
        try f.setFlags(f.b, uid: 1, .remove, Self.keywords(Self.allLetters))
        // An hour old, so that the stamps the sync saves are unambiguous and the next sync
        // does not read B's INBOX again (the change was not in the same clock tick).
        for part in ["cur", "new", "dovecot-uidlist", "dovecot-keywords"] {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: f.b.root + "/" + part)
        }
        let unchanged = try await sync()
        #expect(unchanged.plannedA == 0 && unchanged.plannedB == 0)
        #expect(try Self.storedKeywords(f.b) == Self.allLetters)
        try f.setFlags(f.a, uid: 1, .add, "Later k05")
        return try await sync()
    }

    /// `k05` has a letter on both sides; `Later` has none on B.
    static let staleTableOnBResult: [String: [UInt32: MessageEntry]] = ["INBOX": [1: m("m-1", "k05")]]

    // MARK: - Syncs

    /// Was a known issue (in `DsyncRuleTests+Safety.swift`): the merged flags needed 40
    /// keywords, the store refused the 27th, and every later sync of the user failed the same
    /// way, so m-2 never reached the other side.
    @Test(arguments: [false, true])
    func keywordsOfBothSides_beyondWhatAMaildirCanHold_doNotBlockTheUserForever(swapped: Bool) async throws {
        let f = try SyncFixture()
        let report = try await Self.twentyKeywordsOnEachSide(f, swapped: swapped) { try await f.sync() }

        #expect(report.keywordsDropped == 28)
        #expect(report.appliedA.messagesCopied + report.appliedB.messagesCopied == 1)
        try await f.expectConverged(Self.twentyKeywordsOnEachSideResult)
        for store in [f.a, f.b] {
            #expect(try Self.storedKeywords(store).count == 26, "\(store.root) should use every letter now")
        }
    }

    @Test(arguments: [false, true])
    func keywordsOfBothSides_overTLS_convergeAlike(swapped: Bool) async throws {
        let f = try SyncFixture.overTLS()
        try await f.withTLSPeer { peer in
            let report = try await Self.twentyKeywordsOnEachSide(f, swapped: swapped) { try await peer.sync() }
            #expect(report.keywordsDropped == 28)
            try await Self.expectConverged(f, peer, Self.twentyKeywordsOnEachSideResult)
        }
    }

    @Test(arguments: [false, true])
    func mailboxFullOnOneSide_takesNoNewKeyword_andTheOtherSideKeepsWhatItCanStore(swapped: Bool) async throws {
        let f = try SyncFixture()
        let (roomy, full) = swapped ? (f.b, f.a) : (f.a, f.b)
        try f.save(roomy, guid: "m-1")
        try await f.sync()
        try f.setFlags(full, uid: 1, .add, Self.keywords(Self.allLetters))
        try f.setFlags(roomy, uid: 1, .add, "Later")
        try f.save(full, guid: "m-2", flags: "\\Seen k03")

        let report = try await f.sync()

        // `Later` has no letter on the full side. The roomy side gave `Later` a letter, which
        // it keeps (letters are never taken back), so it has 25 left for the full side's 26:
        // k26 (last by name) is left out too.
        #expect(report.keywordsDropped == 2)
        try await f.expectConverged([
            "INBOX": [1: m("m-1", Self.keywords(Array(Self.allLetters.prefix(25)))), 2: m("m-2", "\\Seen k03")]
        ])
        #expect(try Self.storedKeywords(roomy).sorted() == ["Later"] + Self.allLetters.prefix(25))
        #expect(try Self.storedKeywords(full) == Self.allLetters)
    }

    @Test func mailboxCreatedOnTheOtherSide_takesAllTwentySixKeywords() async throws {
        let f = try SyncFixture()
        try f.create(f.b, "Tags")
        try f.save(f.b, "Tags", guid: "m-1", flags: Self.keywords(Self.allLetters))

        let report = try await f.sync()

        #expect(report.keywordsDropped == 0)
        try await f.expectConverged(["INBOX": [:], "Tags": [1: m("m-1", Self.keywords(Self.allLetters))]])
    }

    @Test func copyIntoAMailboxFullOnBothSides_arrives_withoutTheKeywordThatHasNoLetter() async throws {
        let f = try SyncFixture()
        let first25 = Self.keywords(Array(Self.allLetters.prefix(25)))
        try f.save(f.a, guid: "m-1", flags: first25)
        try await f.sync()
        // Each side takes its 26th letter for a keyword the other does not have.
        try f.setFlags(f.b, uid: 1, .add, "k26")
        try f.save(f.a, guid: "m-2", flags: "\\Seen Later k07")

        let report = try await f.sync()

        #expect(report.appliedB.messagesCopied == 1)
        #expect(report.keywordsDropped == 2)
        try await f.expectConverged(["INBOX": [1: m("m-1", first25), 2: m("m-2", "\\Seen k07")]])
    }

    @Test func staleKeywordTable_keepsTheKeywordsItNames_andDropsNewOnes() async throws {
        let f = try SyncFixture()
        // B's INBOX is not read again: its keyword capacity comes from the saved state.
        let report = try await Self.staleTableOnB(f) { try await f.sync() }

        #expect(report.keywordsDropped == 1)
        try await f.expectConverged(Self.staleTableOnBResult)
        #expect(try Self.storedKeywords(f.b) == Self.allLetters, "B's table changed")
    }

    @Test func staleKeywordTable_overTLS_takesTheCapacityOfBFromTheState() async throws {
        // Over TLS the client puts its saved view of a mailbox not read again in place of the
        // peer's, capacity included.
        let f = try SyncFixture.overTLS()
        try await f.withTLSPeer { peer in
            let report = try await Self.staleTableOnB(f) { try await peer.sync() }
            #expect(report.keywordsDropped == 1)
            try await Self.expectConverged(f, peer, Self.staleTableOnBResult)
        }
    }

    @Test func stateWithoutKeywordCapacities_readsTheMailboxesAgain_andConverges() async throws {
        let f = try SyncFixture()
        // Rewrites the state as Duplex wrote it before keeping keyword capacities (version 1)
        // just before the last sync of the scenario.
        var syncs = 0
        let report = try await Self.staleTableOnB(f) {
            syncs += 1
            if syncs == 3 {
                let header = try #require(try f.stateStore.loadHeader())
                let old = try f.stateStore.loadView(header).binaryEncoded(version: 1)
                try Data(old).write(to: URL(fileURLWithPath: f.stateDirectory + "/" + header.messagesFile))
                #expect(try f.stateStore.loadView(header).keywordCapacities.isEmpty)
            }
            return try await f.sync()
        }

        // Reusing B's INBOX without its capacity would plan `Later` onto B; read again, B
        // says it has no letter left.
        #expect(report.keywordsDropped == 1)
        try await f.expectConverged(Self.staleTableOnBResult)
        let rewritten = try #require(try f.stateStore.loadHeader())
        let bytes = try #require(FileManager.default.contents(atPath: f.stateDirectory + "/" + rewritten.messagesFile))
        #expect(Array(bytes[4..<8]) == [2, 0, 0, 0], "the state was not rewritten in version 2")
    }

    /// Both sides hold exactly `expected`, and another sync over TLS plans nothing.
    static func expectConverged(
        _ f: SyncFixture, _ peer: TLSPeer, _ expected: [String: [UInt32: MessageEntry]], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let (mapA, mapB) = try f.maps()
        #expect(mapA.messages == expected, "side A:\n\(mapA)", sourceLocation: sourceLocation)
        #expect(mapA == mapB, "the sides differ:\nA:\n\(mapA)\nB:\n\(mapB)", sourceLocation: sourceLocation)
        let again = try await peer.sync(sourceLocation: sourceLocation)
        #expect(again.plannedA == 0 && again.plannedB == 0, "a second sync planned changes", sourceLocation: sourceLocation)
    }

    // MARK: - Applying

    @Test func applyWithAKeywordThatFindsNoLetter_stillCopiesTheMessage_andSetsTheOtherFlags() async throws {
        let f = try SyncFixture()
        try f.save(f.b, guid: "m-1", flags: Self.keywords(Self.allLetters))
        try f.save(f.a, guid: "m-2", flags: "\\Seen Later k07", uid: 2)
        let replicaA = LocalReplica(store: f.a), replicaB = LocalReplica(store: f.b)
        let viewA = try await replicaA.read(reusing: [:]), viewB = try await replicaB.read(reusing: [:])
        let inboxA = try #require(viewA.mailboxes.values.first { $0.name == ["INBOX"] }).guid
        let inboxB = try #require(viewB.mailboxes.values.first { $0.name == ["INBOX"] }).guid

        // What a plan made before B's letters ran out (someone else took them) asks for.
        let report = try await replicaB.apply([
            .copyMessage(mailbox: inboxB, uid: 2, guid: "m-2", flags: SyncFlags("\\Seen Later k07"), sourceMailbox: inboxA, sourceUID: 2),
            .setFlags(mailbox: inboxB, uid: 1, flags: SyncFlags("\\Flagged Other " + Self.keywords(Self.allLetters))),
        ], source: replicaA)

        #expect(report.messagesCopied == 1)
        #expect(report.flagChanges == 1)
        #expect(try mapOf(f.b).messages["INBOX"] == [
            1: m("m-1", "\\Flagged " + Self.keywords(Self.allLetters)), 2: m("m-2", "\\Seen k07"),
        ])
    }

    // MARK: - Planning

    static func message(_ uid: UInt32, _ flags: String) -> MessageState {
        MessageState(uid: uid, guid: "m-\(uid)", flags: SyncFlags(flags))
    }

    @Test func selection_prefersStoredKeywords_thenTheMostUsed_thenByName_andIsTheSameForBothOrders() {
        let messages = [Self.message(1, "Zed Shared new1 Solo"), Self.message(2, "new2 new1 Zed"), Self.message(3, "Zed")]
        let a = KeywordCapacity(stored: ["shared", "Solo", "Zed"], freeLetters: 1)
        let b = KeywordCapacity(stored: ["Shared"], freeLetters: 2)

        let selection = KeywordPlanner.select(messages, a: a, b: b)

        // `Shared` costs nothing; `Zed` (3 messages) and `Solo` need a letter on B, `new1`
        // (2 messages) and `new2` one on each side: B's two letters go to Zed and then, by
        // name, Solo; A's one letter is then of no use.
        #expect(selection == KeywordPlanner.Selection(kept: ["shared", "zed", "solo"], dropped: ["new1", "new2"]))
        #expect(KeywordPlanner.select(messages, a: b, b: a) == selection)
    }

    @Test func selection_keepsEverything_whenItFits() {
        let messages = [Self.message(1, "One Two"), Self.message(2, "Three")]
        let selection = KeywordPlanner.select(messages, a: .empty, b: KeywordCapacity(stored: ["one"], freeLetters: 2))
        #expect(selection == KeywordPlanner.Selection(kept: ["one", "two", "three"], dropped: []))
    }

    @Test func peerThatDoesNotReportCapacity_isJudgedByItsMessages() {
        let guid = String(repeating: "1", count: 32)
        let full = Self.keywords(Self.allLetters)
        func side(_ messages: [MessageState], _ capacity: KeywordCapacity?) -> ReplicaView {
            ReplicaView(mailboxes: [
                guid: MailboxView(guid: guid, name: ["INBOX"], uidValidity: 1, uidNext: 2, messages: messages, keywordCapacity: capacity)
            ])
        }
        let base = side([Self.message(1, "")], nil)
        // B, an older peer, reports no capacity: its message's 26 keywords fill its letters.
        let plan = SyncPlanner.plan(
            base: base, a: side([Self.message(1, "Later")], KeywordCapacity(stored: ["Later"], freeLetters: 25)),
            b: side([Self.message(1, full)], nil))

        #expect(plan.droppedKeywords == ["INBOX": ["Later", "k26"]])
        #expect(plan.final.mailboxes[guid]?.messages == [Self.message(1, Self.keywords(Array(Self.allLetters.prefix(25))))])
    }

    // MARK: - State format

    @Test func stateFormat_keepsKeywordCapacities_andStillReadsVersion1() throws {
        let guid = String(repeating: "a", count: 32)
        let message = MessageState(uid: 3, guid: "m-3", flags: SyncFlags(system: 8, keywords: ["Junk"]))
        var view = ReplicaView(
            mailboxes: [
                guid: MailboxView(
                    guid: guid, name: ["INBOX"], uidValidity: 7, uidNext: 4, messages: [message],
                    keywordCapacity: KeywordCapacity(stored: ["Junk", "$Work"], freeLetters: 24))
            ],
            subscriptions: [["INBOX"]],
            keywordCapacities: [
                .a: [guid: KeywordCapacity(stored: ["Junk"], freeLetters: 25)],
                .b: [guid: KeywordCapacity(stored: ["junk", "Old"], freeLetters: 0)],
            ])
        let encoded = view.binaryEncoded()
        #expect(Array(encoded[4..<8]) == [2, 0, 0, 0])
        #expect(try ReplicaView(binary: encoded, path: "state") == view)

        // Version 1, written field by field as Duplex wrote it before: no capacities.
        var old = BinaryWriter()
        old.bytes(Array("DXSV".utf8))
        old.u32(1)
        old.u32(1)
        old.name(["INBOX"])
        old.u32(1)
        old.string(guid)
        old.name(["INBOX"])
        old.u32(7)
        old.u32(4)
        old.u32(1)
        old.u32(3)
        old.buffer.append(8)
        old.buffer.append(1)
        old.string("Junk")
        old.string("m-3")
        old.u64(fnv1a(old.buffer[...]))
        view.keywordCapacities = [:]
        view.mailboxes[guid]?.keywordCapacity = nil
        #expect(try ReplicaView(binary: old.buffer, path: "state") == view)
        #expect(view.binaryEncoded(version: 1) == old.buffer)

        // A version 2 state cut short in its capacities is refused.
        #expect(throws: DsyncError.self) {
            var truncated = Array(encoded.dropLast(8).dropLast(3))
            truncated += withUnsafeBytes(of: fnv1a(truncated[...]).littleEndian) { Array($0) }
            _ = try ReplicaView(binary: truncated, path: "state")
        }
    }
}

/// Dovecot reads what a sync that dropped keywords leaves: both Maildirs with all 26 letters
/// named, and the same keywords on the message.
@Suite(.enabled(if: DovecotInstance.isAvailable, "needs Dovecot 2.3 (dovecot-core) and root"))
struct KeywordCapacityDovecotTests {
    @Test func twentyKeywordsOnEachSide_areReadByDoveadm_asTheSameTwelveOnBoth() async throws {
        let dovecot = try DovecotInstance(prefix: "duplex-keywords")
        defer { try? dovecot.stop() }
        let user = "keywords"
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
        try stores[0].saveMessage(in: .inbox, bytes: SyncFixture.body("m-1"), options: SaveOptions(guid: "m-1"))
        try await sync()
        for (store, prefix) in zip(stores, ["a", "b"]) {
            try store.updateFlags(in: .inbox, uids: [1], .add, MessageFlags(keywords: (1...20).map { "\(prefix)\($0)" }))
        }
        try await sync()
        try dovecot.chownToVmail(path: home)

        for store in stores {
            let out = try dovecot.doveadm(["-o", "mail_location=maildir:\(store.root)", "fetch", "-u", user, "uid flags", "mailbox", "INBOX"])
            let records = DoveadmOutputParser.parseRecords(out.stdout, fields: ["uid", "flags"])
            let flags = records.first?["flags"].map { Set($0.split(separator: " ").map(String.init)).subtracting(["\\Recent"]) }
            #expect(records.count == 1 && flags == ["a1", "a10", "a11", "a12", "a13", "a14", "b1", "b10", "b11", "b12", "b13", "b14"], "\(store.root): \(out.stdout)")
        }
    }
}
