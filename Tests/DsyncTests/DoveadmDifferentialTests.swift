import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import Dsync

/// Differential tests against `doveadm sync`: for each scenario both tools start from
/// byte-for-byte copies (`cp -a`) of the same two Maildirs, get the same edits, and the
/// final sets of (mailbox name, message GUID, flags) are compared.
///
/// Layout under the Dovecot user's home (everything owned by vmail before doveadm runs):
/// `base/{A,B}` is the starting pair, `dovecot/{A,B}` the copy doveadm syncs, `duplex/{A,B}`
/// the copy Duplex syncs (state in `duplex-state`, outside the Maildirs).
///
/// Edits: new messages are saved with MailStore with an explicit GUID (so both copies get
/// the same GUIDs); flag changes, expunges and mailbox operations are made with doveadm
/// (`-o mail_location=maildir:PATH`), the same commands on both copies.
///
/// Each test starts its own Dovecot instance: Swift Testing makes one suite value per
/// test, and an instance shared through a static could never be stopped (its daemonized
/// master would outlive the test process).
@Suite(.enabled(if: DovecotInstance.isAvailable, "needs Dovecot 2.3 (dovecot-core) and root"), .serialized)
final class DoveadmDifferentialTests {
    let dovecot: DovecotInstance
    let user = "diff"
    let home: String

    init() throws {
        dovecot = try DovecotInstance(prefix: "duplex-diff")
        home = try dovecot.makeHomeDirectory(user: user)
    }

    deinit { try? dovecot.stop() }

    // MARK: - Scenarios

    @Test func newMessages_eachWay() async throws {
        let run = try start { a, _ in
            try a.save("INBOX", "s-1", "\\Seen")
            try a.save("INBOX", "s-2")
            try a.save("Work", "w-1", "$Label")
        }
        try await run.syncBoth()
        try run.edit { side, e in
            if side == .a {
                try e.save("INBOX", "new-a1", "\\Seen")
                try e.save("INBOX", "new-a2", "\\Flagged $Todo")
            } else {
                try e.save("Work", "new-b1", "\\Answered")
            }
        }
        try await run.syncBoth()
        try run.check(expected: [
            "INBOX": ["s-1": "\\Seen", "s-2": "", "new-a1": "\\Seen", "new-a2": "\\Flagged $Todo"],
            "Work": ["w-1": "$Label", "new-b1": "\\Answered"],
        ])
    }

    @Test func flagChanges_onBothSides_ofTheSameMessages() async throws {
        let run = try start { a, _ in
            try a.save("INBOX", "f-1", "\\Seen")
            try a.save("INBOX", "f-2")
            try a.save("INBOX", "f-3", "$Old")
        }
        try await run.syncBoth()
        try run.edit { side, e in
            if side == .a {
                try e.flags("INBOX", "f-1", .add, "\\Flagged")
                try e.flags("INBOX", "f-2", .add, "\\Answered")
                try e.flags("INBOX", "f-3", .remove, "$Old")
            } else {
                try e.flags("INBOX", "f-1", .replace, "$Work")
                try e.flags("INBOX", "f-2", .add, "\\Seen")
                try e.flags("INBOX", "f-3", .add, "\\Deleted")
            }
        }
        try await run.syncBoth()
        // Duplex: one flag at a time against the common state, so each side's additions and
        // removals are kept.
        // Dovecot (2.3, doveadm sync exit 0) merges f-2 the same way, but for f-1 and f-3 B's
        // whole flag set wins: A's added \Flagged on f-1 is lost, and A's removal of $Old
        // on f-3 is undone. No message is lost or duplicated.
        try run.check(expected: [
            "INBOX": ["f-1": "\\Flagged $Work", "f-2": "\\Answered \\Seen", "f-3": "\\Deleted"],
        ], dovecotDiffers: [
            "INBOX": ["f-1": "$Work", "f-2": "\\Answered \\Seen", "f-3": "$Old \\Deleted"],
        ])
    }

    @Test func expunge_onOneSide_flagChange_onTheOther() async throws {
        let run = try start { a, _ in
            try a.save("INBOX", "e-1")
            try a.save("INBOX", "e-2", "\\Seen")
            try a.save("INBOX", "e-3")
        }
        try await run.syncBoth()
        try run.edit { side, e in
            if side == .a {
                try e.expunge("INBOX", "e-1")
                try e.flags("INBOX", "e-3", .add, "\\Flagged")
            } else {
                try e.flags("INBOX", "e-1", .add, "\\Flagged $Keep")
                try e.expunge("INBOX", "e-3")
            }
        }
        try await run.syncBoth()
        // The expunge wins over the concurrent flag change, both ways.
        try run.check(expected: ["INBOX": ["e-2": "\\Seen"]])
    }

    @Test func uidClash_newDifferentMessages_onBothSides() async throws {
        let run = try start { a, _ in
            try a.save("INBOX", "c-0")
        }
        try await run.syncBoth()
        try run.edit { side, e in
            if side == .a {
                try e.save("INBOX", "c-a1", "\\Seen")
                try e.save("INBOX", "c-a2")
            } else {
                try e.save("INBOX", "c-b1", "$FromB")
            }
        }
        try await run.syncBoth()
        try run.check(expected: [
            "INBOX": ["c-0": "", "c-a1": "\\Seen", "c-a2": "", "c-b1": "$FromB"],
        ])
    }

    @Test func mailboxCreated_onEachSide() async throws {
        let run = try start { a, _ in
            try a.save("INBOX", "k-0")
        }
        try await run.syncBoth()
        try run.edit { side, e in
            if side == .a {
                try e.createMailbox("Projects")
                try e.save("Projects", "p-1", "\\Flagged")
                try e.createMailbox("EmptyA")
            } else {
                try e.createMailbox("Archive/2024")
                try e.save("Archive/2024", "ar-1", "\\Seen")
            }
        }
        try await run.syncBoth()
        try run.check(expected: [
            "INBOX": ["k-0": ""],
            "Projects": ["p-1": "\\Flagged"],
            "EmptyA": [:],
            "Archive/2024": ["ar-1": "\\Seen"],
        ], ignoringMailboxes: ["Archive"])
    }

    @Test func mailboxRenamed_onOneSide() async throws {
        let run = try start { a, _ in
            try a.save("INBOX", "r-0")
            try a.save("Old", "r-1")
            try a.save("Old", "r-2", "\\Seen")
        }
        try await run.syncBoth()
        try run.edit { side, e in
            if side == .a {
                try e.renameMailbox("Old", "New")
            } else {
                try e.flags("Old", "r-1", .add, "\\Flagged")
                try e.save("Old", "r-b3")
            }
        }
        try await run.syncBoth()
        try run.check(expected: [
            "INBOX": ["r-0": ""],
            "New": ["r-1": "\\Flagged", "r-2": "\\Seen", "r-b3": ""],
        ])
    }

    @Test func mailboxDeleted_onOneSide() async throws {
        let run = try start { a, _ in
            try a.save("INBOX", "d-0")
            try a.save("Gone", "d-1")
            try a.save("Gone", "d-2", "\\Seen")
            try a.save("Kept", "d-3")
        }
        try await run.syncBoth()
        try run.edit { side, e in
            if side == .b {
                try e.deleteMailbox("Gone")
            }
        }
        try await run.syncBoth()
        try run.check(expected: [
            "INBOX": ["d-0": ""],
            "Kept": ["d-3": ""],
        ])
    }

    @Test func firstSync_ofIndependentCopies_sharingMessages() async throws {
        // A and B are made independently (own INBOX and Lists GUIDs and UIDVALIDITYs); the
        // shared messages are copied from A into B with `cp`, so they keep their base names
        // and with them their GUIDs.
        let run = try start(replicaOfA: false) { a, b in
            try a.save("INBOX", "sh-1", "\\Seen")
            try a.save("INBOX", "sh-2")
            try a.save("INBOX", "only-a")
            try a.save("Lists", "l-1")
            try b.createMailboxLocally("Lists")
            for (mailbox, guid) in [("INBOX", "sh-1"), ("INBOX", "sh-2"), ("Lists", "l-1")] {
                try b.copyFile(from: a, mailbox: mailbox, guid: guid)
            }
            try b.save("INBOX", "only-b", "\\Flagged")
            try b.save("Lists", "l-2")
        }
        // Dovecot never finishes this sync: every run exits 2 with "Remote lost mailbox GUID
        // <A's INBOX GUID> (maybe it was just deleted?)", however often it is repeated (the
        // test runs it four times). It loses and duplicates nothing, but the sides stay
        // different: A never gets B's new messages (only-b, l-2), B gets A's shared
        // messages but not only-a.
        run.doveadmNeverFinishes = true
        try await run.syncBoth()
        let all: [String: [String: String]] = [
            "INBOX": ["sh-1": "\\Seen", "sh-2": "", "only-a": "", "only-b": "\\Flagged"],
            "Lists": ["l-1": "", "l-2": ""],
        ]
        try run.check(expected: all, dovecotDiffers: [
            "INBOX": ["sh-1": "\\Seen", "sh-2": "", "only-a": ""],
            "Lists": ["l-1": ""],
        ], dovecotDiffersOnB: [
            "INBOX": ["sh-1": "\\Seen", "sh-2": "", "only-b": "\\Flagged"],
            "Lists": ["l-1": "", "l-2": ""],
        ])
    }

    // MARK: - Machinery

    enum Side { case a, b }

    /// Makes `base/{A,B}` (empty Maildirs), lets `build` fill them (A, B), and copies them
    /// with `cp -a`. With `replicaOfA`, B is then replaced by a `cp -a` of A.
    ///
    /// Why not a first sync into an empty B: both tools then meet two INBOXes with different
    /// GUIDs, and doveadm sync never finishes that (see the last scenario).
    func start(replicaOfA: Bool = true, _ build: (MaildirEditor, MaildirEditor) throws -> Void) throws -> DifferentialRun {
        let run = DifferentialRun(dovecot: dovecot, user: user, home: home)
        for dir in [run.base, run.dovecotCopy, run.duplexCopy] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        for side in ["A", "B"] {
            try FileManager.default.createDirectory(atPath: run.base + "/" + side, withIntermediateDirectories: false)
        }
        let a = run.editor(run.base + "/A"), b = run.editor(run.base + "/B")
        // Duplex refuses a mail root without cur/ and new/ (it never turns a wrong path into
        // a Maildir), Dovecot would create them: start from empty Maildirs.
        try a.makeEmptyMaildir()
        try b.makeEmptyMaildir()
        try build(a, b)
        try a.initializeInbox()
        if replicaOfA {
            // B is a replica made by copying A: same mailbox GUIDs, UIDVALIDITYs, UIDs.
            try FileManager.default.removeItem(atPath: b.root)
            try dovecot.chownToVmail(path: run.base)
            let result = try ExternalCommand.run("/bin/cp", ["-a", a.root, b.root])
            #expect(result.status == 0, "cp -a failed: \(result.stderr)")
        } else {
            try b.initializeInbox()
        }
        try dovecot.chownToVmail(path: home)
        for copy in [run.dovecotCopy, run.duplexCopy] {
            for side in ["A", "B"] {
                let result = try ExternalCommand.run("/bin/cp", ["-a", run.base + "/" + side, copy + "/" + side])
                #expect(result.status == 0, "cp -a failed: \(result.stderr)")
            }
        }
        return run
    }
}

/// One Maildir being edited: saves through MailStore (explicit GUIDs), everything else
/// through doveadm.
struct MaildirEditor {
    let root: String
    let dovecot: DovecotInstance
    let user: String

    var store: MailStore { MailStore(root: root, configuration: SyncFixture.configuration) }

    func save(_ mailbox: String, _ guid: String, _ flags: String = "") throws {
        let name = try MailboxName(mailbox)
        if (try? store.status(of: name)) == nil {
            try store.createMailbox(name)
        }
        try store.saveMessage(
            in: name, bytes: SyncFixture.body(guid),
            options: SaveOptions(flags: MessageFlags(SyncFlags(flags)), guid: guid))
        try dovecot.chownToVmail(path: root)
    }

    /// Creates the mailbox with MailStore (own GUID and UIDVALIDITY).
    func createMailboxLocally(_ mailbox: String) throws {
        try store.createMailbox(try MailboxName(mailbox))
    }

    /// `doveadm mailbox status guid INBOX`: makes Dovecot assign and store the INBOX GUID.
    func initializeInbox() throws {
        try doveadm(["mailbox", "status", "-u", user, "guid", "INBOX"])
    }

    func createMailbox(_ mailbox: String) throws {
        try doveadm(["mailbox", "create", "-u", user, mailbox])
    }

    func renameMailbox(_ old: String, _ new: String) throws {
        try doveadm(["mailbox", "rename", "-u", user, old, new])
    }

    func deleteMailbox(_ mailbox: String) throws {
        try doveadm(["mailbox", "delete", "-u", user, mailbox])
    }

    func flags(_ mailbox: String, _ guid: String, _ action: DoveadmFlagAction, _ flags: String) throws {
        try doveadm(["flags", action.rawValue, "-u", user, flags, "mailbox", mailbox] + query(guid))
    }

    func expunge(_ mailbox: String, _ guid: String) throws {
        try doveadm(["expunge", "-u", user, "mailbox", mailbox] + query(guid))
    }

    /// Copies the message file with GUID `guid` from `other`'s `mailbox` into this
    /// Maildir's `mailbox` (same subdirectory) with `cp`: same base name, hence same GUID.
    func copyFile(from other: MaildirEditor, mailbox: String, guid: String) throws {
        let messages = try other.store.listMessages(in: try MailboxName(mailbox)).filter { $0.guid == guid }
        #expect(messages.count == 1, "\(guid) in \(mailbox) of \(other.root): \(messages)")
        guard let message = messages.first else { return }
        #expect(message.fileName.hasPrefix(guid), "\(guid) is not the base name of \(message.fileName)")
        let sub = message.isInNew ? "/new/" : "/cur/"
        let result = try ExternalCommand.run(
            "/bin/cp", ["-a", other.mailboxDirectory(mailbox) + sub + message.fileName, mailboxDirectory(mailbox) + sub + message.fileName])
        #expect(result.status == 0, "cp failed: \(result.stderr)")
    }

    /// Makes the root an empty Maildir (`cur`, `new`, `tmp`, nothing else), as `maildirmake`
    /// would: what a new, empty replica looks like.
    func makeEmptyMaildir() throws {
        for sub in ["cur", "new", "tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
    }

    func mailboxDirectory(_ mailbox: String) -> String {
        mailbox == "INBOX" ? root : root + "/." + mailbox.replacingOccurrences(of: "/", with: ".")
    }

    private func query(_ guid: String) -> [String] {
        ["header", "Message-ID", "<\(guid)@duplex.test>"]
    }

    private func doveadm(_ args: [String]) throws {
        try dovecot.chownToVmail(path: root)
        try dovecot.doveadm(["-o", "mail_location=maildir:" + root] + args)
    }
}

/// (mailbox name, GUID, sorted flags) with multiplicity, plus the mailbox names.
struct MailContents: Equatable, CustomStringConvertible {
    var mailboxes: Set<String>
    /// "mailbox guid flags" → how many messages.
    var messages: [String: Int]

    static func of(_ root: String) throws -> MailContents {
        let map = try mapOf(MailStore(root: root, configuration: SyncFixture.configuration))
        var messages: [String: Int] = [:]
        for (name, mailbox) in map.mailboxes {
            for entry in mailbox.messages.values {
                messages[key(name, entry.guid, entry.flags.imapText), default: 0] += 1
            }
        }
        return MailContents(mailboxes: Set(map.mailboxes.keys), messages: messages)
    }

    init(mailboxes: Set<String>, messages: [String: Int]) {
        self.mailboxes = mailboxes
        self.messages = messages
    }

    init(_ expected: [String: [String: String]]) {
        mailboxes = Set(expected.keys)
        messages = [:]
        for (mailbox, entries) in expected {
            for (guid, flags) in entries { messages[Self.key(mailbox, guid, flags), default: 0] += 1 }
        }
    }

    static func key(_ mailbox: String, _ guid: String, _ flags: String) -> String {
        ([mailbox, guid] + flags.split(separator: " ").map(String.init).sorted()).joined(separator: " ")
    }

    func removingMailboxes(_ names: Set<String>) -> MailContents {
        MailContents(mailboxes: mailboxes.subtracting(names), messages: messages)
    }

    /// Keys present with another count in `other` (count here / there).
    func differences(from other: MailContents) -> [String] {
        var lines: [String] = []
        for name in mailboxes.symmetricDifference(other.mailboxes).sorted() {
            lines.append("mailbox \(name): \(mailboxes.contains(name) ? "only here" : "only there")")
        }
        for key in Set(messages.keys).union(other.messages.keys).sorted() where messages[key] != other.messages[key] {
            lines.append("\(key): \(messages[key] ?? 0) here, \(other.messages[key] ?? 0) there")
        }
        return lines
    }

    var description: String {
        "mailboxes \(mailboxes.sorted())\n" + messages.keys.sorted().map { "  \($0) ×\(messages[$0]!)" }.joined(separator: "\n")
    }
}

/// The two copies of one scenario and the two tools run on them.
final class DifferentialRun {
    let dovecot: DovecotInstance
    let user: String
    let home: String
    let base: String
    let dovecotCopy: String
    let duplexCopy: String
    let duplexState: String
    /// Set when doveadm sync is known to exit 2 on every run (documented per scenario).
    var doveadmNeverFinishes = false
    /// Exit statuses of every doveadm sync run, in order.
    private(set) var doveadmStatuses: [Int32] = []

    init(dovecot: DovecotInstance, user: String, home: String) {
        self.dovecot = dovecot
        self.user = user
        self.home = home
        base = home + "/base"
        dovecotCopy = home + "/dovecot"
        duplexCopy = home + "/duplex"
        duplexState = home + "/duplex-state"
    }

    func editor(_ root: String) -> MaildirEditor {
        MaildirEditor(root: root, dovecot: dovecot, user: user)
    }

    /// Runs `body` on A and B of both copies (Dovecot's copy first).
    func edit(_ body: (DoveadmDifferentialTests.Side, MaildirEditor) throws -> Void) throws {
        for copy in [dovecotCopy, duplexCopy] {
            try body(.a, editor(copy + "/A"))
            try body(.b, editor(copy + "/B"))
        }
    }

    /// One sync with each tool.
    func syncBoth(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try doveadmSync(sourceLocation: sourceLocation)
        try await duplexSync(sourceLocation: sourceLocation)
    }

    /// `doveadm sync` of the Dovecot copy; exit status 2 ("run again") is retried, as a
    /// replicator would.
    func doveadmSync(sourceLocation: SourceLocation) throws {
        try dovecot.chownToVmail(path: dovecotCopy)
        var lastStderr = ""
        for _ in 0..<4 {
            let out = try dovecot.doveadm([
                "-o", "mail_location=maildir:\(dovecotCopy)/A", "-o", "maildir_copy_with_hardlinks=no",
                "sync", "-u", user, "maildir:\(dovecotCopy)/B",
            ], checked: false)
            doveadmStatuses.append(out.status)
            if out.status == 0 {
                #expect(!doveadmNeverFinishes, "doveadm sync now finishes: update the scenario's comment", sourceLocation: sourceLocation)
                return
            }
            guard out.status == 2 else {
                Issue.record("doveadm sync exited \(out.status): \(out.stderr)", sourceLocation: sourceLocation)
                return
            }
            lastStderr = out.stderr
        }
        if doveadmNeverFinishes {
            #expect(lastStderr.contains("Remote lost mailbox GUID"), "\(lastStderr)", sourceLocation: sourceLocation)
        } else {
            Issue.record("doveadm sync still asks to be run again: \(doveadmStatuses)\n\(lastStderr)", sourceLocation: sourceLocation)
        }
    }

    func duplexSync(sourceLocation: SourceLocation) async throws {
        let a = MailStore(root: duplexCopy + "/A", configuration: SyncFixture.configuration)
        let b = MailStore(root: duplexCopy + "/B", configuration: SyncFixture.configuration)
        var options = SyncOptions(user: user)
        options.stateDirectory = duplexState
        options.lockTimeout = .seconds(10)
        let report = try await SyncSession(a: LocalReplica(store: a), b: LocalReplica(store: b), options: options).run()
        #expect(!report.changedDuringSync, "\(report)", sourceLocation: sourceLocation)
        #expect(report.appliedA.skipped == 0 && report.appliedB.skipped == 0, "skipped: \(report)", sourceLocation: sourceLocation)
        try dovecot.chownToVmail(path: duplexCopy)
    }

    struct Results {
        var dovecotA, dovecotB, duplexA, duplexB: MailContents
    }

    func results() throws -> Results {
        Results(
            dovecotA: try MailContents.of(dovecotCopy + "/A"), dovecotB: try MailContents.of(dovecotCopy + "/B"),
            duplexA: try MailContents.of(duplexCopy + "/A"), duplexB: try MailContents.of(duplexCopy + "/B"))
    }

    /// Both tools converge; Duplex's result is exactly `expected` (every surviving GUID once
    /// per mailbox); Dovecot's result is `expected` too unless `dovecotDiffers` is given, in
    /// which case it must be exactly that (the documented difference). `dovecotDiffersOnB`:
    /// Dovecot's B when it does not converge (then its A is `dovecotDiffers`).
    ///
    /// `ignoringMailboxes`: non-selectable parents that one tool lists and the other may not.
    func check(
        expected: [String: [String: String]], dovecotDiffers: [String: [String: String]]? = nil,
        dovecotDiffersOnB: [String: [String: String]]? = nil, ignoringMailboxes: Set<String> = [], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let r = try results()
        let strip = { (c: MailContents) in c.removingMailboxes(ignoringMailboxes) }
        let want = MailContents(expected)
        #expect(strip(r.duplexA) == strip(r.duplexB), "Duplex: A and B differ:\n\(r.duplexA.differences(from: r.duplexB).joined(separator: "\n"))", sourceLocation: sourceLocation)
        if let onB = dovecotDiffersOnB {
            #expect(strip(r.dovecotB) == MailContents(onB), "doveadm's B vs documented:\n\(strip(r.dovecotB).differences(from: MailContents(onB)).joined(separator: "\n"))", sourceLocation: sourceLocation)
        } else {
            #expect(strip(r.dovecotA) == strip(r.dovecotB), "doveadm: A and B differ:\n\(r.dovecotA.differences(from: r.dovecotB).joined(separator: "\n"))", sourceLocation: sourceLocation)
        }
        #expect(strip(r.duplexA) == want, "Duplex result vs expected:\n\(strip(r.duplexA).differences(from: want).joined(separator: "\n"))", sourceLocation: sourceLocation)
        for (key, count) in r.duplexA.messages.merging(r.duplexB.messages, uniquingKeysWith: max) {
            #expect(count == 1, "Duplex holds \(key) \(count) times", sourceLocation: sourceLocation)
        }
        let dovecotWant = dovecotDiffers.map(MailContents.init) ?? want
        #expect(strip(r.dovecotA) == dovecotWant, "doveadm result vs expected:\n\(strip(r.dovecotA).differences(from: dovecotWant).joined(separator: "\n"))\ndoveadm sync statuses \(doveadmStatuses)", sourceLocation: sourceLocation)
        if dovecotDiffers == nil {
            #expect(strip(r.duplexA) == strip(r.dovecotA), "Duplex vs doveadm:\n\(strip(r.duplexA).differences(from: strip(r.dovecotA)).joined(separator: "\n"))", sourceLocation: sourceLocation)
        }
    }
}
