import Testing

@testable import Dsync

@Test func syncFlagsMerge_takesTheChangedSide() {
    let base = SyncFlags(system: 8, keywords: ["a"])
    let merged = SyncFlags.merge(base: base, SyncFlags(system: 0, keywords: ["a"]), SyncFlags(system: 10, keywords: ["a", "b"]))
    #expect(merged == SyncFlags(system: 2, keywords: ["a", "b"]))
}
