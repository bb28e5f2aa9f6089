import Testing

@testable import MailStore

@Suite("MailStore mailboxes")
struct MailStoreMailboxesTests {
    @Test func createMailbox_makesMaildirWithUidlistAndMaildirfolder() throws {
        try ScratchDirectory.with { dir in
            let store = dir.store
            let status = try store.createMailbox(try MailboxName("Archive/2024"))
            #expect(try dir.entries(".Archive.2024") == ["cur", "dovecot-uidlist", "maildirfolder", "new", "tmp"])
            #expect(try dir.read(".Archive.2024/maildirfolder").isEmpty)
            let uidlist = try dir.uidlist(".Archive.2024")
            #expect(try dir.readText(".Archive.2024/dovecot-uidlist") == "3 V\(status.uidValidity) N1 G\(status.guid.hex)\n")
            #expect(uidlist.mailboxGUID == status.guid)
            #expect(status.name == (try MailboxName("Archive/2024")))
            #expect(status.uidNext == 1)
            #expect(status.messages == 0)
            #expect(!status.isSubscribed)
            // UIDVALIDITY came from the root's allocator; the staging directory is gone.
            #expect(try dir.readText("dovecot-uidvalidity") == String(status.uidValidity, radix: 16))
            #expect(try dir.entries("tmp").isEmpty)
        }
    }

    @Test func createMailboxWithPeerIdentity_usesItExactly() throws {
        try ScratchDirectory.with { dir in
            let guid = try #require(MailboxGUID(hex: "bec9d71d256c0c6bd515000083ecc375"))
            let status = try dir.store.createMailbox(try MailboxName("Über"), guid: guid, uidValidity: 1_795_976_229)
            #expect(status.guid == guid)
            #expect(status.uidValidity == 1_795_976_229)
            #expect(try dir.readText(".&ANw-ber/dovecot-uidlist") == "3 V1795976229 N1 Gbec9d71d256c0c6bd515000083ecc375\n")
            #expect(!dir.exists("dovecot-uidvalidity"))
        }
    }

    @Test func newMailboxes_getIncreasingUIDValidities() throws {
        try ScratchDirectory.with { dir in
            let a = try dir.store.createMailbox(try MailboxName("A"))
            let b = try dir.store.createMailbox(try MailboxName("B"))
            #expect(b.uidValidity == a.uidValidity + 1)
            #expect(a.guid != b.guid)
        }
    }

    @Test func createExistingMailbox_isAlreadyExists() throws {
        try ScratchDirectory.with { dir in
            try dir.store.createMailbox(try MailboxName("Sent"))
            let before = try FileTreeSnapshot(of: dir.path)
            let error = #expect(throws: MailStoreError.self) { try dir.store.createMailbox(try MailboxName("Sent")) }
            #expect(error?.code == .alreadyExists)
            #expect(error?.path == dir.path(".Sent"))
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test func createMailboxWithUIDValidityZero_isRejected() throws {
        try ScratchDirectory.with { dir in
            let error = #expect(throws: MailStoreError.self) { try dir.store.createMailbox(try MailboxName("A"), uidValidity: 0) }
            #expect(error?.code == .invalidArgument)
            #expect(!dir.exists(".A"))
        }
    }

    @Test func createInbox_onEmptyRootMakesItsDirectories() throws {
        try ScratchDirectory.with { dir in
            let status = try dir.store.createMailbox(.inbox)
            #expect(status.name.isInbox)
            for sub in ["cur", "new", "tmp"] { #expect(dir.exists(sub)) }
            #expect(try dir.uidlist().mailboxGUID == status.guid)
            #expect(throws: MailStoreError.self) { try dir.store.createMailbox(.inbox) }
        }
    }

    @Test func missingRoot_isNotFound() {
        let store = MailStore(root: "/nonexistent-duplex-root/Maildir")
        let error = #expect(throws: MailStoreError.self) { try store.listMailboxes() }
        #expect(error?.code == .notFound)
        #expect(error?.path == "/nonexistent-duplex-root/Maildir")
    }

    @Test func listMailboxes_putsInboxFirstThenFoldersByName() throws {
        try ScratchDirectory.with { dir in
            let store = dir.store
            for name in ["Sent", "Archive/2024", "Archive", "Über"] { try store.createMailbox(try MailboxName(name)) }
            try store.subscribe(try MailboxName("Sent"))
            // Not mailboxes: Dovecot's trash of a deleted folder, a file, a hidden dot-file.
            try dir.makeDirectories("..DOVECOT-TRASHED/cur")
            try dir.write(".not-a-dir", "")
            let list = try store.listMailboxes()
            #expect(list.map { $0.name.joined() } == ["INBOX", "Archive", "Archive/2024", "Sent", "Über"])
            #expect(list.map(\.isSubscribed) == [false, false, false, true, false])
            #expect(list.allSatisfy { $0.messages == 0 && $0.uidNext == 1 })
            #expect(Set(list.map(\.guid)).count == 5)
        }
    }

    @Test func folderWithBadStorageName_isBadDataNamingItsDirectory() throws {
        try ScratchDirectory.with { dir in
            try dir.makeDirectories(".&Jjo/cur")
            let error = #expect(throws: MailStoreError.self) { try dir.store.mailboxNames() }
            #expect(error?.code == .badData)
            #expect(error?.path == dir.path(".&Jjo"))
        }
    }

    @Test func renameMailbox_movesChildrenAndKeepsIdentity() throws {
        try ScratchDirectory.with { dir in
            let store = dir.store
            let parent = try store.createMailbox(try MailboxName("Old"))
            let child = try store.createMailbox(try MailboxName("Old/Child"))
            try store.createMailbox(try MailboxName("Older"))
            try store.saveMessage(in: try MailboxName("Old/Child"), bytes: sampleMessage(1))
            try store.subscribe(try MailboxName("Old"))

            try store.renameMailbox(try MailboxName("Old"), to: try MailboxName("New/Place"))

            #expect(try store.mailboxNames().map { $0.joined() } == ["INBOX", "New/Place", "New/Place/Child", "Older"])
            let movedParent = try store.status(of: try MailboxName("New/Place"))
            let movedChild = try store.status(of: try MailboxName("New/Place/Child"))
            #expect(movedParent.guid == parent.guid && movedParent.uidValidity == parent.uidValidity)
            #expect(movedChild.guid == child.guid && movedChild.uidValidity == child.uidValidity)
            #expect(movedChild.messages == 1)
            #expect(try store.listMessages(in: try MailboxName("New/Place/Child")).map(\.uid) == [1])
            // Subscriptions are by name and stay as they were.
            #expect(try store.subscriptions() == [try MailboxName("Old")])
            #expect(!movedParent.isSubscribed)
        }
    }

    @Test func renameMailboxWithOnlyChildren_movesTheChildren() throws {
        try ScratchDirectory.with { dir in
            try dir.store.createMailbox(try MailboxName("A/B"))
            try dir.store.renameMailbox(try MailboxName("A"), to: try MailboxName("C"))
            #expect(try dir.store.mailboxNames().map { $0.joined() } == ["INBOX", "C/B"])
        }
    }

    @Test func badRenames_areRejectedAndChangeNothing() throws {
        try ScratchDirectory.with { dir in
            let store = dir.store
            try store.createMailbox(try MailboxName("A"))
            try store.createMailbox(try MailboxName("A/Sub"))
            try store.createMailbox(try MailboxName("B"))
            let before = try FileTreeSnapshot(of: dir.path)
            let cases: [(String, String, MailStoreError.Code)] = [
                ("A", "B", .alreadyExists),
                ("A", "A/Sub/Deeper", .invalidArgument),
                ("A", "A", .invalidArgument),
                ("INBOX", "X", .invalidArgument),
                ("B", "INBOX", .invalidArgument),
                ("Missing", "X", .notFound),
            ]
            for (from, to, code) in cases {
                let error = #expect(throws: MailStoreError.self, "\(from) → \(to)") {
                    try store.renameMailbox(try MailboxName(from), to: try MailboxName(to))
                }
                #expect(error?.code == code, "\(from) → \(to)")
            }
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test func renameWhoseChildTargetExists_movesNothing() throws {
        try ScratchDirectory.with { dir in
            let store = dir.store
            try store.createMailbox(try MailboxName("A"))
            try store.createMailbox(try MailboxName("A/Sub"))
            try store.createMailbox(try MailboxName("B/Sub"))
            let before = try FileTreeSnapshot(of: dir.path)
            let error = #expect(throws: MailStoreError.self) { try store.renameMailbox(try MailboxName("A"), to: try MailboxName("B")) }
            #expect(error?.code == .alreadyExists)
            #expect(error?.path == dir.path(".B.Sub"))
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    @Test func deleteMailbox_removesItButChildrenStay() throws {
        try ScratchDirectory.with { dir in
            let store = dir.store
            let parent = try store.createMailbox(try MailboxName("P"))
            try store.createMailbox(try MailboxName("P/Child"))
            try store.saveMessage(in: try MailboxName("P"), bytes: sampleMessage(1))
            let deleted = try store.deleteMailbox(try MailboxName("P"))
            #expect(deleted == parent.guid)
            #expect(!dir.exists(".P"))
            #expect(dir.exists(".P.Child/cur"))
            #expect(try store.mailboxNames().map { $0.joined() } == ["INBOX", "P/Child"])
            #expect(try dir.entries("tmp").isEmpty)
        }
    }

    @Test func badDeletes_areRejected() throws {
        try ScratchDirectory.with { dir in
            try dir.store.createMailbox(.inbox)
            let inboxError = #expect(throws: MailStoreError.self) { try dir.store.deleteMailbox(.inbox) }
            #expect(inboxError?.code == .invalidArgument)
            let missingError = #expect(throws: MailStoreError.self) { try dir.store.deleteMailbox(try MailboxName("Nope")) }
            #expect(missingError?.code == .notFound)
            #expect(missingError?.path == dir.path(".Nope"))
        }
    }

    @Test func subscribeAndUnsubscribe_writeDovecotsFormat() throws {
        try ScratchDirectory.with { dir in
            let store = dir.store
            try store.subscribe(try MailboxName("Sent"))
            try store.subscribe(try MailboxName("Foo/Bar"))
            try store.subscribe(try MailboxName("Sent"))
            #expect(try dir.readText("subscriptions") == "V\t2\n\nSent\nFoo\tBar\n")
            #expect(try store.subscriptions() == [try MailboxName("Sent"), try MailboxName("Foo/Bar")])
            try store.unsubscribe(try MailboxName("Sent"))
            #expect(try dir.readText("subscriptions") == "V\t2\n\nFoo\tBar\n")
            try store.unsubscribe(try MailboxName("Never/Subscribed"))
            #expect(try dir.readText("subscriptions") == "V\t2\n\nFoo\tBar\n")
            #expect(!dir.exists("subscriptions.lock"))
        }
    }

    @Test func unsubscribeWithoutFile_createsNothing() throws {
        try ScratchDirectory.with { dir in
            try dir.store.unsubscribe(try MailboxName("Sent"))
            #expect(try dir.entries("") == [])
            #expect(try dir.store.subscriptions() == [])
        }
    }

    @Test func oldFormatSubscriptions_areRewrittenAsVersionTwo() throws {
        try ScratchDirectory.with { dir in
            try dir.write("subscriptions", "Sent\nFoo.Bar\n")
            try dir.store.subscribe(try MailboxName("Über"))
            #expect(try dir.readText("subscriptions") == "V\t2\n\nSent\nFoo\tBar\n&ANw-ber\n")
        }
    }
}
