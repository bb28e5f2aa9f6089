// libFuzzer target: `dovecot-uidlist` parsing.
import MailStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = uidlistInvariantViolations(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError("UidlistFuzzer: " + problems.joined(separator: "; ")) }
    return 0
}

// BEGIN SHARED CHECKS
// Kept identical to the copy in Tests/MailStoreTests/FuzzCorpusTests.swift, which runs the
// seed corpus through it without libFuzzer (a test there compares the two copies).

/// Parses `bytes` as a uidlist. Rejection must be `badData` with the path and a line; an
/// accepted uidlist must satisfy the format's invariants and survive serialise → parse (the
/// written form is version 3 with N set to the effective next UID, so those are normalised).
/// Returns the violated invariants; empty when all hold.
func uidlistInvariantViolations(_ bytes: [UInt8]) -> [String] {
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
// END SHARED CHECKS
