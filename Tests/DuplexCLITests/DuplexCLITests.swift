import Foundation
import MailStore
import MailStoreTestSupport
import Testing

/// Runs the built `duplex` binary and checks its output, `--json` and exit codes.
@Suite struct DuplexCLITests {
    static var duplex: String { ExternalCommand.duplexExecutable }

    func duplex(_ arguments: String...) throws -> ExternalCommand.Result {
        try ExternalCommand.run(Self.duplex, arguments)
    }

    func json(_ text: String) throws -> [[String: Any]] {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(value as? [[String: Any]], "not an array of objects: \(text)")
    }

    func withMailRoot<T>(_ body: (String) throws -> T) throws -> T {
        try TemporaryDirectory.with(prefix: "duplex-cli") { directory in
            let root = directory.appending("Maildir")
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
            return try body(root)
        }
    }

    func writeMessage(_ directory: String, _ text: String) throws -> String {
        let path = directory + "/message-\(UUID().uuidString).eml"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func help_listsTheCommands_andVersionPrints() throws {
        let help = try duplex("--help")
        #expect(help.status == 0)
        for command in ["mailbox", "fetch", "mail"] {
            #expect(help.stdout.contains("  \(command) "), "--help does not list \(command)")
        }
        let version = try duplex("--version")
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let mailHelp = try duplex("mail", "--help")
        for command in ["save", "flags", "expunge"] { #expect(mailHelp.stdout.contains("  \(command) ")) }
        let mailboxHelp = try duplex("mailbox", "--help")
        for command in ["list", "create", "rename", "delete", "subscribe", "unsubscribe"] {
            #expect(mailboxHelp.stdout.contains("  \(command) "))
        }
    }

    @Test func mailboxListJSON_hasTheDocumentedKeysAndValues() throws {
        try withMailRoot { root in
            #expect(try duplex("mailbox", "create", root, "Archive/2024").status == 0)
            #expect(try duplex("mailbox", "create", root, "Über & co").status == 0)
            #expect(try duplex("mailbox", "subscribe", root, "Archive/2024").status == 0)
            let result = try duplex("mailbox", "list", root, "--json")
            #expect(result.status == 0, "\(result.stderr)")
            let rows = try json(result.stdout)
            #expect(rows.map { $0["name"] as? String } == ["INBOX", "Archive/2024", "Über & co"])
            for row in rows {
                #expect(Set(row.keys) == ["name", "guid", "uidvalidity", "uidnext", "messages", "subscribed"])
                let guid = try #require(row["guid"] as? String)
                #expect(guid.count == 32 && guid.allSatisfy(\.isHexDigit))
                #expect((row["uidvalidity"] as? Int ?? 0) > 0)
                #expect(row["uidnext"] as? Int == 1)
                #expect(row["messages"] as? Int == 0)
            }
            #expect(rows[1]["subscribed"] as? Bool == true)
            #expect(rows[2]["subscribed"] as? Bool == false)
            // The table has a header and one aligned row per mailbox.
            let table = try duplex("mailbox", "list", root)
            let lines = table.stdout.split(separator: "\n")
            #expect(lines.count == 4)
            #expect(lines[0].hasPrefix("MAILBOX"))
            #expect(FileManager.default.fileExists(atPath: root + "/.&ANw-ber &- co/cur"))
        }
    }

    @Test func saveFlagsFetchExpunge_roundTripThroughTheCLI() throws {
        try withMailRoot { root in
            let message = try writeMessage((root as NSString).deletingLastPathComponent, "Subject: hi\n\nbody\n")
            // An empty directory is not a Maildir until INBOX is created.
            let notYet = try duplex("mail", "save", root, "INBOX", message)
            #expect(notYet.status == 65)
            #expect(notYet.stderr.contains("cur"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty)
            #expect(try duplex("mailbox", "create", root, "INBOX").status == 0)
            let saved = try duplex("mail", "save", root, "INBOX", message, "--flags", "\\Seen $Label1")
            #expect(saved.status == 0, "\(saved.stderr)")
            #expect(saved.stdout.hasPrefix("saved uid=1 "))
            #expect(try duplex("mail", "save", root, "INBOX", message, "--uid", "40", "--guid", "my-guid-1").status == 0)
            #expect(try duplex("mail", "flags", root, "INBOX", "40", "add", "\\Flagged", "Junk").status == 0)
            #expect(try duplex("mail", "flags", root, "INBOX", "1", "remove", "\\Seen").status == 0)
            var rows = try json(try duplex("fetch", root, "INBOX", "--json").stdout)
            #expect(rows.count == 2)
            for row in rows { #expect(Set(row.keys) == ["uid", "guid", "flags", "size"]) }
            #expect(rows[0]["uid"] as? Int == 1)
            #expect(rows[0]["flags"] as? [String] == ["$Label1"])
            #expect(rows[0]["size"] as? Int == 18)
            #expect(rows[1]["uid"] as? Int == 40)
            #expect(rows[1]["guid"] as? String == "my-guid-1")
            #expect(rows[1]["flags"] as? [String] == ["\\Flagged", "Junk"])
            #expect(try duplex("mail", "flags", root, "INBOX", "40", "replace", "\\Answered").status == 0)
            rows = try json(try duplex("fetch", root, "INBOX", "--json").stdout)
            #expect(rows[1]["flags"] as? [String] == ["\\Answered"])
            let expunged = try duplex("mail", "expunge", root, "INBOX", "1")
            #expect(expunged.status == 0)
            rows = try json(try duplex("fetch", root, "INBOX", "--json").stdout)
            #expect(rows.map { $0["uid"] as? Int } == [40])
            // The next save gets 41: UIDs are never reused.
            #expect(try duplex("mail", "save", root, "INBOX", message).stdout.hasPrefix("saved uid=41 "))
        }
    }

    @Test func exitCodes_followSysexits() throws {
        try withMailRoot { root in
            let message = try writeMessage((root as NSString).deletingLastPathComponent, "Subject: x\n\ny\n")
            // 64: usage errors and invalid names.
            #expect(try duplex("fetch").status == 64)
            #expect(try duplex("mailbox", "list", root, "--separator", "..").status == 64)
            #expect(try duplex("mail", "flags", root, "INBOX", "1", "frobnicate", "\\Seen").status == 64)
            let badName = try duplex("mailbox", "create", root, "a.b")
            #expect(badName.status == 64)
            #expect(badName.stderr.contains("'.'"))
            #expect(try duplex("mail", "save", root, "INBOX", message, "--flags", "\\Recent").status == 64)
            // 68: not found.
            let missing = try duplex("fetch", root, "NoSuch")
            #expect(missing.status == 68)
            #expect(missing.stderr.contains("NoSuch"))
            #expect(try duplex("mailbox", "list", root + "/nonexistent").status == 68)
            #expect(try duplex("mailbox", "delete", root, "NoSuch").status == 68)
            // 73: already exists.
            #expect(try duplex("mailbox", "create", root, "Dup").status == 0)
            #expect(try duplex("mailbox", "create", root, "Dup").status == 73)
            // 65: bad data, naming the file and line.
            #expect(try duplex("mail", "save", root, "Dup", message).status == 0)
            let uidlist = root + "/.Dup/dovecot-uidlist"
            let original = try Data(contentsOf: URL(fileURLWithPath: uidlist))
            try (String(decoding: original, as: UTF8.self) + "1 :duplicate-uid\n").write(toFile: uidlist, atomically: true, encoding: .utf8)
            let corrupt = try duplex("fetch", root, "Dup")
            #expect(corrupt.status == 65)
            #expect(corrupt.stderr.contains(uidlist + ":3:"), "\(corrupt.stderr)")
            // 65: a UID below the next UID is refused.
            #expect(try duplex("mail", "save", root, "INBOX", message, "--uid", "5").status == 0)
            #expect(try duplex("mail", "save", root, "INBOX", message, "--uid", "3").status == 65)
            // 75: a lock held by a live process times out.
            let lock = root + "/dovecot-uidlist.lock"
            try "\(getpid()):\(ProcessInfo.processInfo.hostName)".write(toFile: lock, atomically: false, encoding: .utf8)
            let held = try duplex("mail", "save", root, "INBOX", message, "--lock-timeout", "0.3")
            #expect(held.status == 75, "\(held.stderr)")
            #expect(held.stderr.contains(lock))
            try FileManager.default.removeItem(atPath: lock)
        }
    }

    @Test(.enabled(if: SystemAccounts.isRoot, "needs root to run the binary as another user"))
    func exitCode77_whenTheMailRootIsNotAccessible() throws {
        try withMailRoot { root in
            #expect(try duplex("mailbox", "create", root, "Private").status == 0)
            chmod(root, 0o700)
            let result = try ExternalCommand.run("/usr/sbin/runuser", ["-u", "nobody", "--", Self.duplex, "fetch", root, "INBOX"])
            #expect(result.status == 77, "\(result.stdout) \(result.stderr)")
        }
    }
}
