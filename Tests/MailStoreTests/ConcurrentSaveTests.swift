import Foundation
import MailStore
import MailStoreTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// MailStore and Dovecot changing the same mailbox at the same time, and the uidlist lock
/// they share.
@Suite(
    "Concurrent saves with Dovecot",
    .enabled(if: DovecotInstance.isAvailable, "Dovecot 2.3 (dovecot-core) not installed or not running as root"),
    .serialized)
struct ConcurrentSaveTests {
    /// Saves per side in the save race.
    static let savesPerSide = 300
    /// Parallel `doveadm save` loops (each save is one process).
    static let doveadmWorkers = 3

    // MARK: Save race

    @Test func mailStoreAndDoveadmSaveIntoOneMailbox_everyMessageOnceWithUniqueUIDs() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "racer"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            // Dovecot makes the Maildir: INBOX with its uidlist and index.
            try check.doveadm(["mailbox", "status", "-u", user, "messages", "INBOX"])
            let store = check.store
            let progress = RaceProgress()

            async let mailStoreSaves = onThread { () throws -> [Int: SavedMessage] in
                var saved: [Int: SavedMessage] = [:]
                for index in 0..<Self.savesPerSide {
                    progress.waitForDoveadm(toReach: index - 4)
                    saved[index] = try store.saveMessage(in: .inbox, bytes: TestMessage.make(id: "ms-\(index)", lines: index % 7 + 1))
                }
                return saved
            }
            let workers = (0..<Self.doveadmWorkers).map { worker in
                Task {
                    try await onThread { () throws -> Int in
                        var count = 0
                        do {
                            for index in stride(from: worker, to: Self.savesPerSide, by: Self.doveadmWorkers) {
                                try check.doveadmSave(TestMessage.make(id: "dv-\(index)", lines: index % 5 + 1, crlf: index % 2 == 0))
                                count += 1
                                progress.doveadmStepDone()
                            }
                        } catch {
                            progress.doveadmFailed()
                            throw error
                        }
                        return count
                    }
                }
            }
            var doveadmSaves = 0
            for worker in workers { doveadmSaves += try await worker.value }
            let mine = try await mailStoreSaves
            #expect(doveadmSaves == Self.savesPerSide)
            #expect(mine.count == Self.savesPerSide)

            let saved = Dictionary(uniqueKeysWithValues: mine.map { ("ms-\($0.key)", $0.value) })
            try Self.expectEveryMessageOnce(
                check, savedByMailStore: saved, savedByDoveadm: (0..<Self.savesPerSide).map { "dv-\($0)" }, minimumSwitches: 50)
        }
    }

    /// MailStore's batched saves (one lock and one uidlist append per batch) racing doveadm.
    @Test func mailStoreSaveBatchesRaceDoveadmSaves_everyMessageOnceWithUniqueUIDs() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "batcher"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadm(["mailbox", "status", "-u", user, "messages", "INBOX"])
            let store = check.store
            let progress = RaceProgress()
            let batches = 10, perBatch = 20, doveadmSaves = 100

            async let mailStoreSaves = onThread { () throws -> [String: SavedMessage] in
                var saved: [String: SavedMessage] = [:]
                for batchIndex in 0..<batches {
                    progress.waitForDoveadm(toReach: batchIndex * doveadmSaves / batches)
                    let batch = try store.makeSaveBatch(in: .inbox)
                    var ids: [String] = []
                    for index in 0..<perBatch {
                        let id = "mb-\(batchIndex)-\(index)"
                        let flags = index % 3 == 0 ? MessageFlags(system: .seen, keywords: ["$Batch\(batchIndex % 4)"]) : MessageFlags()
                        let bytes = TestMessage.make(id: id, lines: index % 4 + 1)
                        try batch.add(options: SaveOptions(flags: flags)) { writer in try writer.write(bytes) }
                        ids.append(id)
                    }
                    for (id, result) in zip(ids, try batch.commit()) { saved[id] = result }
                }
                return saved
            }
            let workers = (0..<2).map { worker in
                Task {
                    try await onThread {
                        do {
                            for index in stride(from: worker, to: doveadmSaves, by: 2) {
                                try check.doveadmSave(TestMessage.make(id: "db-\(index)"))
                                progress.doveadmStepDone()
                            }
                        } catch {
                            progress.doveadmFailed()
                            throw error
                        }
                    }
                }
            }
            for worker in workers { try await worker.value }
            let saved = try await mailStoreSaves
            #expect(saved.count == batches * perBatch)
            try Self.expectEveryMessageOnce(
                check, savedByMailStore: saved, savedByDoveadm: (0..<doveadmSaves).map { "db-\($0)" }, minimumSwitches: 8)
            let flagged = try check.storeMessages("INBOX").filter { !$0.flags.isEmpty }
            #expect(flagged.count == batches * ((perBatch + 2) / 3))
        }
    }

    /// After a save race: both sides list the same UID, GUID and Message-ID for every
    /// message; each expected message is there exactly once; UIDs run from 1 without gaps;
    /// GUIDs are unique; what MailStore's saves returned is what both list; the writers
    /// took turns in UID order at least `minimumSwitches` times; files belong to vmail.
    static func expectEveryMessageOnce(
        _ check: DovecotAgreement, savedByMailStore: [String: SavedMessage], savedByDoveadm: [String],
        minimumSwitches: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let store = check.store
        // doveadm's view: UID, GUID and Message-ID of every message.
        let fields = ["uid", "guid", "hdr.message-id"]
        let fetched = DoveadmOutputParser.parseRecords(
            try check.doveadm(["fetch", "-u", check.user, fields.joined(separator: " "), "mailbox", "INBOX", "all"]), fields: fields)
        let dovecotView = try fetched.map { record in
            RacedMessage(
                uid: try #require(record["uid"].flatMap { UInt32($0) }, sourceLocation: sourceLocation),
                guid: record["guid"] ?? "",
                messageID: record["hdr.message-id"] ?? "")
        }.sorted { $0.uid < $1.uid }

        // MailStore's view, with the Message-ID read from each body.
        let storeView = try store.listMessages(in: .inbox).map { info in
            RacedMessage(
                uid: info.uid, guid: info.guid,
                messageID: TestMessage.messageID(try store.openMessage(in: .inbox, uid: info.uid).readAll()) ?? "")
        }
        #expect(storeView == dovecotView, sourceLocation: sourceLocation)

        let total = savedByMailStore.count + savedByDoveadm.count
        #expect(dovecotView.count == total, sourceLocation: sourceLocation)
        #expect(Set(dovecotView.map(\.uid)).count == total, "UIDs are not unique", sourceLocation: sourceLocation)
        #expect(dovecotView.map(\.uid) == Array(1...UInt32(total)), "UIDs have gaps", sourceLocation: sourceLocation)
        #expect(Set(dovecotView.map(\.guid)).count == total, "GUIDs are not unique", sourceLocation: sourceLocation)
        let expectedIDs = (Array(savedByMailStore.keys) + savedByDoveadm).map { "<\($0)@duplex.test>" }
        let seen = Dictionary(grouping: dovecotView.map(\.messageID), by: { $0 }).mapValues(\.count)
        #expect(Set(seen.keys) == Set(expectedIDs), "missing or unexpected messages", sourceLocation: sourceLocation)
        #expect(seen.values.allSatisfy { $0 == 1 }, "duplicated: \(seen.filter { $0.value > 1 }.keys.sorted())", sourceLocation: sourceLocation)

        // What each MailStore save returned is what both sides list.
        let byUID = Dictionary(uniqueKeysWithValues: dovecotView.map { ($0.uid, $0) })
        for (id, saved) in savedByMailStore {
            #expect(byUID[saved.uid] == RacedMessage(uid: saved.uid, guid: saved.guid, messageID: "<\(id)@duplex.test>"),
                    sourceLocation: sourceLocation)
        }

        // The two writers really interleaved in UID order.
        let mailStoreIDs = Set(savedByMailStore.keys.map { "<\($0)@duplex.test>" })
        let origins = dovecotView.map { mailStoreIDs.contains($0.messageID) }
        let switches = zip(origins, origins.dropFirst()).filter { $0 != $1 }.count
        #expect(switches >= minimumSwitches, "only \(switches) switches between writers in UID order", sourceLocation: sourceLocation)

        let summary = try check.expectAgreement(sourceLocation: sourceLocation)
        #expect(summary.mailboxes.first?.uidNext == UInt32(total + 1), sourceLocation: sourceLocation)
        try check.expectEverythingOwnedByVmail(sourceLocation: sourceLocation)
    }

    // MARK: Flag and expunge race

    /// MailStore changes flags of even UIDs and expunges some, doveadm does the same for
    /// odd ones, and both add flags to UIDs ending in 5: every change must stick, no
    /// message may change its GUID, and only the expunged ones may go.
    @Test func mailStoreAndDoveadmChangeFlagsAndExpungeAtOnce_noChangeIsLost() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "flagger"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadm(["mailbox", "status", "-u", user, "messages", "INBOX"])
            let store = check.store
            var guids: [UInt32: String] = [:]
            for index in 1...100 {
                let saved = try store.saveMessage(in: .inbox, bytes: TestMessage.make(id: "f\(index)"))
                guids[saved.uid] = saved.guid
            }
            #expect(guids.keys.sorted() == Array(1...100))
            try check.expectAgreement()

            // Even UIDs are MailStore's, odd ones Dovecot's; UIDs ending in 5 both change.
            let evens = Array(stride(from: UInt32(2), through: 100, by: 2))
            let odds = Array(stride(from: UInt32(1), through: 99, by: 2))
            let contested = odds.filter { $0 % 10 == 5 }
            let progress = RaceProgress()

            // The first eight on each side also get a keyword nobody used before, so both
            // sides add to dovecot-keywords during the race.
            @Sendable func ownKeyword(_ uid: UInt32) -> String? { uid <= 16 ? (uid % 2 == 0 ? "$ms\(uid)" : "$dv\(uid)") : nil }
            async let mailStoreChanges: Void = onThread {
                for (step, uid) in evens.enumerated() {
                    progress.waitForDoveadm(toReach: step - 2)
                    let keywords = ["$MailStore"] + [ownKeyword(uid)].compactMap { $0 }
                    try store.updateFlags(in: .inbox, uids: [uid], .add, MessageFlags(system: .seen, keywords: keywords))
                    if uid % 10 == 0 { try store.expunge(in: .inbox, uids: [uid]) }
                    if step < contested.count {
                        try store.updateFlags(in: .inbox, uids: [contested[step]], .add, MessageFlags(system: .answered, keywords: ["$Both"]))
                    }
                }
            }
            let workers = (0..<2).map { worker in
                Task {
                    try await onThread {
                        do {
                            for uid in odds where (uid / 2) % 2 == UInt32(worker) {
                                let flags = (["\\Flagged", "$Dovecot"] + [ownKeyword(uid)].compactMap { $0 }).joined(separator: " ")
                                try check.doveadmFlags("add", flags, mailbox: "INBOX", uids: String(uid))
                                if uid % 10 == 1 {
                                    try check.doveadm(["expunge", "-u", user, "mailbox", "INBOX", "uid", String(uid)])
                                }
                                progress.doveadmStepDone()
                            }
                        } catch {
                            progress.doveadmFailed()
                            throw error
                        }
                    }
                }
            }
            for worker in workers { try await worker.value }
            try await mailStoreChanges

            let summary = try check.expectAgreement()
            let messages = try #require(summary.messages["INBOX"])
            let expunged = Set((1...100).filter { $0 % 10 == 0 || $0 % 10 == 1 }.map(UInt32.init))
            #expect(messages.map(\.uid) == (1...100).map(UInt32.init).filter { !expunged.contains($0) })
            for message in messages {
                #expect(message.guid == guids[message.uid], "uid \(message.uid) changed its GUID")
                var expected: Set<String> = message.uid % 2 == 0 ? ["\\Seen", "$MailStore"] : ["\\Flagged", "$Dovecot"]
                if contested.contains(message.uid) { expected.formUnion(["\\Answered", "$Both"]) }
                if let keyword = ownKeyword(message.uid) { expected.insert(keyword) }
                #expect(message.flags == expected, "uid \(message.uid)")
            }
            try check.expectEverythingOwnedByVmail()
        }
    }

    /// Both sides add new keywords to `dovecot-keywords` at once, many times. Dovecot
    /// trusts its cached copy while the file's modification time (whole seconds) is
    /// unchanged, so every rewrite must move it forward, or a keyword one side added is
    /// lost and its letter comes to mean the other side's keyword.
    @Test func mailStoreAndDoveadmAddNewKeywordsAtOnce_noKeywordIsLost() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "keywords"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadm(["mailbox", "status", "-u", user, "messages", "INBOX"])
            let store = check.store

            // Each rewrite moves the whole-second modification time forward, even two
            // within one second.
            try store.saveMessage(in: .inbox, bytes: TestMessage.make(id: "k0"))
            var seconds: [Int64] = []
            for keyword in ["$first", "$second", "$third"] {
                try store.updateFlags(in: .inbox, uids: [1], .add, MessageFlags(keywords: [keyword]))
                let modified = try #require(
                    try FileManager.default.attributesOfItem(atPath: store.root + "/dovecot-keywords")[.modificationDate] as? Date)
                seconds.append(Int64(modified.timeIntervalSince1970.rounded(.down)))
            }
            #expect(seconds == seconds.sorted() && Set(seconds).count == seconds.count, "dovecot-keywords mtimes \(seconds)")

            let rounds = 4, perSide = 12
            for round in 1...rounds {
                let name = try store.mailboxName("round \(round)")
                try store.createMailbox(name)
                for index in 0..<(2 * perSide) {
                    try store.saveMessage(in: name, bytes: TestMessage.make(id: "k\(round)-\(index)"))
                }
                // UIDs 1...perSide are MailStore's, the rest Dovecot's; each gets a new keyword.
                let progress = RaceProgress()
                async let mailStoreSide: Void = onThread {
                    for index in 0..<perSide {
                        progress.waitForDoveadm(toReach: index - 1)
                        // Land at a different point of the next doveadm process each time.
                        usleep(useconds_t((index * 7 + round * 3) % 16) * 1_000)
                        try store.updateFlags(in: name, uids: [UInt32(index + 1)], .add, MessageFlags(keywords: ["$m\(index)"]))
                    }
                }
                let dovecotSide = Task {
                    try await onThread {
                        do {
                            for index in 0..<perSide {
                                try check.doveadmFlags("add", "$d\(index)", mailbox: "round \(round)", uids: String(perSide + index + 1))
                                progress.doveadmStepDone()
                            }
                        } catch {
                            progress.doveadmFailed()
                            throw error
                        }
                    }
                }
                try await dovecotSide.value
                try await mailStoreSide
                let messages = try check.storeMessages("round \(round)")
                #expect(messages.count == 2 * perSide)
                for message in messages {
                    let index = Int(message.uid) - 1
                    let expected = index < perSide ? "$m\(index)" : "$d\(index - perSide)"
                    #expect(message.flags == [expected], "round \(round), uid \(message.uid)")
                }
                #expect(messages == (try check.doveadmMessages("round \(round)")), "round \(round)")
            }
            try check.expectAgreement()
        }
    }

    // MARK: Readers during Dovecot's moves

    /// Dovecot moves messages from `new/` to `cur/` when it syncs a mailbox it may drop
    /// \Recent in (IMAP SELECT; `maildir_empty_new=yes` makes doveadm do the same). A
    /// listing that reads `new/` before a move and `cur/` after it sees one message under
    /// two names: that is a race to retry, not a corrupt mailbox. (Before MailStore
    /// handled it, nearly every round failed with "two message files have the same base
    /// name".)
    @Test func listingWhileDovecotMovesNewToCur_neverFailsNorLosesAMessage() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "mover"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadm(["mailbox", "status", "-u", user, "messages", "INBOX"])
            let store = check.store
            // Setting up each round need not be durable.
            let quickStore = MailStore(root: store.root, configuration: MailStoreConfiguration(fsync: false))
            let rounds = 12, perRound = 300
            for round in 1...rounds {
                let name = try store.mailboxName("round \(round)")
                try store.createMailbox(name)
                for index in 0..<perRound {
                    try quickStore.saveMessage(in: name, bytes: TestMessage.make(id: "mv\(round)-\(index)"))
                }
                let stop = Atomic<Bool>(false)
                let lister = Task {
                    try await onThread { () throws -> (listings: Int, failures: [String]) in
                        var listings = 0
                        var failures: [String] = []
                        while !stop.load(ordering: .acquiring) {
                            do {
                                let listed = try store.listMessages(in: name)
                                listings += 1
                                if listed.map(\.uid) != Array(1...UInt32(perRound)) { failures.append("listed UIDs \(listed.map(\.uid))") }
                            } catch {
                                failures.append(String(describing: error))
                            }
                        }
                        return (listings, failures)
                    }
                }
                try check.doveadm(["-o", "maildir_empty_new=yes", "mailbox", "status", "-u", user, "messages", "round \(round)"])
                stop.store(true, ordering: .releasing)
                let result = try await lister.value
                #expect(result.failures.isEmpty, "round \(round): \(result.failures.count) of \(result.listings) listings failed, first: \(result.failures.prefix(2))")
                let directory = store.root + "/." + name.storageName
                try #require(try FileManager.default.contentsOfDirectory(atPath: directory + "/new").isEmpty,
                             "Dovecot did not move new/ to cur/; the scenario did not happen")
                #expect(try store.listMessages(in: name).allSatisfy { !$0.isInNew })
            }
            let summary = try check.expectAgreement()
            #expect(summary.messageCount == rounds * perRound)
        }
    }

    /// The same for renames inside `cur/`: Dovecot changing flags while MailStore lists.
    /// Every listing must show every message, once, with its UID.
    @Test func listingWhileDovecotChangesFlags_alwaysShowsEveryMessage() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "renamer"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadm(["mailbox", "status", "-u", user, "messages", "INBOX"])
            let store = check.store
            let quickStore = MailStore(root: store.root, configuration: MailStoreConfiguration(fsync: false))
            let count = 300
            for index in 0..<count {
                try quickStore.saveMessage(in: .inbox, bytes: TestMessage.make(id: "fl\(index)"), options: SaveOptions(flags: MessageFlags(system: .seen)))
            }
            let stop = Atomic<Bool>(false)
            let lister = Task {
                try await onThread { () throws -> (listings: Int, failures: [String]) in
                    var listings = 0
                    var failures: [String] = []
                    while !stop.load(ordering: .acquiring) {
                        do {
                            let listed = try store.listMessages(in: .inbox)
                            listings += 1
                            if listed.map(\.uid) != Array(1...UInt32(count)) {
                                let missing = Set(1...UInt32(count)).subtracting(listed.map(\.uid)).sorted()
                                failures.append("\(listed.count) listed, missing \(missing.prefix(5))")
                            }
                        } catch {
                            failures.append(String(describing: error))
                        }
                    }
                    return (listings, failures)
                }
            }
            for round in 0..<8 {
                try check.doveadmFlags(round % 2 == 0 ? "add" : "remove", "\\Flagged", mailbox: "INBOX", uids: "1:*")
            }
            stop.store(true, ordering: .releasing)
            let result = try await lister.value
            #expect(result.failures.isEmpty, "\(result.failures.count) of \(result.listings) listings were wrong, first: \(result.failures.prefix(3))")
            let summary = try check.expectAgreement()
            #expect(summary.messages["INBOX"]?.allSatisfy { $0.flags == ["\\Seen"] } == true)
        }
    }

    // MARK: Mailbox and subscription race

    /// Both sides create and subscribe mailboxes at once: they share `dovecot-uidvalidity`
    /// (UIDVALIDITY allocation) and `subscriptions.lock`.
    @Test func mailStoreAndDoveadmCreateAndSubscribeMailboxesAtOnce_nothingLost() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "creator"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadm(["mailbox", "status", "-u", user, "messages", "INBOX"])
            let store = check.store
            let perSide = 25
            let progress = RaceProgress()

            async let mailStoreCreates: Void = onThread {
                for index in 0..<perSide {
                    progress.waitForDoveadm(toReach: index - 1)
                    let name = try store.mailboxName("ms/box \(index)")
                    try store.createMailbox(name)
                    try store.subscribe(name)
                }
            }
            let workers = (0..<2).map { worker in
                Task {
                    try await onThread {
                        do {
                            for index in stride(from: worker, to: perSide, by: 2) {
                                try check.doveadm(["mailbox", "create", "-u", user, "dv/box \(index)"])
                                try check.doveadm(["mailbox", "subscribe", "-u", user, "dv/box \(index)"])
                                progress.doveadmStepDone()
                            }
                        } catch {
                            progress.doveadmFailed()
                            throw error
                        }
                    }
                }
            }
            for worker in workers { try await worker.value }
            try await mailStoreCreates

            let summary = try check.expectAgreement()
            let expected = Set((0..<perSide).flatMap { ["ms/box \($0)", "dv/box \($0)"] })
            #expect(Set(summary.mailboxes.map(\.name)) == expected.union(["INBOX"]))
            #expect(summary.subscriptions == expected)
            #expect(Set(summary.mailboxes.map(\.uidValidity)).count == summary.mailboxes.count, "UIDVALIDITY reused")
            #expect(Set(summary.mailboxes.map(\.guid)).count == summary.mailboxes.count, "mailbox GUID reused")
            try check.expectEverythingOwnedByVmail()
        }
    }

    // MARK: The uidlist lock

    @Test func staleUidlistLock_isTakenOverByAMailStoreSave() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "stale"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadmSave(TestMessage.make(id: "before"))
            let root = dovecot.mailRoot(user: user)
            let lockPath = root + "/dovecot-uidlist.lock"

            // A lock from a process on another host that last touched it 300 s ago.
            try Self.writeForeignLock(lockPath, ageSeconds: 300)
            let quick = MailStore(root: root, configuration: MailStoreConfiguration(lock: DotlockConfiguration(timeout: .seconds(10))))
            // Not broken as stale, the lock would have made the save wait out its 10 s timeout
            // and throw: that it returns is the check (how long it took is the machine's).
            let saved = try quick.saveMessage(in: .inbox, bytes: TestMessage.make(id: "after-stale"))
            #expect(saved.uid == 2)
            #expect(!FileManager.default.fileExists(atPath: lockPath))

            // The keywords lock (also 120 s) and the subscriptions lock (30 s) likewise.
            try Self.writeForeignLock(root + "/dovecot-keywords.lock", ageSeconds: 300)
            try quick.updateFlags(in: .inbox, uids: [1, 2], .add, MessageFlags(keywords: ["$AfterStale"]))
            #expect(!FileManager.default.fileExists(atPath: root + "/dovecot-keywords.lock"))
            try Self.writeForeignLock(root + "/subscriptions.lock", ageSeconds: 60)
            try quick.subscribe(.inbox)
            #expect(!FileManager.default.fileExists(atPath: root + "/subscriptions.lock"))

            // A fresh lock whose holder, on this host, has exited is stale at once.
            let exited = Process()
            exited.executableURL = URL(fileURLWithPath: "/bin/true")
            try exited.run()
            exited.waitUntilExit()
            try Data("\(exited.processIdentifier):\(Self.hostName())".utf8).write(to: URL(fileURLWithPath: lockPath))
            try DovecotInstance.chownToVmail(path: lockPath)
            let third = try quick.saveMessage(in: .inbox, bytes: TestMessage.make(id: "after-dead-holder"))
            #expect(third.uid == 3)
            #expect(!FileManager.default.fileExists(atPath: lockPath))

            let summary = try check.expectAgreement()
            #expect(summary.messages["INBOX"]?.map(\.uid) == [1, 2, 3])
            #expect(summary.messages["INBOX"]?.prefix(2).allSatisfy { $0.flags == ["$AfterStale"] } == true)
            #expect(summary.subscriptions == ["INBOX"])
        }
    }

    @Test func freshForeignUidlistLock_makesAMailStoreSaveTimeOutAndLeaveNothing() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "fresh"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadmSave(TestMessage.make(id: "before"))
            let root = dovecot.mailRoot(user: user)
            let lockPath = root + "/dovecot-uidlist.lock"

            try Self.writeForeignLock(lockPath, ageSeconds: 10)
            let quick = MailStore(root: root, configuration: MailStoreConfiguration(lock: DotlockConfiguration(timeout: .milliseconds(300))))
            let error = #expect(throws: MailStoreError.self) {
                try quick.saveMessage(in: .inbox, bytes: TestMessage.make(id: "blocked"))
            }
            #expect(error?.code == .lockTimeout)
            #expect(FileManager.default.fileExists(atPath: lockPath))
            for sub in ["new", "cur", "tmp"] {
                let files = try FileManager.default.contentsOfDirectory(atPath: root + "/" + sub)
                #expect(!files.contains { $0.contains("P\(getpid()).") }, "\(sub)/ kept \(files)")
            }
            try FileManager.default.removeItem(atPath: lockPath)
            let summary = try check.expectAgreement()
            #expect(summary.messages["INBOX"]?.map(\.uid) == [1])
        }
    }

    /// Dovecot does not wait for a held uidlist lock when it saves: it leaves the new file
    /// in `new/` without a UID, for whoever syncs the mailbox next to assign one. Both
    /// orders must end with the same UID on both sides.
    @Test func doveadmSaveDuringAMailStoreLock_getsItsUIDFromTheNextReader() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "waiter"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            try check.doveadmSave(TestMessage.make(id: "first"))
            let store = check.store
            let root = store.root
            let uidlist = root + "/dovecot-uidlist"

            func newFiles() throws -> Set<String> { Set(try FileManager.default.contentsOfDirectory(atPath: root + "/new")) }
            func uidlistText() throws -> String { try String(contentsOfFile: uidlist, encoding: .utf8) }

            // MailStore is the next reader.
            var before = try newFiles()
            try Dotlock.withLock(for: uidlist) { _ in
                try check.doveadmSave(TestMessage.make(id: "second"))
            }
            let second = try #require(try newFiles().subtracting(before).first, "doveadm save left no file in new/")
            try #require(!(try uidlistText()).contains(second), "Dovecot assigned a UID despite the lock; the scenario did not happen")
            let listed = try store.listMessages(in: .inbox)
            #expect(listed.map(\.uid) == [1, 2])
            #expect(listed.last?.guid == second)
            #expect(try uidlistText().contains("2 :" + second))
            var summary = try check.expectAgreement()
            #expect(summary.messages["INBOX"]?.last == MessageView(uid: 2, guid: second, flags: []))

            // Dovecot is the next reader.
            before = try newFiles()
            try Dotlock.withLock(for: uidlist) { _ in
                try check.doveadmSave(TestMessage.make(id: "third"))
            }
            let third = try #require(try newFiles().subtracting(before).first, "doveadm save left no file in new/")
            try #require(!(try uidlistText()).contains(third), "Dovecot assigned a UID despite the lock; the scenario did not happen")
            #expect(try check.doveadmMessages("INBOX").map(\.uid) == [1, 2, 3])
            summary = try check.expectAgreement()
            #expect(summary.messages["INBOX"]?.last == MessageView(uid: 3, guid: third, flags: []))
            try check.expectEverythingOwnedByVmail()
        }
    }

    // MARK: Helpers

    /// This host's name as `gethostname` gives it (what dotlocks record).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes a dotlock naming a process on another host, owned by vmail, `ageSeconds` old.
    static func writeForeignLock(_ path: String, ageSeconds: Int) throws {
        try Data("4242:some-other-host".utf8).write(to: URL(fileURLWithPath: path))
        try DovecotInstance.chownToVmail(path: path)
        let then = time(nil) - ageSeconds
        var times = [timeval(tv_sec: then, tv_usec: 0), timeval(tv_sec: then, tv_usec: 0)]
        #expect(utimes(path, &times) == 0)
    }
}

/// One message in the save race.
struct RacedMessage: Hashable, Sendable, CustomStringConvertible {
    var uid: UInt32
    var guid: String
    var messageID: String

    var description: String { "uid=\(uid) guid=\(guid) id=\(messageID)" }
}

/// Lets the fast MailStore loop keep pace with the slow doveadm processes, so that the two
/// really overlap for the whole race instead of one finishing before the other starts.
final class RaceProgress: Sendable {
    private let done = Atomic<Int>(0)
    private let failed = Atomic<Bool>(false)

    func doveadmStepDone() { done.add(1, ordering: .releasing) }
    func doveadmFailed() { failed.store(true, ordering: .releasing) }

    /// Blocks until doveadm has done `count` steps, failed, or three minutes have passed (a
    /// hang guard: a loaded machine runs doveadm slowly, and the sides must still overlap).
    func waitForDoveadm(toReach count: Int) {
        let deadline = ContinuousClock.now + .seconds(180)
        while done.load(ordering: .acquiring) < count, !failed.load(ordering: .acquiring), ContinuousClock.now < deadline {
            usleep(500)
        }
    }
}
