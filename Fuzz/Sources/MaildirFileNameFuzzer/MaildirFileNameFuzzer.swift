// libFuzzer target: Maildir message file names.
import MailStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = fileNameInvariantViolations(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError("MaildirFileNameFuzzer: " + problems.joined(separator: "; ")) }
    return 0
}

// BEGIN SHARED CHECKS
// Kept identical to the copy in Tests/MailStoreTests/FuzzCorpusTests.swift, which runs the
// seed corpus through it without libFuzzer (a test there compares the two copies).

/// Parses `bytes` (as UTF-8, invalid sequences replaced) as a message file name. Rejection
/// must be `badData`; an accepted name must come back unchanged from `fileName` → parse,
/// and flag changes made the way the store makes them (set, clear, replace; foreign info
/// dropped) must keep the base, the sizes and the letters the store does not know.
/// Returns the violated invariants; empty when all hold.
func fileNameInvariantViolations(_ bytes: [UInt8]) -> [String] {
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
// END SHARED CHECKS
