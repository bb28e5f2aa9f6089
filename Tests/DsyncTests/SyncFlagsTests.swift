import Testing

@testable import Dsync

@Test func syncFlagsMerge_takesTheChangedSide() {
    let base = SyncFlags(system: 8, keywords: ["a"])
    let merged = SyncFlags.merge(base: base, SyncFlags(system: 0, keywords: ["a"]), SyncFlags(system: 10, keywords: ["a", "b"]))
    #expect(merged == SyncFlags(system: 2, keywords: ["a", "b"]))
}

/// ``SyncFlags``: the per-flag three-way merge, and keywords compared without case.
@Suite struct SyncFlagsTests {
    @Test func merge_takesEachFlagFromTheSideThatChangedIt() {
        let base = SyncFlags("\\Seen \\Answered Keep Drop")
        let a = SyncFlags("\\Seen \\Flagged Keep")  // +\Flagged, -\Answered, -Drop
        let b = SyncFlags("\\Answered Keep Drop New")  // -\Seen, +New
        #expect(SyncFlags.merge(base: base, a, b) == SyncFlags("\\Flagged Keep New"))
        #expect(SyncFlags.merge(base: base, b, a) == SyncFlags("\\Flagged Keep New"), "the merge is symmetric")
    }

    @Test func merge_withoutABase_isTheUnion() {
        #expect(SyncFlags.merge(base: nil, SyncFlags("\\Seen a"), SyncFlags("\\Draft b")) == SyncFlags("\\Seen \\Draft a b"))
    }

    @Test func keywordsDifferingInCase_areOneKeyword() {
        let upper = SyncFlags(system: 8, keywords: ["Junk", "$Label1"])
        let lower = SyncFlags(system: 8, keywords: ["junk", "$label1"])
        #expect(upper == lower)
        #expect(upper.hashValue == lower.hashValue)
        #expect(SyncFlags(keywords: ["junk", "Junk", "JUNK"]).keywords == ["JUNK"], "one spelling kept, the first in code-point order")
        #expect(SyncFlags.merge(base: SyncFlags(), upper, lower) == upper)
        // Removed on one side in another spelling than the other side has: removed.
        #expect(SyncFlags.merge(base: SyncFlags(keywords: ["Junk"]), SyncFlags(), SyncFlags(keywords: ["junk"])) == SyncFlags())
        #expect(SyncFlags(keywords: ["a"]) != SyncFlags(keywords: ["b"]))
    }

    @Test func keywordsCompareInAnyOrder_asAStateFileMayHoldThem() {
        var stored = SyncFlags()
        stored.keywords = ["junk", "Alpha"]  // not in the initializer's order
        #expect(stored == SyncFlags(keywords: ["Alpha", "junk"]))
        #expect(stored.hashValue == SyncFlags(keywords: ["Alpha", "junk"]).hashValue)
    }
}
