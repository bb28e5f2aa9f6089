// libFuzzer target: `dovecot-keywords`, `subscriptions`, modified UTF-7 and Maildir++
// storage names; every input goes through each of them.
import MailStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = controlFileInvariantViolations(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError("ControlFilesFuzzer: " + problems.joined(separator: "; ")) }
    return 0
}

// BEGIN SHARED CHECKS
// Kept identical to the copy in Tests/MailStoreTests/FuzzCorpusTests.swift, which runs the
// seed corpus through it without libFuzzer (a test there compares the two copies).

/// Runs `bytes` through the keywords and subscriptions parsers and (as UTF-8, invalid
/// sequences replaced) through modified UTF-7 and storage-name decoding. Rejection must be
/// a `MailStoreError`; accepted input must round-trip through the matching writer.
/// Returns the violated invariants; empty when all hold.
func controlFileInvariantViolations(_ bytes: [UInt8]) -> [String] {
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
// END SHARED CHECKS
