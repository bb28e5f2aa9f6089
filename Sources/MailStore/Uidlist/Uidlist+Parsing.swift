extension Uidlist {
    /// Parses a `dovecot-uidlist` file.
    ///
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - path: the file's path, used in errors.
    /// - Throws: ``MailStoreError`` `badData` naming `path` and the 1-based line for: an
    ///   empty file, a last line without newline (truncated), an unknown version, a
    ///   malformed header or record, UID 0, duplicate or decreasing UIDs, a missing or
    ///   empty file name, or a mailbox GUID that is not 32 hex digits.
    public init(parsing bytes: some Collection<UInt8>, path: String) throws {
        let data = Array(bytes)
        guard !data.isEmpty else { throw MailStoreError(.badData, "empty uidlist", path: path, line: 1) }
        guard data.last == UInt8(ascii: "\n") else {
            let lines = data.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            throw MailStoreError(.badData, "truncated: the last line has no newline", path: path, line: lines)
        }
        var parser = UidlistParser(data: data, path: path)
        self = try parser.parse()
    }
}

/// A single-pass byte parser for the uidlist; kept apart so the hot loop stays simple.
struct UidlistParser {
    let data: [UInt8]
    let path: String
    var line = 0

    init(data: [UInt8], path: String) {
        self.data = data
        self.path = path
    }

    func fail(_ why: String) -> MailStoreError {
        MailStoreError(.badData, why, path: path, line: line)
    }

    static let space = UInt8(ascii: " ")
    static let newline = UInt8(ascii: "\n")
    static let colon = UInt8(ascii: ":")

    mutating func parse() throws -> Uidlist {
        var lineStart = 0
        guard let headerEnd = data.firstIndex(of: Self.newline) else { throw fail("no header line") }
        line = 1
        var uidlist = try parseHeader(data[0..<headerEnd])
        lineStart = headerEnd + 1
        var records: [Uidlist.Record] = []
        records.reserveCapacity(data.count / 48)
        var lastUID: UInt32 = 0
        while lineStart < data.count {
            line += 1
            var lineEnd = lineStart
            while data[lineEnd] != Self.newline { lineEnd += 1 }
            let record = uidlist.version == 3
                ? try parseRecordV3(lineStart, lineEnd)
                : try parseRecordV1(lineStart, lineEnd)
            if record.uid <= lastUID {
                throw fail(record.uid == lastUID ? "duplicate UID \(record.uid)" : "UID \(record.uid) is lower than the previous UID \(lastUID)")
            }
            lastUID = record.uid
            records.append(record)
            lineStart = lineEnd + 1
        }
        uidlist.records = records
        return uidlist
    }

    func parseHeader(_ header: ArraySlice<UInt8>) throws -> Uidlist {
        let words = header.split(separator: Self.space, omittingEmptySubsequences: true)
        guard let versionWord = words.first else { throw fail("empty header line") }
        guard let version = MaildirFileName.parseDecimal(versionWord) else {
            throw fail("header does not start with a version number")
        }
        switch version {
        case 1:
            guard words.count == 3,
                  let validity = MaildirFileName.parseDecimal(words[1]), validity > 0, validity <= UInt32.max,
                  let next = MaildirFileName.parseDecimal(words[2]), next > 0, next <= UInt32.max
            else { throw fail("version 1 header must be \"1 <uidvalidity> <nextuid>\"") }
            var uidlist = Uidlist(uidValidity: UInt32(validity), nextUID: UInt32(next), mailboxGUID: nil)
            uidlist.version = 1
            return uidlist
        case 3:
            var validity: UInt32?
            var next: UInt32 = 1
            var guid: MailboxGUID?
            var others: [Uidlist.Field] = []
            for word in words.dropFirst() {
                let key = word[word.startIndex]
                let value = word.dropFirst()
                guard Self.isFieldKey(key) else {
                    throw fail("header field \"\(String(decoding: word, as: UTF8.self))\" does not start with a letter")
                }
                switch key {
                case UInt8(ascii: "V"):
                    guard let number = MaildirFileName.parseDecimal(value), number > 0, number <= UInt32.max else {
                        throw fail("header V (UIDVALIDITY) is not a number between 1 and 4294967295")
                    }
                    validity = UInt32(number)
                case UInt8(ascii: "N"):
                    guard let number = MaildirFileName.parseDecimal(value), number > 0, number <= UInt32.max else {
                        throw fail("header N (next UID) is not a number between 1 and 4294967295")
                    }
                    next = UInt32(number)
                case UInt8(ascii: "G"):
                    guard let parsed = MailboxGUID(hex: String(decoding: value, as: UTF8.self)) else {
                        throw fail("header G (mailbox GUID) is not 32 hex digits")
                    }
                    guid = parsed
                default:
                    others.append(Uidlist.Field(key: key, value: String(decoding: value, as: UTF8.self)))
                }
            }
            guard let validity else { throw fail("header has no V (UIDVALIDITY)") }
            var uidlist = Uidlist(uidValidity: validity, nextUID: next, mailboxGUID: guid)
            uidlist.otherHeaderFields = others
            return uidlist
        default:
            throw fail("unsupported uidlist version \(version) (versions 1 and 3 are read)")
        }
    }

    static func isFieldKey(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
    }

    func parseUID(_ start: Int, _ end: Int) throws -> (UInt32, Int) {
        var index = start
        var value: UInt64 = 0
        while index < end, data[index] >= UInt8(ascii: "0"), data[index] <= UInt8(ascii: "9") {
            value = value * 10 + UInt64(data[index] - UInt8(ascii: "0"))
            if value > UInt64(UInt32.max) { throw fail("UID is larger than 4294967295") }
            index += 1
        }
        guard index > start else { throw fail("record does not start with a UID") }
        guard value > 0 else { throw fail("UID 0 is not valid") }
        guard index < end, data[index] == Self.space else { throw fail("UID is not followed by a space") }
        return (UInt32(value), index + 1)
    }

    func parseRecordV3(_ start: Int, _ end: Int) throws -> Uidlist.Record {
        var (uid, index) = try parseUID(start, end)
        var fields: [Uidlist.Field] = []
        while index < end, data[index] != Self.colon {
            if data[index] == Self.space { index += 1; continue }
            let key = data[index]
            guard Self.isFieldKey(key) else { throw fail("record field does not start with a letter") }
            var valueEnd = index + 1
            while valueEnd < end, data[valueEnd] != Self.space { valueEnd += 1 }
            let value = String(decoding: data[(index + 1)..<valueEnd], as: UTF8.self)
            if key == UInt8(ascii: "G") && value.isEmpty { throw fail("empty G (message GUID) field") }
            fields.append(Uidlist.Field(key: key, value: value))
            index = valueEnd
        }
        guard index < end else { throw fail("record has no \":<file name>\"") }
        let name = data[(index + 1)..<end]
        return Uidlist.Record(uid: uid, fields: fields, baseName: try baseName(name))
    }

    func parseRecordV1(_ start: Int, _ end: Int) throws -> Uidlist.Record {
        let (uid, index) = try parseUID(start, end)
        return Uidlist.Record(uid: uid, baseName: try baseName(data[index..<end]))
    }

    /// The file name without any `:2,…` info part; must be non-empty and printable.
    func baseName(_ name: ArraySlice<UInt8>) throws -> String {
        let base = name[name.startIndex..<(name.firstIndex(of: Self.colon) ?? name.endIndex)]
        guard !base.isEmpty else { throw fail("empty file name") }
        for byte in base where byte < 0x20 || byte == 0x7f || byte == UInt8(ascii: "/") {
            throw fail("file name contains a control character or '/'")
        }
        return String(decoding: base, as: UTF8.self)
    }
}
