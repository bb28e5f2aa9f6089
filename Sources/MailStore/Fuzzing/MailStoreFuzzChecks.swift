/// The invariants the parsers' fuzz targets check, shared by the libFuzzer targets in
/// `Fuzz/` and the seed-corpus tests, so both always check the same thing.
///
/// Each function parses one input and returns the violated invariants (empty when all hold).
@_spi(Fuzzing)
public enum MailStoreFuzzChecks {
    /// Parses `bytes` as a uidlist. Rejection must be `badData` with the path and a line; an
    /// accepted uidlist must satisfy the format's invariants and survive serialise → parse (the
    /// written form is version 3 with N set to the effective next UID, so those are normalised).
    /// Returns the violated invariants; empty when all hold.
    public static func uidlistViolations(_ bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { problems.append(message()) }
        }
        let uidlist: Uidlist
        do {
            uidlist = try Uidlist(parsing: bytes, path: "fuzz/dovecot-uidlist")
        } catch let error as MailStoreError {
            check(error.code == .badData, "unexpected error code \(error.code)")
            check(error.path == "fuzz/dovecot-uidlist" && (error.line ?? 0) >= 1, "error without path or line: \(error)")
            return problems
        } catch {
            return ["error of another type: \(error)"]
        }

        check(uidlist.version == 1 || uidlist.version == 3, "version \(uidlist.version)")
        check(uidlist.uidValidity > 0, "UIDVALIDITY 0 accepted")
        check(uidlist.headerNextUID > 0, "header N 0 accepted")
        var previous: UInt32 = 0
        for record in uidlist.records {
            check(record.uid > previous, "UIDs not strictly increasing: \(previous) then \(record.uid)")
            previous = record.uid
            check(!record.baseName.isEmpty, "empty base name for UID \(record.uid)")
            check(!record.baseName.utf8.contains { $0 < 0x20 || $0 == 0x7f || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") },
                  "base name of UID \(record.uid) has a control character, '/' or ':'")
            for field in record.fields {
                check(!field.value.utf8.contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") }, "field value with a space or newline")
            }
        }
        let next = uidlist.nextUID
        check(next >= uidlist.headerNextUID, "nextUID \(next) below header N \(uidlist.headerNextUID)")
        if let last = uidlist.records.last {
            check(next > last.uid || (last.uid == UInt32.max && next == UInt32.max), "nextUID \(next) does not pass the last UID \(last.uid)")
        }

        let written = uidlist.serialized()
        guard let reparsed = try? Uidlist(parsing: written, path: "fuzz/rewritten") else {
            return problems + ["serialised uidlist does not parse"]
        }
        var expected = uidlist
        expected.version = 3
        expected.headerNextUID = next
        check(reparsed == expected, "serialise → parse changed the uidlist")
        check(reparsed.serialized() == written, "serialisation is not a fixed point")
        return problems
    }

    /// Parses `bytes` (as UTF-8, invalid sequences replaced) as a message file name. Rejection
    /// must be `badData`; an accepted name must come back unchanged from `fileName` → parse,
    /// and flag changes made the way the store makes them (set, clear, replace; foreign info
    /// dropped) must keep the base, the sizes and the letters the store does not know.
    /// Returns the violated invariants; empty when all hold.
    public static func fileNameViolations(_ bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { problems.append(message()) }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let name: MaildirFileName
        do {
            name = try MaildirFileName(parsing: text)
        } catch let error as MailStoreError {
            check(error.code == .badData, "unexpected error code \(error.code)")
            return problems
        } catch {
            return ["error of another type: \(error)"]
        }

        check(!name.base.isEmpty, "empty base accepted")
        check(text == name.base || text.utf8.starts(with: Array((name.base + ":").utf8)), "base is not the part before ':'")
        check(!name.base.utf8.contains { $0 < 0x20 || $0 == 0x7f || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") },
              "base has a control character, '/' or ':'")
        check(name.keywordIndexes == Array(Set(name.keywordIndexes)).sorted(), "keyword indexes not sorted and unique")
        check(name.keywordIndexes.allSatisfy { (0..<26).contains($0) }, "keyword index out of range")
        check(name.size == nil || name.base.contains(",S="), "size without ,S=")
        check(name.virtualSize == nil || name.base.contains(",W="), "virtual size without ,W=")
        check(name.foreignInfo == nil || !name.hasInfo, "both foreign and :2, info")

        let written = name.fileName
        guard let reparsed = try? MaildirFileName(parsing: written) else {
            return problems + ["fileName does not parse: \(written)"]
        }
        check(reparsed == name, "fileName → parse changed the name: \(written)")
        check(reparsed.fileName == written, "fileName is not a fixed point")

        // Flag changes as the store applies them, with flags and keywords taken from the input.
        let system = SystemFlags(rawValue: (bytes.first ?? 0) & 0x1f)
        let keywordSeed = bytes.count > 1 ? Int(bytes[1]) : 0
        let keywords = [keywordSeed % 26, (keywordSeed / 7) % 26]
        for action in 0..<3 {
            var changed = name
            switch action {
            case 0:
                changed.systemFlags.formUnion(system)
                changed.keywordIndexes = Array(Set(changed.keywordIndexes).union(keywords)).sorted()
            case 1:
                changed.systemFlags.subtract(system)
                changed.keywordIndexes.removeAll { keywords.contains($0) }
            default:
                changed.systemFlags = system
                changed.keywordIndexes = Array(Set(keywords)).sorted()
            }
            changed.foreignInfo = nil
            changed.hasInfo = true
            let newName = changed.fileName
            guard let parsed = try? MaildirFileName(parsing: newName) else {
                problems.append("changed fileName does not parse: \(newName)")
                continue
            }
            check(parsed.base == name.base, "flag change altered the base: \(newName)")
            check(parsed.size == name.size && parsed.virtualSize == name.virtualSize, "flag change altered the sizes")
            check(parsed.systemFlags == changed.systemFlags, "flag change lost system flags: \(newName)")
            check(parsed.keywordIndexes == changed.keywordIndexes, "flag change lost keywords: \(newName)")
            check(parsed.otherFlagLetters == changed.otherFlagLetters, "flag change altered unknown letters: \(newName)")
        }

        // A new file named after this base, as a save names it.
        let fresh = MaildirFileName(base: name.base, systemFlags: system, keywordIndexes: keywords)
        if let parsedFresh = try? MaildirFileName(parsing: fresh.fileName) {
            check(parsedFresh.base == name.base && parsedFresh.systemFlags == system, "new name lost its base or flags")
            check(parsedFresh.keywordIndexes == Array(Set(keywords)).sorted(), "new name lost its keywords")
        } else {
            problems.append("new file name does not parse: \(fresh.fileName)")
        }
        return problems
    }

    /// Runs `bytes` through the keywords and subscriptions parsers and (as UTF-8, invalid
    /// sequences replaced) through modified UTF-7 and storage-name decoding. Rejection must be
    /// a `MailStoreError`; accepted input must round-trip through the matching writer.
    /// Returns the violated invariants; empty when all hold.
    public static func controlFileViolations(_ bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { problems.append(message()) }
        }
        /// The parsed value; nil (with a problem recorded for anything but a MailStoreError)
        /// when the parser rejected the input.
        func attempt<T>(_ what: String, _ parse: () throws -> T) -> T? {
            do {
                return try parse()
            } catch let error as MailStoreError {
                check(error.code == .badData || error.code == .invalidArgument, "\(what): unexpected error code \(error.code)")
            } catch {
                problems.append("\(what): error of another type: \(error)")
            }
            return nil
        }

        // dovecot-keywords
        if let table = attempt("keywords", { try KeywordTable(parsing: bytes, path: "fuzz/dovecot-keywords") }) {
            check(table.names.count <= KeywordTable.capacity, "more than 26 keyword slots")
            check(table.names.last.map { $0 != nil } ?? true, "trailing empty keyword slot")
            for case let name? in table.names {
                check((try? MessageFlags.validateKeyword(name)) != nil, "invalid keyword accepted")
                let found = table.index(of: name).flatMap { table.name(at: $0) }
                check(found?.lowercased() == name.lowercased(), "keyword not found by its name")
            }
            let reparsed = attempt("rewritten keywords") { try KeywordTable(parsing: table.serialized(), path: "fuzz/rewritten") }
            check(reparsed == table, "keywords serialise → parse changed the table")
        }

        // subscriptions
        if let list = attempt("subscriptions", { try SubscriptionList(parsing: bytes, path: "fuzz/subscriptions") }) {
            check(Set(list.names).count == list.names.count, "duplicate subscriptions")
            let written = list.serialized()
            check(written.starts(with: Array("V\t2\n\n".utf8)), "written without the version 2 header")
            let reparsed = attempt("rewritten subscriptions") { try SubscriptionList(parsing: written, path: "fuzz/rewritten") }
            check(reparsed == list, "subscriptions serialise → parse changed the list")
        }

        // Modified UTF-7: encoding anything gives printable ASCII that decodes to the same scalars;
        // decoding accepted input and encoding again is stable.
        let text = String(decoding: bytes, as: UTF8.self)
        let encoded = ModifiedUTF7.encode(text)
        check(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7e }, "encoded form is not printable ASCII")
        let decodedBack = attempt("decode of encoded text") { try ModifiedUTF7.decode(encoded) }
        check(decodedBack.map { Array($0.unicodeScalars) } == Array(text.unicodeScalars), "encode → decode changed the text")
        if let decoded = try? ModifiedUTF7.decode(text) {
            let again = attempt("decode of re-encoded text") { try ModifiedUTF7.decode(ModifiedUTF7.encode(decoded)) }
            check(again.map { Array($0.unicodeScalars) } == Array(decoded.unicodeScalars), "decode → encode → decode changed the text")
        }

        // Maildir++ storage names (folder directory names without the leading '.').
        if let name = try? MailboxName(storageName: text) {
            check(!name.levels.isEmpty && name.levels.allSatisfy { !$0.isEmpty && !$0.contains(".") }, "bad levels accepted")
            let again = attempt("storage name of a parsed name") { try MailboxName(storageName: name.storageName) }
            check(again == name, "storageName → parse changed the name")
        }
        return problems
    }
}
