import Foundation
import Logging
import MailStore
import Replicator

/// The parts of the fleet that listen, as they report it.
actor DemoReadiness {
    private(set) var listening: Set<String> = []

    func listens(_ part: String) {
        listening.insert(part)
    }
}

/// Drives a running fleet through the demo: waits until every part listens and every agent
/// has its users from the coordinator, lets the first syncs copy the mail, runs the live
/// activity rounds, lets the replicators settle, and compares every user's mail on both
/// hosts of its pair, drawing the status board all along.
struct DemoRun: Sendable {
    let fleet: DemoFleet
    let replicators: [String: Replicator]
    let recorder: DemoRecorder
    let readiness: DemoReadiness
    /// Says when Ctrl-C stopped the fleet: the demo then stops too.
    let control: DemoControl
    let activity: DemoActivity
    let verifier: DemoVerifier
    let rounds: Int
    /// A difference to make on one host just before the comparison (tests of the check).
    let fault: DemoFault?
    /// Where the board goes.
    let boardDescriptor: Int32
    let logger: Logger

    /// How long one phase may take at most before the demo gives up: a hang guard, far
    /// above what a phase needs on a busy machine.
    static let phaseLimit = Duration.seconds(600)

    /// Runs the demo on the fleet and returns the summary (its `result` says whether every
    /// user is identical).
    ///
    /// - Throws: ``DemoError`` when a phase does not end within ``phaseLimit``;
    ///   `CancellationError` when stopped (Ctrl-C).
    func run(summary: DemoSummary, started: ContinuousClock.Instant) async throws -> DemoSummary {
        var summary = summary
        let phase = DemoPhase()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.drawBoard(phase: phase, started: started) }
            defer { group.cancelAll() }
            var mark = ContinuousClock.now
            func lap(_ name: String) {
                let now = ContinuousClock.now
                summary.phaseSeconds[name] = DemoRecorder.seconds(now - mark)
                mark = now
            }
            await phase.set("starting the coordinator and 4 agents")
            try await waitUntil("the coordinator and the agents listen") {
                await readiness.listening.count == 1 + fleet.pairs.count * 2
            }
            await phase.set("agents pulling their users from the coordinator")
            try await waitUntil("every agent has its pair's users from the coordinator") {
                for pair in fleet.pairs {
                    for host in pair.hosts {
                        guard let replicator = replicators[host.name] else { return false }
                        if await replicator.userStatus(UserMask("*")).count < pair.users.count { return false }
                    }
                }
                return true
            }
            lap("start")
            await phase.set("first sync of every user (copying the mail to the b hosts)")
            let everyone = Set(fleet.users.map(\.user))
            try await waitUntil("every user's first sync") { await recorder.syncedUsers.isSuperset(of: everyone) }
            lap("initialSync")
            for round in 1...max(rounds, 1) where rounds > 0 {
                try await checkInterrupted()
                await phase.set("live activity on all 4 hosts, round \(round) of \(rounds)")
                let tally = await activity.round(round, of: rounds)
                summary.activity.add(tally)
                summary.activity.rounds = round
                // Replication runs between the rounds too.
                try await Task.sleep(for: .milliseconds(400))
            }
            lap("activity")
            await phase.set("settling: a last sync of every user, waiting for the queues to empty")
            try await settle()
            lap("settle")
            await phase.set("comparing every user's mail on both hosts")
            if let fault { try fault.inject(fleet: fleet, configuration: verifier.configuration) }
            summary.users = await verify()
            lap("verify")
            await phase.set(summary.users.allSatisfy(\.identical) ? "done: every user identical" : "done: differences found")
            group.cancelAll()
            try? await group.next()
            await draw(phase: phase, started: started)
            summary.result = summary.users.allSatisfy(\.identical) ? "identical" : "different"
            await fill(&summary)
            summary.seconds = DemoRecorder.seconds(ContinuousClock.now - started)
            return summary
        }
    }

    /// Syncs every user once more from host a (a two-way sync, waited for), until each has
    /// succeeded, then waits until no host has a sync queued or running.
    private func settle() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (user, pair) in fleet.users {
                group.addTask {
                    guard let replicator = replicators[pair.a.name] else { return }
                    for _ in 0..<20 where await !replicator.notifyAndWait(user) {
                        try await checkInterrupted()
                        try await Task.sleep(for: .milliseconds(500))
                    }
                }
            }
            try await group.waitForAll()
        }
        try await waitUntil("the replicators' queues to empty") {
            for replicator in replicators.values {
                let statistics = await replicator.statistics()
                if statistics.running > 0 || statistics.queuedSync + statistics.queuedHigh + statistics.queuedLow > 0 { return false }
            }
            return await recorder.pendingChanges == 0
        }
    }

    /// Compares every user, a pair per task.
    private func verify() async -> [DemoVerifier.Report] {
        await withTaskGroup(of: [DemoVerifier.Report].self) { group in
            for pair in fleet.pairs {
                group.addTask {
                    pair.users.map { user in
                        guard let rootA = try? pair.a.mailRoot(for: user), let rootB = try? pair.b.mailRoot(for: user) else {
                            var report = DemoVerifier.Report(user: user, pair: pair.name)
                            report.differences = ["no mail root for the user"]
                            return report
                        }
                        return verifier.compare(user: user, pair: pair.name, rootA: rootA, rootB: rootB, hostA: pair.a.name, hostB: pair.b.name)
                    }
                }
            }
            var reports: [DemoVerifier.Report] = []
            for await part in group { reports += part }
            let order = Dictionary(uniqueKeysWithValues: fleet.users.enumerated().map { ($0.element.user, $0.offset) })
            return reports.sorted { order[$0.user, default: 0] < order[$1.user, default: 0] }
        }
    }

    /// The recorder's tallies into the summary.
    private func fill(_ summary: inout DemoSummary) async {
        var lags: [Double] = []
        for tally in await recorder.pairs.values {
            summary.replicated.messages += tally.messages
            summary.replicated.bytes += tally.bytes
            summary.replicated.syncs += tally.syncsSucceeded
            summary.replicated.failedSyncs += tally.syncsFailed
            summary.replicated.retriedSyncs += tally.syncsRetried
            summary.conflictsResolved.uid += tally.uidConflicts
            summary.conflictsResolved.mailboxName += tally.nameConflicts
            lags += tally.lags
        }
        summary.lag = DemoSummary.Lag(
            changes: lags.count, p50Seconds: demoPercentile(lags, 50), p99Seconds: demoPercentile(lags, 99), maxSeconds: lags.max())
    }

    /// Waits, looking every 100 ms, until `condition` holds.
    ///
    /// - Throws: ``DemoError`` naming `what` after ``phaseLimit``.
    private func waitUntil(_ what: String, _ condition: @Sendable () async -> Bool) async throws {
        let deadline = ContinuousClock.now + Self.phaseLimit
        while await !condition() {
            try await checkInterrupted()
            guard ContinuousClock.now < deadline else {
                throw DemoError("gave up waiting for \(what) after \(Self.phaseLimit)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Throws `CancellationError` once Ctrl-C has stopped the fleet.
    private func checkInterrupted() async throws {
        if await control.isInterrupted { throw CancellationError() }
    }

    /// Redraws the board every second until cancelled.
    private func drawBoard(phase: DemoPhase, started: ContinuousClock.Instant) async throws {
        while !Task.isCancelled {
            await draw(phase: phase, started: started)
            try await Task.sleep(for: .seconds(1))
        }
    }

    private func draw(phase: DemoPhase, started: ContinuousClock.Instant) async {
        let rows = await DemoStatusBoard.rows(fleet: fleet, replicators: replicators, recorder: recorder)
        await phase.draw(text: await phase.text, elapsed: DemoRecorder.seconds(ContinuousClock.now - started), rows: rows, descriptor: boardDescriptor)
    }
}

/// The phase the demo is in, and the board it is drawn on (one board, redrawn in place).
actor DemoPhase {
    private(set) var text = ""
    private var board: DemoStatusBoard?

    func set(_ text: String) {
        self.text = text
    }

    func draw(text: String, elapsed: Double, rows: [DemoStatusBoard.Row], descriptor: Int32) {
        if board == nil { board = DemoStatusBoard(descriptor: descriptor) }
        board?.draw(phase: text, elapsed: elapsed, rows: rows)
    }
}

/// A difference the demo makes on purpose before its comparison (`--fault`, hidden): the
/// comparison must find it and the demo must exit 1 naming the user and the mailbox.
enum DemoFault: String, Sendable, CaseIterable {
    /// The first user's lowest INBOX message gets `$DemoFault` on host b only, behind the
    /// replicator's back (no notification).
    case flagOnB = "flag-on-b"

    func inject(fleet: DemoFleet, configuration: MailStoreConfiguration) throws {
        guard let (user, pair) = fleet.users.first else { return }
        let store = MailStore(root: try pair.b.mailRoot(for: user), configuration: configuration)
        let inbox = try store.mailboxName("INBOX")
        guard let message = try store.listMessages(in: inbox).first else { throw DemoError("--fault: \(user) has no INBOX message on \(pair.b.name)") }
        _ = try store.updateFlags(in: inbox, uids: [message.uid], .add, MessageFlags(keywords: ["$DemoFault"]))
    }
}
