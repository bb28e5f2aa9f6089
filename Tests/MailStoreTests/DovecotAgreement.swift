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

/// One message as both sides report it, comparable and readable in a failure message.
struct MessageView: Hashable, Sendable, CustomStringConvertible {
    var uid: UInt32
    var guid: String
    var flags: Set<String>

    var description: String { "uid=\(uid) guid=\(guid) flags=[\(flags.sorted().joined(separator: " "))]" }
}

/// One mailbox as `doveadm mailbox status 'guid uidvalidity uidnext messages'` reports it.
struct MailboxView: Hashable, Sendable, CustomStringConvertible {
    var name: String
    var guid: String
    var uidValidity: UInt32
    var uidNext: UInt32
    var messages: Int

    var description: String { "\(name) guid=\(guid) uidvalidity=\(uidValidity) uidnext=\(uidNext) messages=\(messages)" }
}

/// What an agreement check saw, so that tests can also check it was not vacuous.
struct AgreementSummary: Sendable {
    var mailboxes: [MailboxView] = []
    var messages: [String: [MessageView]] = [:]
    var subscriptions: Set<String> = []
    /// Names doveadm still lists but cannot open (deleted parents of existing children).
    var unopenable: [String] = []

    var messageCount: Int { messages.values.reduce(0) { $0 + $1.count } }
    var allFlags: Set<String> { messages.values.reduce(into: Set<String>()) { $0.formUnion($1.flatMap(\.flags)) } }
}

/// Compares what MailStore reads with what doveadm reports for the same user.
///
/// doveadm's stderr must stay empty: Dovecot reports a uidlist, keywords file or file name
/// it does not like as a warning or error there while still exiting 0.
struct DovecotAgreement {
    let dovecot: DovecotInstance
    let user: String
    let store: MailStore

    init(dovecot: DovecotInstance, user: String) {
        self.dovecot = dovecot
        self.user = user
        self.store = MailStore(root: dovecot.mailRoot(user: user))
    }

    /// Runs doveadm for this user; throws when it exits non-zero or prints anything to
    /// stderr. (Throwing rather than recording an issue also works on plain threads.)
    @discardableResult
    func doveadm(_ args: [String], stdin: Data? = nil) throws -> String {
        let out = try dovecot.doveadm(args, stdin: stdin)
        let stderr = out.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        guard stderr.isEmpty else {
            throw DovecotTestError.unexpectedOutput(command: ["doveadm"] + args, output: stderr, reason: "doveadm printed to stderr")
        }
        return out.stdout
    }

    // MARK: doveadm's view

    func doveadmMessages(_ mailbox: String) throws -> [MessageView] {
        let text = try doveadm(["fetch", "-u", user, "uid guid flags", "mailbox", mailbox])
        return try DoveadmOutputParser.parseFetch(text)
            .map { MessageView(uid: $0.uid, guid: $0.guid, flags: $0.flagSet) }
            .sorted { $0.uid < $1.uid }
    }

    /// `doveadm mailbox status '*'`, and the names it listed but could not open.
    ///
    /// Dovecot's list index can keep a deleted mailbox that still has children; status then
    /// fails for it with "Mailbox doesn't exist" (exit 68). That error, and only that one,
    /// is returned instead of thrown, so the caller can check the mailbox is not on disk.
    func doveadmMailboxes() throws -> (mailboxes: [MailboxView], missing: [String]) {
        let args = ["mailbox", "status", "-u", user, "guid uidvalidity uidnext messages", "*"]
        let out = try dovecot.doveadm(args, checked: false)
        var missing: [String] = []
        for line in out.stderr.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let marker = ": Failed to lookup mailbox status: Mailbox doesn't exist: "
            guard let range = line.range(of: marker), line.contains("Error: Mailbox ") else {
                throw DovecotTestError.unexpectedOutput(command: ["doveadm"] + args, output: out.stderr, reason: "doveadm printed to stderr")
            }
            missing.append(String(line[range.upperBound...]))
        }
        guard out.status == 0 || (out.status == 68 && !missing.isEmpty) else {
            throw DovecotTestError.commandFailed(command: ["doveadm"] + args, status: out.status, stdout: out.stdout, stderr: out.stderr)
        }
        let mailboxes = try DoveadmOutputParser.parseMailboxStatus(out.stdout)
            .map { MailboxView(name: $0.name, guid: $0.guid, uidValidity: $0.uidValidity, uidNext: $0.uidNext, messages: $0.messages) }
            .sorted { $0.name < $1.name }
        return (mailboxes, missing)
    }

    func doveadmSubscriptions() throws -> [String] {
        DoveadmOutputParser.parseMailboxList(try doveadm(["mailbox", "list", "-u", user, "-s"]))
    }

    func doveadmSave(_ message: [UInt8], mailbox: String = "INBOX") throws {
        try doveadm(["save", "-u", user, "-m", mailbox], stdin: Data(message))
    }

    func doveadmFlags(_ action: String, _ flags: String, mailbox: String, uids: String) throws {
        try doveadm(["flags", action, "-u", user, flags, "mailbox", mailbox, "uid", uids])
    }

    // MARK: MailStore's view

    func storeMessages(_ mailbox: String) throws -> [MessageView] {
        try store.listMessages(in: try store.mailboxName(mailbox))
            .map { MessageView(uid: $0.uid, guid: $0.guid, flags: Set($0.flags.imapNames)) }
    }

    func storeMailboxes() throws -> [MailboxView] {
        try store.listMailboxes()
            .map {
                MailboxView(
                    name: store.displayName($0.name), guid: $0.guid.hex, uidValidity: $0.uidValidity,
                    uidNext: $0.uidNext, messages: $0.messages)
            }
            .sorted { $0.name < $1.name }
    }

    // MARK: Agreement

    /// Checks mailboxes (name, GUID, UIDVALIDITY, UIDNEXT, count), every mailbox's messages
    /// (UID, GUID, flags) and subscriptions. doveadm is asked first, MailStore second.
    @discardableResult
    func expectAgreement(sourceLocation: SourceLocation = #_sourceLocation) throws -> AgreementSummary {
        var summary = AgreementSummary()
        let (dovecotMailboxes, missing) = try doveadmMailboxes()
        for name in missing {
            #expect(try !store.mailboxExists(try store.mailboxName(name)),
                    "doveadm cannot open \(name), but it exists on disk", sourceLocation: sourceLocation)
        }
        summary.unopenable = missing
        var dovecotMessages: [String: [MessageView]] = [:]
        for mailbox in dovecotMailboxes {
            dovecotMessages[mailbox.name] = try doveadmMessages(mailbox.name)
        }
        let dovecotSubscriptions = try doveadmSubscriptions()

        let storeMailboxes = try storeMailboxes()
        #expect(storeMailboxes == dovecotMailboxes, "mailbox status differs", sourceLocation: sourceLocation)
        for mailbox in storeMailboxes {
            let mine = try storeMessages(mailbox.name)
            let theirs = dovecotMessages[mailbox.name] ?? []
            #expect(mine == theirs, "messages of \(mailbox.name) differ", sourceLocation: sourceLocation)
            #expect(mine.count == mailbox.messages, "listMessages and status disagree for \(mailbox.name)", sourceLocation: sourceLocation)
            summary.messages[mailbox.name] = mine
        }

        let storeSubscriptions = try store.subscriptions().map { store.displayName($0) }
        #expect(Set(storeSubscriptions).count == storeSubscriptions.count, "duplicate subscriptions", sourceLocation: sourceLocation)
        #expect(Set(storeSubscriptions) == Set(dovecotSubscriptions), "subscriptions differ", sourceLocation: sourceLocation)
        #expect(storeSubscriptions.count == dovecotSubscriptions.count, "subscription counts differ", sourceLocation: sourceLocation)
        let flagged = try store.listMailboxes().filter(\.isSubscribed).map { store.displayName($0.name) }
        #expect(Set(flagged) == Set(dovecotSubscriptions).intersection(storeMailboxes.map(\.name)),
                "MailboxStatus.isSubscribed differs from the subscriptions file", sourceLocation: sourceLocation)

        summary.mailboxes = storeMailboxes
        summary.subscriptions = Set(storeSubscriptions)
        return summary
    }

    // MARK: Files

    /// Paths under `path` (including it) whose owner is not `uid:gid`.
    static func paths(under path: String, notOwnedBy uid: uid_t, _ gid: gid_t) -> [String] {
        var result: [String] = []
        var info = stat()
        guard lstat(path, &info) == 0 else { return [path + " (cannot stat)"] }
        if info.st_uid != uid || info.st_gid != gid { result.append("\(path) (\(info.st_uid):\(info.st_gid))") }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for child in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                result += paths(under: path + "/" + child, notOwnedBy: uid, gid)
            }
        }
        return result
    }

    /// Expects every file and directory below the user's home to belong to vmail.
    func expectEverythingOwnedByVmail(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let vmail = try #require(SystemAccounts.vmail, sourceLocation: sourceLocation)
        let wrong = Self.paths(under: dovecot.homeDirectory(user: user), notOwnedBy: vmail.uid, vmail.gid)
        #expect(wrong.isEmpty, "not owned by vmail: \(wrong)", sourceLocation: sourceLocation)
    }

    /// The contents of every `dovecot-uidlist` and `dovecot-keywords` below the mail root.
    func controlFiles() throws -> [String: Data] {
        let root = dovecot.mailRoot(user: user)
        var result: [String: Data] = [:]
        let directories = [root] + (try FileManager.default.contentsOfDirectory(atPath: root))
            .filter { $0.hasPrefix(".") && $0 != "." && $0 != ".." }
            .map { root + "/" + $0 }
        for directory in directories {
            for file in ["dovecot-uidlist", "dovecot-keywords"] {
                if let data = FileManager.default.contents(atPath: directory + "/" + file) {
                    result[directory + "/" + file] = data
                }
            }
        }
        return result
    }
}

/// Test messages with a unique Message-ID and body marker.
enum TestMessage {
    /// A small RFC 5322 message. `crlf` chooses the line ending; the text ends with one.
    static func make(id: String, subject: String? = nil, lines: Int = 1, crlf: Bool = false) -> [UInt8] {
        let eol = crlf ? "\r\n" : "\n"
        var text = "From: Sender <sender@example.org>" + eol
        text += "To: Receiver <receiver@example.org>" + eol
        text += "Subject: " + (subject ?? "message \(id)") + eol
        text += "Message-ID: <\(id)@duplex.test>" + eol
        text += "Date: Mon, 1 Jan 2024 10:00:00 +0000" + eol
        text += eol
        for line in 0..<max(lines, 1) {
            text += "marker \(id) line \(line)" + eol
        }
        return Array(text.utf8)
    }

    /// The Message-ID header value of a message, or nil.
    static func messageID(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" }) {
            let trimmed = line.hasSuffix("\r") ? line.dropLast() : line[...]
            if trimmed.isEmpty { return nil }
            if trimmed.lowercased().hasPrefix("message-id:") {
                return trimmed.dropFirst("message-id:".count).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}

/// Runs blocking work on its own thread, so that several blocking loops really run at the
/// same time (the cooperative pool has only as many threads as cores).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}
