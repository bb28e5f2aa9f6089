import Testing

@testable import MailStore

@Suite("MailStore messages")
struct MailStoreMessagesTests {
    static let box = try! MailboxName("Box")

    static func withBox<T>(_ body: (ScratchDirectory, MailStore) throws -> T) throws -> T {
        try ScratchDirectory.with { dir in
            try dir.store.createMailbox(box)
            return try body(dir, dir.store)
        }
    }

    static func flags(_ tokens: String...) throws -> MessageFlags { try MessageFlags(parsing: tokens) }

    @Test func listMessages_reportsUIDGUIDFlagsSizeAndPlace() throws {
        try Self.withBox { _, store in
            let a = try store.saveMessage(in: Self.box, bytes: sampleMessage(1))
            let b = try store.saveMessage(in: Self.box, bytes: sampleMessage(22), options: SaveOptions(flags: try Self.flags("\\Seen")))
            let listed = try store.listMessages(in: Self.box)
            #expect(listed.map(\.uid) == [1, 2])
            #expect(listed.map(\.guid) == [a.guid, b.guid])
            #expect(listed.map(\.fileName) == [a.fileName, b.fileName])
            #expect(listed.map(\.isInNew) == [true, false])
            #expect(listed.map(\.size) == [Int64(sampleMessage(1).count), Int64(sampleMessage(22).count)])
            #expect(listed.map(\.flags) == [MessageFlags(), MessageFlags(system: .seen)])
            #expect(try store.status(of: Self.box).messages == 2)
        }
    }

    @Test func updateFlags_addRemoveAndReplaceRenameTheFileInPlace() throws {
        try Self.withBox { dir, store in
            let saved = try store.saveMessage(in: Self.box, bytes: sampleMessage(1))
            let base = saved.fileName

            #expect(try store.updateFlags(in: Self.box, uids: [1], .add, try Self.flags("\\Seen", "$Label1")) == [1])
            // Dovecot renames in place: the file stays in new/.
            #expect(try dir.entries(".Box/new") == [base + ":2,Sa"])
            #expect(try dir.readText(".Box/dovecot-keywords") == "0 $Label1\n")

            try store.updateFlags(in: Self.box, uids: [1], .add, try Self.flags("\\Flagged", "Junk", "$label1"))
            #expect(try dir.entries(".Box/new") == [base + ":2,FSab"])
            #expect(try dir.readText(".Box/dovecot-keywords") == "0 $Label1\n1 Junk\n")
            #expect(try store.listMessages(in: Self.box)[0].flags == MessageFlags(system: [.seen, .flagged], keywords: ["$Label1", "Junk"]))

            try store.updateFlags(in: Self.box, uids: [1], .remove, try Self.flags("\\Seen", "$Label1", "NeverDefined"))
            #expect(try dir.entries(".Box/new") == [base + ":2,Fb"])
            #expect(try dir.readText(".Box/dovecot-keywords") == "0 $Label1\n1 Junk\n")

            try store.updateFlags(in: Self.box, uids: [1], .replace, try Self.flags("\\Answered", "\\Draft", "$Label1"))
            #expect(try dir.entries(".Box/new") == [base + ":2,DRa"])

            try store.updateFlags(in: Self.box, uids: [1], .replace, MessageFlags())
            #expect(try dir.entries(".Box/new") == [base + ":2,"])
            #expect(try store.listMessages(in: Self.box)[0].flags == MessageFlags())
            // The UID and GUID do not change with the name.
            #expect(try dir.uidlistLines(".Box").dropFirst() == ["1 :" + base])
            #expect(try store.listMessages(in: Self.box).map(\.guid) == [base])
        }
    }

    @Test func updateFlags_onlyTouchesTheGivenUIDsAndIgnoresMissingOnes() throws {
        try Self.withBox { dir, store in
            let first = try store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(flags: try Self.flags("\\Seen")))
            let second = try store.saveMessage(in: Self.box, bytes: sampleMessage(2), options: SaveOptions(flags: try Self.flags("\\Seen")))
            #expect(try store.updateFlags(in: Self.box, uids: [2, 99], .add, try Self.flags("\\Deleted")) == [2])
            let base1 = String(first.fileName.prefix { $0 != ":" })
            let base2 = String(second.fileName.prefix { $0 != ":" })
            #expect(try dir.entries(".Box/cur") == [base1 + ":2,S", base2 + ":2,ST"].sorted())
        }
    }

    @Test func replace_keepsKeywordLettersThatHaveNoName() throws {
        try Self.withBox { dir, store in
            // A letter "c" with no name in dovecot-keywords, e.g. written by another tool.
            try dir.write(".Box/cur/1700000000.M1P1.other:2,Sc", sampleMessage(1))
            try store.updateFlags(in: Self.box, uids: [1], .replace, try Self.flags("\\Flagged", "Junk"))
            #expect(try dir.readText(".Box/dovecot-keywords") == "0 Junk\n")
            #expect(try dir.entries(".Box/cur") == ["1700000000.M1P1.other:2,Fac"])
        }
    }

    @Test func flagChange_dropsForeignInfo() throws {
        try Self.withBox { dir, store in
            try dir.write(".Box/cur/1700000000.M1P1.other:1,odd", sampleMessage(1))
            try store.updateFlags(in: Self.box, uids: [1], .add, try Self.flags("\\Seen"))
            #expect(try dir.entries(".Box/cur") == ["1700000000.M1P1.other:2,S"])
        }
    }

    @Test func twentySeventhKeyword_isRejectedAndNothingIsRenamed() throws {
        try Self.withBox { dir, store in
            try store.saveMessage(in: Self.box, bytes: sampleMessage(1))
            let keywords = (0..<26).map { "k\($0)" }
            try store.updateFlags(in: Self.box, uids: [1], .add, try MessageFlags(parsing: keywords))
            let before = try FileTreeSnapshot(of: dir.path)
            let error = #expect(throws: MailStoreError.self) {
                try store.updateFlags(in: Self.box, uids: [1], .add, try Self.flags("\\Seen", "one-too-many"))
            }
            #expect(error?.code == .invalidArgument)
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test func mailboxContents_countsFreeKeywordLetters_notTakingNamedOrUnnamedOnesOnFiles() throws {
        try Self.withBox { dir, store in
            // "c" on a file without a name; "Stale" named but on no message.
            try dir.write(".Box/cur/1700000000.M1P1.other:2,Sc", sampleMessage(1))
            try store.updateFlags(in: Self.box, uids: [1], .add, try Self.flags("Junk", "Stale"))
            try store.updateFlags(in: Self.box, uids: [1], .remove, try Self.flags("Stale"))
            let contents = try store.mailboxContents(of: Self.box)
            #expect(contents.keywords.names == ["Junk", "Stale"])
            #expect(contents.freeKeywordLetters == 23)
            #expect(contents.messages.map(\.flags) == [try Self.flags("\\Seen", "Junk")])
            #expect(contents.status.messages == 1)
        }
    }

    @Test func replaceFlags_droppingKeywordsThatDoNotFit_setsTheOthers() throws {
        try Self.withBox { dir, store in
            try store.saveMessage(in: Self.box, bytes: sampleMessage(1))
            try store.updateFlags(in: Self.box, uids: [1], .add, try MessageFlags(parsing: (0..<25).map { "k\($0)" }))
            // One letter left: "Alpha" (first in code-point order) gets it, "Beta" is left out.
            let done = try store.replaceFlags(in: Self.box, [1: try Self.flags("\\Seen", "Beta", "Alpha", "k3")], keywordOverflow: .drop)
            #expect(done == [1])
            #expect(try store.listMessages(in: Self.box)[0].flags == MessageFlags(system: .seen, keywords: ["k3", "Alpha"]), "listed in letter order")
            #expect(try store.mailboxContents(of: Self.box).freeKeywordLetters == 0)
            #expect(!(try dir.readText(".Box/dovecot-keywords").contains("Beta")))
        }
    }

    @Test func replaceFlags_expectingWhatWasRead_leavesAMessageChangedSince_andSetsTheOthers() throws {
        try Self.withBox { _, store in
            for number in 1...2 { try store.saveMessage(in: Self.box, bytes: sampleMessage(number)) }
            try store.updateFlags(in: Self.box, uids: [1, 2], .add, try Self.flags("Junk"))
            let read = try store.listMessages(in: Self.box)
            // A client changes message 1 after the read.
            try store.updateFlags(in: Self.box, uids: [1], .add, try Self.flags("\\Flagged"))
            let expected = Dictionary(uniqueKeysWithValues: read.map { ($0.uid, $0.flags) })
            let wanted: [UInt32: MessageFlags] = [1: try Self.flags("\\Seen", "Junk"), 2: try Self.flags("\\Seen", "JUNK")]
            let done = try store.replaceFlags(in: Self.box, wanted, expecting: expected)
            #expect(done == [2])
            let now = try store.listMessages(in: Self.box).map(\.flags)
            #expect(now == [try Self.flags("\\Flagged", "Junk"), try Self.flags("\\Seen", "Junk")], "the client's change is kept")
        }
    }

    @Test func expungeThenSave_neverReusesAUID() throws {
        try Self.withBox { dir, store in
            for number in 1...3 { try store.saveMessage(in: Self.box, bytes: sampleMessage(number)) }
            #expect(try store.expunge(in: Self.box, uids: [3, 42]) == [3])
            #expect(try store.listMessages(in: Self.box).map(\.uid) == [1, 2])
            #expect(try store.status(of: Self.box).uidNext == 4)
            #expect(try store.saveMessage(in: Self.box, bytes: sampleMessage(4)).uid == 4)
            #expect(try store.listMessages(in: Self.box).map(\.uid) == [1, 2, 4])
            // Below the compaction threshold the expunged record stays in the uidlist.
            #expect(try dir.uidlist(".Box").records.map(\.uid) == [1, 2, 3, 4])
        }
    }

    @Test func expungingAQuarterOfEightMessages_compactsTheUidlistAndKeepsNextUID() throws {
        try Self.withBox { dir, store in
            for number in 1...8 { try store.saveMessage(in: Self.box, bytes: sampleMessage(number)) }
            let validity = try dir.uidlist(".Box").uidValidity
            let guid = try dir.uidlist(".Box").mailboxGUID
            // Header N1 from creation, records appended: the header does not know about UID 8.
            #expect(try dir.uidlist(".Box").headerNextUID == 1)

            #expect(try store.expunge(in: Self.box, uids: [7, 8]) == [7, 8])

            let compacted = try dir.uidlist(".Box")
            #expect(compacted.records.map(\.uid) == [1, 2, 3, 4, 5, 6])
            #expect(compacted.headerNextUID == 9)
            #expect(compacted.uidValidity == validity)
            #expect(compacted.mailboxGUID == guid)
            #expect(try dir.uidlistLines(".Box")[0] == "3 V\(validity) N9 G\(guid!.hex)")
            #expect(!dir.exists(".Box/dovecot-uidlist.lock"))
            #expect(try store.saveMessage(in: Self.box, bytes: sampleMessage(9)).uid == 9)
            #expect(try store.listMessages(in: Self.box).map(\.uid) == [1, 2, 3, 4, 5, 6, 9])
        }
    }

    @Test func expungingLessThanAQuarter_appendsNothingAndKeepsRecords() throws {
        try Self.withBox { dir, store in
            for number in 1...8 { try store.saveMessage(in: Self.box, bytes: sampleMessage(number)) }
            let before = try dir.read(".Box/dovecot-uidlist")
            try store.expunge(in: Self.box, uids: [4])
            #expect(try dir.read(".Box/dovecot-uidlist") == before)
        }
    }

    @Test func compactionAfterSeveralRounds_stillNeverReusesUIDs() throws {
        try Self.withBox { dir, store in
            var used: Set<UInt32> = []
            for round in 0..<4 {
                for number in 0..<8 {
                    let uid = try store.saveMessage(in: Self.box, bytes: sampleMessage(round * 10 + number)).uid
                    #expect(!used.contains(uid), "UID \(uid) reused in round \(round)")
                    used.insert(uid)
                }
                // Expunge everything but the lowest message, including the highest UID.
                let live = try store.listMessages(in: Self.box).map(\.uid)
                try store.expunge(in: Self.box, uids: Array(live.dropFirst()))
                #expect(try dir.uidlist(".Box").nextUID == used.max()! + 1)
            }
            #expect(try dir.uidlist(".Box").records.map(\.uid) == [1])
        }
    }

    @Test func fileDroppedIntoNewByAnMDA_getsTheNextUIDWhenListed() throws {
        try Self.withBox { dir, store in
            try store.saveMessage(in: Self.box, bytes: sampleMessage(1))
            try dir.write(".Box/new/1700000000.M5P99.mda", sampleMessage(2))
            try dir.write(".Box/new/1700000000.M4P99.mda", sampleMessage(3))
            let listed = try store.listMessages(in: Self.box)
            #expect(listed.map(\.uid) == [1, 2, 3])
            // New files get UIDs in file name order.
            #expect(listed.map(\.fileName).dropFirst() == ["1700000000.M4P99.mda", "1700000000.M5P99.mda"])
            #expect(listed[1].size == Int64(sampleMessage(3).count))
            #expect(try dir.uidlistLines(".Box").suffix(2) == ["2 :1700000000.M4P99.mda", "3 :1700000000.M5P99.mda"])
            #expect(try store.listMessages(in: Self.box).map(\.uid) == [1, 2, 3])
            #expect(try store.openMessage(in: Self.box, uid: 2).readAll() == sampleMessage(3))
        }
    }

    @Test func mailboxWithoutUidlist_getsOneWhenRead() throws {
        try ScratchDirectory.with { dir in
            try dir.makeDirectories(".Imported/cur")
            try dir.makeDirectories(".Imported/new")
            try dir.write(".Imported/cur/1700000000.M1P1.x:2,S", sampleMessage(1))
            let name = try MailboxName("Imported")
            #expect(try dir.store.listMessages(in: name).map(\.uid) == [1])
            let uidlist = try dir.uidlist(".Imported")
            #expect(uidlist.mailboxGUID != nil)
            #expect(uidlist.uidValidity != 0)
            #expect(uidlist.records == [Uidlist.Record(uid: 1, baseName: "1700000000.M1P1.x")])
        }
    }

    @Test func versionOneUidlist_isUpgradedKeepingUIDs() throws {
        try ScratchDirectory.with { dir in
            try dir.makeDirectories(".Old/cur")
            try dir.makeDirectories(".Old/new")
            try dir.write(".Old/dovecot-uidlist", "1 1700000000 8\n5 1700000000.M1P1.x:2,S\n")
            try dir.write(".Old/cur/1700000000.M1P1.x:2,S", sampleMessage(1))
            let listed = try dir.store.listMessages(in: try MailboxName("Old"))
            #expect(listed.map(\.uid) == [5])
            let uidlist = try dir.uidlist(".Old")
            #expect(uidlist.version == 3)
            #expect(uidlist.uidValidity == 1_700_000_000)
            #expect(uidlist.headerNextUID == 8)
            #expect(uidlist.mailboxGUID != nil)
        }
    }

    @Test func openMissingUID_isNotFound() throws {
        try Self.withBox { dir, store in
            try store.saveMessage(in: Self.box, bytes: sampleMessage(1))
            try store.expunge(in: Self.box, uids: [1])
            for uid: UInt32 in [1, 2] {
                let error = #expect(throws: MailStoreError.self) { try store.openMessage(in: Self.box, uid: uid) }
                #expect(error?.code == .notFound)
            }
        }
    }

    @Test func sizeWithoutSInName_comesFromTheFile() throws {
        try Self.withBox { dir, store in
            try dir.write(".Box/cur/plainname:2,S", sampleMessage(1))
            try dir.write(".Box/cur/named,S=5:2,", sampleMessage(2))
            let listed = try store.listMessages(in: Self.box)
            #expect(listed.map(\.size) == [5, Int64(sampleMessage(1).count)])
        }
    }
}
