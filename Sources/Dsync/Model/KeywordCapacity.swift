import MailStore

/// What one side's copy of a mailbox can hold in keywords.
///
/// A Maildir mailbox gives each keyword one of 26 letters through its `dovecot-keywords`
/// file, and never takes a letter back (Dovecot keeps letter → name mappings cached and
/// would misread a reused letter). So a side can set a keyword in a mailbox when the
/// keyword already has a letter there, or while letters are free.
public struct KeywordCapacity: Hashable, Sendable, Codable {
    /// The keywords that have a letter in the mailbox (its `dovecot-keywords`, also those
    /// no message carries any more), as spelled there.
    public var stored: [String]
    /// How many more keywords can get a letter.
    public var freeLetters: Int

    /// - Parameters:
    ///   - stored: the keywords with a letter.
    ///   - freeLetters: letters left for new keywords (clamped to 0…26).
    public init(stored: [String], freeLetters: Int) {
        self.stored = stored
        self.freeLetters = min(max(freeLetters, 0), KeywordTable.capacity)
    }

    /// A mailbox about to be created: nothing stored, every letter free.
    public static let empty = KeywordCapacity(stored: [], freeLetters: KeywordTable.capacity)

    /// What a mailbox that reported nothing (an older peer) can hold, judged by its messages:
    /// their keywords are stored and the other letters free. Letters named without being
    /// used there make it hold less; the replica then drops what does not fit on apply
    /// (``KeywordOverflow/drop``) and the next sync, reading the mailbox again, converges.
    static func estimated(from messages: [MessageState]) -> KeywordCapacity {
        var keys = Set<String>()
        var stored: [String] = []
        for message in messages {
            for keyword in message.flags.keywords where keys.insert(keyword.lowercased()).inserted { stored.append(keyword) }
        }
        return KeywordCapacity(stored: stored, freeLetters: KeywordTable.capacity - stored.count)
    }

    /// The keywords with a letter, compared without case (as Dovecot matches them).
    var storedKeys: Set<String> { Set(stored.map { $0.lowercased() }) }
}
