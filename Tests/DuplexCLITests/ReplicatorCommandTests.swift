import Foundation
import Logging
import MailStoreTestSupport
import Replicator
import Testing

@testable import DuplexCLI

/// `duplex replicator`: the doveadm tables as snapshots (fixed data, fixed clock), and the
/// built binary against an admin server running in this process.
@Suite struct ReplicatorCommandTests {
    static let now: Int64 = 1_800_000_000

    /// `text` with each line's end marked `|` (trailing spaces are part of doveadm's tables).
    func marked(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: "|\n")
    }

    // MARK: Snapshots

    @Test func overview_isDovecotsSevenLines_57CharactersWide() {
        var statistics = ReplicatorStatistics()
        statistics.queuedSync = 1
        statistics.queuedHigh = 2
        statistics.queuedLow = 3
        statistics.queuedFullResync = 4
        statistics.waitingFailed = 1
        statistics.totalUsers = 12
        statistics.held = 1
        statistics.running = 2
        let expected = """
            Queued 'sync' requests        1                          |
            Queued 'high' requests        2                          |
            Queued 'low' requests         3                          |
            Queued 'failed' requests      0                          |
            Queued 'full resync' requests 4                          |
            Waiting 'failed' requests     1                          |
            Total number of known users   12                         |

            """
        #expect(marked(ReplicatorTables.overview(statistics, verbose: false)) == expected)
        let verbose = ReplicatorTables.overview(statistics, verbose: true).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(verbose.count == 11)
        #expect(verbose[7] == "Stuck users                   0                          ")
        #expect(verbose[8] == "Held users (mass-loss guard)  1                          ")
        #expect(verbose[9] == "Running syncs                 2                          ")
        #expect(verbose.dropLast().allSatisfy { $0.count == 57 })
    }

    @Test func overview_withStuckUsers_addsOneLineAfterDovecotsSeven_leavingThemAsTheyAre() {
        var statistics = ReplicatorStatistics()
        statistics.queuedLow = 3
        statistics.waitingFailed = 1
        statistics.totalUsers = 12
        let seven = ReplicatorTables.overview(statistics, verbose: false)
        statistics.stuck = 2
        let expected = seven + "Stuck users                   2                          \n"
        #expect(ReplicatorTables.overview(statistics, verbose: false) == expected)
    }

    static let users = [
        ReplicatorAdminUserStatus(
            username: "alice", priority: .none, lastFastSync: now - 3725, lastFullSync: now - 86_405, lastSuccessfulSync: now - 3725,
            nextSyncSeconds: 300),
        ReplicatorAdminUserStatus(
            username: "bob", priority: .high, lastFastSync: now - 59, failed: true, nextSyncSeconds: 0, lastError: "peer unreachable"),
        ReplicatorAdminUserStatus(
            username: "carol", priority: .none, lastFastSync: now - 7200, lastFullSync: now - 400_000, lastSuccessfulSync: now - 90_000,
            lastError: "mass loss: 42 of 50 messages vanished", held: true),
    ]

    @Test func userTable_isDoveadmsColumns_withElapsedTimes_andHeldUsersMarked() {
        let expected = """
            username     priority fast sync full sync success sync failed next sync secs|
            alice        none     01:02:05  24:00:05  01:02:05     -      00:05:00      |
            bob          high     00:00:59  -         -            y      00:00:00      |
            carol        none     02:00:00  111:06:40 25:00:00     held   -             |

            """
        #expect(marked(ReplicatorTables.users(Self.users, now: Self.now, verbose: false)) == expected)
    }

    @Test func userTable_withStuckUsers_addsAStuckColumn_runningOrFailing_andForHowLong_growingRatherThanMisaligning() {
        var users = Self.users
        users[0].stuck = StuckSync(reason: .running, since: Self.now - 3725)
        users[1].stuck = StuckSync(reason: .failing, since: Self.now - 7200)
        let expected = """
            username priority fast sync full sync success sync failed next sync secs stuck           |
            alice    none     01:02:05  24:00:05  01:02:05     -      00:05:00       running 01:02:05|
            bob      high     00:00:59  -         -            y      00:00:00       failing 02:00:00|
            carol    none     02:00:00  111:06:40 25:00:00     held   -              -               |

            """
        #expect(marked(ReplicatorTables.users(users, now: Self.now, verbose: false)) == expected)
    }

    @Test func userTable_tooWideForTheTerminal_isShrunkAsDoveadmDoes() {
        let users = Self.users.map { user in
            var user = user
            user.username += "@example.com"
            return user
        }
        // 81 characters of columns: the last column gives up one; its title still shows whole.
        let expected = """
            username          priority fast sync full sync success sync failed next sync secs|
            alice@example.com none     01:02:05  24:00:05  01:02:05     -      00:05:00     |
            bob@example.com   high     00:00:59  -         -            y      00:00:00     |
            carol@example.com none     02:00:00  111:06:40 25:00:00     held   -            |

            """
        #expect(marked(ReplicatorTables.users(users, now: Self.now, verbose: false)) == expected)
    }

    @Test func userTableVerbose_addsTheLastError_andGrowsRatherThanMisaligns() {
        let expected = """
            username priority fast sync full sync success sync failed next sync secs last error                           |
            alice    none     01:02:05  24:00:05  01:02:05     -      00:05:00       -                                    |
            bob      high     00:00:59  -         -            y      00:00:00       peer unreachable                     |
            carol    none     02:00:00  111:06:40 25:00:00     held   -              mass loss: 42 of 50 messages vanished|

            """
        #expect(marked(ReplicatorTables.users(Self.users, now: Self.now, verbose: true)) == expected)
        // A user name with a newline stays on its row.
        let odd = [ReplicatorAdminUserStatus(username: "eve\nmallory", priority: .low)]
        #expect(ReplicatorTables.users(odd, now: Self.now, verbose: false).split(separator: "\n")[1].hasPrefix("eve?mallory "))
    }

    @Test func dsyncTable_listsRunningSyncs_thenFreeSlots() throws {
        let syncs = try JSONDecoder().decode([SyncSlotStatus].self, from: Data("""
            [{"username":"alice","type":"full","seconds":65},{"username":"bob","type":"incremental","seconds":3725}]
            """.utf8))
        let expected = """
            username           type        status                                |
            alice              full        Waiting for dsync to finish (00:01:05)|
            bob                incremental Waiting for dsync to finish (01:02:05)|
                               -           Not connected                         |
                               -           Not connected                         |

            """
        #expect(marked(ReplicatorTables.syncs(syncs, slots: 4)) == expected)
    }

    @Test func dsyncTable_marksASyncRunningPastTheRetryInterval_asStuck() {
        let syncs = [
            SyncSlotStatus(username: "alice", type: "full", seconds: 65),
            SyncSlotStatus(username: "bob", type: "incremental", seconds: 3725, stuck: true),
        ]
        let expected = """
            username        type        status                                       |
            alice           full        Waiting for dsync to finish (00:01:05)       |
            bob             incremental Waiting for dsync to finish (01:02:05, stuck)|

            """
        #expect(marked(ReplicatorTables.syncs(syncs, slots: 2)) == expected)
    }

    @Test func emptyUserTable_isTheTitleLineAlone_andTimesFormatAsDoveadm() {
        #expect(ReplicatorTables.users([], now: Self.now, verbose: false)
            == "username     priority fast sync full sync success sync failed next sync secs\n")
        #expect(ReplicatorTables.elapsed(since: 0, now: Self.now) == "-")
        #expect(ReplicatorTables.elapsed(since: Self.now, now: Self.now) == "00:00:00")
        #expect(ReplicatorTables.clock(360_000) == "100:00:00")
        #expect(ReplicatorTables.clock(-5) == "00:00:00")
    }

    @Test func socketPath_isTheOption_elseTheEnvironment_elseTheDefault() throws {
        let environment = ["DUPLEX_REPLICATOR_SOCKET": "/tmp/env.sock"]
        #expect(try ReplicatorSocketOptions.parse([]).socketPath(environment: [:]) == "/run/duplex/replicator.sock")
        #expect(try ReplicatorSocketOptions.parse([]).socketPath(environment: environment) == "/tmp/env.sock")
        #expect(try ReplicatorSocketOptions.parse(["--socket", "/x.sock"]).socketPath(environment: environment) == "/x.sock")
    }

    // MARK: The binary against a live server

    @Test func binary_againstALiveServer_printsTablesJSONAndDoveadmsErrors() async throws {
        let replicator = Replicator(queue: UserQueue(), engine: IdleEngine(), clock: FixedClock(now: Self.now), logger: Self.silent)
        await replicator.add(users: ["alice@example.com", "bob@example.com"])
        await replicator.notify("bob@example.com", priority: .high)
        try await TemporaryDirectory.with(prefix: "duplex-replicator-cli") { directory in
            let socket = directory.appending("admin.sock")
            let server = ReplicatorAdminServer(socketPath: socket, replicator: replicator, logger: Self.silent)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                defer { group.cancelAll() }
                // Until the server answers; the three minutes guard a hang only.
                let probe = ReplicatorAdminClient(socketPath: socket)
                let listening = ContinuousClock.now + .seconds(180)
                while (try? await probe.send(.dsyncStatus)) == nil, ContinuousClock.now < listening {
                    try await Task.sleep(for: .milliseconds(10))
                }
                func duplex(_ arguments: String...) async throws -> ExternalCommand.Result {
                    let command = try BackgroundCommand(
                        ExternalCommand.duplexExecutable, ["replicator"] + arguments + ["--socket", socket], outputDirectory: directory.path)
                    return await command.result(within: .seconds(180))
                }

                let overview = try await duplex("status")
                #expect(overview.status == 0, "\(overview.stderr)")
                #expect(overview.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == [
                    "Queued 'sync' requests        0", "Queued 'high' requests        1", "Queued 'low' requests         0",
                    "Queued 'failed' requests      0", "Queued 'full resync' requests 1", "Waiting 'failed' requests     0",
                    "Total number of known users   2",
                ])

                let table = try await duplex("status", "*")
                #expect(table.status == 0)
                let users = await replicator.userStatus(UserMask("*")).map(ReplicatorAdminUserStatus.init)
                #expect(table.stdout == ReplicatorTables.users(users, now: Self.now, verbose: false))
                #expect(table.stdout.split(separator: "\n").map { $0.split(separator: " ").prefix(2).joined(separator: " ") } == [
                    "username priority", "alice@example.com none", "bob@example.com high",
                ])

                let json = try await duplex("status", "b*", "--json")
                #expect(json.status == 0)
                let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
                #expect(rows.count == 1)
                #expect(rows.first?["username"] as? String == "bob@example.com")
                #expect(rows.first?["priority"] as? String == "high")
                #expect(rows.first.map { Set($0.keys) } == [
                    "username", "priority", "lastFastSync", "lastFullSync", "lastSuccessfulSync", "failed", "nextSyncSeconds",
                    "lastError", "held", "running", "stuck",
                ])

                let slots = try await duplex("dsync-status", "--json")
                let report = try #require(try JSONSerialization.jsonObject(with: Data(slots.stdout.utf8)) as? [String: Any])
                #expect(report["slots"] as? Int == 10 && (report["syncs"] as? [Any])?.isEmpty == true)

                let replicate = try await duplex("replicate", "-p", "sync", "-f", "a*")
                #expect(replicate.status == 0 && replicate.stdout == "1 users updated\n")
                #expect(await replicator.userStatus(UserMask("alice@example.com")).first?.priority == .sync)

                let removed = try await duplex("remove", "nobody@example.com")
                #expect(removed.status == 64 && removed.stdout.isEmpty)
                #expect(removed.stderr == "Error: Replicator failed: User not found\n")

                let release = try await duplex("release", "alice@example.com", "--accept")
                #expect(release.status == 64 && release.stderr == "Error: Replicator failed: User is not held\n")

                let usage = try await duplex("replicate", "-p", "urgent", "alice@example.com")
                #expect(usage.status == 64)
            }
        }
    }

    @Test func binary_withoutAServer_exits75_namingTheSocket() throws {
        try TemporaryDirectory.with(prefix: "duplex-replicator-cli") { directory in
            let socket = directory.appending("none.sock")
            let result = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["replicator", "status", "--socket", socket])
            #expect(result.status == 75)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr == "Error: \(socket): cannot connect: No such file or directory (is the duplex agent running?)\n")
        }
    }

    static let silent = Logger(label: "replicator-cli-test", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// A clock that stands still: the tables' elapsed times are fixed.
private struct FixedClock: ReplicatorClock {
    let now: Int64

    func sleep(until deadline: Int64) async throws {
        try await Task.sleep(for: .seconds(3600))
    }
}

/// An engine for a replicator whose loop never runs.
private struct IdleEngine: SyncEngine {
    var name: String { "idle" }

    func sync(user: String, full: Bool) async -> SyncResult {
        SyncResult(.failure("no syncs in this test"))
    }
}
