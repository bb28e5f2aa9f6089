#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Testing

@testable import MailStore

/// Corrupt or unreadable files in a mail root: every operation that reads them must fail
/// with the right code, the offending path and line, and leave every byte on disk as it was.
@Suite("Bad input")
struct BadInputTests {
    static let box = try! MailboxName("Box")

    /// What one operation attempt looked like, for messages on failure.
    struct Attempt: Sendable {
        var operation: String
        var body: @Sendable (MailStore) throws -> Void
    }

    static let readers: [Attempt] = [
        Attempt(operation: "listMessages") { _ = try $0.listMessages(in: box, options: MessageListOptions(receivedDate: true)) },
        Attempt(operation: "status") { _ = try $0.status(of: box) },
        Attempt(operation: "listMailboxes") { _ = try $0.listMailboxes() },
        Attempt(operation: "openMessage") { _ = try $0.openMessage(in: box, uid: 1) },
        Attempt(operation: "updateFlags") {
            try $0.updateFlags(in: box, uids: [1, 2, 3], .add, try MessageFlags(parsing: ["\\Deleted", "BrandNew"]))
        },
        Attempt(operation: "expunge") { try $0.expunge(in: box, uids: [1, 2, 3]) },
    ]

    static let save = Attempt(operation: "saveMessage") {
        try $0.saveMessage(in: box, bytes: sampleMessage(9), options: SaveOptions(flags: try MessageFlags(parsing: ["\\Seen", "Other"])))
    }

    /// Builds a healthy root (INBOX and "Box" with three messages, one with a keyword),
    /// lets `corrupt` break it, then checks that every operation fails the same way and
    /// that nothing on disk changed.
    static func expectRejected(
        code: MailStoreError.Code,
        path relativePath: String,
        line: Int?,
        errno expectedErrno: Int32? = nil,
        includingSave: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation,
        corrupt: (ScratchDirectory) throws -> Void
    ) throws {
        try ScratchDirectory.with { dir in
            let store = dir.store
            try store.createMailbox(box)
            try store.saveMessage(in: box, bytes: sampleMessage(1))
            try store.saveMessage(in: box, bytes: sampleMessage(2), options: SaveOptions(flags: try MessageFlags(parsing: ["\\Seen", "$Label1"])))
            try store.saveMessage(in: box, bytes: sampleMessage(3), options: SaveOptions(flags: try MessageFlags(parsing: ["\\Flagged"])))
            _ = try store.listMailboxes()
            try corrupt(dir)

            let before = try FileTreeSnapshot(of: dir.path)
            for attempt in readers + (includingSave ? [save] : []) {
                let error = #expect(throws: MailStoreError.self, "\(attempt.operation)", sourceLocation: sourceLocation) {
                    try attempt.body(store)
                }
                #expect(error?.code == code, "\(attempt.operation): \(error.map { "\($0)" } ?? "no error")", sourceLocation: sourceLocation)
                #expect(error?.path == dir.path(relativePath), "\(attempt.operation)", sourceLocation: sourceLocation)
                #expect(error?.line == line, "\(attempt.operation)", sourceLocation: sourceLocation)
                if let expectedErrno {
                    #expect(error?.errno == expectedErrno, "\(attempt.operation)", sourceLocation: sourceLocation)
                }
                let after = try FileTreeSnapshot(of: dir.path)
                #expect(after.differences(from: before) == [], "\(attempt.operation)", sourceLocation: sourceLocation)
            }
        }
    }

    /// The current uidlist lines of Box (header first).
    static func uidlistLines(_ dir: ScratchDirectory) throws -> [String] {
        try dir.uidlistLines(".Box")
    }

    // MARK: dovecot-uidlist

    @Test func truncatedUidlist_isRejectedWithLineAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/dovecot-uidlist", line: 4) { dir in
            // A crash in the middle of an append: the last record has no newline.
            var bytes = try dir.read(".Box/dovecot-uidlist")
            bytes.removeLast(5)
            try dir.write(".Box/dovecot-uidlist", bytes)
        }
    }

    @Test func garbageUidlist_isRejectedAtLineOneAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/dovecot-uidlist", line: 1) { dir in
            try dir.write(".Box/dovecot-uidlist", "this is not a uidlist\n")
        }
    }

    @Test func binaryUidlist_isRejectedAtLineOneAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/dovecot-uidlist", line: 1) { dir in
            try dir.write(".Box/dovecot-uidlist", [0x00, 0xff, 0x10, 0x0a])
        }
    }

    @Test func emptyUidlist_isRejectedAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/dovecot-uidlist", line: 1) { dir in
            try dir.write(".Box/dovecot-uidlist", [])
        }
    }

    @Test func duplicateUIDs_areRejectedAtTheSecondAndChangeNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/dovecot-uidlist", line: 4) { dir in
            var lines = try Self.uidlistLines(dir)
            // "3 :name" → "2 :name"
            lines[3] = "2" + lines[3].drop { $0 != " " }
            try dir.write(".Box/dovecot-uidlist", lines.joined(separator: "\n") + "\n")
        }
    }

    @Test func decreasingUIDs_areRejectedAtTheLowerAndChangeNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/dovecot-uidlist", line: 3) { dir in
            var lines = try Self.uidlistLines(dir)
            lines[1] = "7" + lines[1].drop { $0 != " " }
            try dir.write(".Box/dovecot-uidlist", lines.joined(separator: "\n") + "\n")
        }
    }

    @Test func unknownUidlistVersion_isRejectedAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/dovecot-uidlist", line: 1) { dir in
            var lines = try Self.uidlistLines(dir)
            lines[0] = "2" + lines[0].dropFirst()
            try dir.write(".Box/dovecot-uidlist", lines.joined(separator: "\n") + "\n")
        }
    }

    @Test func uidlistThatIsADirectory_failsWithEISDIRAndChangesNothing() throws {
        // Unreadable even for root, unlike a file with mode 000.
        try Self.expectRejected(code: .io, path: ".Box/dovecot-uidlist", line: nil, errno: EISDIR) { dir in
            #expect(unlink(dir.path(".Box/dovecot-uidlist")) == 0)
            try dir.makeDirectories(".Box/dovecot-uidlist")
        }
    }

    // Root reads files whatever their mode, so this case needs an unprivileged user; the
    // directory case above covers an unreadable uidlist when running as root.
    @Test(.enabled(if: geteuid() != 0, "root can read a mode 000 file; the EISDIR test covers root"))
    func unreadableUidlist_isPermissionDeniedAndChangesNothing() throws {
        try Self.expectRejected(code: .permissionDenied, path: ".Box/dovecot-uidlist", line: nil, errno: EACCES) { dir in
            #expect(chmod(dir.path(".Box/dovecot-uidlist"), 0) == 0)
        }
    }

    // MARK: Message files

    @Test func badFileNameInCur_isRejectedNamingTheFileAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/cur/x,S=zz:2,S", line: nil, includingSave: false) { dir in
            try dir.write(".Box/cur/x,S=zz:2,S", sampleMessage(5))
        }
    }

    @Test func controlCharacterInFileName_isRejectedNamingTheFileAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/new/bad\u{1}name", line: nil, includingSave: false) { dir in
            try dir.write(".Box/new/bad\u{1}name", sampleMessage(5))
        }
    }

    @Test func sameBaseNameInNewAndCur_isRejectedAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/cur/1700000000.M1P1.dup:2,S", line: nil, includingSave: false) { dir in
            try dir.write(".Box/new/1700000000.M1P1.dup", sampleMessage(5))
            try dir.write(".Box/cur/1700000000.M1P1.dup:2,S", sampleMessage(5))
        }
    }

    @Test func missingCur_isRejectedAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/cur", line: nil) { dir in
            try dir.remove(".Box/cur")
        }
    }

    @Test func curThatIsAFile_isRejectedAndChangesNothing() throws {
        try Self.expectRejected(code: .badData, path: ".Box/cur", line: nil) { dir in
            try dir.remove(".Box/cur")
            try dir.write(".Box/cur", "not a directory")
        }
    }

    // MARK: dovecot-keywords

    @Test(arguments: [
        ("30 Foo", 2),
        ("x Foo", 2),
        ("0 Foo", 2),
        ("1 a(b", 2),
        ("NoSpace", 2),
    ])
    func badKeywordsLine_isRejectedWithLineAndChangesNothing(line text: String, line: Int) throws {
        try Self.expectRejected(code: .badData, path: ".Box/dovecot-keywords", line: line, includingSave: false) { dir in
            // Line 1 is the valid "0 $Label1"; line 2 is the bad one ("0 Foo" reuses index 0).
            #expect(try dir.readText(".Box/dovecot-keywords") == "0 $Label1\n")
            try dir.write(".Box/dovecot-keywords", "0 $Label1\n\(text)\n")
        }
    }

    @Test func badKeywordsFile_failsASaveWithKeywordsToo() throws {
        try ScratchDirectory.with { dir in
            try dir.store.createMailbox(Self.box)
            try dir.write(".Box/dovecot-keywords", "0 A\n30 Foo\n")
            let before = try FileTreeSnapshot(of: dir.path)
            let error = #expect(throws: MailStoreError.self) {
                try dir.store.saveMessage(in: Self.box, bytes: sampleMessage(1), options: SaveOptions(flags: try MessageFlags(parsing: ["Junk"])))
            }
            #expect(error?.code == .badData)
            #expect(error?.path == dir.path(".Box/dovecot-keywords"))
            #expect(error?.line == 2)
            #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [])
        }
    }

    // MARK: subscriptions and folders

    @Test func badSubscriptions_areRejectedWithLineAndChangeNothing() throws {
        try ScratchDirectory.with { dir in
            try dir.store.createMailbox(Self.box)
            try dir.write("subscriptions", "V\t2\n\nSent\nBad\u{1}xName\n")
            let before = try FileTreeSnapshot(of: dir.path)
            let attempts: [(String, () throws -> Void)] = [
                ("subscriptions", { _ = try dir.store.subscriptions() }),
                ("subscribe", { try dir.store.subscribe(try MailboxName("New")) }),
                ("unsubscribe", { try dir.store.unsubscribe(try MailboxName("Sent")) }),
                ("listMailboxes", { _ = try dir.store.listMailboxes() }),
                ("status", { _ = try dir.store.status(of: Self.box) }),
            ]
            for (operation, body) in attempts {
                let error = #expect(throws: MailStoreError.self, "\(operation)") { try body() }
                #expect(error?.code == .badData, "\(operation)")
                #expect(error?.path == dir.path("subscriptions"), "\(operation)")
                #expect(error?.line == 4, "\(operation)")
                #expect(try FileTreeSnapshot(of: dir.path).differences(from: before) == [], "\(operation)")
            }
        }
    }
}
