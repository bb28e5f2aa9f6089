import Foundation
import MailStoreTestSupport
import Testing

@testable import Replicator

@Suite struct PersistenceTests {
    let t0: Int64 = 1_800_000_000

    func users(in contents: ReplicatorStateContents?) -> [String: ReplicationUser] {
        Dictionary((contents?.users ?? []).map { ($0.name, $0) }, uniquingKeysWith: { $1 })
    }

    func fileText(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    func writeText(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    // MARK: Format

    @Test func trickyNamesAndErrors_roundTripExactly() throws {
        try TemporaryDirectory.with { directory in
            let path = directory.appending("replicator.state")
            var saved: [ReplicationUser] = []
            let names = [
                "alice@example.com", "tab\there", "line\nbreak", "carriage\rreturn", "back\\slash", "literal \\t not a tab",
                "trailing\\", "\u{1}dovecot-escape", "  spaces  ", "ünïcødé@例え.jp", "emoji 📬", "#not-a-comment", "a",
            ]
            for (index, name) in names.enumerated() {
                var user = ReplicationUser(name: name)
                user.priority = ReplicationPriority(rawValue: index % 4)!
                user.lastUpdate = t0 + Int64(index)
                user.lastFastSync = t0 - 10 * Int64(index)
                user.lastFullSync = index == 0 ? 0 : t0 - 86_400
                user.lastSuccessfulSync = t0 - 20
                user.lastSyncFailed = index % 2 == 1
                user.failureCount = index
                user.lastFailure = index % 2 == 1 ? t0 - 5 : 0
                user.lastError = index % 3 == 0 ? nil : "line one\nline two\twith tab \\ and backslash \\n"
                user.forceFullSync = index % 5 == 0
                user.changedRetries = index % 4
                user.held = index % 6 == 0
                user.holdReason = user.held ? "120 of 200 messages vanished\r\n(in INBOX)" : nil
                saved.append(user)
            }
            try ReplicatorStateFile.write(saved, to: path)

            let contents = try #require(try ReplicatorStateFile.read(at: path))
            #expect(contents.problems.isEmpty, "\(contents.problems)")
            #expect(contents.version == 1)
            #expect(contents.users == saved)
            let text = try fileText(path)
            #expect(text.hasPrefix("duplex-replicator-state\t1\tuser\tpriority\tlast_update\t"))
            #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count == names.count + 2, "one line each, LF at the end")
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        }
    }

    @Test func aMissingFileReadsAsNil_andAnUnreadableOneThrows() throws {
        try TemporaryDirectory.with { directory in
            let missing = try ReplicatorStateFile.read(at: directory.appending("none"))
            #expect(missing == nil)
            #expect(throws: ReplicatorStateError.self) { try ReplicatorStateFile.read(at: directory.path) }
            #expect(throws: ReplicatorStateError.self) {
                try ReplicatorStateFile.write([ReplicationUser(name: "a")], to: directory.appending("missing/dir/state"))
            }
        }
    }

    @Test func corruptLines_areReportedWithPathAndLine_andTheRestIsKept() throws {
        try TemporaryDirectory.with { directory in
            let path = directory.appending("replicator.state")
            let good = "\(t0)\t\(t0)\t\(t0)\t\(t0)\t0\t0\t0\t0\t0\t0\t\t"
            let lines = [
                ReplicatorStateFile.formatName + "\t1",
                "alice\tnone\t" + good,  // 2
                "bob\tnone\t\(t0)\t12x4\t\(t0)\t\(t0)\t0\t0\t0\t0\t0\t0\t\t",  // 3: bad number
                "carol\turgent\t" + good,  // 4: unknown priority
                "dave\tnone\t\(t0)",  // 5: too few fields
                "",  // 6: blank, skipped quietly
                "erin\\q\tnone\t" + good,  // 7: bad escape
                "frank\tnone\t\(t0)\t\(t0)\t\(t0)\t\(t0)\t2\t0\t0\t0\t0\t0\t\t",  // 8: failed is not 0/1
                "alice\thigh\t" + good,  // 9: alice again: this one wins
                "\tnone\t" + good,  // 10: empty name
                "gina\tnone\t\(t0)\t99999999999999999999\t0\t0\t0\t0\t0\t0\t0\t0\t\t",  // 11: overflow
                "hank\tlow\t" + good + "\tfield from a newer version",  // 12: extra field: fine
            ]
            var bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
            bytes += Array("ivan".utf8) + [0xff, 0xfe] + Array("\tnone\t\(good)\n".utf8)  // 13: not UTF-8
            bytes += Array("judy\tnone\t\(good)\n".utf8)  // 14
            try Data(bytes).write(to: URL(fileURLWithPath: path))

            let contents = try #require(try ReplicatorStateFile.read(at: path))
            let byName = users(in: contents)
            #expect(Set(byName.keys) == ["alice", "hank", "judy"])
            #expect(byName["alice"]?.priority == .high, "the later line wins")
            #expect(contents.users.count == 3)
            #expect(contents.problems.map(\.line) == [3, 4, 5, 7, 8, 9, 10, 11, 13])
            #expect(contents.problemCount == 9)
            let text = contents.problems.map(\.description)
            #expect(text[0] == "\(path):3: field 4 (last_fast_sync): not a number: '12x4'; line ignored")
            #expect(text[1] == "\(path):4: field 2 (priority): not none, low, high or sync: 'urgent'; line ignored")
            #expect(text[2] == "\(path):5: expected 14 tab-separated fields, found 3; line ignored")
            #expect(text[3].hasPrefix("\(path):7: field 1 (user): bad escape"))
            #expect(text[4].hasPrefix("\(path):8: field 7 (failed): not 0 or 1"))
            #expect(text[5] == "\(path):9: user alice also on line 2: this line wins")
            #expect(text[6] == "\(path):10: field 1 (user): empty; line ignored")
            #expect(text[7].hasPrefix("\(path):11: field 4 (last_fast_sync): number too large"))
            #expect(text[8].hasPrefix("\(path):13: field 1 (user): not UTF-8"))
        }
    }

    @Test func aTruncatedLastLine_isReported_andTheLinesBeforeItAreKept() throws {
        try TemporaryDirectory.with { directory in
            let path = directory.appending("replicator.state")
            let saved = (0..<3).map { index in
                var user = ReplicationUser(name: "user\(index)")
                user.lastFullSync = t0
                user.lastError = "an error text long enough to be cut"
                return user
            }
            try ReplicatorStateFile.write(saved, to: path)
            let whole = try Data(contentsOf: URL(fileURLWithPath: path))
            // Cut inside the last line's error text: all 14 fields are there, but the line has no end.
            try whole.dropLast(8).write(to: URL(fileURLWithPath: path))
            let cut = try #require(try ReplicatorStateFile.read(at: path))
            #expect(cut.users == Array(saved.prefix(2)))
            #expect(cut.problems.map(\.description) == ["\(path):4: no line end: the file was cut short; line ignored"])
            // Cut exactly after a line end: nothing is wrong with what is there.
            let lastLineStart = whole.dropLast().lastIndex(of: 0x0a)! + 1
            try whole.prefix(lastLineStart).write(to: URL(fileURLWithPath: path))
            let clean = try #require(try ReplicatorStateFile.read(at: path))
            #expect(clean.users == Array(saved.prefix(2)) && clean.problems.isEmpty)
        }
    }

    @Test func aLineLongerThanTheLimit_isSkipped_andTheNextOneRead() throws {
        try TemporaryDirectory.with { directory in
            let path = directory.appending("replicator.state")
            var long = ReplicationUser(name: "long")
            long.lastError = String(repeating: "x", count: StateFileReading.maxLineLength + 10)
            try ReplicatorStateFile.write([ReplicationUser(name: "before"), long, ReplicationUser(name: "after")], to: path)
            let contents = try #require(try ReplicatorStateFile.read(at: path))
            #expect(contents.users.map(\.name) == ["before", "after"])
            #expect(contents.problems.map(\.line) == [3])
            #expect(contents.problems.first?.message.hasPrefix("line longer than") == true)
        }
    }

    @Test func headers_wrongFormatAndBadVersionReadNothing_newerVersionReadsKnownFields() throws {
        try TemporaryDirectory.with { directory in
            let path = directory.appending("replicator.state")
            let line = "alice\tlow\t\(t0)\t\(t0)\t\(t0)\t\(t0)\t0\t0\t0\t0\t0\t0\t\t"

            try writeText("alice\t0\t\(t0)\t\(t0)\t\(t0)\t0\t\t\(t0)\n", to: path)
            var contents = try #require(try ReplicatorStateFile.read(at: path))
            #expect(contents.users.isEmpty && contents.version == nil)
            #expect(contents.problems.map(\.description) == [
                "\(path):1: not a Duplex replicator state file (no 'duplex-replicator-state<TAB>1' header); nothing read"
            ])

            try writeText("duplex-replicator-state\tone\n" + line + "\n", to: path)
            contents = try #require(try ReplicatorStateFile.read(at: path))
            #expect(contents.users.isEmpty && contents.problems.map(\.line) == [1])

            try writeText("", to: path)
            contents = try #require(try ReplicatorStateFile.read(at: path))
            #expect(contents.users.isEmpty && contents.problems.map(\.message) == ["empty file: no header, no users"])

            try writeText("duplex-replicator-state\t2\n" + line + "\tnew\tfields\n", to: path)
            contents = try #require(try ReplicatorStateFile.read(at: path))
            #expect(contents.version == 2 && contents.users.map(\.name) == ["alice"])
            #expect(contents.problems.map(\.message) == ["format version 2 is newer than 1: reading the fields version 1 knows"])
        }
    }

    // MARK: Dovecot

    @Test func dovecotReplicatorDB_isImported_withItsHistory_andClampedLastUpdates() throws {
        try TemporaryDirectory.with { directory in
            let path = directory.appending(DovecotReplicatorDatabase.fileName)
            let now = t0
            let lines = [
                // The verified sample (reference §3.5): synced, nothing pending.
                "alice\t0\t1795969616\t1795969616\t1795969616\t0\tAQAAAJcNF3aZHQ==\t1795969616",
                // Tab-escaped name (0x01 't'), failed, an old file's 7 fields.
                "bob\u{1}tsmith\t0\t1795969000\t1795969600\t1795900000\t1\t",
                // A pending high request with a last_update Dovecot's ordering cannot take.
                "carol\t2\t100\t0\t0\t0\t\t0",
                // A pending low request from a clock ahead.
                "dave\t1\t\(now + 5000)\t1795969616\t1795969616\t0\t\t1795969616",
                // Corrupt: Dovecot stops here; Duplex reports it and goes on.
                "erin\t7\t1\t1\t1\t0\t\t1",
                "frank\t0\t1795969616",
                "gina\t0\t1795960000\t1795960000\t1795950000\t0\tstate\t1795960000",
            ]
            try writeText(lines.joined(separator: "\n") + "\n", to: path)

            let contents = try #require(try DovecotReplicatorDatabase.read(at: path, now: now))
            let byName = users(in: contents)
            #expect(Set(byName.keys) == ["alice", "bob\tsmith", "carol", "dave", "gina"])
            #expect(contents.version == nil)
            #expect(contents.problems.map(\.line) == [5, 6])
            #expect(contents.problems[0].description == "\(path):5: field 2 (priority): not 0, 1, 2 or 3: '7'; line ignored")
            #expect(contents.problems[1].description == "\(path):6: expected 7 or 8 tab-separated fields, found 3; line ignored")

            let alice = try #require(byName["alice"])
            #expect(alice.priority == .none && alice.lastFullSync == 1_795_969_616 && alice.lastSuccessfulSync == 1_795_969_616)
            #expect(!alice.lastSyncFailed && alice.lastUpdate == 1_795_969_616)
            let bob = try #require(byName["bob\tsmith"])
            #expect(bob.lastSyncFailed && bob.failureCount == 1 && bob.lastFailure == 1_795_969_600 && bob.lastSuccessfulSync == 0)
            #expect(byName["carol"]?.priority == .high && byName["carol"]?.lastUpdate == ReplicationPriority.high.aging)
            #expect(byName["dave"]?.lastUpdate == now)
            #expect(byName["gina"]?.lastFullSync == 1_795_950_000)

            // In a queue: the pending requests are due now, the failed user after the first
            // back-off from its last attempt, the synced users at their full-sync phase.
            var queue = UserQueue()
            queue.restore(contents.users, now: now)
            #expect(queue.nextSyncTime("carol", now: now)! <= now && queue.nextSyncTime("dave", now: now)! <= now)
            let bobRetry = queue.nextSyncTime("bob\tsmith", now: now)! - 1_795_969_600
            #expect(bobRetry >= 300 && bobRetry <= 330)
            #expect(queue.nextSyncTime("alice", now: now)! == queue.nextFullSyncTime(alice))
        }
    }

    // MARK: Running syncs

    @Test func aSyncRunningWhileSaving_isSavedAsStillWanted() throws {
        var settings = ReplicatorSettings()
        settings.maxConnections = 4
        var queue = UserQueue(settings: settings)
        for name in ["fast", "full", "idle"] {
            queue.notify(name, priority: .low, now: t0 - 100)
            _ = queue.start(now: t0 - 100)
            queue.finished(name, .success(), now: t0 - 90)
        }
        queue.notify("fast", priority: .high, now: t0)
        queue.notify("full", priority: .low, forceFull: true, now: t0)
        let starts = queue.start(now: t0)
        #expect(Set(starts.map(\.user)) == ["fast", "full"] && starts.first { $0.user == "full" }?.full == true)

        let saved = Dictionary(uniqueKeysWithValues: queue.savedUsers.map { ($0.name, $0) })
        #expect(saved["fast"]?.priority == .low && saved["fast"]?.lastUpdate == t0 && saved["fast"]?.forceFullSync == false)
        #expect(saved["full"]?.priority == .low && saved["full"]?.forceFullSync == true)
        #expect(saved["idle"] == queue.user("idle"))

        // After a crash, both run again at once: the full one as a full sync.
        var restarted = UserQueue(settings: settings)
        restarted.restore(Array(saved.values), now: t0 + 60)
        let again = restarted.start(now: t0 + 60)
        #expect(Set(again.map(\.user)) == ["fast", "full"])
        #expect(again.first { $0.user == "full" }?.full == true)
    }

    // MARK: Restart

    /// Runs `queue` from `from` to `to` in steps of `step` seconds; every sync takes one step.
    /// Returns the start time of every full sync.
    func simulate(_ queue: inout UserQueue, clock: ManualClock, until end: Int64, step: Int64, running: inout [String]) -> [Int64] {
        var fullStarts: [Int64] = []
        while clock.now < end {
            for name in running { queue.finished(name, .success(), now: clock.now) }
            running = []
            for start in queue.start(now: clock.now) {
                running.append(start.user)
                if start.full { fullStarts.append(clock.now) }
            }
            #expect(queue.runningFullCount <= queue.settings.maxFullSyncs)
            clock.advance(by: step)
        }
        return fullStarts
    }

    @Test func aRestartOf10000Users_fromTheStateFile_causesNoFullSyncStorm() throws {
        try TemporaryDirectory.with { directory in
            let path = directory.appending("replicator.state")
            let userCount = 10_000
            let step: Int64 = 5
            let clock = ManualClock(now: t0)
            var queue = UserQueue()  // 10 connections, 2 full syncs at once, 24 h interval
            let maxFull = queue.settings.maxFullSyncs
            #expect(maxFull == 2)

            // Day one: every user gets its first (full) sync, then a day of periodic ones.
            for index in 0..<userCount { queue.add("user\(index)@example.com", now: clock.now) }
            var running: [String] = []
            var firstDay: [Int64] = []
            let crash = t0 + 86_400 + 1_234
            // The last save (the service saves every minute) comes 45 s before the crash.
            firstDay += simulate(&queue, clock: clock, until: crash - 45, step: step, running: &running)
            try queue.save(to: path)
            firstDay += simulate(&queue, clock: clock, until: crash, step: step, running: &running)
            #expect(firstDay.count >= userCount, "every user had its first full sync")

            // The crash: whatever happened since the last save is lost. Two minutes later the
            // replicator starts again from the file.
            clock.advance(by: 120)
            let restartedAt = clock.now
            let contents = try #require(try ReplicatorStateFile.read(at: path))
            #expect(contents.problems.isEmpty && contents.users.count == userCount)
            var restarted = UserQueue()
            restarted.restore(contents.users, now: clock.now)
            running = []
            let afterRestart = simulate(&restarted, clock: clock, until: restartedAt + 86_400, step: step, running: &running)

            // At most the share of ten minutes (about 70 of 10 000 a day) plus the minute lost
            // and the two minutes down, in any ten minutes, above all right after the restart.
            var perTenMinutes = [Int](repeating: 0, count: 144)
            for time in afterRestart { perTenMinutes[Int((time - restartedAt) / 600)] += 1 }
            #expect(perTenMinutes[0] <= 130, "first ten minutes after the restart: \(perTenMinutes[0])")
            #expect(perTenMinutes.max()! <= 150, "per ten minutes: \(perTenMinutes)")
            // Each user once a day, not again because of the restart.
            #expect(afterRestart.count >= 9_500 && afterRestart.count <= 10_500, "full syncs in the day after: \(afterRestart.count)")

            // The control: had the state been lost, every user would want its full sync at once
            // and the cap would run flat out.
            var amnesic = UserQueue()
            for index in 0..<userCount { amnesic.add("user\(index)@example.com", now: clock.now) }
            running = []
            let storm = simulate(&amnesic, clock: clock, until: clock.now + 600, step: step, running: &running)
            #expect(storm.count == 600 / Int(step) * maxFull, "without the state file: \(storm.count) in ten minutes")
        }
    }

    // MARK: Service

    @Test func persistence_savesEveryMinuteOnTheInjectedClock_andAtShutdown_andLoadsAtStart() async throws {
        try await TemporaryDirectory.with { directory in
            let path = directory.appending("replicator.state")
            let clock = ManualClock(now: t0)
            let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: clock, logger: silent)
            let persistence = ReplicatorStatePersistence(path: path, replicator: replicator, logger: silent)
            #expect(try await persistence.load() == nil, "nothing to load at the very first start")

            func savedNames() -> Set<String> {
                Set((try? ReplicatorStateFile.read(at: path))?.users.map(\.name) ?? [])
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // As a Service: every minute on the replicator's clock (the manual one here).
                group.addTask { try? await persistence.run() }
                await replicator.add(users: ["alice", "bob"])
                await eventually("waiting for the first minute") { await persistence.nextSaveTime == t0 + 60 }
                #expect(!FileManager.default.fileExists(atPath: path), "nothing saved before the minute is up")
                clock.advance(by: 60)
                await eventually("the first save") { savedNames() == ["alice", "bob"] }
                await eventually("waiting for the second minute") { await persistence.nextSaveTime == t0 + 120 }
                await replicator.add(users: ["carol"])
                clock.advance(by: 30)
                try await Task.sleep(for: .milliseconds(20))
                #expect(savedNames() == ["alice", "bob"], "not before the next minute")
                clock.advance(by: 30)
                await eventually("the second save") { savedNames() == ["alice", "bob", "carol"] }
                await replicator.add(users: ["dave"])
                group.cancelAll()
            }
            #expect(savedNames() == ["alice", "bob", "carol", "dave"], "saved once more at shutdown")

            // The next start: a new replicator gets every user back, history included.
            let next = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: clock, logger: silent)
            let loaded = try await ReplicatorStatePersistence(path: path, replicator: next, logger: silent).load()
            #expect(loaded?.users.count == 4)
            #expect(Set(await next.snapshot().map(\.name)) == ["alice", "bob", "carol", "dave"])
            #expect(await next.snapshot().first { $0.name == "alice" }?.lastUpdate == t0)
        }
    }

    @Test func persistence_importsDovecotsDatabaseAtTheFirstStart_andKeepsAFileWithProblems() async throws {
        try await TemporaryDirectory.with { directory in
            let path = directory.appending("replicator.state")
            let dovecot = directory.appending("replicator.db")
            try writeText("alice\t0\t\(t0)\t\(t0)\t\(t0)\t0\t\t\(t0)\nbroken\n", to: dovecot)
            let clock = ManualClock(now: t0 + 10)
            let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: clock, logger: silent)
            let persistence = ReplicatorStatePersistence(path: path, replicator: replicator, importingDovecotDatabase: dovecot, logger: silent)
            let imported = try await persistence.load()
            #expect(imported?.path == dovecot && imported?.users.map(\.name) == ["alice"] && imported?.problemCount == 1)
            #expect(!FileManager.default.fileExists(atPath: persistence.rejectedCopyPath), "Dovecot's file is never overwritten")
            try await persistence.save()

            // Once there is a state file, Dovecot's is not read again; a bad line in ours is
            // reported and the file kept aside before the next save replaces it.
            try writeText(try fileText(path) + "mallory\tbad\n", to: path)
            let again = ReplicatorStatePersistence(path: path, replicator: replicator, importingDovecotDatabase: dovecot, logger: silent)
            let contents = try await again.load()
            #expect(contents?.path == path && contents?.users.map(\.name) == ["alice"] && contents?.problems.map(\.line) == [3])
            #expect(try fileText(again.rejectedCopyPath).hasSuffix("mallory\tbad\n"))
            try await again.save()
            #expect(try fileText(again.rejectedCopyPath).hasSuffix("mallory\tbad\n"))
            #expect(try !fileText(path).contains("mallory"))
        }
    }
}
