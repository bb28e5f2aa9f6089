/// Chooses the keywords a mailbox keeps when both sides cannot store every keyword of its
/// merged flags: a Maildir mailbox names at most 26 keywords (``KeywordCapacity``).
///
/// Both sides must end with the same flags, so a keyword is kept only when every side can
/// store it: it already has a letter there, or a letter is still free. Dovecot, whose
/// Maildir cannot store a keyword either once the letters are gone, leaves it out of the
/// file name; here the keywords left out are removed from every message of the mailbox on
/// both sides, and counted in the report.
///
/// The choice is deterministic and the same whichever side is A. Keywords are taken in this
/// order, each kept when every side that has no letter for it still has one free:
/// 1. those needing no new letter (already stored where they are needed), so a keyword both
///    sides store is never dropped and the choice of one sync stays in the next;
/// 2. then those needing a letter on one side, then on both;
/// 3. among equals, the one on more messages of the mailbox first, then by name (without
///    case, in code-point order).
///
/// Keywords left in `dovecot-keywords` by messages that no longer carry them still hold their
/// letters: like Dovecot, the store never takes a letter back (a running Dovecot process keeps
/// the letters it saw and would give a reused letter the old keyword's meaning). Keywords
/// stored that way count as stored, so setting one again costs nothing.
enum KeywordPlanner {
    struct Selection: Equatable {
        /// The keywords kept, lowercased.
        var kept: Set<String>
        /// The keywords dropped, as spelled on the messages, in code-point order.
        var dropped: [String]
    }

    /// Chooses the keywords of `messages` (the mailbox's final messages) that both sides keep.
    static func select(_ messages: [MessageState], a: KeywordCapacity, b: KeywordCapacity) -> Selection {
        var counts: [String: Int] = [:]
        var spellings: [String: String] = [:]
        for message in messages {
            for keyword in message.flags.keywords {
                let key = keyword.lowercased()
                counts[key, default: 0] += 1
                if spellings[key].map({ keyword < $0 }) ?? true { spellings[key] = keyword }
            }
        }
        let storedA = a.storedKeys, storedB = b.storedKeys
        var freeA = a.freeLetters, freeB = b.freeLetters
        // Everything fits: the common case, decided without sorting.
        if counts.keys.count(where: { !storedA.contains($0) }) <= freeA, counts.keys.count(where: { !storedB.contains($0) }) <= freeB {
            return Selection(kept: Set(counts.keys), dropped: [])
        }
        func cost(_ key: String) -> (a: Int, b: Int) { (storedA.contains(key) ? 0 : 1, storedB.contains(key) ? 0 : 1) }
        let ordered = counts.keys.sorted { x, y in
            let costX = cost(x), costY = cost(y)
            if costX.a + costX.b != costY.a + costY.b { return costX.a + costX.b < costY.a + costY.b }
            if counts[x]! != counts[y]! { return counts[x]! > counts[y]! }
            return x < y
        }
        var selection = Selection(kept: [], dropped: [])
        for key in ordered {
            let needed = cost(key)
            if needed.a <= freeA, needed.b <= freeB {
                freeA -= needed.a
                freeB -= needed.b
                selection.kept.insert(key)
            } else {
                selection.dropped.append(spellings[key]!)
            }
        }
        selection.dropped.sort()
        return selection
    }
}

extension SyncFlags {
    /// These flags with only the keywords in `kept` (lowercased keys).
    func keeping(_ kept: Set<String>) -> SyncFlags {
        SyncFlags(system: system, keywords: keywords.filter { kept.contains($0.lowercased()) })
    }
}
