/// IMAP system flags (RFC 3501 §2.3.2) as Maildir stores them in the file name's info part.
///
/// Maildir letters: `D` \Draft, `F` \Flagged, `R` \Answered, `S` \Seen, `T` \Deleted.
/// \Recent is not stored (it is a session property).
public struct SystemFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let answered = SystemFlags(rawValue: 1 << 0)
    public static let flagged = SystemFlags(rawValue: 1 << 1)
    public static let deleted = SystemFlags(rawValue: 1 << 2)
    public static let seen = SystemFlags(rawValue: 1 << 3)
    public static let draft = SystemFlags(rawValue: 1 << 4)

    /// The flags in the order Dovecot prints them, with their IMAP names and Maildir letters.
    static let table: [(flag: SystemFlags, name: String, letter: UInt8)] = [
        (.answered, "\\Answered", UInt8(ascii: "R")),
        (.flagged, "\\Flagged", UInt8(ascii: "F")),
        (.deleted, "\\Deleted", UInt8(ascii: "T")),
        (.seen, "\\Seen", UInt8(ascii: "S")),
        (.draft, "\\Draft", UInt8(ascii: "D")),
    ]

    /// IMAP names, e.g. `["\\Seen", "\\Flagged"]`, in Dovecot's order.
    public var imapNames: [String] { Self.table.filter { contains($0.flag) }.map(\.name) }

    /// The flag for an IMAP name (case-insensitive), nil for anything else.
    public init?(imapName: String) {
        let lower = imapName.lowercased()
        guard let entry = Self.table.first(where: { $0.name.lowercased() == lower }) else { return nil }
        self = entry.flag
    }

    /// The flag for a Maildir info letter, nil for other letters.
    init?(maildirLetter: UInt8) {
        switch maildirLetter {
        case UInt8(ascii: "R"): self = .answered
        case UInt8(ascii: "F"): self = .flagged
        case UInt8(ascii: "T"): self = .deleted
        case UInt8(ascii: "S"): self = .seen
        case UInt8(ascii: "D"): self = .draft
        default: return nil
        }
    }
}

/// A message's flags: system flags plus keywords (by name).
public struct MessageFlags: Hashable, Sendable {
    /// The system flags.
    public var system: SystemFlags
    /// Keyword names, in a stable order (the mailbox's keyword index order when read from disk).
    public var keywords: [String]

    public init(system: SystemFlags = [], keywords: [String] = []) {
        self.system = system
        self.keywords = keywords
    }

    /// Parses IMAP flag tokens such as `\Seen $Label1 Junk`.
    ///
    /// - Throws: `invalidArgument` for an unknown `\`-flag (including `\Recent`, which cannot be
    ///   set) or a keyword that is not an IMAP atom (RFC 3501 §9 `flag-keyword`).
    public init(parsing tokens: [String]) throws {
        var system: SystemFlags = []
        var keywords: [String] = []
        for token in tokens.flatMap({ $0.split(separator: " ").map(String.init) }) where !token.isEmpty {
            if token.hasPrefix("\\") {
                guard let flag = SystemFlags(imapName: token) else {
                    throw MailStoreError(.invalidArgument, "unknown system flag \"\(token)\"")
                }
                system.insert(flag)
            } else {
                try Self.validateKeyword(token)
                if !keywords.contains(where: { $0.lowercased() == token.lowercased() }) { keywords.append(token) }
            }
        }
        self.init(system: system, keywords: keywords)
    }

    /// All flags as IMAP tokens: system flags in Dovecot's order, then keywords.
    public var imapNames: [String] { system.imapNames + keywords }

    /// Checks that `keyword` is an IMAP atom: printable ASCII, none of `(){ %*"\]`.
    public static func validateKeyword(_ keyword: String) throws {
        guard !keyword.isEmpty else { throw MailStoreError(.invalidArgument, "empty keyword") }
        for byte in keyword.utf8 {
            let forbidden = byte <= 0x20 || byte >= 0x7f || "(){%*\"\\]".utf8.contains(byte)
            if forbidden {
                throw MailStoreError(.invalidArgument, "keyword \"\(keyword)\" is not an IMAP atom")
            }
        }
    }
}
