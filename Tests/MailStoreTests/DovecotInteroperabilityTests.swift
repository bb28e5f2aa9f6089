import Foundation
import MailStore
import MailStoreTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The store's acceptance tests against a real Dovecot 2.3: whatever one side writes, the
/// other reads exactly as it would read its own writes.
///
/// Each test starts its own private Dovecot instance. The tests run as root, as they
/// must to start Dovecot; MailStore's `FileOwnerOption.inherit` then gives every file it
/// creates to the mail root's owner (vmail), which the tests check file by file.
@Suite(
    "Dovecot interoperability",
    .enabled(if: DovecotInstance.isAvailable, "Dovecot 2.3 (dovecot-core) not installed or not running as root"),
    .serialized)
struct DovecotInteroperabilityTests {
    /// Folder names that exercise modified UTF-7, spaces, `&` and hierarchy.
    static let trickyNames = ["Über/Ünter", "日本語", "with space/sub folder", "x&y", "R&D/Q&A"]

    // MARK: A. Dovecot writes, MailStore reads

    @Test func dovecotWrites_mailStoreReadsExactlyWhatDoveadmReports() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "alice"
            let check = DovecotAgreement(dovecot: dovecot, user: user)

            let folders = Self.trickyNames + ["Projects", "Projects/Alpha", "Projects/Alpha/Deep", "Trash", "Doomed"]
            for folder in folders { try check.doveadm(["mailbox", "create", "-u", user, folder]) }

            let counts = [
                "INBOX": 10, "Über/Ünter": 4, "日本語": 3, "with space/sub folder": 3, "x&y": 3, "R&D/Q&A": 3,
                "Projects": 2, "Projects/Alpha": 2, "Projects/Alpha/Deep": 1, "Trash": 1, "Doomed": 2,
            ]
            var serial = 0
            for (mailbox, count) in counts.sorted(by: { $0.key < $1.key }) {
                for _ in 0..<count {
                    serial += 1
                    try check.doveadmSave(TestMessage.make(id: "a\(serial)", lines: serial, crlf: serial % 2 == 0), mailbox: mailbox)
                }
            }
            #expect(serial == 34)

            // System flags and keywords, added, removed and replaced.
            try check.doveadmFlags("add", "\\Seen", mailbox: "INBOX", uids: "1")
            try check.doveadmFlags("add", "\\Flagged \\Answered $Label1", mailbox: "INBOX", uids: "2")
            try check.doveadmFlags("replace", "\\Draft Junk", mailbox: "INBOX", uids: "3")
            try check.doveadmFlags("add", "\\Deleted NonJunk $Forwarded", mailbox: "INBOX", uids: "4")
            try check.doveadmFlags("add", "\\Seen $Label1 Junk", mailbox: "INBOX", uids: "5")
            try check.doveadmFlags("remove", "$Label1", mailbox: "INBOX", uids: "5")
            try check.doveadmFlags(
                "add", "\\Seen \\Flagged \\Answered \\Draft \\Deleted $Label1 Junk NonJunk $Forwarded",
                mailbox: "INBOX", uids: "6:7")
            try check.doveadmFlags("remove", "\\Deleted Junk", mailbox: "INBOX", uids: "7")
            try check.doveadmFlags("replace", "\\Answered", mailbox: "INBOX", uids: "2")
            try check.doveadmFlags("add", "\\Seen", mailbox: "INBOX", uids: "8:10")
            try check.doveadmFlags("add", "$Forwarded \\Seen", mailbox: "Über/Ünter", uids: "1")
            try check.doveadmFlags("add", "Junk", mailbox: "日本語", uids: "2")
            try check.doveadmFlags("replace", "\\Answered NonJunk", mailbox: "R&D/Q&A", uids: "1:3")
            try check.doveadmFlags("add", "\\Flagged $Label1", mailbox: "x&y", uids: "1:*")
            try check.doveadmFlags("add", "\\Seen", mailbox: "Projects/Alpha/Deep", uids: "1")

            // Expunges: by UID and by search.
            try check.doveadm(["expunge", "-u", user, "mailbox", "INBOX", "uid", "8:9"])
            try check.doveadm(["expunge", "-u", user, "mailbox", "Über/Ünter", "uid", "2"])
            try check.doveadm(["expunge", "-u", user, "mailbox", "R&D/Q&A", "uid", "3"])
            try check.doveadm(["expunge", "-u", user, "mailbox", "日本語", "uid", "3"])

            // A parent with children renamed, a leaf renamed, a mailbox with messages deleted.
            try check.doveadm(["mailbox", "rename", "-u", user, "Projects", "Archive/Projects 2024"])
            try check.doveadm(["mailbox", "rename", "-u", user, "Trash", "Papierkorb/Gelöscht"])
            try check.doveadm(["mailbox", "delete", "-u", user, "Doomed"])
            // A parent with a child: the child stays.
            try check.doveadm(["mailbox", "delete", "-u", user, "Archive/Projects 2024/Alpha"])

            // Subscriptions, including a stale one for a renamed mailbox.
            for name in ["INBOX", "Über/Ünter", "R&D/Q&A", "x&y", "日本語", "Archive/Projects 2024/Alpha", "Projects"] {
                try check.doveadm(["mailbox", "subscribe", "-u", user, name])
            }
            try check.doveadm(["mailbox", "unsubscribe", "-u", user, "x&y"])
            try check.doveadm(["mailbox", "unsubscribe", "-u", user, "INBOX"])

            let before = try check.controlFiles()
            let summary = try check.expectAgreement()

            // Reading a Maildir Dovecot has synced writes nothing.
            #expect(try check.controlFiles() == before)

            // The comparison was not vacuous.
            #expect(Set(summary.mailboxes.map(\.name)) == [
                "INBOX", "Über/Ünter", "日本語", "with space/sub folder", "x&y", "R&D/Q&A",
                "Archive/Projects 2024", "Archive/Projects 2024/Alpha/Deep", "Papierkorb/Gelöscht",
            ])
            #expect(summary.messageCount == 34 - 2 - 2 - 1 - 1 - 1 - 2)
            #expect(summary.allFlags.isSuperset(of: [
                "\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted", "$Label1", "Junk", "NonJunk", "$Forwarded",
            ]))
            #expect(summary.subscriptions == ["Über/Ünter", "R&D/Q&A", "日本語", "Archive/Projects 2024/Alpha", "Projects"])
            let inbox = try #require(summary.messages["INBOX"])
            #expect(inbox.map(\.uid) == [1, 2, 3, 4, 5, 6, 7, 10])
            #expect(inbox.first { $0.uid == 2 }?.flags == ["\\Answered"])
            #expect(inbox.first { $0.uid == 7 }?.flags == [
                "\\Seen", "\\Flagged", "\\Answered", "\\Draft", "$Label1", "NonJunk", "$Forwarded",
            ])
            #expect(summary.mailboxes.first { $0.name == "INBOX" }?.uidNext == 11)
            #expect(summary.mailboxes.first { $0.name == "Über/Ünter" }?.uidNext == 5)
            #expect(summary.mailboxes.first { $0.name == "日本語" }?.uidNext == 4)
            #expect(summary.mailboxes.first { $0.name == "R&D/Q&A" }?.uidNext == 4)

            // Bodies read back byte for byte.
            let store = check.store
            for mailbox in ["INBOX", "日本語", "Archive/Projects 2024/Alpha/Deep"] {
                for message in try store.listMessages(in: try store.mailboxName(mailbox)) {
                    let text = try check.doveadm(["fetch", "-u", user, "text", "mailbox", mailbox, "uid", String(message.uid)])
                    let bytes = try store.openMessage(in: try store.mailboxName(mailbox), uid: message.uid).readAll()
                    // doveadm prints the message with LF line ends.
                    #expect(text == "text:\n" + String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n"))
                    #expect(message.size == Int64(bytes.count))
                }
            }
        }
    }

    // MARK: B. MailStore writes, Dovecot reads

    @Test func mailStoreWrites_doveadmReportsTheSame() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "bob"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            let store = check.store
            let root = try Self.makeEmptyMailRoot(dovecot, user: user)
            #expect(store.root == root)

            // Folders first, before INBOX was ever opened.
            let folders = Self.trickyNames + ["Projects", "Projects/Alpha", "Projects/Alpha/Deep", "Doomed"]
            for folder in folders { try store.createMailbox(try store.mailboxName(folder)) }

            let inbox = MailboxName.inbox
            var saved: [String: SavedMessage] = [:]
            func save(_ id: String, in mailbox: String = "INBOX", crlf: Bool = false, _ options: SaveOptions = SaveOptions()) throws {
                let name = try store.mailboxName(mailbox)
                saved[id] = try store.saveMessage(in: name, bytes: TestMessage.make(id: id, lines: saved.count + 1, crlf: crlf), options: options)
            }
            for index in 1...5 { try save("plain\(index)", crlf: index % 2 == 0) }
            try save("seen", SaveOptions(flags: MessageFlags(system: .seen)))
            try save("flagged", crlf: true, SaveOptions(flags: MessageFlags(system: [.flagged, .answered], keywords: ["$Label1", "Junk"])))
            try save("uid100", SaveOptions(uid: 100, flags: MessageFlags(keywords: ["NonJunk"])))
            try save("after100")

            // A GUID that is a Dovecot base name with matching S= and W= becomes the file name.
            let peerBody = TestMessage.make(id: "peer-base", crlf: false)
            let peerBase = "1700000000.M123456P4242.peerhost,S=\(peerBody.count),W=\(peerBody.count + peerBody.filter { $0 == 0x0a }.count)"
            saved["peer-base"] = try store.saveMessage(in: inbox, bytes: peerBody, options: SaveOptions(guid: peerBase))
            #expect(saved["peer-base"]?.fileName.hasPrefix(peerBase) == true)
            // One that is not a valid base name goes to the uidlist's G extension.
            let foreignGUID = "dsync:7d1b0a50f3e2c4a9/peer"
            saved["foreign"] = try store.saveMessage(
                in: inbox, bytes: TestMessage.make(id: "foreign"), options: SaveOptions(flags: MessageFlags(system: .draft), guid: foreignGUID))
            #expect(saved["foreign"]?.guid == foreignGUID)
            #expect(saved["foreign"]?.fileName.hasPrefix(foreignGUID) == false)
            // So does a base name whose S= does not match the body.
            let wrongSize = "1700000001.M1P1.peerhost,S=1,W=1"
            saved["wrong-size"] = try store.saveMessage(in: inbox, bytes: TestMessage.make(id: "wrong-size"), options: SaveOptions(guid: wrongSize))
            #expect(saved["wrong-size"]?.guid == wrongSize)
            #expect(saved["wrong-size"]?.fileName.hasPrefix(wrongSize) == false)

            try save("tail1")
            try save("tail2")

            var folderSerial = 0
            for folder in folders {
                for _ in 0..<2 {
                    folderSerial += 1
                    try save("f\(folderSerial)", in: folder, crlf: folderSerial % 3 == 0)
                }
            }
            try save("deep-flags", in: "Projects/Alpha/Deep", SaveOptions(flags: MessageFlags(system: .seen, keywords: ["$Forwarded"])))

            // Flags: add, remove, replace.
            let uid = { (id: String) in saved[id]!.uid }
            try store.updateFlags(in: inbox, uids: [uid("plain1"), uid("plain2")], .add, MessageFlags(system: .seen))
            try store.updateFlags(in: inbox, uids: [uid("plain2")], .add, MessageFlags(system: [.flagged, .deleted], keywords: ["$Label1", "$Forwarded"]))
            try store.updateFlags(in: inbox, uids: [uid("plain2")], .remove, MessageFlags(system: .deleted, keywords: ["$Label1"]))
            try store.updateFlags(in: inbox, uids: [uid("flagged")], .replace, MessageFlags(system: .answered, keywords: ["NonJunk"]))
            try store.updateFlags(in: inbox, uids: [uid("plain3")], .replace, MessageFlags(keywords: ["Junk"]))
            try store.updateFlags(in: inbox, uids: [uid("seen")], .replace, MessageFlags())
            try store.updateFlags(in: try store.mailboxName("x&y"), uids: [1, 2], .add, MessageFlags(system: .flagged, keywords: ["$Label1"]))
            try store.updateFlags(in: try store.mailboxName("日本語"), uids: [2], .add, MessageFlags(system: [.seen, .answered]))

            // Expunges, a renamed parent with children, a deleted mailbox.
            // A quarter of INBOX's records, the two highest UIDs among them: the uidlist is
            // compacted and must keep the next UID.
            #expect(try store.expunge(in: inbox, uids: [uid("tail2"), uid("plain4"), 999, uid("tail1")])
                == [uid("plain4"), uid("tail1"), uid("tail2")])
            #expect(try String(contentsOfFile: root + "/dovecot-uidlist", encoding: .utf8).split(separator: "\n").count == 12)
            #expect(try store.expunge(in: try store.mailboxName("R&D/Q&A"), uids: [1]) == [1])
            try store.renameMailbox(try store.mailboxName("Projects"), to: try store.mailboxName("Archive/Projects 2024"))
            try store.deleteMailbox(try store.mailboxName("Doomed"))
            // A parent with a child: the child stays.
            try store.deleteMailbox(try store.mailboxName("Archive/Projects 2024/Alpha"))

            // Subscriptions.
            for name in ["INBOX", "Über/Ünter", "R&D/Q&A", "x&y", "日本語", "Archive/Projects 2024/Alpha", "Gone/Away"] {
                try store.subscribe(try store.mailboxName(name))
            }
            try store.unsubscribe(try store.mailboxName("x&y"))
            try store.unsubscribe(try store.mailboxName("Not/Subscribed"))

            // Everything MailStore created belongs to vmail, before Dovecot ever touched it.
            try check.expectEverythingOwnedByVmail()

            let summary = try check.expectAgreement()
            #expect(Set(summary.mailboxes.map(\.name)) == [
                "INBOX", "Über/Ünter", "日本語", "with space/sub folder", "x&y", "R&D/Q&A",
                "Archive/Projects 2024", "Archive/Projects 2024/Alpha/Deep",
            ])
            #expect(summary.subscriptions == ["INBOX", "Über/Ünter", "R&D/Q&A", "日本語", "Archive/Projects 2024/Alpha", "Gone/Away"])

            // doveadm reports the UIDs and GUIDs the saves returned.
            let dovecotInbox = try check.doveadmMessages("INBOX")
            for id in ["plain1", "plain2", "plain3", "plain5", "seen", "flagged", "uid100", "after100", "peer-base", "foreign", "wrong-size"] {
                let message = try #require(saved[id])
                #expect(dovecotInbox.contains { $0.uid == message.uid && $0.guid == message.guid }, "\(id): \(message)")
            }
            #expect(!dovecotInbox.contains { $0.uid == uid("plain4") })
            #expect(saved["uid100"]?.uid == 100)
            #expect(saved["after100"]?.uid == 101)
            #expect(dovecotInbox.first { $0.uid == 100 }?.flags == ["NonJunk"])
            #expect(dovecotInbox.first { $0.uid == uid("plain2") }?.flags == ["\\Seen", "\\Flagged", "$Forwarded"])
            #expect(dovecotInbox.first { $0.uid == uid("flagged") }?.flags == ["\\Answered", "NonJunk"])
            #expect(dovecotInbox.first { $0.uid == uid("plain3") }?.flags == ["Junk"])
            #expect(dovecotInbox.first { $0.uid == uid("seen") }?.flags == [])
            #expect(dovecotInbox.first { $0.guid == peerBase }?.flags == [])
            #expect(dovecotInbox.first { $0.guid == foreignGUID }?.flags == ["\\Draft"])
            #expect(dovecotInbox.first { $0.guid == wrongSize } != nil)
            let inboxStatus = try #require(summary.mailboxes.first { $0.name == "INBOX" })
            #expect(saved["tail2"]?.uid == 106)
            #expect(inboxStatus.uidNext == 107)
            #expect(inboxStatus.messages == 11)

            // doveadm reads the saved bytes and sizes.
            for id in ["plain1", "plain2", "peer-base", "foreign", "uid100"] {
                let message = try #require(saved[id])
                let fields = try dovecot.fetchRecords(
                    user: user, mailbox: "INBOX", fields: ["size.physical", "hdr.message-id"], query: ["uid", String(message.uid)])
                #expect(fields.first?["hdr.message-id"] == "<\(id)@duplex.test>")
                #expect(fields.first?["size.physical"] == String(message.size))
            }
            let plain1 = try #require(saved["plain1"])
            let text = try check.doveadm(["fetch", "-u", user, "text", "mailbox", "INBOX", "uid", String(plain1.uid)])
            #expect(text == "text:\n" + String(decoding: TestMessage.make(id: "plain1", lines: 1), as: UTF8.self))
            let body = try check.doveadm(["fetch", "-u", user, "body", "mailbox", "INBOX", "uid", String(plain1.uid)])
            #expect(body == "body:\nmarker plain1 line 0\n")

            // Dovecot's next UID is the one MailStore kept through the compaction.
            try check.doveadmSave(TestMessage.make(id: "from-dovecot"))
            let last = try check.expectAgreement().messages["INBOX"]?.last
            #expect(last?.uid == 107)
        }
    }

    // MARK: Mixed writers

    @Test func bothSidesWriteInTurns_andAlwaysAgree() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "carol"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            let store = check.store
            _ = try Self.makeEmptyMailRoot(dovecot, user: user)

            // Round 1: MailStore.
            for folder in ["Work", "Work/Reports", "Über/Ünter", "R&D/Q&A"] {
                try store.createMailbox(try store.mailboxName(folder))
            }
            var ids: [UInt32] = []
            for index in 1...6 {
                let flags = index % 2 == 0 ? MessageFlags(system: .seen, keywords: ["$Label1"]) : MessageFlags()
                ids.append(try store.saveMessage(in: .inbox, bytes: TestMessage.make(id: "m\(index)"), options: SaveOptions(flags: flags)).uid)
            }
            try store.saveMessage(in: try store.mailboxName("Work/Reports"), bytes: TestMessage.make(id: "report1"), options: SaveOptions(uid: 50))
            try store.subscribe(try store.mailboxName("Work"))
            try check.expectEverythingOwnedByVmail()
            try check.expectAgreement()

            // Round 2: Dovecot writes into what MailStore made.
            for index in 1...3 { try check.doveadmSave(TestMessage.make(id: "d\(index)", crlf: true)) }
            try check.doveadmSave(TestMessage.make(id: "d-report"), mailbox: "Work/Reports")
            try check.doveadmFlags("add", "\\Flagged $Important", mailbox: "INBOX", uids: String(ids[0]))
            try check.doveadmFlags("remove", "$Label1", mailbox: "INBOX", uids: String(ids[1]))
            try check.doveadmFlags("replace", "\\Answered Junk $Label1", mailbox: "INBOX", uids: String(ids[2]))
            try check.doveadm(["expunge", "-u", user, "mailbox", "INBOX", "uid", String(ids[3])])
            try check.doveadm(["mailbox", "create", "-u", user, "Neu/Ordner"])
            try check.doveadm(["mailbox", "rename", "-u", user, "Work", "Job"])
            try check.doveadm(["mailbox", "subscribe", "-u", user, "Neu/Ordner"])
            try check.doveadm(["mailbox", "unsubscribe", "-u", user, "Work"])
            var summary = try check.expectAgreement()
            #expect(summary.messages["Job/Reports"]?.map(\.uid) == [50, 51])
            #expect(summary.messages["INBOX"]?.count == 8)
            #expect(summary.messages["INBOX"]?.first { $0.uid == ids[0] }?.flags == ["\\Flagged", "$Important"])
            #expect(summary.messages["INBOX"]?.first { $0.uid == ids[2] }?.flags == ["\\Answered", "Junk", "$Label1"])

            // Round 3: MailStore again, now that Dovecot keeps indexes for these mailboxes.
            let reports = try store.mailboxName("Job/Reports")
            let third = try store.saveMessage(in: reports, bytes: TestMessage.make(id: "report3"), options: SaveOptions(flags: MessageFlags(keywords: ["$Important"])))
            #expect(third.uid == 52)
            try store.saveMessage(in: try store.mailboxName("Neu/Ordner"), bytes: TestMessage.make(id: "neu1"))
            try store.updateFlags(in: .inbox, uids: [ids[0]], .remove, MessageFlags(keywords: ["$Important"]))
            try store.updateFlags(in: .inbox, uids: [ids[4]], .add, MessageFlags(system: .deleted, keywords: ["Junk"]))
            try store.expunge(in: .inbox, uids: [ids[5]])
            try store.createMailbox(try store.mailboxName("Added/Later"))
            try store.renameMailbox(try store.mailboxName("Über"), to: try store.mailboxName("Ueber"))
            try store.deleteMailbox(try store.mailboxName("R&D/Q&A"))
            try store.subscribe(try store.mailboxName("Added/Later"))
            try store.unsubscribe(try store.mailboxName("Neu/Ordner"))
            try check.expectEverythingOwnedByVmail()
            summary = try check.expectAgreement()
            #expect(Set(summary.mailboxes.map(\.name)) == ["INBOX", "Job", "Job/Reports", "Ueber/Ünter", "Neu/Ordner", "Added/Later"])
            #expect(summary.subscriptions == ["Added/Later"])
            #expect(summary.messages["INBOX"]?.count == 7)

            // Round 4: Dovecot once more, on top of MailStore's latest changes.
            try check.doveadmSave(TestMessage.make(id: "d4"), mailbox: "Added/Later")
            try check.doveadmFlags("add", "\\Seen", mailbox: "Job/Reports", uids: "1:*")
            summary = try check.expectAgreement()
            #expect(summary.messages["Job/Reports"]?.allSatisfy { $0.flags.contains("\\Seen") } == true)
            #expect(summary.messages["Job/Reports"]?.first { $0.uid == 52 }?.flags == ["\\Seen", "$Important"])
        }
    }

    // MARK: Files written by others

    /// Message files that appear without a UID (written by a delivery agent, or saved by
    /// Dovecot while the uidlist was locked) get UIDs from whichever side reads the
    /// mailbox next. Both must number them alike: by the time in the name (seconds, then
    /// the microseconds after `M`), as Dovecot does, not by plain string order.
    @Test func filesWithoutUIDs_getTheSameUIDsWhicheverSideReadsFirst() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "frank"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            let store = check.store
            let root = try Self.makeEmptyMailRoot(dovecot, user: user)
            try store.createMailbox(.inbox)

            // Listed in the order Dovecot numbers them; as strings "M100000" < "M5" < "M99999".
            let deliveries: [(base: String, directory: String, info: String)] = [
                ("1699999999.M999999P7.mda", "cur", ":2,FR"),
                ("1700000000.M5P7.mda", "cur", ":2,S"),
                ("1700000000.M99999P7.mda", "new", ""),
                ("1700000000.M100000P6.mda", "new", ""),
                ("1700000000.M100000P7.mda", "cur", ":2,"),
                ("1700000001.M0P7.mda", "new", ""),
            ]
            func deliver(into directory: String) throws {
                for (index, delivery) in deliveries.enumerated() {
                    let body = TestMessage.make(id: "delivered-\(index)")
                    let base = delivery.base + ",S=\(body.count)"
                    let path = directory + "/" + delivery.directory + "/" + base + delivery.info
                    try Data(body).write(to: URL(fileURLWithPath: path))
                    try dovecot.chownToVmail(path: path)
                }
            }
            func order(_ listed: [MessageView]) -> [String] {
                listed.map { String($0.guid.prefix { $0 != "," }) }
            }
            let expected = deliveries.map(\.base)

            // Mailboxes with a uidlist, and hand-made ones without.
            for folder in ["MailStore First", "Dovecot First"] { try store.createMailbox(try store.mailboxName(folder)) }
            for folder in ["Hand Made MailStore First", "Hand Made Dovecot First"] {
                let directory = root + "/." + (try store.mailboxName(folder)).storageName
                for sub in ["", "/cur", "/new", "/tmp"] {
                    try FileManager.default.createDirectory(atPath: directory + sub, withIntermediateDirectories: false)
                }
                try dovecot.chownToVmail(path: directory)
            }
            for folder in ["INBOX", "MailStore First", "Dovecot First", "Hand Made MailStore First", "Hand Made Dovecot First"] {
                let name = try store.mailboxName(folder)
                try deliver(into: name.isInbox ? root : root + "/." + name.storageName)
            }

            for folder in ["INBOX", "MailStore First", "Hand Made MailStore First"] {
                #expect(order(try check.storeMessages(folder)) == expected, "\(folder), numbered by MailStore")
            }
            for folder in ["Dovecot First", "Hand Made Dovecot First"] {
                #expect(order(try check.doveadmMessages(folder)) == expected, "\(folder), numbered by Dovecot")
            }
            try check.expectEverythingOwnedByVmail()
            let summary = try check.expectAgreement()
            #expect(summary.mailboxes.count == 5)
            for (folder, messages) in summary.messages {
                #expect(messages.map(\.uid) == Array(1...6), "\(folder)")
                #expect(messages.first?.flags == ["\\Flagged", "\\Answered"], "\(folder)")
            }
        }
    }

    // MARK: Identity and numbering changes

    /// The sync engine rewrites a uidlist to adopt a peer's mailbox GUID and UIDVALIDITY,
    /// raise the next UID, or move a message to a new UID. Dovecot, which already indexed
    /// the mailbox, must follow without complaint.
    @Test func uidlistUpdates_areWhatDoveadmReportsNext() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "gina"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            let store = check.store
            for index in 1...4 { try check.doveadmSave(TestMessage.make(id: "u\(index)"), mailbox: "INBOX") }
            try check.doveadm(["mailbox", "create", "-u", user, "Peer"])
            for index in 1...3 { try check.doveadmSave(TestMessage.make(id: "p\(index)"), mailbox: "Peer") }
            try check.doveadmFlags("add", "\\Seen $Label1", mailbox: "INBOX", uids: "2")
            // Make new/ and cur/ look quiet, so that Dovecot's next sync records them in its
            // mailbox list index and later answers STATUS from there while they stay as they are.
            let root = dovecot.mailRoot(user: user)
            Self.backdate([root + "/new", root + "/cur", root + "/.Peer/new", root + "/.Peer/cur"])
            let before = try check.expectAgreement()
            let moved = try #require(before.messages["INBOX"]?.first { $0.uid == 2 })

            // Renumber one message and raise the next UID.
            let inbox = try store.updateUidlist(of: .inbox, UidlistUpdate(minimumNextUID: 40, renumber: [2: 30]))
            #expect(inbox.uidNext == 40)
            var summary = try check.expectAgreement()
            #expect(summary.messages["INBOX"]?.map(\.uid) == [1, 3, 4, 30])
            #expect(summary.messages["INBOX"]?.last == MessageView(uid: 30, guid: moved.guid, flags: moved.flags))
            #expect(summary.mailboxes.first { $0.name == "INBOX" }?.uidNext == 40)
            try check.doveadmSave(TestMessage.make(id: "u5"))
            #expect(try check.doveadmMessages("INBOX").last?.uid == 40)

            // Adopt a peer's GUID and UIDVALIDITY.
            let peerGUID = try #require(MailboxGUID(hex: "0123456789abcdef0123456789abcdef"))
            let peer = try store.updateUidlist(of: try store.mailboxName("Peer"), UidlistUpdate(mailboxGUID: peerGUID, uidValidity: 1_234_567))
            #expect(peer.guid == peerGUID)
            // STATUS first: Dovecot must not answer from its list index cache. Its index
            // still has the old UIDVALIDITY, so this first look says so (a warning; the
            // index is rebuilt); nothing else may be reported.
            let firstRead = try dovecot.doveadm(["mailbox", "status", "-u", user, "guid uidvalidity uidnext messages", "Peer"])
            let unexpected = firstRead.stderr.split(separator: "\n").filter { !($0.contains("UIDVALIDITY changed (") && $0.hasSuffix(" -> 1234567)")) }
            #expect(unexpected.isEmpty, "\(firstRead.stderr)")
            let peerStatus = try DoveadmOutputParser.parseMailboxStatus(firstRead.stdout)
            #expect(peerStatus.first?.uidValidity == 1_234_567)
            #expect(peerStatus.first?.guid == peerGUID.hex)
            summary = try check.expectAgreement()
            let status = try #require(summary.mailboxes.first { $0.name == "Peer" })
            #expect(status.guid == peerGUID.hex)
            #expect(status.uidValidity == 1_234_567)
            #expect(summary.messages["Peer"]?.map(\.uid) == [1, 2, 3])
        }
    }

    // MARK: Listing cache

    /// MailStore caches a quiet mailbox's listing (`duplex-scan.cache`); every kind of
    /// change Dovecot makes afterwards must show at once. The mailbox is made "quiet" by
    /// moving the directories' modification times back instead of waiting.
    @Test func listingCache_neverHidesAChangeDovecotMakes() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "erin"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            let store = check.store
            for index in 1...3 { try check.doveadmSave(TestMessage.make(id: "c\(index)")) }
            let root = dovecot.mailRoot(user: user)
            let cache = root + "/duplex-scan.cache"

            // Makes new/ and cur/ look untouched for 10 s, lists (which writes the cache)
            // and returns the listing.
            func listQuietMailbox() throws -> [MessageView] {
                Self.backdate([root + "/new", root + "/cur"])
                try? FileManager.default.removeItem(atPath: cache)
                let listed = try check.storeMessages("INBOX")
                #expect(FileManager.default.fileExists(atPath: cache), "the listing cache was not written")
                // The second listing comes from the cache and must be the same.
                #expect(try check.storeMessages("INBOX") == listed)
                return listed
            }

            // MailStore lists first, before another doveadm call could change anything
            // else in the mailbox; then doveadm must agree.
            func listAfterChange() throws -> [MessageView] {
                let listed = try check.storeMessages("INBOX")
                #expect(listed == (try check.doveadmMessages("INBOX")))
                return listed
            }

            // Messages 1-3 stay in new/ (doveadm renames them there), 4-6 are in cur/.
            for index in 4...6 {
                try store.saveMessage(in: .inbox, bytes: TestMessage.make(id: "c\(index)"), options: SaveOptions(flags: MessageFlags(system: .seen)))
            }
            var listed = try listQuietMailbox()
            #expect(listed.map(\.uid) == [1, 2, 3, 4, 5, 6])

            // Renames in cur/, then in new/.
            try check.doveadmFlags("add", "\\Flagged", mailbox: "INBOX", uids: "4")
            listed = try listAfterChange()
            #expect(listed.first { $0.uid == 4 }?.flags == ["\\Seen", "\\Flagged"])
            _ = try listQuietMailbox()
            try check.doveadmFlags("add", "\\Answered", mailbox: "INBOX", uids: "1")
            listed = try listAfterChange()
            #expect(listed.first { $0.uid == 1 }?.flags == ["\\Answered"])

            // Expunges in cur/, then in new/.
            _ = try listQuietMailbox()
            try check.doveadm(["expunge", "-u", user, "mailbox", "INBOX", "uid", "5"])
            listed = try listAfterChange()
            #expect(listed.map(\.uid) == [1, 2, 3, 4, 6])
            _ = try listQuietMailbox()
            try check.doveadm(["expunge", "-u", user, "mailbox", "INBOX", "uid", "2"])
            listed = try listAfterChange()
            #expect(listed.map(\.uid) == [1, 3, 4, 6])

            // A new message, and keywords that are new to dovecot-keywords.
            _ = try listQuietMailbox()
            try check.doveadmSave(TestMessage.make(id: "c7"))
            listed = try listAfterChange()
            #expect(listed.map(\.uid) == [1, 3, 4, 6, 7])
            _ = try listQuietMailbox()
            try check.doveadmFlags("replace", "$Label1 Junk", mailbox: "INBOX", uids: "6")
            listed = try listAfterChange()
            #expect(listed.first { $0.uid == 6 }?.flags == ["$Label1", "Junk"])
            try check.expectEverythingOwnedByVmail()

            // Dovecot deletes and renames folders that hold a listing cache.
            for folder in ["Cached", "Cached Too"] {
                let name = try store.mailboxName(folder)
                try store.createMailbox(name)
                try store.saveMessage(in: name, bytes: TestMessage.make(id: folder), options: SaveOptions(flags: MessageFlags(system: .seen)))
                let directory = root + "/." + name.storageName
                Self.backdate([directory + "/new", directory + "/cur"])
                #expect(try store.listMessages(in: name).count == 1)
                #expect(FileManager.default.fileExists(atPath: directory + "/duplex-scan.cache"))
            }
            try check.doveadm(["mailbox", "delete", "-u", user, "Cached"])
            #expect(!FileManager.default.fileExists(atPath: root + "/.Cached"))
            try check.doveadm(["mailbox", "rename", "-u", user, "Cached Too", "Renamed"])
            try check.doveadmFlags("add", "\\Flagged", mailbox: "Renamed", uids: "1")
            let summary = try check.expectAgreement()
            #expect(summary.mailboxes.map(\.name) == ["INBOX", "Renamed"])
            #expect(summary.messages["Renamed"]?.first?.flags == ["\\Seen", "\\Flagged"])
        }
    }

    // MARK: Ownership

    @Test func filesCreatedAsRoot_belongToTheMailRootsOwner() async throws {
        try #require(geteuid() == 0)
        try await DovecotInstance.withInstance { dovecot in
            let user = "dave"
            let check = DovecotAgreement(dovecot: dovecot, user: user)
            let store = check.store
            _ = try Self.makeEmptyMailRoot(dovecot, user: user)

            // Every kind of file the store writes: INBOX's directories and uidlist, the
            // UIDVALIDITY files, a folder, messages in new/ and cur/, keywords, subscriptions,
            // and the lock files while they exist.
            try store.createMailbox(.inbox)
            try store.createMailbox(try store.mailboxName("Folder/Child"))
            try store.saveMessage(in: .inbox, bytes: TestMessage.make(id: "o1"))
            try store.saveMessage(in: .inbox, bytes: TestMessage.make(id: "o2"), options: SaveOptions(flags: MessageFlags(system: .seen, keywords: ["$Label1"])))
            try store.saveMessage(in: try store.mailboxName("Folder/Child"), bytes: TestMessage.make(id: "o3"))
            try store.updateFlags(in: .inbox, uids: [1], .add, MessageFlags(keywords: ["Junk"]))
            try store.subscribe(try store.mailboxName("Folder/Child"))
            let vmail = try #require(SystemAccounts.vmail)
            try Dotlock.withLock(for: store.root + "/dovecot-uidlist") { lock in
                var info = stat()
                #expect(lstat(lock.lockPath, &info) == 0)
                #expect(info.st_uid == vmail.uid && info.st_gid == vmail.gid)
                // Dovecot waiting for this lock watches it with inotify, which needs read
                // access, also in the instant before the fchown (Dovecot: "inotify_add_watch
                // failed: Permission denied").
                #expect(info.st_mode & 0o044 == 0o044, "lock mode \(String(info.st_mode & 0o777, radix: 8))")
            }
            try check.expectEverythingOwnedByVmail()

            // And Dovecot, running as vmail, can change all of it.
            try check.doveadmSave(TestMessage.make(id: "o4"))
            try check.doveadmFlags("add", "\\Flagged NewKeyword", mailbox: "INBOX", uids: "1:*")
            try check.doveadm(["expunge", "-u", user, "mailbox", "INBOX", "uid", "2"])
            try check.doveadm(["mailbox", "rename", "-u", user, "Folder", "Renamed"])
            try check.doveadm(["mailbox", "subscribe", "-u", user, "Renamed/Child"])
            try check.doveadmSave(TestMessage.make(id: "o5"), mailbox: "Renamed/Child")
            try check.doveadm(["mailbox", "delete", "-u", user, "Renamed/Child"])
            let summary = try check.expectAgreement()
            #expect(summary.messages["INBOX"]?.map(\.uid) == [1, 3])
            #expect(summary.subscriptions == ["Folder/Child", "Renamed/Child"])
        }
    }

    // MARK: Helpers

    /// Sets the modification time of `directories` 10 s back, as if nothing had changed in
    /// them for a while (instead of waiting).
    static func backdate(_ directories: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let then = time(nil) - 10
        for directory in directories {
            var times = [timeval(tv_sec: then, tv_usec: 0), timeval(tv_sec: then, tv_usec: 0)]
            #expect(utimes(directory, &times) == 0, "utimes \(directory)", sourceLocation: sourceLocation)
        }
    }

    /// Makes the user's home and an empty `Maildir` owned by vmail, as provisioning would,
    /// without letting Dovecot create anything in it.
    static func makeEmptyMailRoot(_ dovecot: DovecotInstance, user: String) throws -> String {
        try dovecot.makeHomeDirectory(user: user)
        let root = dovecot.mailRoot(user: user)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try dovecot.chownToVmail(path: root)
        return root
    }
}
