import Dsync
import Foundation
import MailStore
import MailStoreTestSupport
import Replicator
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A replicating agent killed with SIGKILL while it syncs, and started again: its saved
/// queue brings back every user with its sync history, the users that were due for a full
/// sync get one at most `max_full_syncs` at a time and nobody else gets one, and the mail
/// that was on its way reaches the peer.
///
/// Two `duplex agent` processes on loopback with certificates made by `duplex tls init`:
/// agent B serves host B's Maildirs, agent A runs the replicator for 2 000 users. A has been
/// running for a while: its state file says most users had their full sync an hour ago
/// (written with the state file's own writer before A starts); the users file adds some
/// never synced. The test then delivers mail on A and notifies A through its notify fifo,
/// as Dovecot's replication plugin does, and keeps doing so while it kills A.
@Suite(.serialized) struct AgentRestartTests {
    @Test(.timeLimit(.minutes(15)))
    func agentKilledUnderLoad_restartsWithEveryUserAndNoFullSyncStorm_andTheMailConverges() async throws {
        try await RestartScenario.with { scenario in
            let b = try await scenario.startAgentB()
            defer { b.process.stop() }
            // The new users' locks on B are held (as another sync would) until A is killed: their
            // full syncs wait, so many are still due at the kill however fast this machine is.
            let held = try await HeldUserLocks(roots: RestartScenario.newUsers.map { scenario.root("b", $0) })
            defer { held.releaseNow() }
            let firstA = try await scenario.startAgentA(peer: b)
            defer { firstA.process.stop() }

            // Load: mail for the first group, each user notified once; then a steady stream
            // of deliveries and notifications for the second group, running through the kill.
            let notified = try scenario.deliverAndNotify(RestartScenario.settledGroup, messages: 12)
            #expect(notified == RestartScenario.settledGroup.count, "agent A reads the fifo")
            let stream = scenario.startDeliveryStream()

            // Kill A once a save has every notification of the first group, while syncs run.
            try await scenario.waitForSavedRequests(of: RestartScenario.settledGroup, agent: firstA)
            let running = try await scenario.waitForRunningSyncs(agent: firstA)
            let killed = firstA.process.send(SIGKILL)
            let killStatus = await firstA.process.exitStatus(within: .seconds(120))
            try #require(killed && killStatus == 128 + SIGKILL, "agent A was not killed (status \(String(describing: killStatus)))")

            // The state file on disk is whole: every line a good record, every user in it.
            let saved = try scenario.checkStateFile("after SIGKILL (\(running.count) syncs were running)")
            let fullSyncsDue = saved.users.filter { $0.lastFullSync == 0 || $0.forceFullSync }
            #expect(
                fullSyncsDue.count == RestartScenario.newUsers.count,
                "every new user, and no settled one, is due for a full sync at the kill: \(fullSyncsDue.count)")
            await held.release()

            // Started again, deliveries and notifications still coming, some written the moment
            // A opens its fifo: every user is known with the times saved before the kill.
            let early = NotifyFifo.notifyOnceOpened(
                RestartScenario.streamGroup.map { "\(RestartScenario.name($0))\thigh\n" }.joined(), to: scenario.fifo)
            let secondA = try await scenario.startAgentA(peer: b)
            defer { secondA.process.stop() }
            let status = try scenario.userStatus()
            let delivered = await stream.stop()
            #expect(delivered > 0, "deliveries went on while A ran")
            #expect(await early.value, "the notifications waiting for A's fifo were written")
            scenario.checkRestored(status, against: saved)

            // One more message for each of the second group (their notifications in the fifo
            // when A was killed are gone); the first group gets nothing new: what was pending
            // must come from the saved queue.
            #expect(try scenario.deliverAndNotify(RestartScenario.streamGroup, messages: 1) == RestartScenario.streamGroup.count)
            let sampled = try await scenario.waitForConvergence(agent: secondA)
            #expect(sampled.full <= RestartScenario.maxFullSyncs, "dsync-status showed \(sampled.full) full syncs at once")
            #expect(sampled.all <= RestartScenario.maxConnections, "dsync-status showed \(sampled.all) syncs at once")

            // The agent's own count of what ran at once since the restart, and of full syncs.
            let metrics = try scenario.metrics()
            let peakFull = try #require(metrics.value("duplex_replicator_peak_running_syncs", kind: "full"))
            let fullStarted = try #require(metrics.value("duplex_replicator_syncs_started_total", kind: "full"))
            let incrementalStarted = try #require(metrics.value("duplex_replicator_syncs_started_total", kind: "incremental"))
            #expect(peakFull >= 1 && peakFull <= Double(RestartScenario.maxFullSyncs), "at most max_full_syncs full syncs ran at once: \(peakFull)")
            #expect(
                fullStarted <= Double(fullSyncsDue.count),
                "only the \(fullSyncsDue.count) users due for a full sync got one, not \(fullStarted): no storm")
            #expect(incrementalStarted >= 1)

            // A graceful stop saves the queue with what happened since the restart.
            let before = try scenario.userStatus()
            let stopped = await secondA.process.stop(within: .seconds(180))
            #expect(stopped == 0, "agent A did not stop cleanly on SIGTERM (status \(stopped)); its log:\n\(secondA.log)")
            let log = secondA.log
            #expect(log.contains("replicator state saved"), "the last save is logged")
            // Lines are "TIMESTAMP LEVEL LABEL : …" (swift-log's stream handler).
            let errors = log.split(separator: "\n").filter { line in
                let level = line.split(separator: " ").dropFirst().first
                return level == "error" || level == "critical"
            }
            #expect(errors.isEmpty, "errors in A's log:\n\(errors.joined(separator: "\n"))")
            let final = try scenario.checkStateFile("after SIGTERM")
            #expect(!FileManager.default.fileExists(atPath: scenario.stateFile + ".tmp"), "no temporary state file left")
            scenario.checkFinalState(final, after: before)

            let stoppedB = await b.process.stop(within: .seconds(120))
            #expect(stoppedB == 0, "agent B did not stop cleanly on SIGTERM (status \(stoppedB)); its log:\n\(b.log)")
        }
    }
}

/// The two hosts of ``AgentRestartTests``: mail roots, certificates, configurations, the
/// seeded state, and the checks.
struct RestartScenario {
    static let userCount = 2_000
    /// Users 1…1700 had their full sync an hour before the test (in the seeded state file);
    /// the others are new, from the users file only.
    static let settledCount = 1_700
    /// The users only in the users file: each due for its first full sync.
    static let newUsers = Array(settledCount + 1...userCount)
    /// Users given mail once before the kill and never notified again.
    static let settledGroup = Array(1...40)
    /// Users given mail all along, through the kill and after the restart.
    static let streamGroup = Array(41...80)
    static let maxConnections = 4
    static let maxFullSyncs = 2
    /// Seconds between saves of A's queue.
    static let saveInterval = 1

    let directory: TemporaryDirectory
    let certificates: AgentFixture
    let portA: Int
    let httpPortA: Int
    /// When the seeded users' syncs happened, Unix seconds.
    let seededAt: Int64

    var stateFile: String { directory.appending("a-replicator.state") }
    var adminSocket: String { directory.appending("a.sock") }
    var fifo: String { directory.appending("a-notify") }

    static func name(_ index: Int) -> String { String(format: "u%04d", index) }
    static var allNames: [String] { (1...userCount).map(name) }

    func root(_ side: String, _ index: Int) -> String { directory.appending("\(side)/\(Self.name(index))") }

    /// Runs `body` with both hosts' INBOXes made, certificates, and A's seeded state file.
    static func with(_ body: (RestartScenario) async throws -> Void) async throws {
        try await TemporaryDirectory.with(prefix: "duplex-restart") { directory in
            let certificates = AgentFixture(directory: directory)
            try certificates.makeCertificates("certs")
            let scenario = RestartScenario(
                directory: directory, certificates: certificates, portA: try ReplicatingPair.freeLoopbackPort(),
                httpPortA: try ReplicatingPair.freeLoopbackPort(), seededAt: Int64(Date().timeIntervalSince1970) - 3600)
            try scenario.makeMailRoots()
            try scenario.seedState()
            try await body(scenario)
        }
    }

    /// An empty INBOX for every user on A, and on B for the users that sync during the
    /// test: those given mail and the new ones. A settled user has no mail root on B, so a
    /// sync of it (there should be none: its full sync is not due) would drop it from
    /// replication and fail the test. Half the mail roots also halve the time the
    /// temporary directory takes to make and remove.
    private func makeMailRoots() throws {
        let inbox = try MailboxName("INBOX")
        let syncing = Self.settledGroup + Self.streamGroup + Self.newUsers
        for (side, users) in [("a", Array(1...Self.userCount)), ("b", syncing)] {
            for index in users {
                let root = root(side, index)
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                _ = try MailStore(root: root).createMailbox(inbox)
            }
        }
        try certificates.write(Self.allNames.joined(separator: "\n") + "\n", to: directory.appending("users"))
    }

    /// A's queue as a host that has run for a while leaves it: the settled users fully
    /// synced an hour ago, nothing pending.
    private func seedState() throws {
        let users = (1...Self.settledCount).map { index in
            var user = ReplicationUser(name: Self.name(index))
            user.lastUpdate = seededAt
            user.lastFastSync = seededAt
            user.lastFullSync = seededAt
            user.lastSuccessfulSync = seededAt
            return user
        }
        try ReplicatorStateFile.write(users, to: stateFile)
    }

    // MARK: Agents

    /// Agent B: host B's Maildirs, no replicator of its own.
    func startAgentB() async throws -> RunningAgent {
        try await certificates.startAgent("b", yaml: hostSections("b", listen: "127.0.0.1:0", identity: "host-b.test", peerName: "host-a.test"))
    }

    /// Agent A with its replicator syncing with `peer` (the configuration is the same each time).
    func startAgentA(peer: RunningAgent) async throws -> RunningAgent {
        let yaml = hostSections("a", listen: "127.0.0.1:\(portA)", identity: "host-a.test", peerName: "host-b.test") + """
            replicator:
              peer: \(peer.endpoint)
              users_file: \(directory.appending("users"))
              max_conns: \(Self.maxConnections)
              max_full_syncs: \(Self.maxFullSyncs)
              notify_fifo: \(fifo)
              admin_socket: \(adminSocket)
              http_listen: 127.0.0.1:\(httpPortA)
              state_file: \(stateFile)
              state_save_interval: \(Self.saveInterval)

            """
        return try await certificates.startAgent("a", yaml: yaml)
    }

    private func hostSections(_ name: String, listen: String, identity: String, peerName: String) -> String {
        certificates.hostSections(name, listen: listen, mailRoot: directory.appending(name) + "/%n", identity: identity, peerName: peerName)
    }

    // MARK: Load

    /// Saves `messages` messages into each user's INBOX on A and notifies A of each user
    /// (`USER<TAB>high`, as Dovecot's plugin does for a delivery).
    ///
    /// - Returns: how many notifications A's fifo took.
    func deliverAndNotify(_ users: [Int], messages: Int) throws -> Int {
        var taken = 0
        for index in users {
            try deliver(to: index, count: messages)
            if NotifyFifo.notify("\(Self.name(index))\thigh\n", to: fifo) { taken += 1 }
        }
        return taken
    }

    /// Saves `count` messages of about 3 KiB into the user's INBOX on A in one batch.
    func deliver(to index: Int, count: Int) throws {
        let batch = try MailStore(root: root("a", index)).makeSaveBatch(in: try MailboxName("INBOX"))
        for _ in 0..<count {
            let guid = UUID().uuidString
            let body = String(repeating: "line of \(guid)\r\n", count: 64)
            try batch.add(options: SaveOptions(guid: guid)) { try $0.write(Array("Subject: \(guid)\r\n\r\n\(body)".utf8)) }
        }
        _ = try batch.commit()
    }

    /// Delivers one message at a time to the stream group's users in turn, each followed by
    /// a notification, until stopped.
    func startDeliveryStream() -> DeliveryStream {
        DeliveryStream(scenario: self)
    }

    // MARK: Waiting

    /// Waits until the state file on disk has a request or a started sync for every user
    /// of `users`: a kill from then on must not lose their mail.
    func waitForSavedRequests(of users: [Int], agent: RunningAgent) async throws {
        let names = Set(users.map(Self.name))
        try await poll("a save with every notified user pending or synced", agent: agent) {
            guard let contents = try ReplicatorStateFile.read(at: stateFile) else { return false }
            let recorded = contents.users.filter { names.contains($0.name) && ($0.priority != .none || $0.lastFastSync > seededAt) }
            return recorded.count == names.count
        }
    }

    /// Waits until `dsync-status` shows running syncs; returns them.
    func waitForRunningSyncs(agent: RunningAgent) async throws -> [SyncSlotStatus] {
        var syncs: [SyncSlotStatus] = []
        try await poll("running syncs", agent: agent) {
            syncs = try dsyncStatus()
            return !syncs.isEmpty
        }
        return syncs
    }

    /// Waits until every user given mail has the same messages (UID and GUID) on B as on A,
    /// sampling `dsync-status` meanwhile; returns the most syncs it saw at once, in all and
    /// full ones.
    func waitForConvergence(agent: RunningAgent) async throws -> (all: Int, full: Int) {
        var most = (all: 0, full: 0)
        let users = Self.settledGroup + Self.streamGroup
        try await poll("the mail of \(users.count) users identical on B", agent: agent, within: .seconds(480)) {
            let syncs = try dsyncStatus()
            most = (max(most.all, syncs.count), max(most.full, syncs.count { $0.type == "full" }))
            return try users.allSatisfy { try messages("a", $0) == messages("b", $0) }
        }
        for index in users {
            #expect(try messages("a", index).count == messages("b", index).count, "\(Self.name(index))")
        }
        return most
    }

    /// UID and GUID of every message in the user's INBOX on `side`.
    func messages(_ side: String, _ index: Int) throws -> [String] {
        try MailStore(root: root(side, index)).listMessages(in: try MailboxName("INBOX")).map { "\($0.uid) \($0.guid)" }
    }

    /// Checks `condition` every 100 ms until it holds; fails with A's log after `within`
    /// (a hang guard: a passing run never waits that long).
    func poll(
        _ what: String, agent: RunningAgent, within: Duration = .seconds(180), sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + within
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                if try condition() { return }
            } catch {
                lastError = error
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = agent.log.split(separator: "\n").suffix(60).joined(separator: "\n")
        Issue.record("\(what) did not happen (last error: \(String(describing: lastError))); A's log ends:\n\(log)", sourceLocation: sourceLocation)
        throw DovecotTestError.io("gave up waiting for \(what)")
    }

    // MARK: Admin and metrics

    /// `duplex replicator status '*' --json` on A's admin socket.
    func userStatus() throws -> [ReplicatorAdminUserStatus] {
        try JSONDecoder().decode([ReplicatorAdminUserStatus].self, from: try admin(["status", "*"]))
    }

    /// `duplex replicator dsync-status --json`: the running syncs.
    func dsyncStatus() throws -> [SyncSlotStatus] {
        struct Report: Decodable {
            var slots: Int
            var syncs: [SyncSlotStatus]
        }
        return try JSONDecoder().decode(Report.self, from: try admin(["dsync-status"])).syncs
    }

    private func admin(_ arguments: [String]) throws -> Data {
        let result = try ExternalCommand.run(
            ExternalCommand.duplexExecutable, ["replicator"] + arguments + ["--json", "--socket", adminSocket], timeout: 60)
        guard result.status == 0 else {
            throw DovecotTestError.io("duplex replicator \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return Data(result.stdout.utf8)
    }

    /// A's Prometheus metrics.
    func metrics() throws -> MetricSamples {
        MetricSamples(try LoopbackHTTP.get(port: httpPortA, path: "/metrics"))
    }

    // MARK: Checks

    /// Reads A's state file as the agent does and checks it is whole: no bad or cut line, a
    /// header and one line per user, every user once.
    func checkStateFile(_ when: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ReplicatorStateContents {
        let contents = try #require(try ReplicatorStateFile.read(at: stateFile), "no state file \(when)", sourceLocation: sourceLocation)
        #expect(contents.problems.isEmpty, "state file \(when): \(contents.problems)", sourceLocation: sourceLocation)
        #expect(contents.version == ReplicatorStateFile.currentVersion, sourceLocation: sourceLocation)
        let names = contents.users.map(\.name)
        #expect(names.count == Self.userCount && Set(names) == Set(Self.allNames), "state file \(when): \(names.count) users", sourceLocation: sourceLocation)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: stateFile))
        #expect(bytes.last == 0x0a, "state file \(when) ends in the middle of a line", sourceLocation: sourceLocation)
        #expect(bytes.count { $0 == 0x0a } == Self.userCount + 1, "state file \(when): a header and one line per user", sourceLocation: sourceLocation)
        return contents
    }

    /// Every user of the saved state is known after the restart, none lost a sync time it
    /// had, and users nothing happened to keep theirs exactly.
    func checkRestored(_ status: [ReplicatorAdminUserStatus], against saved: ReplicatorStateContents) {
        #expect(status.count == Self.userCount, "users known after the restart: \(status.count)")
        let known = Dictionary(status.map { ($0.username, $0) }, uniquingKeysWith: { first, _ in first })
        let streamNames = Set(Self.streamGroup.map(Self.name))
        var untouched = 0
        var syncedBeforeTheSave = 0
        for user in saved.users {
            guard let now = known[user.name] else {
                Issue.record("\(user.name) forgotten by the restart")
                continue
            }
            #expect(now.lastFastSync >= user.lastFastSync, "\(user.name): last sync \(now.lastFastSync) < saved \(user.lastFastSync)")
            #expect(now.lastFullSync >= user.lastFullSync, "\(user.name): last full sync \(now.lastFullSync) < saved \(user.lastFullSync)")
            #expect(
                now.lastSuccessfulSync >= user.lastSuccessfulSync,
                "\(user.name): last successful sync \(now.lastSuccessfulSync) < saved \(user.lastSuccessfulSync)")
            if user.lastSuccessfulSync > seededAt { syncedBeforeTheSave += 1 }
            // The stream group is notified while A starts: not untouched.
            if user.lastFastSync == seededAt && user.priority == .none && !streamNames.contains(user.name) {
                untouched += 1
                #expect(now.lastFastSync == seededAt && now.lastFullSync == seededAt && now.lastSuccessfulSync == seededAt, "\(user.name)")
                #expect(now.nextSyncSeconds > 0 && !now.running, "\(user.name) is not due: its full sync was an hour ago")
            }
        }
        #expect(untouched >= Self.settledCount - Self.settledGroup.count - Self.streamGroup.count, "settled users kept as saved: \(untouched)")
        #expect(syncedBeforeTheSave > 0, "syncs that ended before the last save are in the state")
    }

    /// The state saved at the graceful stop has every sync the agent reported before it.
    func checkFinalState(_ final: ReplicatorStateContents, after status: [ReplicatorAdminUserStatus]) {
        let saved = Dictionary(final.users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for user in status {
            guard let record = saved[user.username] else { continue }  // checkStateFile reported it
            #expect(record.lastSuccessfulSync >= user.lastSuccessfulSync, "\(user.username): the last save lacks a sync")
        }
        for index in Self.settledGroup + Self.streamGroup {
            #expect((saved[Self.name(index)]?.lastSuccessfulSync ?? 0) > seededAt, "\(Self.name(index)) synced since the seed")
        }
    }
}

/// Deliveries and notifications for ``RestartScenario/streamGroup``, one user after the
/// other, from a task of its own until ``stop()``.
final class DeliveryStream: Sendable {
    private final class Progress: Sendable {
        let stopping = Atomic(false)
        let delivered = Atomic(0)
    }

    private let progress = Progress()
    private let task: Task<Void, Never>

    init(scenario: RestartScenario) {
        let progress = progress
        task = Task.detached {
            var turn = 0
            while !progress.stopping.load(ordering: .relaxed) {
                let index = RestartScenario.streamGroup[turn % RestartScenario.streamGroup.count]
                turn += 1
                // A notification nobody reads (A killed, not yet started again) is what a mail
                // server sees too; after the restart every user of the group is notified again.
                if (try? scenario.deliver(to: index, count: 1)) != nil { progress.delivered.add(1, ordering: .relaxed) }
                _ = NotifyFifo.notify("\(RestartScenario.name(index))\thigh\n", to: scenario.fifo)
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Stops the stream; returns how many messages it delivered.
    func stop() async -> Int {
        progress.stopping.store(true, ordering: .relaxed)
        await task.value
        return progress.delivered.load(ordering: .relaxed)
    }
}

/// Writing one notification line to a notify fifo as Dovecot's plugin does: open without
/// blocking, one write (shorter than PIPE_BUF, so never mixed with another writer's), close.
enum NotifyFifo {
    /// - Returns: false when no one reads the fifo (the agent is down) or the write failed.
    static func notify(_ line: String, to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        // A reader gone between open and write would raise SIGPIPE: the test keeps running.
        signal(SIGPIPE, SIG_IGN)
        let bytes = Array(line.utf8)
        return bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == bytes.count
    }
}

extension NotifyFifo {
    /// Writes `lines` (shorter than PIPE_BUF together) as soon as a reader opens the fifo,
    /// as a writer that retries at once would: from a thread of its own that tries to open
    /// it every half millisecond for up to three minutes (a hang guard: a loaded machine
    /// starts the agent slowly). The task's value says whether the lines were written.
    static func notifyOnceOpened(_ lines: String, to path: String) -> Task<Bool, Never> {
        Task {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    let deadline = ContinuousClock.now + .seconds(180)
                    while ContinuousClock.now < deadline {
                        if notify(lines, to: path) { return continuation.resume(returning: true) }
                        usleep(500)
                    }
                    continuation.resume(returning: false)
                }
            }
        }
    }
}

/// Samples of a Prometheus text exposition, looked up by name and `kind` label.
struct MetricSamples {
    let text: String

    init(_ text: String) {
        self.text = text
    }

    /// The value of `name{kind="KIND"}` (or `name` without labels when `kind` is nil).
    func value(_ name: String, kind: String? = nil) -> Double? {
        let prefix = kind.map { "\(name){kind=\"\($0)\"} " } ?? "\(name) "
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }
}

/// Sync locks of mail roots held by this process, as a sync running elsewhere on the host
/// holds them: a sync of one of these users waits for its lock until ``release()``.
final class HeldUserLocks: Sendable {
    private final class Progress: Sendable {
        let released = Atomic(false)
        let taken = Atomic(0)
    }

    private let progress = Progress()
    private let holders: [Task<Void, any Error>]

    /// Takes the lock of every root in `roots`; returns once all are held.
    ///
    /// - Throws: when a lock is not taken within three minutes (a hang guard).
    init(roots: [String]) async throws {
        let progress = progress
        holders = roots.map { root in
            Task {
                try await LocalReplica(store: MailStore(root: root)).withUserLock(timeout: .seconds(180)) {
                    progress.taken.add(1, ordering: .relaxed)
                    while !progress.released.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(50)) }
                }
            }
        }
        let deadline = ContinuousClock.now + .seconds(180)
        while progress.taken.load(ordering: .relaxed) < roots.count {
            guard ContinuousClock.now < deadline else {
                releaseNow()
                throw DovecotTestError.io("took \(progress.taken.load(ordering: .relaxed)) of \(roots.count) sync locks")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Lets every lock go without waiting.
    func releaseNow() {
        progress.released.store(true, ordering: .relaxed)
    }

    /// Lets every lock go and waits until each is released (its file unlinked).
    func release() async {
        releaseNow()
        for holder in holders { _ = try? await holder.value }
    }
}
