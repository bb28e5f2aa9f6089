import Foundation
import MailStore
import Synchronization
import MailStoreTestSupport
import Testing

@testable import Dsync

/// `duplex sync` through the built binary: exit codes, the table, `--json`, `--dry-run`.
@Suite struct SyncCommandTests {
    func duplex(_ arguments: [String]) throws -> ExternalCommand.Result {
        try ExternalCommand.run(ExternalCommand.duplexExecutable, arguments)
    }

    func syncArguments(_ f: SyncFixture, _ extra: String...) -> [String] {
        ["sync", "-u", f.user, "--state-dir", f.stateDirectory] + extra + [f.a.root, f.b.root]
    }

    @Test func sync_exitsZero_printsTheTable_andJSONHasTheDocumentedKeys() throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1", flags: "\\Seen")
        try f.create(f.b, "Work")
        let first = try duplex(syncArguments(f))
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("messages copied"), "\(first.stdout)")
        #expect(first.stdout.contains("user \(f.user): 2 mailboxes, 1 messages in sync"), "\(first.stdout)")
        #expect(first.stderr.isEmpty, "\(first.stderr)")

        try f.save(f.b, "Work", guid: "w-1")
        let second = try duplex(syncArguments(f, "--json"))
        #expect(second.status == 0, "\(second.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any], "\(second.stdout)")
        #expect(Set(json.keys) == [
            "user", "fastPath", "dryRun", "plannedA", "plannedB", "appliedA", "appliedB", "uidConflicts", "nameConflicts",
            "keywordsDropped", "changedDuringSync", "mailboxes", "messages", "seconds", "planA", "planB", "restoredA", "restoredB",
            "phases",
        ])
        #expect(json["user"] as? String == f.user)
        // Every phase of a sync that changed something, in order, each timed.
        let phases = try #require(json["phases"] as? [[String: Any]])
        #expect(phases.map { $0["phase"] as? String } == ["lock", "state", "stamp", "read", "plan", "apply", "verify", "save"])
        #expect(phases.allSatisfy { ($0["seconds"] as? Double).map { $0 >= 0 } ?? false })
        #expect(json["changedDuringSync"] as? Bool == false)
        #expect(json["mailboxes"] as? Int == 2 && json["messages"] as? Int == 2)
        let appliedA = try #require(json["appliedA"] as? [String: Any])
        #expect(Set(appliedA.keys) == [
            "mailboxesCreated", "mailboxesRenamed", "mailboxesDeleted", "messagesCopied", "bytesCopied", "flagChanges",
            "expunges", "renumbered", "subscriptionChanges", "skipped",
        ])
        #expect(appliedA["messagesCopied"] as? Int == 1)
        #expect(appliedA["bytesCopied"] as? Int == SyncFixture.body("w-1").count)

        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB)
        #expect(mapA.messages == ["INBOX": [1: m("m-1", "\\Seen")], "Work": [1: m("w-1")]])
    }

    @Test func dryRun_printsThePlan_andChangesNothing() throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1")
        let synced = try duplex(syncArguments(f))
        #expect(synced.status == 0, "\(synced.stderr)")
        try f.save(f.a, guid: "m-2")
        try f.expunge(f.b, uids: [1])
        try f.create(f.b, "Work")
        let before = try f.maps(), files = try f.fileTree()

        let dry = try duplex(syncArguments(f, "--dry-run"))
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("dry run, nothing changed"), "\(dry.stdout)")
        let json = try duplex(syncArguments(f, "--dry-run", "--json"))
        #expect(json.status == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(report["dryRun"] as? Bool == true)
        let planA = try #require(report["planA"] as? [String]), planB = try #require(report["planB"] as? [String])
        #expect(report["plannedA"] as? Int == planA.count && report["plannedB"] as? Int == planB.count)
        // A: create Work, expunge m-1; B: copy m-2.
        #expect(planA.contains { $0.hasPrefix("create mailbox \"Work\"") } && planA.contains { $0.hasPrefix("expunge from \"INBOX\"") }, "\(planA)")
        #expect(planB.contains { $0.hasPrefix("copy into \"INBOX\"") }, "\(planB)")
        #expect(dry.stdout.contains("changes planned on A (\(f.a.root)): \(planA.count)"), "\(dry.stdout)")
        #expect(dry.stdout.contains("changes planned on B (\(f.b.root)): \(planB.count)"), "\(dry.stdout)")
        for line in planA + planB { #expect(dry.stdout.contains("  \(line)\n")) }

        let after = try f.maps()
        #expect(after.a == before.a && after.b == before.b)
        #expect(try f.fileTree() == files, "a dry run wrote files")
    }

    @Test func keywordsBeyondWhatAMailboxHolds_areCounted_andNamedInAWarning() throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1")
        #expect(try duplex(syncArguments(f)).status == 0)
        try f.setFlags(f.a, uid: 1, .add, (1...20).map { "a\($0)" }.joined(separator: " "))
        try f.setFlags(f.b, uid: 1, .add, (1...20).map { "b\($0)" }.joined(separator: " "))

        let dry = try duplex(syncArguments(f, "--dry-run"))
        #expect(dry.stdout.contains("keywords dropped: 28 ("), "\(dry.stdout)")
        let synced = try duplex(syncArguments(f))
        #expect(synced.status == 0, "\(synced.stderr)")
        #expect(synced.stdout.contains("\nkeywords dropped: 28 ("), "\(synced.stdout)")
        #expect(synced.stderr == "duplex: warning: user \(f.user): mailbox \"INBOX\" cannot hold the keywords of both sides (a Maildir mailbox has 26 keyword letters); 28 left out of its messages on both sides: a15 a16 a17 a18 a19 a2 a20 a3 and 20 more\n")
        let again = try duplex(syncArguments(f, "--json"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any], "\(again.stdout)")
        #expect(json["keywordsDropped"] as? Int == 0)
        #expect(!again.stdout.contains("keywords dropped") && again.stderr.isEmpty, "\(again.stdout)\(again.stderr)")
    }

    @Test func usageErrors_exit64_andTouchNothing() throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1")
        let cases: [(String, [String])] = [
            ("TLS peer", ["sync", "-u", f.user, "--state-dir", f.stateDirectory, f.a.root, "tls://peer.example.com:7070"]),
            ("same path twice", ["sync", "-u", f.user, "--state-dir", f.stateDirectory, f.a.root, f.a.root]),
            ("same path with a trailing slash", ["sync", "-u", f.user, "--state-dir", f.stateDirectory, "--lock-timeout", "1", f.a.root, f.a.root + "/"]),
            ("same path through ..", ["sync", "-u", f.user, "--state-dir", f.stateDirectory, "--lock-timeout", "1", f.a.root, f.b.root + "/../A"]),
            ("empty user", ["sync", "-u", "", "--state-dir", f.stateDirectory, f.a.root, f.b.root]),
            ("no user", ["sync", "--state-dir", f.stateDirectory, f.a.root, f.b.root]),
            ("one side", ["sync", "-u", f.user, "--state-dir", f.stateDirectory, f.a.root]),
            ("negative lock timeout", ["sync", "-u", f.user, "--lock-timeout", "-1", f.a.root, f.b.root]),
        ]
        let before = try f.maps()
        for (label, arguments) in cases {
            let result = try duplex(arguments)
            #expect(result.status == 64, "\(label): exit \(result.status)\n\(result.stderr)")
            #expect(!result.stderr.isEmpty, "\(label): no message")
            if label != "TLS peer" && !label.hasPrefix("same path") {
                // Parsing errors read as from the whole command line, with its usage line.
                #expect(result.stderr.contains("Usage: duplex sync"), "\(label): \(result.stderr)")
            }
        }
        let help = try duplex(["sync", "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: duplex sync"), "\(help.stdout)")
        let after = try f.maps()
        #expect(after.a == before.a && after.b == before.b)
        #expect(!FileManager.default.fileExists(atPath: f.stateDirectory), "a refused sync made a state")
    }

    @Test func massLoss_exits65_andChangesNothing_untilAccepted() throws {
        let f = try SyncFixture()
        try f.saveMany(f.a, guids: (1...150).map { "m-\($0)" })
        #expect(try duplex(syncArguments(f)).status == 0)
        try f.expunge(f.b, uids: Array(1...100))
        let before = try f.maps()

        let refused = try duplex(syncArguments(f))
        #expect(refused.status == 65, "\(refused.stderr)")
        #expect(refused.stderr.contains("--accept-mass-expunge"), "\(refused.stderr)")
        let after = try f.maps()
        #expect(after.a == before.a && after.b == before.b)

        let accepted = try duplex(syncArguments(f, "--accept-mass-expunge"))
        #expect(accepted.status == 0, "\(accepted.stderr)")
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB && mapA.messages["INBOX"]?.count == 50)
    }

    @Test func missingMailRoot_exits67_withoutAState_and65_withOne() throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1")
        let missing = f.directory.appending("nobody")
        let noUser = try duplex(["sync", "-u", f.user, "--state-dir", f.stateDirectory, f.a.root, missing])
        #expect(noUser.status == 67, "\(noUser.stderr)")

        #expect(try duplex(syncArguments(f)).status == 0)
        try FileManager.default.removeItem(atPath: f.b.root)
        let gone = try duplex(syncArguments(f))
        #expect(gone.status == 65, "\(gone.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.b.root))
        #expect(try mapOf(f.a).messages == ["INBOX": [1: m("m-1")]])
    }

    @Test func neitherMailRootExisting_exits67_namingBoth() throws {
        let f = try SyncFixture()
        let one = f.directory.appending("nobody"), other = f.directory.appending("nobody-else")
        let result = try duplex(["sync", "-u", f.user, "--state-dir", f.stateDirectory, one, other])
        #expect(result.status == 67, "\(result.stderr)")
        #expect(result.stderr.contains("neither mail root exists") && result.stderr.contains(one) && result.stderr.contains(other), "\(result.stderr)")
        #expect(!result.stderr.contains("synced before"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: one) && !FileManager.default.fileExists(atPath: other))
    }

    @Test func aFolderThatIsNoMailbox_isNamed_notReportedAsAMissingRoot() throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1")
        #expect(try duplex(syncArguments(f)).status == 0)
        let bad = f.a.root + "/.bad&name"
        for sub in ["", "/cur", "/new", "/tmp"] { try FileManager.default.createDirectory(atPath: bad + sub, withIntermediateDirectories: false) }
        let result = try duplex(syncArguments(f))
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains(bad) && !result.stderr.contains("is gone"), "\(result.stderr)")
        #expect(try mapOf(f.b).messages == ["INBOX": [1: m("m-1")]])
    }

    /// One mail root named another way (through a symbolic link, or relative to the working
    /// directory) is the same root: the same saved state (an expunge made since the last sync
    /// reaches the other side instead of coming back) and the same lock.
    @Test func mailRootNamedAnotherWay_usesTheSameStateAndLock() async throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1")
        try f.save(f.a, guid: "m-2")
        #expect(try duplex(syncArguments(f)).status == 0)
        let link = f.directory.appending("A-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: f.a.root)
        try f.expunge(f.a, uids: [1])

        let throughLink = try duplex(["sync", "-u", f.user, "--state-dir", f.stateDirectory, link + "/", f.b.root])
        #expect(throughLink.status == 0, "\(throughLink.stderr)")
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB)
        #expect(mapA.messages == ["INBOX": [2: m("m-2")]], "the expunge reached B: \(mapA)")
        let states = try FileManager.default.contentsOfDirectory(atPath: f.stateDirectory).filter { $0.hasSuffix(".state") }
        #expect(states.count == 1, "\(states)")

        let held = try await LocalReplica(store: f.a).withUserLock(timeout: .seconds(1)) {
            try ExternalCommand.run(ExternalCommand.duplexExecutable, ["sync", "-u", f.user, "--state-dir", f.stateDirectory, "--lock-timeout", "0.2", link, f.b.root])
        }
        #expect(held.status == 75, "the link's sync waits for the root's lock: \(held.stderr)")
    }

    /// A state an earlier version saved under the mail roots as they were typed (here through
    /// a link) is used by the next sync, and then saved under the canonical roots only.
    @Test func stateSavedUnderTheTypedRoots_isUsed_thenSavedUnderTheCanonicalOnes() async throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1")
        try f.save(f.a, guid: "m-2")
        let link = f.directory.appending("A-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: f.a.root)
        // As an earlier version synced: the state keyed by the link's path.
        var options = SyncOptions(user: f.user)
        options.stateDirectory = f.stateDirectory
        let typed = LocalReplica(store: MailStore(root: link, configuration: SyncFixture.configuration))
        _ = try await SyncSession(a: typed, b: LocalReplica(store: f.b), options: options).run()
        let former = SyncStateStore(directory: f.stateDirectory, user: f.user, sideA: link, sideB: f.b.root)
        #expect(FileManager.default.fileExists(atPath: former.headerPath))
        try f.expunge(f.a, uids: [1])

        let result = try duplex(["sync", "-u", f.user, "--state-dir", f.stateDirectory, link, f.b.root])
        #expect(result.status == 0, "\(result.stderr)")
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB)
        #expect(mapA.messages == ["INBOX": [2: m("m-2")]], "the expunge reached B: \(mapA)")
        #expect(!FileManager.default.fileExists(atPath: former.headerPath), "the former state is replaced")
        let canonical = SyncStateStore(directory: f.stateDirectory, user: f.user, sideA: f.a.root, sideB: f.b.root)
        #expect(try canonical.loadHeader() != nil)
        let files = try FileManager.default.contentsOfDirectory(atPath: f.stateDirectory)
        #expect(files.filter { $0.hasSuffix(".state") }.count == 1 && files.filter { $0.hasSuffix(".messages") }.count == 1, "\(files)")
    }

    @Test func lockHeldElsewhere_exits75() async throws {
        let f = try SyncFixture()
        try f.save(f.a, guid: "m-1")
        let arguments = syncArguments(f, "--lock-timeout", "0.2")
        let result = try await LocalReplica(store: f.b).withUserLock(timeout: .seconds(1)) {
            try ExternalCommand.run(ExternalCommand.duplexExecutable, arguments)
        }
        #expect(result.status == 75, "\(result.stderr)")
        #expect(try mapOf(f.b).messages == ["INBOX": [:]])
        #expect(try duplex(syncArguments(f)).status == 0)
    }

    @Test func mailArrivingDuringTheSync_exits2_andTheNextRunConverges() async throws {
        let f = try SyncFixture()
        try f.saveMany(f.a, guids: (1...2000).map { "bulk-\($0)" })
        let process = try DuplexProcess(syncArguments(f), outputDirectory: f.directory.path)
        // A thread of its own: the deliveries must go on while other tests occupy the
        // concurrency pool.
        let deliveries = Deliveries(store: f.a)
        let status = await process.exitStatus()
        let delivered = deliveries.stop()
        #expect(status == 2, "exit \(status) with \(delivered) deliveries during the sync\n\(process.stdout)\n\(process.stderr)")
        #expect(process.stdout.contains("run it again"), "\(process.stdout)")

        let again = try duplex(syncArguments(f))
        #expect(again.status == 0, "\(again.stderr)")
        let (mapA, mapB) = try f.maps()
        #expect(mapA == mapB)
        #expect(mapA.guidCounts.count == 2000 + delivered && mapA.guidCounts.values.allSatisfy { $0 == 1 })
    }
}

/// Saves a new message into a store's INBOX every few milliseconds on a thread of its own
/// until stopped.
final class Deliveries: Sendable {
    private let state = Mutex((stop: false, count: 0))
    private let done = DispatchSemaphore(value: 0)

    init(store: MailStore) {
        Thread.detachNewThread { [self] in
            while !state.withLock({ $0.stop }) {
                let count = state.withLock { state -> Int in
                    state.count += 1
                    return state.count
                }
                _ = try? store.saveMessage(in: .inbox, bytes: SyncFixture.body("late-\(count)"), options: SaveOptions(guid: "late-\(count)"))
                usleep(3000)
            }
            done.signal()
        }
    }

    /// Stops the deliveries; returns how many messages were delivered.
    func stop() -> Int {
        state.withLock { $0.stop = true }
        done.wait()
        return state.withLock { $0.count }
    }
}
