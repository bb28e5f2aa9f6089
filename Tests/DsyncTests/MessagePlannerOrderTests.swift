import Testing

@testable import Dsync

/// The message planner walks both sides and the common state in UID order: views in any
/// order give the same plan as the same views sorted, and a sorted view is used as it is.
@Suite("Message planner, input order")
struct MessagePlannerOrderTests {
    /// A mailbox's common state and both sides after random edits: flag changes, expunges
    /// and new messages on each side, some new ones with the same GUID on both, some with
    /// one UID on both sides for different messages.
    static func views(seed: UInt64) -> (base: [MessageState], a: [MessageState], b: [MessageState], nextA: UInt32, nextB: UInt32) {
        var random = SplitMix64(seed: seed)
        let flagChoices = ["", "\\Seen", "\\Seen \\Flagged", "$Label1", "\\Answered Work"]
        func flags() -> SyncFlags { SyncFlags(flagChoices[Int(random.next() % UInt64(flagChoices.count))]) }
        let count = 20 + Int(random.next() % 200)
        var base: [MessageState] = []
        var uid: UInt32 = 0
        for index in 0..<count {
            uid += 1 + UInt32(random.next() % 3)
            base.append(MessageState(uid: uid, guid: "g\(seed)-\(index)", flags: flags()))
        }
        func edited(_ side: String) -> ([MessageState], UInt32) {
            var messages: [MessageState] = []
            for message in base where random.next() % 10 != 0 {
                var kept = message
                if random.next() % 4 == 0 { kept.flags = flags() }
                messages.append(kept)
            }
            var next = uid + 1
            for index in 0..<Int(random.next() % 12) {
                let shared = random.next() % 3 == 0
                messages.append(MessageState(uid: next, guid: shared ? "new-\(seed)-\(index)" : "\(side)-\(seed)-\(index)", flags: flags()))
                next += 1 + UInt32(random.next() % 2)
            }
            return (messages, next)
        }
        let (a, nextA) = edited("a")
        let (b, nextB) = edited("b")
        return (base, a, b, nextA, nextB)
    }

    @Test(arguments: Array(UInt64(1)...UInt64(60)))
    func shuffledViews_giveTheSamePlanAsSortedOnes(seed: UInt64) {
        let (base, a, b, nextA, nextB) = Self.views(seed: seed)
        func plan(_ base: [MessageState], _ a: [MessageState], _ b: [MessageState]) -> MessagePlanner.Result {
            MessagePlanner.plan(
                mailbox: "m", sourceA: "m", sourceB: "m", base: base,
                a: MessagePlanner.Side(messages: a, uidNext: nextA), b: MessagePlanner.Side(messages: b, uidNext: nextB))
        }
        let sorted = plan(base, a, b)
        var random = SplitMix64(seed: seed &* 7919)
        let shuffled = plan(base.shuffled(using: &random), a.shuffled(using: &random), b.shuffled(using: &random))
        #expect(sorted.final == shuffled.final)
        #expect(sorted.changesA == shuffled.changesA)
        #expect(sorted.changesB == shuffled.changesB)
        #expect(sorted.conflicts == shuffled.conflicts && sorted.uidNext == shuffled.uidNext)
        #expect(sorted.vanishedOnA == shuffled.vanishedOnA && sorted.vanishedOnB == shuffled.vanishedOnB)
        // The final view is in UID order, every GUID once.
        #expect(zip(sorted.final, sorted.final.dropFirst()).allSatisfy { $0.uid < $1.uid })
        #expect(Set(sorted.final.map(\.guid)).count == sorted.final.count)
    }

    @Test func aViewWithTheSameUIDTwice_keepsTheLastOne_asATableByUIDWould() {
        let first = MessageState(uid: 3, guid: "x", flags: SyncFlags(""))
        let second = MessageState(uid: 3, guid: "y", flags: SyncFlags("\\Seen"))
        let other = MessageState(uid: 1, guid: "z", flags: SyncFlags(""))
        #expect(MessagePlanner.ascendingByUID([first, other, second]) == [other, second])
        let sorted = [other, first]
        #expect(MessagePlanner.ascendingByUID(sorted) == sorted)
    }
}
