/// A mailbox name as users see it (UTF-8, hierarchy levels joined by the namespace
/// separator) and its Maildir++ storage form.
///
/// On disk a folder is the directory `.` + levels in modified UTF-7 joined by `.`
/// (Dovecot's `LAYOUT=maildir++`); INBOX is the mail root itself. A `.` inside a level
/// is not allowed, as in Dovecot without `BROKENCHAR`.
public struct MailboxName: Hashable, Sendable, CustomStringConvertible {
    /// The hierarchy levels in UTF-8, e.g. `["Archive", "2024"]`; `["INBOX"]` for the inbox.
    public let levels: [String]

    /// Parses a user-facing name split at `separator`.
    ///
    /// - Throws: ``MailStoreError`` `invalidArgument` for an empty name or level, a level with
    ///   `.` (Maildir++'s on-disk separator), control characters, or a name over 255 bytes on disk.
    public init(_ name: String, separator: Character = "/") throws {
        guard !name.isEmpty else { throw MailStoreError(.invalidArgument, "empty mailbox name") }
        var levels = name.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        if levels[0].uppercased() == "INBOX" && levels.count == 1 { levels[0] = "INBOX" }
        try self.init(levels: levels, display: name)
    }

    /// Builds a name from its levels.
    public init(levels: [String]) throws {
        try self.init(levels: levels, display: levels.joined(separator: "/"))
    }

    private init(levels: [String], display: String) throws {
        guard !levels.isEmpty else { throw MailStoreError(.invalidArgument, "empty mailbox name") }
        for level in levels {
            guard !level.isEmpty else {
                throw MailStoreError(.invalidArgument, "mailbox name \"\(display)\" has an empty hierarchy level")
            }
            if level.contains(".") && !(levels.count == 1 && level == "INBOX") {
                throw MailStoreError(.invalidArgument, "mailbox name \"\(display)\": character not allowed in mailbox name: '.'")
            }
            if level.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                throw MailStoreError(.invalidArgument, "mailbox name \"\(display)\" contains a control character")
            }
            if level.hasPrefix("~") && level == levels.first {
                throw MailStoreError(.invalidArgument, "mailbox name \"\(display)\" may not start with '~'")
            }
        }
        self.levels = levels
        if storageName.utf8.count > 254 {
            throw MailStoreError(.invalidArgument, "mailbox name \"\(display)\" is too long")
        }
    }

    /// Decodes a Maildir++ directory name (without the leading `.`), e.g. `&ANw-ber.Sub`.
    ///
    /// - Throws: ``MailStoreError`` `badData` when a level is not valid modified UTF-7 or empty.
    public init(storageName: String) throws {
        let parts = storageName.split(separator: ".", omittingEmptySubsequences: false)
        var levels: [String] = []
        for part in parts {
            guard !part.isEmpty else {
                throw MailStoreError(.badData, "folder directory \".\(storageName)\" has an empty hierarchy level")
            }
            levels.append(try ModifiedUTF7.decode(String(part)))
        }
        do {
            try self.init(levels: levels)
        } catch let error as MailStoreError {
            throw MailStoreError(.badData, "folder directory \".\(storageName)\": \(error.message)")
        }
    }

    /// The inbox.
    public static let inbox = try! MailboxName(levels: ["INBOX"])

    /// Whether this is the inbox (stored in the mail root itself).
    public var isInbox: Bool { levels.count == 1 && levels[0] == "INBOX" }

    /// Levels in modified UTF-7 joined by `.`; the folder directory is `.` + this.
    public var storageName: String { levels.map(ModifiedUTF7.encode).joined(separator: ".") }

    /// The name joined with `separator`.
    public func joined(separator: Character = "/") -> String { levels.joined(separator: String(separator)) }

    public var description: String { joined() }

    /// Whether `self` is `other` or below it in the hierarchy.
    public func isSameOrDescendant(of other: MailboxName) -> Bool {
        levels.count >= other.levels.count && Array(levels.prefix(other.levels.count)) == other.levels
    }
}
