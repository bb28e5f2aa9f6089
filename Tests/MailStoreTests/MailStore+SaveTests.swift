#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Testing

@testable import MailStore

@Suite("MailStore save")
struct MailStoreSaveTests {
    static let box = try! MailboxName("Box")

    /// A store with an empty folder "Box" (directory `.Box`).
    static func withBox<T>(_ body: (ScratchDirectory, MailStore) throws -> T) throws -> T {
        try ScratchDirectory.with { dir in
            try dir.store.createMailbox(box)
            return try body(dir, dir.store)
        }
    }

    @Test func saveWithoutFlags_goesToNewWithSizesInTheName() throws {
        try Self.withBox { dir, store in
            let body = Array("a\nb\r\nc\n".utf8)
            let saved = try store.saveMessage(in: Self.box, bytes: body)
            #expect(saved.uid == 1)
            #expect(saved.size == 7)
            #expect(saved.fileName.hasSuffix(",S=7,W=9"))
            #expect(saved.fileName.contains("P\(getpid()).testhost"))
            #expect(saved.guid == saved.fileName)
            #expect(try dir.entries(".Box/new") == [saved.fileName])
            #expect(try dir.entries(".Box/cur") == [])
            #expect(try dir.entries(".Box/tmp") == [])
            #expect(try dir.read(".Box/new/" + saved.fileName) == body)
            #expect(try dir.uidlistLines(".Box").dropFirst() == ["1 :" + saved.fileName])
            #expect(!dir.exists(".Box/dovecot-uidlist.lock"))
        }
    }

    @Test func saveWithFlags_goesToCurWithInfo() throws {
        try Self.withBox { dir, store in
            let saved = try store.saveMessage(
                in: Self.box, bytes: sampleMessage(1),
                options: SaveOptions(flags: try MessageFlags(parsing: ["\\Seen \\Flagged"])))
            #expect(saved.fileName.hasSuffix(":2,FS"))
            #expect(try dir.entries(".Box/cur") == [saved.fileName])
            #expect(try dir.entries(".Box/new") == [])
            let base = String(saved.fileName.prefix { $0 != ":" })
            #expect(saved.guid == base)
            #expect(try dir.uidlistLines(".Box").dropFirst() == ["1 :" + base])
        }
    }

    @Test func saveWithKeywords_recordsThemInDovecotKeywords() throws {
        try Self.withBox { dir, store in
            let saved = try store.saveMessage(
                in: Self.box, bytes: sampleMessage(1),
                options: SaveOptions(flags: try MessageFlags(parsing: ["$Label1", "Junk"])))
            #expect(saved.fileName.hasSuffix(":2,ab"))
            #expect(try dir.readText(".Box/dovecot-keywords") == "0 $Label1\n1 Junk\n")
            let second = try store.saveMessage(
                in: Self.box, bytes: sampleMessage(2),
                options: SaveOptions(flags: try MessageFlags(parsing: ["junk", "\\Answered"])))
            #expect(second.fileName.hasSuffix(":2,Rb"))
            #expect(try dir.readText(".Box/dovecot-keywords") == "0 $Label1\n1 Junk\n")
            let listed = try store.listMessages(in: Self.box)
            #expect(listed.map(\.flags) == [
                MessageFlags(keywords: ["$Label1", "Junk"]),
                MessageFlags(system: .answered, keywords: ["Junk"]),
            ])
            #expect(!dir.exists(".Box/dovecot-keywords.lock"))
        }
    }

    @Test func batchDroppingKeywordsThatDoNotFit_savesEveryMessage_andRefusingSavesNone() throws {
        try Self.withBox { dir, store in
            let full = (0..<26).map { "k\($0)" }
            try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(flags: try MessageFlags(parsing: full)))
            func batch(_ overflow: KeywordOverflow) throws -> SaveBatch {
                let batch = try store.makeSaveBatch(in: Self.box)
                batch.keywordOverflow = overflow
                try batch.add(options: SaveOptions(flags: try MessageFlags(parsing: ["\\Seen", "New", "k4"]))) { try $0.write(sampleMessage(2)) }
                return batch
            }
            #expect(throws: MailStoreError.self) { try batch(.refuse).commit() }
            #expect(try store.listMessages(in: Self.box).count == 1)

            let saved = try batch(.drop).commit()
            #expect(saved.map(\.uid) == [2])
            #expect(saved[0].fileName.hasSuffix(":2,Se"))
            #expect(try store.listMessages(in: Self.box).last?.flags == MessageFlags(system: .seen, keywords: ["k4"]))
            #expect(!(try dir.readText(".Box/dovecot-keywords").contains("New")))
        }
    }

    @Test func saveWithExplicitUID_usesItAndMovesNextUIDPast() throws {
        try Self.withBox { dir, store throws in
            #expect(try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(uid: 10)).uid == 10)
            #expect(try store.saveMessage(in: Self.box, bytes: sampleMessage(2)).uid == 11)
            #expect(try store.saveMessage(in: Self.box, bytes: sampleMessage(3), options: SaveOptions(uid: 12)).uid == 12)
            #expect(try store.status(of: Self.box).uidNext == 13)
            #expect(try dir.uidlist(".Box").records.map(\.uid) == [10, 11, 12])
        }
    }

    @Test(arguments: [UInt32(1), 9, 10])
    func saveWithUIDBelowNext_isUIDNotAvailableAndLeavesNothing(uid: UInt32) throws {
        try Self.withBox { dir, store in
            try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(uid: 10))
            let before = try FileTreeSnapshot(of: dir.path)
            let uidlistBefore = try dir.read(".Box/dovecot-uidlist")
            let error = #expect(throws: MailStoreError.self) {
                try store.saveMessage(
                    in: Self.box, bytes: sampleMessage(2),
                    options: SaveOptions(uid: uid, flags: try MessageFlags(parsing: ["\\Seen", "NewKeyword"])))
            }
            #expect(error?.code == .uidNotAvailable)
            #expect(error?.path == dir.path(".Box/dovecot-uidlist"))
            #expect(try dir.entries(".Box/tmp") == [])
            #expect(try dir.entries(".Box/new").count == 1)
            #expect(try dir.entries(".Box/cur") == [])
            #expect(try dir.read(".Box/dovecot-uidlist") == uidlistBefore)
            #expect(!dir.exists(".Box/dovecot-keywords"))
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test(arguments: [UInt32(0), UInt32.max])
    func saveWithInvalidUID_isInvalidArgument(uid: UInt32) throws {
        try Self.withBox { dir, store in
            let before = try FileTreeSnapshot(of: dir.path)
            let error = #expect(throws: MailStoreError.self) {
                try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(uid: uid))
            }
            #expect(error?.code == .invalidArgument)
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test func saveWhenUIDsAreExhausted_failsAndLeavesNothing() throws {
        try Self.withBox { dir, store in
            let uidlist = try dir.uidlist(".Box")
            try dir.write(".Box/dovecot-uidlist", uidlist.headerLine() + "4294967295 :gone\n")
            let before = try FileTreeSnapshot(of: dir.path)
            let error = #expect(throws: MailStoreError.self) { try store.saveMessage(in: Self.box, bytes: sampleMessage(1)) }
            #expect(error?.code == .badData)
            #expect(error?.message.contains("exhausted") == true)
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test func peerGUIDWithMatchingSizes_becomesTheFileName() throws {
        try Self.withBox { dir, store in
            let body = sampleMessage(1)
            let virtualSize = body.count + body.indices.filter { body[$0] == 0x0a && ($0 == 0 || body[$0 - 1] != 0x0d) }.count
            let guid = "1795969469.M307368P17453.vm,S=\(body.count),W=\(virtualSize)"
            let saved = try store.saveMessage(in: Self.box, bytes: body, options: SaveOptions(guid: guid))
            #expect(saved.fileName == guid)
            #expect(saved.guid == guid)
            #expect(try dir.entries(".Box/new") == [guid])
            #expect(try dir.uidlistLines(".Box").dropFirst() == ["1 :" + guid])
            #expect(try store.listMessages(in: Self.box).map(\.guid) == [guid])
        }
    }

    @Test func peerGUIDWithoutSizes_becomesTheFileName() throws {
        try Self.withBox { dir, store in
            let saved = try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(guid: "peer-guid-1"))
            #expect(saved.fileName == "peer-guid-1")
            #expect(try store.listMessages(in: Self.box).map(\.size) == [Int64(sampleMessage(1).count)])
        }
    }

    @Test(arguments: ["1795969469.M307368P17453.vm,S=1,W=99", "1795969469.M307368P17453.vm,W=1", "has:colon", ".hidden", "ÜnicodeGUID"])
    func peerGUIDNotUsableAsName_isStoredAsGExtension(guid: String) throws {
        try Self.withBox { dir, store in
            let saved = try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(guid: guid))
            #expect(saved.guid == guid)
            #expect(saved.fileName != guid)
            #expect(saved.fileName.contains(".testhost,S="))
            #expect(try dir.uidlistLines(".Box").dropFirst() == ["1 G\(guid) :\(saved.fileName)"])
            #expect(try store.listMessages(in: Self.box).map(\.guid) == [guid])
        }
    }

    @Test func peerGUIDAlreadyUsedAsName_isStoredAsGExtension() throws {
        try Self.withBox { dir, store in
            let first = try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(guid: "dup"))
            let second = try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(guid: "dup"))
            #expect(first.fileName == "dup")
            #expect(second.fileName != "dup")
            #expect(try dir.uidlistLines(".Box").dropFirst() == ["1 :dup", "2 Gdup :\(second.fileName)"])
            #expect(try store.listMessages(in: Self.box).map(\.guid) == ["dup", "dup"])
        }
    }

    @Test(arguments: ["", "has space", "tab\there", "nul\u{0}"])
    func invalidPeerGUID_isRejected(guid: String) throws {
        try Self.withBox { dir, store in
            let before = try FileTreeSnapshot(of: dir.path)
            let error = #expect(throws: MailStoreError.self) {
                try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(guid: guid))
            }
            #expect(error?.code == .invalidArgument)
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test func savedBody_readsBackByteForByte() throws {
        try Self.withBox { _, store in
            var generator = SplitMix64(seed: 0x5EED_0004)
            let large = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let bodies: [[UInt8]] = [[], Array("x".utf8), sampleMessage(1), large]
            for body in bodies {
                let saved = try store.saveMessage(in: Self.box, bytes: body)
                let reader = try store.openMessage(in: Self.box, uid: saved.uid)
                #expect(try reader.readAll() == body)
                #expect(try reader.readAll() == [])
                reader.close()
                let chunked = try store.openMessage(in: Self.box, uid: saved.uid)
                var collected: [UInt8] = []
                while true {
                    let chunk = try chunked.read(maxLength: 4096)
                    if chunk.isEmpty { break }
                    #expect(chunk.count <= 4096)
                    collected += chunk
                }
                #expect(collected == body)
            }
        }
    }

    @Test func saveFromFile_storesTheFileContent() throws {
        try Self.withBox { dir, store in
            try dir.write("message.eml", sampleMessage(7))
            let saved = try store.saveMessage(in: Self.box, contentsOf: dir.path("message.eml"))
            #expect(try store.openMessage(in: Self.box, uid: saved.uid).readAll() == sampleMessage(7))
        }
    }

    @Test func failingBodyWriter_leavesNothingBehind() throws {
        try Self.withBox { dir, store in
            struct Interrupted: Error {}
            let before = try FileTreeSnapshot(of: dir.path)
            #expect(throws: Interrupted.self) {
                try store.saveMessage(in: Self.box) { writer in
                    try writer.write(Array("partial".utf8))
                    throw Interrupted()
                }
            }
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test func receivedDate_isStoredAsModificationTime() throws {
        try Self.withBox { _, store in
            try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(receivedDate: 1_600_000_000))
            try store.saveMessage(in: Self.box, bytes: sampleMessage(2))
            let withDates = try store.listMessages(in: Self.box, options: MessageListOptions(receivedDate: true))
            #expect(withDates[0].receivedDate == 1_600_000_000)
            let now = POSIX.wallClock().seconds
            #expect(withDates[1].receivedDate.map { abs($0 - now) < 60 } == true)
            let withoutDates = try store.listMessages(in: Self.box)
            #expect(withoutDates.map(\.receivedDate) == [nil, nil])
        }
    }

    @Test func saveIntoMissingMailbox_isNotFound() throws {
        try ScratchDirectory.with { dir throws in
            let error = #expect(throws: MailStoreError.self) {
                try dir.store.saveMessage(in: try MailboxName("Missing"), bytes: sampleMessage(1))
            }
            #expect(error?.code == .notFound)
            #expect(try dir.entries("") == [])
        }
    }

    @Test func saveIntoInboxOfEmptyRoot_isRejectedAndCreatesNothing() throws {
        // Reading or saving never turns a wrong path into a Maildir; creating INBOX does.
        try ScratchDirectory.with { dir throws in
            let error = #expect(throws: MailStoreError.self) { try dir.store.saveMessage(in: .inbox, bytes: sampleMessage(1)) }
            #expect(error?.code == .badData)
            #expect(error?.path == dir.path("cur"))
            #expect(try dir.entries("") == [])
        }
    }

    @Test func saveIntoCreatedInbox_goesToTheRootsNew() throws {
        try ScratchDirectory.with { dir in
            try dir.store.createMailbox(.inbox)
            let saved = try dir.store.saveMessage(in: .inbox, bytes: sampleMessage(1))
            #expect(saved.uid == 1)
            #expect(try dir.entries("new") == [saved.fileName])
            let uidlist = try dir.uidlist()
            #expect(uidlist.mailboxGUID != nil)
            #expect(uidlist.records.map(\.uid) == [1])
        }
    }

    @Test func manySaves_getConsecutiveUIDsAndUniqueNames() throws {
        try Self.withBox { dir, store in
            let saved = try (1...50).map { try store.saveMessage(in: Self.box, bytes: sampleMessage($0)) }
            #expect(saved.map(\.uid) == Array(1...50))
            #expect(Set(saved.map(\.fileName)).count == 50)
            #expect(try dir.uidlist(".Box").records.map(\.uid) == Array(1...50))
        }
    }

    @Test func batchesOfSeveralMailboxes_madeDurableTogether_commitWithoutASyncOfTheirOwn_andAnAddUndoesIt() throws {
        try Self.withBox { dir, store in
            let other = try MailboxName("Other")
            _ = try store.createMailbox(other)
            let first = try store.makeSaveBatch(in: Self.box)
            let second = try store.makeSaveBatch(in: other)
            let empty = try store.makeSaveBatch(in: other)
            try first.add(options: SaveOptions(uid: 5)) { try $0.write(sampleMessage(1)) }
            try second.add(options: SaveOptions()) { try $0.write(sampleMessage(2)) }
            #expect(!first.bodiesDurable && !second.bodiesDurable)
            try SaveBatch.makeDurable([first, second, empty])
            #expect(first.bodiesDurable && second.bodiesDurable)
            // A body added afterwards is not durable yet: the batch syncs it at its commit.
            try second.add(options: SaveOptions(flags: MessageFlags(system: .seen))) { try $0.write(sampleMessage(3)) }
            #expect(!second.bodiesDurable)
            #expect(try first.commit().map(\.uid) == [5])
            #expect(try second.commit().map(\.uid) == [1, 2])
            #expect(try empty.commit().isEmpty)
            #expect(!first.bodiesDurable, "a committed batch starts over")
            #expect(try store.listMessages(in: Self.box).map(\.uid) == [5])
            #expect(try store.listMessages(in: other).map(\.flags) == [MessageFlags(), MessageFlags(system: .seen)])
            // Nothing is left in tmp/.
            #expect(try POSIX.directoryEntries(dir.path(".Box/tmp")).isEmpty && POSIX.directoryEntries(dir.path(".Other/tmp")).isEmpty)
        }
    }

    @Test func aMailboxWithout_tmp_getsItBack_atTheFirstSave() throws {
        try Self.withBox { dir, store in
            #expect(rmdir(dir.path(".Box/tmp")) == 0)
            let saved = try store.saveMessage(in: Self.box, bytes: sampleMessage(1))
            #expect(saved.uid == 1)
            #expect(POSIX.exists(dir.path(".Box/tmp")))
            #expect(try POSIX.directoryEntries(dir.path(".Box/tmp")).isEmpty)
            #expect(try store.listMessages(in: Self.box).map(\.uid) == [1])
        }
    }
}
