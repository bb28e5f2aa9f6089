import Foundation
import MailStoreTestSupport
import Testing

/// Checks the Dovecot test harness itself: output parsers against fixed
/// samples, and a real private Dovecot instance driven through doveadm.
@Suite("DovecotInstance")
struct DovecotInstanceTests {
    static let message = """
        From: Alice <alice@example.org>\r
        To: Bob <bob@example.org>\r
        Subject: harness check\r
        Message-ID: <harness-1@example.org>\r
        \r
        Hello from the test harness.\r

        """

    // MARK: Parsers (no Dovecot needed)

    @Test func parsesFetchOutputWithFormFeedSeparators() throws {
        let output = "uid: 1\nguid: 1795976322.M77793P7257.vm,S=28,W=32\nflags: \\Seen \\Recent $Label1\n"
            + "\u{0C}\nuid: 2\nguid: 1795976322.M92749P7261.vm,S=29,W=33\nflags: \\Recent\n"
        let messages = try DoveadmOutputParser.parseFetch(output)
        #expect(messages == [
            DoveadmMessage(uid: 1, guid: "1795976322.M77793P7257.vm,S=28,W=32", flags: ["\\Seen", "$Label1"]),
            DoveadmMessage(uid: 2, guid: "1795976322.M92749P7261.vm,S=29,W=33", flags: []),
        ])
    }

    @Test func parsesFetchOutputSeparatedByRepeatedKeyOrBlankLine() throws {
        let output = "uid: 3\nguid: a\nflags:\nuid: 4\nguid: b\nflags: \\Answered \\Flagged\n\nuid: 5\nguid: c\nflags: \\Deleted\n"
        let messages = try DoveadmOutputParser.parseFetch(output)
        #expect(messages.map(\.uid) == [3, 4, 5])
        #expect(messages[0].flags.isEmpty)
        #expect(messages[1].flagSet == ["\\Answered", "\\Flagged"])
        #expect(messages[2].guid == "c")
    }

    @Test func parsesMailboxStatusFromTheRight() throws {
        let output = """
            Über/Ünter messages=0 uidnext=1 uidvalidity=1795976230 guid=44dfe31e256c0c6bd815000083ecc375
            with  two spaces messages=2 uidnext=7 uidvalidity=17 guid=38df6906826c0c6b5e1c000083ecc375
            odd guid=name messages=1 uidnext=2 uidvalidity=3 guid=f962a304826c0c6b591c000083ecc375

            """
        let status = try DoveadmOutputParser.parseMailboxStatus(output)
        #expect(status == [
            DoveadmMailboxStatus(name: "Über/Ünter", guid: "44dfe31e256c0c6bd815000083ecc375",
                                 uidValidity: 1_795_976_230, uidNext: 1, messages: 0),
            DoveadmMailboxStatus(name: "with  two spaces", guid: "38df6906826c0c6b5e1c000083ecc375",
                                 uidValidity: 17, uidNext: 7, messages: 2),
            DoveadmMailboxStatus(name: "odd guid=name", guid: "f962a304826c0c6b591c000083ecc375",
                                 uidValidity: 3, uidNext: 2, messages: 1),
        ])
        #expect(throws: DovecotTestError.self) {
            try DoveadmOutputParser.parseMailboxStatus("INBOX messages=1\n")
        }
    }

    @Test func temporaryDirectoryIsTraversableAndRemoved() throws {
        let path = try TemporaryDirectory.with(prefix: "duplex-tmpcheck") { dir -> String in
            #expect(dir.path.hasPrefix("/tmp/duplex-tmpcheck."))
            let attributes = try FileManager.default.attributesOfItem(atPath: dir.path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o755)
            try Data("x".utf8).write(to: URL(fileURLWithPath: dir.appending("file")))
            return dir.path
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    // MARK: Real Dovecot

    @Test(.enabled(if: DovecotInstance.isAvailable, "Dovecot 2.3 (dovecot-core) not installed or not running as root"))
    func saveFetchStatusAndMailboxOperations() async throws {
        let user = "alice"
        let (directory, stopped) = try await DovecotInstance.withInstance { dovecot -> (String, DovecotInstance) in
            #expect(dovecot.isRunning)
            try dovecot.save(user: user, message: Self.message)
            try dovecot.save(user: user, mailbox: "INBOX", message: Data(Self.message.utf8))

            var messages = try dovecot.fetch(user: user, mailbox: "INBOX")
            #expect(messages.map(\.uid) == [1, 2])
            #expect(messages.allSatisfy { $0.flags.isEmpty && !$0.guid.isEmpty })
            #expect(FileManager.default.fileExists(atPath: dovecot.mailRoot(user: user) + "/cur")
                || FileManager.default.fileExists(atPath: dovecot.mailRoot(user: user) + "/new"))

            try dovecot.flags(user: user, mailbox: "INBOX", uid: 1, action: .add, flags: ["\\Seen", "$Label1"])
            try dovecot.flags(user: user, mailbox: "INBOX", uid: 2, action: .replace, flags: ["\\Flagged"])
            try dovecot.flags(user: user, mailbox: "INBOX", uid: 1, action: .remove, flags: ["$Label1"])
            messages = try dovecot.fetch(user: user, mailbox: "INBOX")
            #expect(messages.map(\.flagSet) == [["\\Seen"], ["\\Flagged"]])

            try dovecot.expunge(user: user, mailbox: "INBOX", uid: 1)
            #expect(try dovecot.fetch(user: user, mailbox: "INBOX").map(\.uid) == [2])

            try dovecot.createMailbox(user: user, mailbox: "Über/Ünter")
            try dovecot.createMailbox(user: user, mailbox: "with space")
            try dovecot.renameMailbox(user: user, from: "with space", to: "with  two spaces")
            try dovecot.subscribe(user: user, mailbox: "with  two spaces")
            try dovecot.subscribe(user: user, mailbox: "INBOX")
            try dovecot.unsubscribe(user: user, mailbox: "INBOX")
            #expect(try dovecot.mailboxList(user: user, subscribedOnly: true) == ["with  two spaces"])
            #expect(Set(try dovecot.mailboxList(user: user))
                == ["INBOX", "Über", "Über/Ünter", "with  two spaces"])

            let status = try dovecot.mailboxStatus(user: user)
            #expect(Set(status.map(\.name)) == ["INBOX", "Über/Ünter", "with  two spaces"])
            let inbox = try #require(status.first { $0.name == "INBOX" })
            #expect(inbox.messages == 1)
            #expect(inbox.uidNext == 3)
            #expect(inbox.uidValidity != 0)
            #expect(inbox.guid.count == 32)
            #expect(Set(status.map(\.guid)).count == status.count)

            try dovecot.deleteMailbox(user: user, mailbox: "with  two spaces")
            #expect(try dovecot.mailboxStatus(user: user, mailbox: "with  two spaces") == nil)

            // Failures carry the command line and doveadm's stderr.
            do {
                try dovecot.deleteMailbox(user: user, mailbox: "does-not-exist")
                Issue.record("deleting a missing mailbox should fail")
            } catch let error as DovecotTestError {
                let text = String(describing: error)
                #expect(text.contains("mailbox delete"))
                #expect(text.contains("does-not-exist"))
                #expect(text.contains("Mailbox doesn't exist"))
            }
            let unchecked = try dovecot.doveadm(["mailbox", "delete", "-u", user, "does-not-exist"], checked: false)
            #expect(unchecked.status != 0)
            return (dovecot.directory, dovecot)
        }
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(!stopped.isRunning)
    }

    @Test(.enabled(if: DovecotInstance.isAvailable, "Dovecot 2.3 (dovecot-core) not installed or not running as root"))
    func maildirWrittenAsRootIsReadableAfterChown() async throws {
        try await DovecotInstance.withInstance { dovecot in
            let user = "bob"
            let root = dovecot.mailRoot(user: user)
            let fm = FileManager.default
            for sub in ["cur", "new", "tmp"] {
                try fm.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
            }
            let name = "1700000000.M1P1.testhost,S=\(Data(Self.message.utf8).count):2,FS"
            try Data(Self.message.utf8).write(to: URL(fileURLWithPath: root + "/cur/" + name))
            try dovecot.chownToVmail(path: dovecot.homeDirectory(user: user))

            let owner = try fm.attributesOfItem(atPath: root + "/cur/" + name)[.ownerAccountName] as? String
            #expect(owner == "vmail")
            let messages = try dovecot.fetch(user: user, mailbox: "INBOX")
            #expect(messages.count == 1)
            #expect(messages.first?.flagSet == ["\\Seen", "\\Flagged"])
            #expect(messages.first?.guid == "1700000000.M1P1.testhost,S=\(Data(Self.message.utf8).count)")
        }
    }

    @Test(.enabled(if: DovecotInstance.isAvailable, "Dovecot 2.3 (dovecot-core) not installed or not running as root"))
    func withInstanceStopsWhenBodyThrows() async throws {
        struct Boom: Error {}
        let box = InstanceBox()
        await #expect(throws: Boom.self) {
            try await DovecotInstance.withInstance { dovecot in
                box.set(dovecot)
                throw Boom()
            }
        }
        let stopped = try #require(box.get())
        #expect(!FileManager.default.fileExists(atPath: stopped.directory))
        #expect(!stopped.isRunning)
    }

    @Test(.enabled(if: DovecotInstance.isAvailable, "Dovecot 2.3 (dovecot-core) not installed or not running as root"))
    func instancesRunSideBySide() async throws {
        let first = try DovecotInstance()
        defer { try? first.stop() }
        let second = try DovecotInstance()
        defer { try? second.stop() }
        #expect(first.instanceName != second.instanceName)
        try first.save(user: "carol", message: Self.message)
        #expect(try first.fetch(user: "carol", mailbox: "INBOX").count == 1)
        #expect(try second.fetch(user: "carol", mailbox: "INBOX").isEmpty)
        try second.stop()
        try second.stop()
        #expect(!second.isRunning)
        #expect(first.isRunning)
    }
}

/// Carries the instance out of a throwing closure in the test above.
private final class InstanceBox: @unchecked Sendable {
    private let lock = NSLock()
    private var instance: DovecotInstance?

    func set(_ value: DovecotInstance) {
        lock.lock()
        defer { lock.unlock() }
        instance = value
    }

    func get() -> DovecotInstance? {
        lock.lock()
        defer { lock.unlock() }
        return instance
    }
}
