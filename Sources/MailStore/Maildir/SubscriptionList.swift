/// The mail root's `subscriptions` file (reference: Dovecot 2.3 `subscription-file.c`).
///
/// Version 2: `V\t2\n\n`, then one line per subscribed mailbox: its storage levels (modified
/// UTF-7) joined by TAB, each level tab-escaped (0x01 → `\u{1}1`, TAB → `\u{1}t`,
/// CR → `\u{1}r`, LF → `\u{1}n`). Old files have no header and one name per line with `.`
/// between levels. Always written as version 2.
public struct SubscriptionList: Sendable, Equatable {
    /// Subscribed names in file order, without duplicates.
    public private(set) var names: [MailboxName]

    public init(names: [MailboxName] = []) {
        self.names = []
        for name in names { insert(name) }
    }

    /// Parses the file.
    ///
    /// - Throws: `badData` naming `path` and line for an unknown version header, a bad
    ///   escape, or a name that is not valid modified UTF-7.
    public init(parsing bytes: [UInt8], path: String) throws {
        names = []
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var lineNumber = 0
        var isVersion2 = false
        if let first = lines.first, first.first == UInt8(ascii: "V"), first.count >= 2, first[first.startIndex + 1] == UInt8(ascii: "\t") {
            guard Array(first) == Array("V\t2".utf8) else {
                throw MailStoreError(.badData, "unsupported subscriptions version \"\(String(decoding: first, as: UTF8.self))\"", path: path, line: 1)
            }
            isVersion2 = true
        }
        for line in lines {
            lineNumber += 1
            if isVersion2 && lineNumber == 1 { continue }
            if line.isEmpty { continue }
            do {
                let levels: [String]
                if isVersion2 {
                    levels = try line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
                        .map { try ModifiedUTF7.decode(Self.unescape($0)) }
                } else {
                    let text = String(decoding: line, as: UTF8.self)
                    levels = try text.split(separator: ".", omittingEmptySubsequences: false).map { try ModifiedUTF7.decode(String($0)) }
                }
                insert(try MailboxName(levels: levels.count == 1 && levels[0].uppercased() == "INBOX" ? ["INBOX"] : levels))
            } catch let error as MailStoreError {
                throw MailStoreError(.badData, error.message, path: path, line: lineNumber)
            }
        }
    }

    /// Adds `name` if it is not there. Returns whether it was added.
    @discardableResult
    public mutating func insert(_ name: MailboxName) -> Bool {
        guard !names.contains(name) else { return false }
        names.append(name)
        return true
    }

    /// Removes `name`. Returns whether it was there.
    @discardableResult
    public mutating func remove(_ name: MailboxName) -> Bool {
        guard let index = names.firstIndex(of: name) else { return false }
        names.remove(at: index)
        return true
    }

    /// Whether `name` is subscribed.
    public func contains(_ name: MailboxName) -> Bool { names.contains(name) }

    /// The version 2 file content.
    public func serialized() -> [UInt8] {
        var out = Array("V\t2\n\n".utf8)
        for name in names {
            let line = name.levels.map { Self.escape(ModifiedUTF7.encode($0)) }.joined(separator: "\t")
            out.append(contentsOf: line.utf8)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\u{1}": out += "\u{1}1"
            case "\t": out += "\u{1}t"
            case "\r": out += "\u{1}r"
            case "\n": out += "\u{1}n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func unescape(_ bytes: ArraySlice<UInt8>) throws -> String {
        var out: [UInt8] = []
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            guard byte == 1 else { out.append(byte); continue }
            switch iterator.next() {
            case UInt8(ascii: "1"): out.append(1)
            case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
            case UInt8(ascii: "r"): out.append(UInt8(ascii: "\r"))
            case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
            default: throw MailStoreError(.badData, "bad escape sequence")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
