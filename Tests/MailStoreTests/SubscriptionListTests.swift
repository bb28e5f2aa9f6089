import Testing

@testable import MailStore

@Suite("SubscriptionList")
struct SubscriptionListTests {
    static let path = "/mail/subscriptions"

    static func parse(_ text: String) throws -> SubscriptionList {
        try SubscriptionList(parsing: Array(text.utf8), path: path)
    }

    @Test func versionTwoDovecotSample_parsesStorageLevels() throws {
        let list = try Self.parse("V\t2\n\nSent\nFoo\tBar\n")
        #expect(list.names == [try MailboxName("Sent"), try MailboxName("Foo/Bar")])
    }

    @Test func serialised_isDovecotsVersionTwoFormatExactly() throws {
        let list = SubscriptionList(names: [try MailboxName("Sent"), try MailboxName("Foo/Bar")])
        #expect(String(decoding: list.serialized(), as: UTF8.self) == "V\t2\n\nSent\nFoo\tBar\n")
    }

    @Test func emptyList_isJustTheHeader() {
        #expect(SubscriptionList().serialized() == Array("V\t2\n\n".utf8))
    }

    @Test func nonASCIIName_isStoredInModifiedUTF7() throws {
        let list = SubscriptionList(names: [try MailboxName("Über/Ünter"), try MailboxName("x&y")])
        #expect(String(decoding: list.serialized(), as: UTF8.self) == "V\t2\n\n&ANw-ber\t&ANw-nter\nx&-y\n")
        #expect(try SubscriptionList(parsing: list.serialized(), path: Self.path) == list)
    }

    @Test func oldFormat_isOneDottedNamePerLine() throws {
        let list = try Self.parse("Sent\nFoo.Bar\n&ANw-ber\n")
        #expect(list.names == [try MailboxName("Sent"), try MailboxName("Foo/Bar"), try MailboxName("Über")])
        #expect(String(decoding: list.serialized(), as: UTF8.self) == "V\t2\n\nSent\nFoo\tBar\n&ANw-ber\n")
    }

    @Test func oldFormatStartingWithV_isNotTakenForAHeader() throws {
        let list = try Self.parse("V\nVx\n")
        #expect(list.names.map(\.levels) == [["V"], ["Vx"]])
    }

    @Test func inboxInAnyCase_isTheInboxAndDuplicatesAreDropped() throws {
        let list = try Self.parse("V\t2\n\ninbox\nSent\nINBOX\nSent\n")
        #expect(list.names == [MailboxName.inbox, try MailboxName("Sent")])
        #expect(list.names[0].isInbox)
    }

    @Test func insertAndRemove_reportWhetherTheyChangedAnything() throws {
        var list = SubscriptionList()
        let sent = try MailboxName("Sent")
        let firstInsert = list.insert(sent)
        let secondInsert = list.insert(sent)
        #expect(firstInsert && !secondInsert)
        #expect(list.contains(sent))
        let firstRemove = list.remove(sent)
        let secondRemove = list.remove(sent)
        #expect(firstRemove && !secondRemove)
        #expect(list.names.isEmpty)
    }

    @Test func tabEscaping_coversTheFourSpecialBytes() throws {
        let raw = "a\tb\u{1}c\rd\ne"
        let escaped = SubscriptionList.escape(raw)
        #expect(escaped == "a\u{1}tb\u{1}1c\u{1}rd\u{1}ne")
        #expect(!escaped.contains("\t") && !escaped.contains("\n"))
        #expect(try SubscriptionList.unescape(Array(escaped.utf8)[...]) == raw)
        #expect(SubscriptionList.escape("plain") == "plain")
    }

    @Test(arguments: ["a\u{1}x", "a\u{1}", "\u{1}T"])
    func badEscape_isRejected(escaped: String) {
        let error = #expect(throws: MailStoreError.self) { try SubscriptionList.unescape(Array(escaped.utf8)[...]) }
        #expect(error?.code == .badData)
    }

    @Test func badEscapeInFile_isRejectedWithPathAndLine() {
        let error = #expect(throws: MailStoreError.self) { try Self.parse("V\t2\n\nSent\nFoo\u{1}xBar\n") }
        #expect(error?.code == .badData)
        #expect(error?.path == Self.path)
        #expect(error?.line == 4)
        #expect(error?.message.contains("escape") == true)
    }

    @Test func escapedControlCharacter_isNotAValidMailboxName() {
        // Unescaping works, but a TAB cannot be part of a mailbox name.
        let error = #expect(throws: MailStoreError.self) { try Self.parse("V\t2\n\nFoo\u{1}tBar\n") }
        #expect(error?.code == .badData)
        #expect(error?.line == 3)
    }

    static let badFiles: [(text: String, line: Int)] = [
        ("V\t3\n\nSent\n", 1),
        ("V\tx\n", 1),
        ("V\t2\n\nSent\n&Jjo\n", 4),
        ("V\t2\n\nFoo\t\tBar\n", 3),
        ("V\t2\n\nFoo.Bar\n", 3),
        ("Sent\nFoo..Bar\n", 2),
        ("Sent\n&AGE-\n", 2),
        ("Sent\n~home\n", 2),
    ]

    @Test(arguments: badFiles)
    func badFile_isRejectedWithPathAndLine(text: String, line: Int) {
        let error = #expect(throws: MailStoreError.self) { try Self.parse(text) }
        #expect(error?.code == .badData)
        #expect(error?.path == Self.path)
        #expect(error?.line == line, "message: \(error?.message ?? "none")")
    }
}
