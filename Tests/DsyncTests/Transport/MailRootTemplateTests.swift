import Testing

@testable import Dsync

/// ``MailRootTemplate``: Dovecot's variables, template checks, and user names that must
/// never leave the mail directory.
@Suite struct MailRootTemplateTests {
    /// Parses `template` and expands it for `user`.
    func expand(_ template: String, _ user: String) throws -> String {
        try MailRootTemplate(template).mailRoot(for: user)
    }

    /// The error `body` throws, which must be a ``DsyncError``.
    func dsyncError(_ body: () throws -> Any) throws -> DsyncError {
        let error = try #require(throws: DsyncError.self) { _ = try body() }
        return error
    }

    // MARK: Variables

    @Test(arguments: [
        ("/var/vmail/%d/%n/Maildir", "alice@example.com", "/var/vmail/example.com/alice/Maildir"),
        ("/var/vmail/%u", "alice@example.com", "/var/vmail/alice@example.com"),
        ("/home/%n/Maildir", "bob", "/home/bob/Maildir"),
        ("/var/vmail/%{domain}/%{username}", "alice@example.com", "/var/vmail/example.com/alice"),
        ("/var/vmail/%{user}/Maildir", "bob", "/var/vmail/bob/Maildir"),
        ("/var/100%%/%n", "bob", "/var/100%/bob"),
        ("/m/%n.%d", "alice@example.com", "/m/alice.example.com"),
        ("/m/%n/%n", "alice@example.com", "/m/alice/alice"),
        ("/m/%d/%n", "a@b@c", "/m/b@c/a"),  // Dovecot splits at the first @
        ("/m/%n", "élodie@exemple.fr", "/m/élodie"),
        ("/m/%n/", "bob", "/m/bob/"),
        ("/m/x%n", ".", "/m/x."),  // "." inside a longer component is an ordinary name
    ])
    func variables_expandAsDovecotDoes(template: String, user: String, expected: String) throws {
        #expect(try expand(template, user) == expected)
    }

    @Test func description_andTemplate_areTheTextAsWritten() throws {
        let template = try MailRootTemplate("/var/vmail/%d/%n/Maildir")
        #expect(template.template == "/var/vmail/%d/%n/Maildir")
        #expect(template.description == "/var/vmail/%d/%n/Maildir")
        #expect(template == (try MailRootTemplate("/var/vmail/%d/%n/Maildir")))
    }

    @Test func percentPercent_isNotAVariable_evenBeforeALetter() throws {
        // "%%u" is a literal "%u", so the template names no user.
        let error = try dsyncError { try MailRootTemplate("/var/%%u") }
        #expect(error.code == .usage)
        #expect(try expand("/var/%%u/%n", "bob") == "/var/%u/bob")
    }

    // MARK: Bad templates

    @Test(arguments: [
        ("var/vmail/%n", "absolute path"),
        ("", "absolute path"),
        ("~/%n", "absolute path"),
        ("/var/vmail/shared", "must name the user"),
        ("/var/vmail/%d", "must name the user"),
        ("/var/vmail/%x/%n", "unknown variable %x at position 12"),
        ("/var/vmail/%n/%L", "unknown variable %L at position 15"),
        ("/var/%{home}/%n", "unknown variable %{home} at position 6"),
        ("/var/%{user/%n", "has no closing }"),
        ("/var/vmail/%n%", "lone % at the end (position 14)"),
        ("/var/vmail/\0/%n", "NUL character at position 12"),
    ])
    func badTemplate_isAUsageError_sayingWhatAndWhere(template: String, expected: String) throws {
        let error = try dsyncError { try MailRootTemplate(template) }
        #expect(error.code == .usage)
        #expect(error.message.contains(expected), "\(error)")
        #expect(error.message.contains("mail root template"), "\(error)")
    }

    // MARK: Hostile and unusable user names

    @Test(arguments: [
        ("", "empty user name"),
        ("../../etc", "contains /"),
        ("alice/../../root", "contains /"),
        ("alice\0", "NUL"),
        ("alice\n", "control character U+A"),
        ("alice\u{7F}", "control character U+7F"),
        ("alice\u{85}", "control character U+85"),
        (String(repeating: "a", count: 256), "256 bytes long, more than 255"),
        ("..", "no domain after @ (%d)"),  // the domain is asked for first
        ("..@example.com", "the path component .."),
        ("alice@..", "the path component .."),
        ("alice@.", "the path component ."),
        ("alice", "no domain after @ (%d)"),
        ("alice@", "no domain after @ (%d)"),
        ("@example.com", "nothing before @ (%n)"),
    ])
    func hostileUser_isRefused_namingTheUser(user: String, expected: String) throws {
        let template = try MailRootTemplate("/var/vmail/%d/%n/Maildir")
        let error = try dsyncError { try template.mailRoot(for: user) }
        #expect(error.code == .noSuchUser)
        #expect(error.message.contains(expected), "\(error)")
        #expect(error.user != nil)
    }

    @Test(arguments: ["/m/%u", "/m/%n", "/m/%{user}/Maildir"])
    func dotUser_isRefused_whereItWouldBeAComponentOfItsOwn(template: String) throws {
        for user in [".", ".."] {
            let error = try dsyncError { try expand(template, user) }
            #expect(error.code == .noSuchUser)
            #expect(error.message.contains("the path component \(user)"), "\(error)")
        }
    }

    @Test func userInError_isQuotedWithControlCharactersEscaped() throws {
        let error = try dsyncError { try expand("/m/%u", "evil\nline") }
        #expect(error.user == "\"evil\\nline\"")
        #expect(!error.description.contains("\n"))
    }

    @Test func noDomain_isFine_whenTheTemplateDoesNotNeedOne() throws {
        #expect(try expand("/home/%u/Maildir", "bob") == "/home/bob/Maildir")
        #expect(try expand("/home/%n/Maildir", "bob@") == "/home/bob/Maildir")
    }

    @Test func nameAt255Bytes_isAccepted_andItsComponentChecked() throws {
        let user = String(repeating: "a", count: 255)
        #expect(try expand("/m/%u", user) == "/m/" + user)
        // Two copies in one component would be a name no file system takes.
        let error = try dsyncError { try expand("/m/%u%u", user) }
        #expect(error.code == .noSuchUser)
        #expect(error.message.contains("longer than 255 bytes"))
    }

    @Test func dotsMadeByTemplateAndUser_together_areRefused() throws {
        // "." + "." makes "..": the check is on the component, not only the user name.
        let error = try dsyncError { try expand("/m/.%n", ".") }
        #expect(error.message.contains("the path component .."), "\(error)")
    }

    /// Whatever the user name, a mail root that expands stays below the template's fixed
    /// prefix and has exactly as many components as the template.
    @Test func anyUserName_thatExpands_staysBelowTheFixedPrefix() throws {
        let template = try MailRootTemplate("/var/vmail/%d/%n/Maildir")
        let alphabet: [Character] = ["a", ".", "@", "/", "%", "\0", "é", "\\", " ", "-"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let length = Int.random(in: 0...8, using: &generator)
            let user = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            guard let root = try? template.mailRoot(for: user) else { continue }
            #expect(root.hasPrefix("/var/vmail/"), "\(user)")
            #expect(root.hasSuffix("/Maildir"), "\(user)")
            let components = root.split(separator: "/", omittingEmptySubsequences: false)
            #expect(components.count == 6, "\(user) gave \(root)")
            #expect(!components.dropFirst().contains { $0.isEmpty || $0 == "." || $0 == ".." }, "\(user) gave \(root)")
        }
    }
}
