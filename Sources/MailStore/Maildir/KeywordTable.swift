/// A folder's `dovecot-keywords` file: keyword index (0–25, file name letter `a`–`z`) ↔ name.
///
/// Format: lines `<index> <name>\n` (reference: Dovecot 2.3 `maildir-keywords.c`).
/// Names are matched case-insensitively. At most 26 keywords fit in file names.
public struct KeywordTable: Sendable, Equatable {
    /// Names by index; nil where the index is unused.
    public private(set) var names: [String?]

    /// The number of keyword letters Maildir file names can carry.
    public static let capacity = 26

    public init() { names = [] }

    /// Parses the file.
    ///
    /// - Throws: `badData` naming `path` and line for a line without a space, an index
    ///   that is not a number in 0…25, an index used twice, or an invalid keyword name.
    public init(parsing bytes: [UInt8], path: String) throws {
        names = []
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty { continue }
            guard let space = line.firstIndex(of: UInt8(ascii: " ")) else {
                throw MailStoreError(.badData, "keyword line has no space between index and name", path: path, line: lineNumber)
            }
            guard let index = MaildirFileName.parseDecimal(line[line.startIndex..<space]), index < Self.capacity else {
                throw MailStoreError(.badData, "keyword index is not a number from 0 to 25", path: path, line: lineNumber)
            }
            let name = String(decoding: line[(space + 1)...], as: UTF8.self)
            do { try MessageFlags.validateKeyword(name) } catch let error as MailStoreError {
                throw MailStoreError(.badData, error.message, path: path, line: lineNumber)
            }
            if Int(index) < names.count, names[Int(index)] != nil {
                throw MailStoreError(.badData, "keyword index \(index) is used twice", path: path, line: lineNumber)
            }
            while names.count <= Int(index) { names.append(nil) }
            names[Int(index)] = name
        }
    }

    /// The index of `name` (case-insensitive), nil when it has none.
    public func index(of name: String) -> Int? {
        let lower = name.lowercased()
        return names.firstIndex(where: { $0?.lowercased() == lower })
    }

    /// The name at `index`, nil when unused.
    public func name(at index: Int) -> String? {
        index < names.count ? names[index] : nil
    }

    /// Returns the index of `name`, adding it at the first free index when missing. Letters
    /// in `reserved` (bit `i` for `'a' + i`) are skipped: message files carry them without a
    /// name in the file, and giving them a name would give those messages a keyword.
    ///
    /// - Throws: `invalidArgument` when all 26 letters are taken.
    public mutating func indexAdding(_ name: String, avoiding reserved: UInt32 = 0) throws -> Int {
        if let existing = index(of: name) { return existing }
        for index in 0..<Self.capacity where reserved & (1 << UInt32(index)) == 0 && self.name(at: index) == nil {
            while names.count <= index { names.append(nil) }
            names[index] = name
            return index
        }
        throw MailStoreError(.invalidArgument, "cannot add keyword \"\(name)\": the mailbox's 26 keyword letters are all in use")
    }

    /// How many more keywords fit: letters with no name here and not carried by any message
    /// file (`carried`, bit `i` for `'a' + i`; a letter on a file without a name here is
    /// not free, see ``indexAdding(_:avoiding:)``).
    public func freeLetters(carried: UInt32) -> Int {
        var taken = carried & (1 << UInt32(Self.capacity) - 1)
        for (index, name) in names.enumerated() where name != nil { taken |= 1 << UInt32(index) }
        return Self.capacity - taken.nonzeroBitCount
    }

    /// The file content.
    public func serialized() -> [UInt8] {
        var text = ""
        for (index, name) in names.enumerated() {
            if let name { text += "\(index) \(name)\n" }
        }
        return Array(text.utf8)
    }
}

/// What a write does with new keywords that find no free letter in the mailbox's
/// `dovecot-keywords` (a Maildir mailbox names at most 26 keywords).
public enum KeywordOverflow: Sendable {
    /// Refuse the write with `invalidArgument`; nothing is changed.
    case refuse
    /// Write the message without them, as Dovecot does (its `maildir_keywords_idx_char()`
    /// gives such a keyword no letter, so the file name leaves it out); its other flags and
    /// keywords are written.
    case drop
}
