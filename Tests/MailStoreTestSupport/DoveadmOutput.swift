import Foundation

/// One message as reported by `doveadm fetch 'uid guid flags'`.
public struct DoveadmMessage: Sendable, Hashable, CustomStringConvertible {
    public var uid: UInt32
    /// For Maildir this is the base file name Dovecot keeps in dovecot-uidlist.
    public var guid: String
    /// System flags and keywords in doveadm's order, without `\Recent`.
    public var flags: [String]

    public init(uid: UInt32, guid: String, flags: [String]) {
        self.uid = uid
        self.guid = guid
        self.flags = flags
    }

    /// The flags as a set, convenient for order-independent comparisons.
    public var flagSet: Set<String> { Set(flags) }

    public var description: String {
        "uid=\(uid) guid=\(guid) flags=[\(flags.joined(separator: " "))]"
    }
}

/// One mailbox as reported by
/// `doveadm mailbox status 'guid uidvalidity uidnext messages' '*'`.
public struct DoveadmMailboxStatus: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var guid: String
    public var uidValidity: UInt32
    public var uidNext: UInt32
    public var messages: Int

    public init(name: String, guid: String, uidValidity: UInt32, uidNext: UInt32, messages: Int) {
        self.name = name
        self.guid = guid
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.messages = messages
    }

    public var description: String {
        "\(name) guid=\(guid) uidvalidity=\(uidValidity) uidnext=\(uidNext) messages=\(messages)"
    }
}

/// How `doveadm flags` changes the flags of the selected messages.
public enum DoveadmFlagAction: String, Sendable, CaseIterable {
    case add
    case remove
    case replace
}

/// Parsers for doveadm's default ("flow") output format. Public so tests can
/// check them against fixed samples.
public enum DoveadmOutputParser {
    /// Splits multi-record `key: value` output into one dictionary per record.
    ///
    /// Only lines that start with one of `fields` followed by `:` start a
    /// value; any other non-empty line continues the previous value. A record
    /// ends at an empty line, at a form-feed line (doveadm separates records
    /// with `\u{0C}`), or when a key repeats within the current record.
    public static func parseRecords(_ text: String, fields: [String]) -> [[String: String]] {
        var records: [[String: String]] = []
        var current: [String: String] = [:]
        var lastKey: String?

        func finish() {
            if !current.isEmpty {
                records.append(current)
            }
            current = [:]
            lastKey = nil
        }

        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") {
                line = line.dropLast()
            }
            if line.allSatisfy({ $0 == "\u{0C}" || $0 == " " || $0 == "\t" }) {
                finish()
                continue
            }
            if let key = fields.first(where: { line.hasPrefix($0 + ":") }) {
                var value = line.dropFirst(key.count + 1)
                if value.hasPrefix(" ") {
                    value = value.dropFirst()
                }
                if current[key] != nil {
                    finish()
                }
                current[key] = String(value)
                lastKey = key
            } else if let key = lastKey {
                current[key, default: ""] += "\n" + line
            }
            // A stray line before any key is ignored.
        }
        finish()
        return records
    }

    /// Parses `doveadm fetch 'uid guid flags'` output. Drops `\Recent`.
    public static func parseFetch(_ text: String) throws -> [DoveadmMessage] {
        try parseRecords(text, fields: ["uid", "guid", "flags"]).map { record in
            guard let uidText = record["uid"], let uid = UInt32(uidText.trimmingCharacters(in: .whitespaces)) else {
                throw DovecotTestError.unexpectedOutput(
                    command: ["doveadm", "fetch"], output: text, reason: "record without a numeric uid: \(record)")
            }
            let flags = (record["flags"] ?? "")
                .split(separator: " ", omittingEmptySubsequences: true)
                .map(String.init)
                .filter { $0 != "\\Recent" }
            return DoveadmMessage(uid: uid, guid: record["guid"] ?? "", flags: flags)
        }
    }

    /// Parses one `doveadm mailbox status` line into the mailbox name and its
    /// `key=value` fields. Mailbox names may contain spaces (and even `=`), so
    /// the fields are peeled off from the right: exactly `keys.count`
    /// trailing `key=value` words are taken, the rest is the name.
    public static func parseStatusLine(_ line: String, keys: [String]) -> (name: String, values: [String: String])? {
        var rest = Substring(line)
        var values: [String: String] = [:]
        while values.count < keys.count {
            guard let space = rest.lastIndex(of: " ") else { return nil }
            let word = rest[rest.index(after: space)...]
            guard let eq = word.firstIndex(of: "=") else { return nil }
            let key = String(word[..<eq])
            guard keys.contains(key), values[key] == nil else { return nil }
            values[key] = String(word[word.index(after: eq)...])
            rest = rest[..<space]
        }
        guard !rest.isEmpty else { return nil }
        return (String(rest), values)
    }

    /// Parses `doveadm mailbox status 'guid uidvalidity uidnext messages' '*'`.
    public static func parseMailboxStatus(_ text: String) throws -> [DoveadmMailboxStatus] {
        let keys = ["guid", "uidvalidity", "uidnext", "messages"]
        var result: [DoveadmMailboxStatus] = []
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard let (name, values) = parseStatusLine(line, keys: keys),
                  let guid = values["guid"],
                  let uidValidity = values["uidvalidity"].flatMap({ UInt32($0) }),
                  let uidNext = values["uidnext"].flatMap({ UInt32($0) }),
                  let messages = values["messages"].flatMap({ Int($0) })
            else {
                throw DovecotTestError.unexpectedOutput(
                    command: ["doveadm", "mailbox", "status"], output: text, reason: "cannot parse line \(line.debugDescription)")
            }
            result.append(DoveadmMailboxStatus(
                name: name, guid: guid, uidValidity: uidValidity, uidNext: uidNext, messages: messages))
        }
        return result
    }

    /// Parses `doveadm mailbox list` output (one name per line).
    public static func parseMailboxList(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .filter { !$0.isEmpty }
    }
}
