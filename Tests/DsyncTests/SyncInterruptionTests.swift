import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import Dsync

/// A sync interrupted at any point, then run again, converges with nothing lost or duplicated.
@Suite struct SyncInterruptionTests {
    static let guids = (1...7).map { String(repeating: String($0), count: 32) }

    /// Two sides whose INBOXes have fixed GUIDs and UIDVALIDITYs.
    static func fixture() throws -> SyncFixture {
        try SyncFixture(inboxGUIDs: (String(repeating: "a", count: 32), String(repeating: "b", count: 32)), inboxUIDValidities: (1, 2))
    }

    /// The same two sides in every fixture (fixed mailbox GUIDs and UIDVALIDITYs): a common
    /// state, then changes of every kind on both sides.
    static func makeScenario(_ f: SyncFixture) async throws {
        let names = ["Work", "Old", "Gone", "X", "Y"]
        for (index, name) in names.enumerated() {
            try f.create(f.a, name, guid: guids[index], uidValidity: UInt32(100 + index))
        }
        try f.saveMany(f.a, guids: (1...6).map { "c-\($0)" })
        try f.saveMany(f.a, "Work", guids: ["w-1", "w-2"])
        try f.save(f.a, "Old", guid: "o-1")
        try f.save(f.a, "Gone", guid: "g-1")
        try f.save(f.a, "X", guid: "x-1")
        try f.save(f.a, "Y", guid: "y-1")
        try f.subscribe(f.a, "Work")
        try await f.sync()

        // INBOX: new mail on both sides with clashing UIDs, flag changes, expunges.
        try f.save(f.a, guid: "a-1", flags: "\\Seen")
        try f.save(f.a, guid: "a-2")
        try f.save(f.b, guid: "b-1", flags: "$Later")
        try f.save(f.b, guid: "b-2", uid: 12)
        try f.setFlags(f.a, uid: 1, .add, "\\Seen")
        try f.setFlags(f.b, uid: 1, .add, "\\Flagged")
        try f.setFlags(f.b, uid: 3, .replace, "$Work")
        try f.expunge(f.a, uids: [2])
        try f.expunge(f.b, uids: [4])
        try f.setFlags(f.a, uid: 4, .add, "\\Answered")
        // Work: new mail on both sides, one above the other's next UID.
        try f.save(f.b, "Work", guid: "w-3", uid: 10)
        try f.save(f.a, "Work", guid: "w-4")
        // Mailboxes: rename on A, delete on A, swap on B, new on both sides.
        try f.rename(f.a, "Old", "New")
        try f.delete(f.a, "Gone")
        try f.rename(f.b, "X", "T")
        try f.rename(f.b, "Y", "X")
        try f.rename(f.b, "T", "Y")
        try f.create(f.a, "Lists", guid: guids[5], uidValidity: 200)
        try f.saveMany(f.a, "Lists", guids: ["l-1", "l-2", "l-3"])
        try f.create(f.b, "News", guid: guids[6], uidValidity: 300)
        try f.save(f.b, "News", guid: "n-1")
        try f.subscribe(f.a, "Lists")
        try f.unsubscribe(f.b, "Work")
    }

    /// Every mailbox by GUID: its name and its messages' GUIDs with their flags (UIDs left out:
    /// an interrupted UID conflict may end with other fresh UIDs).
    static func canonical(_ map: StoreMap) -> [String: String] {
        var result: [String: String] = [:]
        for (name, mailbox) in map.mailboxes {
            let messages = mailbox.messages.values.sorted { $0.guid < $1.guid }.map(\.description)
            result[mailbox.guid] = "\(name) uidvalidity \(mailbox.uidValidity): \(messages.joined(separator: ", "))"
        }
        return result
    }

    /// What an uninterrupted sync of the scenario gives.
    static func reference() async throws -> StoreMap {
        let f = try fixture()
        try await makeScenario(f)
        try await f.sync()
        return try mapOf(f.a)
    }

    /// Checks both sides are identical, hold every message of the reference exactly once, and
    /// that another sync changes nothing.
    static func expectConverged(_ f: SyncFixture, like reference: StoreMap, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB, "\(label): the sides differ\nA:\n\(mapA)\nB:\n\(mapB)", sourceLocation: sourceLocation)
        #expect(canonical(mapA) == canonical(reference), "\(label): not the uninterrupted result\n\(mapA)\nexpected\n\(reference)", sourceLocation: sourceLocation)
        for (guid, count) in mapA.guidCounts where count != 1 {
            Issue.record("\(label): message \(guid) is there \(count) times", sourceLocation: sourceLocation)
        }
        let again = try await f.sync(sourceLocation: sourceLocation)
        #expect(again.plannedA == 0 && again.plannedB == 0, "\(label): a second sync planned changes", sourceLocation: sourceLocation)
    }

    @Test func syncInterruptedAfterAnyPrefixOfAChanges_convergesOnTheNextSync() async throws {
        let reference = try await Self.reference()
        let total: Int
        do {
            let f = try Self.fixture()
            try await Self.makeScenario(f)
            total = try await f.plan().plan.changesA.count
        }
        #expect(total > 12, "the scenario should give A many changes")
        for count in 0...total {
            let f = try Self.fixture()
            try await Self.makeScenario(f)
            try await f.interruptedSync(countA: count, countB: 0)
            try await f.sync()
            try await Self.expectConverged(f, like: reference, "A interrupted after \(count) of \(total)")
        }
    }

    @Test func syncInterruptedAfterAnyPrefixOfBChanges_convergesOnTheNextSync() async throws {
        let reference = try await Self.reference()
        let total: Int
        do {
            let f = try Self.fixture()
            try await Self.makeScenario(f)
            total = try await f.plan().plan.changesB.count
        }
        #expect(total > 12, "the scenario should give B many changes")
        for count in 0...total {
            let f = try Self.fixture()
            try await Self.makeScenario(f)
            try await f.interruptedSync(countA: .max, countB: count)
            try await f.sync()
            try await Self.expectConverged(f, like: reference, "B interrupted after \(count) of \(total)")
        }
    }

    @Test func syncInterruptedTwice_convergesOnTheNextSync() async throws {
        let reference = try await Self.reference()
        for (first, second) in [(3, 2), (7, 5), (12, 1), (20, 9)] {
            let f = try Self.fixture()
            try await Self.makeScenario(f)
            try await f.interruptedSync(countA: first, countB: 0)
            try await f.interruptedSync(countA: .max, countB: second)
            try await f.sync()
            try await Self.expectConverged(f, like: reference, "interrupted after \(first) on A, then \(second) on B")
        }
    }

    @Test func syncInterruptedAfterAnyPrefixOfTheApplicationOrder_convergesOnTheNextSync() async throws {
        let reference = try await Self.reference()
        let total: Int
        do {
            let f = try Self.fixture()
            try await Self.makeScenario(f)
            let plan = try await f.plan().plan
            total = plan.changesA.count + plan.changesB.count
        }
        for count in stride(from: 0, through: total, by: 2) {
            let f = try Self.fixture()
            try await Self.makeScenario(f)
            try await f.interruptedSync(after: count)
            try await f.sync()
            try await Self.expectConverged(f, like: reference, "interrupted after \(count) of \(total) in application order")
        }
    }

    @Test func twoSameNamedMailboxesBeingMerged_interrupted_thenOneRenamed_keepEveryMessageOnce() async throws {
        // Each side made its own "Lists"; the sync merges them under A's (larger) GUID. If it
        // stops after A got B's messages but before B took A's GUID, a rename on B would leave
        // two mailboxes and B's messages in both.
        let total: Int
        do {
            let f = try Self.makeSameNamedMailboxes()
            let plan = try await f.plan().plan
            total = plan.changesA.count + plan.changesB.count
        }
        for count in 0...total {
            for renamedSide in [SyncSide.a, .b] {
                let f = try Self.makeSameNamedMailboxes()
                try await f.interruptedSync(after: count)
                try f.rename(renamedSide == .a ? f.a : f.b, "Lists", "Other")
                try await f.sync()
                let label = "interrupted after \(count) of \(total), then renamed on \(renamedSide)"
                let (mapA, mapB) = try f.maps()
                #expect(mapA == mapB, "\(label)\nA:\n\(mapA)\nB:\n\(mapB)")
                #expect(mapA.guidCounts == ["a-1": 1, "a-2": 1, "b-1": 1, "b-2": 1], "\(label)\n\(mapA)")
            }
        }
    }

    static func makeSameNamedMailboxes() throws -> SyncFixture {
        let f = try fixture()
        try f.create(f.a, "Lists", guid: guids[1], uidValidity: 10)
        try f.create(f.b, "Lists", guid: guids[0], uidValidity: 20)
        try f.saveMany(f.a, "Lists", guids: ["a-1", "a-2"])
        try f.saveMany(f.b, "Lists", guids: ["b-1", "b-2"])
        return f
    }

    @Test func mailboxLeftUnderItsTemporaryRenameName_getsItsNameBack() async throws {
        // B swaps X and Y; A follows through a temporary name and is interrupted right after
        // the first rename. Then B deletes that mailbox while A gets new mail in it: it is
        // kept, under its name from the common state, not the temporary one.
        let f = try Self.fixture()
        try f.create(f.a, "X", guid: Self.guids[0], uidValidity: 10)
        try f.create(f.a, "Y", guid: Self.guids[1], uidValidity: 20)
        try f.save(f.a, "X", guid: "x-1")
        try f.save(f.a, "Y", guid: "y-1")
        try await f.sync()
        try f.rename(f.b, "X", "T")
        try f.rename(f.b, "Y", "X")
        try f.rename(f.b, "T", "Y")
        try await f.interruptedSync(after: 1)
        let temporary = try #require(try f.a.mailboxNames().first { $0.levels[0].hasPrefix("DuplexRename-") })
        let guid = try f.a.status(of: temporary).guid.hex
        try f.delete(f.b, guid == Self.guids[0] ? "Y" : "X")
        try f.save(f.a, temporary.joined(), guid: "late")
        try await f.sync()

        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB, "A:\n\(mapA)\nB:\n\(mapB)")
        #expect(!mapA.mailboxes.keys.contains { $0.hasPrefix("DuplexRename-") }, "\(mapA)")
        #expect(mapA.guidCounts == ["x-1": 1, "y-1": 1, "late": 1], "\(mapA)")
        let again = try await f.sync()
        #expect(again.plannedA == 0 && again.plannedB == 0)
    }

    @Test func sessionFailingWhileApplying_keepsThePreviousState_andTheNextSyncConverges() async throws {
        let reference = try await Self.reference()
        for (side, count) in [("A", 0), ("A", 4), ("A", 11), ("B", 0), ("B", 6), ("B", 13)] {
            let f = try Self.fixture()
            try await Self.makeScenario(f)
            let savedState = try #require(try f.stateStore.loadHeader())
            let replicaA: any Replica = side == "A" ? FailingReplica(LocalReplica(store: f.a), after: count) : LocalReplica(store: f.a)
            let replicaB: any Replica = side == "B" ? FailingReplica(LocalReplica(store: f.b), after: count) : LocalReplica(store: f.b)
            let error = await #expect(throws: DsyncError.self) {
                try await SyncSession(a: replicaA, b: replicaB, options: f.options()).run()
            }
            #expect(error?.message == "simulated crash")
            #expect(try f.stateStore.loadHeader()?.messagesFile == savedState.messagesFile, "a failed sync replaced the state")
            try await f.sync()
            try await Self.expectConverged(f, like: reference, "session failed on \(side) after \(count) changes")
        }
    }

    @Test func duplexSyncKilledDuringALargeCopy_convergesOnTheNextRun() async throws {
        let f = try SyncFixture()
        try f.saveMany(f.a, guids: (1...3000).map { "bulk-\($0)" })
        try f.create(f.b, "Work")
        try f.saveMany(f.b, "Work", guids: (1...50).map { "work-\($0)" })
        let arguments = ["sync", "-u", f.user, "--state-dir", f.stateDirectory, f.a.root, f.b.root]
        var progress: [Int] = []
        var agedLocks: [String] = []
        for delay in [100, 60, 250] {
            let process = try DuplexProcess(arguments, outputDirectory: f.directory.path)
            try await Task.sleep(for: .milliseconds(delay))
            process.kill()
            _ = await process.exitStatus()
            // A uidlist dotlock is also the file the new uidlist is written to (as in Dovecot),
            // so a kill can leave one without a process id in it; like Dovecot, the store takes
            // such a lock over only when it is 2 minutes old. Let that time pass.
            agedLocks += try Self.ageDotlocks(in: [f.a.root, f.b.root])
            let copied = (try? mapOf(f.b).messages["INBOX"]?.count) ?? -1
            progress.append(copied)
        }
        let finish = try ExternalCommand.run(ExternalCommand.duplexExecutable, arguments)
        #expect(finish.status == 0, "\(finish.stderr)")

        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB, "the sides differ after the killed syncs (B had \(progress) of 3000 after each kill; aged locks \(agedLocks))")
        let counts = mapA.guidCounts
        #expect(counts.count == 3050)
        #expect(counts.values.allSatisfy { $0 == 1 }, "duplicates: \(counts.filter { $0.value != 1 }.keys.sorted().prefix(10))")
        #expect(Set(mapB.messages["INBOX"]?.values.map(\.guid) ?? []) == Set((1...3000).map { "bulk-\($0)" }))
        #expect(mapA.messages["Work"]?.count == 50)
        let again = try await f.sync()
        #expect(again.plannedA == 0 && again.plannedB == 0)
    }
}

extension SyncInterruptionTests {
    /// Sets the modification time of every dotlock under `roots` 10 minutes back (past the
    /// stale timeout); returns their paths.
    static func ageDotlocks(in roots: [String]) throws -> [String] {
        var aged: [String] = []
        for root in roots {
            guard let enumerator = FileManager.default.enumerator(atPath: root) else { continue }
            for case let relative as String in enumerator where relative.hasSuffix(".lock") {
                let path = root + "/" + relative
                try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -600)], ofItemAtPath: path)
                aged.append(relative)
            }
        }
        return aged
    }
}

/// A replica that applies the first `count` changes it is given, then fails as a crash would.
struct FailingReplica: Replica {
    let base: LocalReplica
    let count: Int

    init(_ base: LocalReplica, after count: Int) {
        self.base = base
        self.count = count
    }

    var description: String { base.description }

    func withUserLock<T: Sendable>(timeout: Duration, _ body: @Sendable () async throws -> T) async throws -> T {
        try await base.withUserLock(timeout: timeout, body)
    }

    func exists() async throws -> Bool { try await base.exists() }
    func stamp() async throws -> StoreStamp { try await base.stamp() }
    func read(reusing: [String: MailboxView]) async throws -> ReplicaView { try await base.read(reusing: reusing) }

    func bodies(_ requests: [BodyRequest]) async throws -> any MessageBodyStream {
        try await base.bodies(requests)
    }

    func apply(_ changes: [ReplicaChange], source: any Replica) async throws -> ApplyReport {
        _ = try await base.apply(Array(changes.prefix(count)), source: source)
        throw DsyncError(.io, "simulated crash")
    }
}
