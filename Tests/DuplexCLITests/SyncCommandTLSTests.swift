import Dsync
import Foundation
import MailStore
import MailStoreTestSupport
import Testing

/// `duplex sync … tls://HOST:PORT` against a running `duplex agent`: the user's lock on
/// either side (a second sync waits up to `--lock-timeout`, then exits 75) and large
/// messages arriving byte for byte.
@Suite struct SyncCommandTLSTests {
    /// The side whose user lock another sync holds.
    enum LockedSide: String, Sendable, CaseIterable {
        /// The agent's (B's): the agent answers the lock request with the timeout.
        case agent
        /// The client's own (A's): the sync fails before it connects.
        case client
    }

    @Test(arguments: LockedSide.allCases)
    func lockHeld_syncWaitsTheLockTimeout_exits75_thenSucceedsOnceReleased(side: LockedSide) async throws {
        try await AgentFixture.with { fixture in
            let (locked, other) = side == .agent ? (fixture.rootB, fixture.rootA) : (fixture.rootA, fixture.rootB)
            try fixture.save(other, count: 2, prefix: "m")
            try await fixture.withAgent { agent in
                // Held by this process, as another sync would hold it.
                let refused = try await LocalReplica(store: MailStore(root: locked)).withUserLock(timeout: .seconds(5)) {
                    let clock = ContinuousClock()
                    let start = clock.now
                    let result = try await fixture.sync(agent, lockTimeout: 1)
                    // It waited: never less than the timeout. How long it waited beyond that
                    // is the machine's (start, TLS); which timeout it used, its message says.
                    let waited = clock.now - start
                    #expect(waited >= .milliseconds(950), "waited \(waited)")
                    return result
                }
                #expect(refused.status == 75, "\(refused.stderr)")
                let lock = (locked as NSString).deletingLastPathComponent + "/.\(AgentFixture.user).duplex-sync.lock"
                #expect(refused.stderr.contains("\(lock): another sync of this user holds the lock (waited "), "\(refused.stderr)")
                // The locks were tried for the 1 s asked for, as the message says: not the
                // agent's lock_timeout (10 s) nor the default (30 s).
                let asked = Duration.milliseconds(1000)
                #expect(
                    refused.stderr.contains("both locks were tried for \(asked)") || refused.stderr.contains("(waited \(asked);"),
                    "\(refused.stderr)")
                #expect(try fixture.guids(locked).isEmpty)
                if side == .agent { try await agent.waitForLog("lock refused") }

                let result = try await fixture.sync(agent, lockTimeout: 1)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try fixture.guids(locked) == ["m-1", "m-2"])
            }
        }
    }

    /// A real first sync holds the user's lock on both sides: it is paused inside (see
    /// ``AgentFixture/withSyncPaused(_:sourceLocation:_:)``) for as long as the other two
    /// take. A second sync from the same host and one from another copy of the user's mail
    /// (as from another host) exit 75; the first one completes once it goes on.
    @Test func secondSync_whileOneRuns_exits75_fromThisHostOrAnother_andTheFirstCompletes() async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootB, count: 300, prefix: "b")
            let otherRoot = fixture.directory.appending("a2/\(AgentFixture.user)")
            try FileManager.default.createDirectory(atPath: otherRoot, withIntermediateDirectories: true)
            _ = try MailStore(root: otherRoot).createMailbox(try MailboxName("INBOX"))
            try await fixture.withAgent { agent in
                let first = try fixture.startSync(agent)
                defer { first.stop() }
                try await fixture.withSyncPaused(first) {
                    let sameHost = try await fixture.sync(agent, lockTimeout: 1)
                    #expect(sameHost.status == 75, "\(sameHost.stderr)")
                    #expect(sameHost.stderr.contains("a/.alice.duplex-sync.lock"), "\(sameHost.stderr)")
                    let otherHost = try await fixture.sync(agent, lockTimeout: 1, root: otherRoot, stateDirectory: "state-a2")
                    #expect(otherHost.status == 75, "\(otherHost.stderr)")
                    #expect(otherHost.stderr.contains("b/.alice.duplex-sync.lock"), "\(otherHost.stderr)")
                    #expect(first.exitStatus() == nil, "the paused first sync ended: \(first.stderr)")
                }
                let result = await first.result(within: RunningAgent.patience)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try fixture.guids(fixture.rootA).count == 300)
            }
        }
    }

    /// Bodies stream in pieces both ways (pushed to the agent, pulled from it): a 30 MiB
    /// message on each side arrives byte for byte.
    @Test func thirtyMiBMessages_syncBothWays_byteForByte() async throws {
        try await AgentFixture.with { fixture in
            var originals: [String: Data] = [:]
            for (root, guid) in [(fixture.rootA, "big-a"), (fixture.rootB, "big-b")] {
                let body = try Self.largeMessage(subject: guid)
                originals[guid] = body
                _ = try MailStore(root: root).saveMessage(in: try MailboxName("INBOX"), bytes: Array(body), options: SaveOptions(guid: guid))
            }
            try await fixture.withAgent { agent in
                let result = try await fixture.sync(agent)
                #expect(result.status == 0, "\(result.stderr)")
            }
            for root in [fixture.rootA, fixture.rootB] {
                let files = try Self.messageFiles(root)
                #expect(files.keys.sorted() == ["big-a", "big-b"], "\(root)")
                for (guid, path) in files {
                    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                    #expect(bytes.count == originals[guid]?.count, "\(path)")
                    #expect(bytes == originals[guid], "\(path) differs from what was saved as \(guid)")
                }
            }
        }
    }

    /// A message of at least 30 MiB: a header and a base64 body of random bytes in 76-column
    /// CRLF lines, like a large attachment.
    static func largeMessage(subject: String) throws -> Data {
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        defer { try? random.close() }
        let raw = try #require(try random.read(upToCount: 23_000_000))
        var message = Data("Subject: \(subject)\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".utf8)
        message.append(raw.base64EncodedData(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]))
        message.append(Data("\r\n".utf8))
        #expect(message.count >= 30 << 20)
        return message
    }

    /// The file of each message in `root`'s INBOX, by GUID.
    static func messageFiles(_ root: String) throws -> [String: String] {
        let messages = try MailStore(root: root).listMessages(in: try MailboxName("INBOX"))
        return Dictionary(uniqueKeysWithValues: messages.map { ($0.guid, root + ($0.isInNew ? "/new/" : "/cur/") + $0.fileName) })
    }
}
