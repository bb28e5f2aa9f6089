#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import Foundation
import Replicator

/// The demo's live status: per pair, its users, the syncs queued and running on its two
/// hosts, the syncs that succeeded and failed, and the median replication lag so far.
///
/// On a terminal the table is redrawn in place; otherwise (a file, a pipe) each update is one
/// line, so a log of the run reads top to bottom.
struct DemoStatusBoard {
    /// One pair's row.
    struct Row: Sendable {
        var pair: String
        var users: Int
        var queued: Int
        var running: Int
        var synced: Int
        var failed: Int
        var lagP50: Double?
    }

    /// Where the board goes: standard output, or standard error when stdout carries JSON.
    let descriptor: Int32
    let isTerminal: Bool
    private var linesDrawn = 0

    init(descriptor: Int32) {
        self.descriptor = descriptor
        isTerminal = isatty(descriptor) == 1
    }

    /// The rows now, from each host's replicator and the recorder.
    static func rows(fleet: DemoFleet, replicators: [String: Replicator], recorder: DemoRecorder) async -> [Row] {
        var rows: [Row] = []
        let tallies = await recorder.pairs
        for pair in fleet.pairs {
            var row = Row(pair: pair.name, users: pair.users.count, queued: 0, running: 0, synced: 0, failed: 0)
            for host in pair.hosts {
                guard let statistics = await replicators[host.name]?.statistics() else { continue }
                row.queued += statistics.queuedSync + statistics.queuedHigh + statistics.queuedLow + statistics.queuedFailed
                    + statistics.queuedFullResync
                row.running += statistics.running
            }
            let tally = tallies[pair.name] ?? DemoRecorder.PairTally()
            row.synced = tally.syncsSucceeded
            row.failed = tally.syncsFailed
            row.lagP50 = demoPercentile(tally.lags, 50)
            rows.append(row)
        }
        return rows
    }

    /// Draws the board for `phase`, `elapsed` seconds into the run.
    mutating func draw(phase: String, elapsed: Double, rows: [Row]) {
        let clock = String(format: "%6.1fs", elapsed)
        if isTerminal {
            let table = Output.table(
                header: ["PAIR", "USERS", "QUEUED", "RUNNING", "SYNCED", "FAILED", "LAG P50"],
                rows: rows.map { [$0.pair, "\($0.users)", "\($0.queued)", "\($0.running)", "\($0.synced)", "\($0.failed)", Self.lag($0.lagP50)] },
                rightAligned: [1, 2, 3, 4, 5, 6])
            var text = ""
            // Back to the board's first line, each old line cleared as it is overwritten.
            if linesDrawn > 0 { text += "\u{1B}[\(linesDrawn)A" }
            let lines = ["\(clock)  \(phase)"] + table.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }.map(String.init)
            for line in lines { text += "\u{1B}[2K" + line + "\n" }
            linesDrawn = lines.count
            write(text)
        } else {
            let pairs = rows.map {
                "\($0.pair): users \($0.users) queued \($0.queued) running \($0.running) synced \($0.synced) failed \($0.failed) lag \(Self.lag($0.lagP50))"
            }
            write("\(clock)  \(phase) | " + pairs.joined(separator: " | ") + "\n")
        }
    }

    /// Leaves the board where it is: what follows is written below it.
    mutating func finish() {
        linesDrawn = 0
    }

    static func lag(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        return String(format: "%.2fs", seconds)
    }

    private func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { if errno == EINTR { continue }; return }
                offset += written
            }
        }
    }
}
