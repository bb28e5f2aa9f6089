import Testing

@testable import MailStore

@Suite("MailboxName")
struct MailboxNameTests {
    @Test func slashSeparatedName_splitsIntoLevels() throws {
        let name = try MailboxName("Archive/2024/Q1")
        #expect(name.levels == ["Archive", "2024", "Q1"])
        #expect(name.storageName == "Archive.2024.Q1")
        #expect(name.joined(separator: "/") == "Archive/2024/Q1")
        #expect(name.description == "Archive/2024/Q1")
        #expect(!name.isInbox)
    }

    @Test func dotSeparator_splitsAtDots() throws {
        let name = try MailboxName("Archive.2024", separator: ".")
        #expect(name.levels == ["Archive", "2024"])
        #expect(name.joined(separator: ".") == "Archive.2024")
        #expect(name.joined(separator: "/") == "Archive/2024")
    }

    @Test func dotInsideLevel_isRejected() {
        let error = #expect(throws: MailStoreError.self) { try MailboxName("a.b") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'.'") == true)
        #expect(throws: MailStoreError.self) { try MailboxName(levels: ["Archive", "v1.2"]) }
    }

    @Test(arguments: ["", "/", "a//b", "/a", "a/", "a/b/"])
    func emptyNameOrLevel_isRejected(text: String) {
        let error = #expect(throws: MailStoreError.self) { try MailboxName(text) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func emptyLevelsArray_isRejected() {
        #expect(throws: MailStoreError.self) { try MailboxName(levels: []) }
        #expect(throws: MailStoreError.self) { try MailboxName(levels: ["a", ""]) }
    }

    @Test(arguments: ["a\tb", "a\u{0}b", "x/y\u{7f}", "line\nbreak"])
    func controlCharacter_isRejected(text: String) {
        let error = #expect(throws: MailStoreError.self) { try MailboxName(text) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func tildeAtStart_isRejectedButAllowedLater() throws {
        #expect(throws: MailStoreError.self) { try MailboxName("~home") }
        #expect(try MailboxName("a/~b").levels == ["a", "~b"])
    }

    @Test(arguments: ["INBOX", "inbox", "InBoX"])
    func inboxInAnyCase_isTheInbox(text: String) throws {
        let name = try MailboxName(text)
        #expect(name.isInbox)
        #expect(name == MailboxName.inbox)
        #expect(name.levels == ["INBOX"])
    }

    @Test func inboxChild_isNotTheInboxAndKeepsItsCase() throws {
        let name = try MailboxName("inbox/Sub")
        #expect(!name.isInbox)
        #expect(name.levels == ["inbox", "Sub"])
        #expect(name.storageName == "inbox.Sub")
    }

    @Test func storageName_usesModifiedUTF7PerLevel() throws {
        #expect(try MailboxName("Über/Ünter").storageName == "&ANw-ber.&ANw-nter")
        #expect(try MailboxName("x&y").storageName == "x&-y")
        #expect(try MailboxName("Sent").storageName == "Sent")
    }

    @Test func storageName_decodesBackToLevels() throws {
        #expect(try MailboxName(storageName: "&ANw-ber.&ANw-nter").levels == ["Über", "Ünter"])
        #expect(try MailboxName(storageName: "x&-y") == MailboxName("x&y"))
        #expect(try MailboxName(storageName: "Foo.Bar") == MailboxName("Foo/Bar"))
    }

    @Test(arguments: ["", "a..b", ".a", "a.", "&Jjo", "&AGE-", "~x"])
    func badStorageName_isRejectedAsBadData(storage: String) {
        let error = #expect(throws: MailStoreError.self) { try MailboxName(storageName: storage) }
        #expect(error?.code == .badData)
    }

    @Test func storageNameOver254Bytes_isRejected() throws {
        _ = try MailboxName(String(repeating: "a", count: 254))
        #expect(throws: MailStoreError.self) { try MailboxName(String(repeating: "a", count: 255)) }
        // "Ü" takes 8 bytes on disk ("&ANw-" plus the rest), far more than its 2 UTF-8 bytes.
        #expect(throws: MailStoreError.self) { try MailboxName(String(repeating: "aÜ", count: 60)) }
    }

    @Test func sameOrDescendant_comparesWholeLevels() throws {
        let parent = try MailboxName("A")
        #expect(try MailboxName("A").isSameOrDescendant(of: parent))
        #expect(try MailboxName("A/B/C").isSameOrDescendant(of: parent))
        #expect(try !MailboxName("AB").isSameOrDescendant(of: parent))
        #expect(try !MailboxName("B/A").isSameOrDescendant(of: parent))
        #expect(!parent.isSameOrDescendant(of: try MailboxName("A/B")))
    }
}
