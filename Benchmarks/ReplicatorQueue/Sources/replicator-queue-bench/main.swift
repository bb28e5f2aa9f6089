// The replicator queue at a million users (acceptance 7 of the replicator issue): resident
// memory, state file save and load, scheduling decisions per second with a no-op engine.
//
//   swift run -c release replicator-queue-bench [--users N] [--directory DIR]
//
// Each phase runs in a child process of its own, so that each memory figure is that of
// one queue. Prints one table (figure, value, target, PASS/FAIL); exits 1 when a target
// is missed.
import Foundation
import Logging
import Replicator
import ReplicatorQueueBenchmarkKit

struct Options {
    var users = 1_000_000
    var directory: String?
    var phase: String?

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--users": users = iterator.next().flatMap { Int($0) } ?? users
            case "--directory": directory = iterator.next()
            case "--phase": phase = iterator.next()
            default:
                FileHandle.standardError.write(Data("usage: replicator-queue-bench [--users N] [--directory DIR]\n".utf8))
                exit(64)
            }
        }
    }
}

/// A figure a phase reports to the parent: `figure<TAB>key<TAB>value`.
func report(_ key: String, _ value: Double) {
    FileHandle.standardOutput.write(Data("figure\t\(key)\t\(value)\n".utf8))
}

let megabyte = 1_048_576.0
let silent = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

// MARK: Phases

/// 1M users added to a UserQueue; first syncs and request syncs decided; the state saved.
func queuePhase(users: Int, file: String) throws {
    let baseline = ProcessMemory.resident
    var (queue, seconds) = measureSeconds { QueueWorkload.makeQueue(users: users) }
    report("add_seconds", seconds)
    report("rss_after_add", Double(ProcessMemory.resident) / megabyte)
    report("rss_added", Double(ProcessMemory.resident - baseline) / megabyte)

    // Every user is new, so due for its first (full) sync: at most maxFullSyncs at a time.
    let now = QueueWorkload.start
    let (firstSyncs, firstSeconds) = measureSeconds { QueueWorkload.decide(&queue, decisions: users, now: now) }
    report("first_sync_decisions_per_second", Double(firstSyncs) / firstSeconds)

    // A change for every user: fast syncs, maxConnections at a time.
    let (_, notifySeconds) = measureSeconds { QueueWorkload.notifyAll(&queue, users: users, now: now + 60) }
    report("notifications_per_second", Double(users) / notifySeconds)
    let (requestSyncs, requestSeconds) = measureSeconds { QueueWorkload.decide(&queue, decisions: users, now: now + 60) }
    report("request_decisions_per_second", Double(requestSyncs) / requestSeconds)
    report("rss_after_syncs", Double(ProcessMemory.resident) / megabyte)

    let (_, saveSeconds) = try measureSeconds { try queue.save(to: file) }
    report("save_seconds", saveSeconds)
    let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
    report("file_megabytes", Double(size) / megabyte)
    report("peak_rss_queue_phase", Double(ProcessMemory.peakResident) / megabyte)
}

/// The state file read and restored into a new UserQueue.
func loadPhase(file: String) throws {
    let (contents, readSeconds) = try measureSeconds { try ReplicatorStateFile.read(at: file) }
    guard let contents, contents.problemCount == 0 else { throw BenchmarkFailure("state file missing or with problems") }
    var queue = UserQueue()
    let (_, restoreSeconds) = measureSeconds { queue.restore(contents.users, now: QueueWorkload.start + 3600) }
    report("read_seconds", readSeconds)
    report("restore_seconds", restoreSeconds)
    report("load_seconds", readSeconds + restoreSeconds)
    report("loaded_users", Double(queue.count))
    report("peak_rss_load_phase", Double(ProcessMemory.peakResident) / megabyte)
    withExtendedLifetime(contents) {}
    report("rss_after_load", Double(ProcessMemory.resident) / megabyte)
}

/// The Replicator actor with a no-op engine: loaded through ReplicatorStatePersistence,
/// every user notified, syncs counted as they end; then saved through the service.
func replicatorPhase(users: Int, file: String) async throws {
    let replicator = Replicator(queue: UserQueue(), engine: NoOpSyncEngine(), logger: silent)
    let persistence = ReplicatorStatePersistence(path: file, replicator: replicator, logger: silent)
    let clock = ContinuousClock()
    var started = clock.now
    _ = try await persistence.load()
    report("service_load_seconds", seconds(started.duration(to: clock.now)))
    report("rss_after_service_load", Double(ProcessMemory.resident) / megabyte)

    await replicator.replicate(UserMask("*"), priority: .low, forceFull: false)
    let finished = SyncCounter()
    await replicator.observe { _, _, _, _ in finished.increment() }
    let target = min(users, 300_000)
    started = clock.now
    var elapsed = Duration.zero
    await withDiscardingTaskGroup { group in
        group.addTask { await replicator.run() }
        while finished.value < target && started.duration(to: clock.now) < .seconds(120) {
            try? await Task.sleep(for: .milliseconds(5))
        }
        elapsed = started.duration(to: clock.now)
        await replicator.stop()
    }
    report("actor_decisions_per_second", Double(finished.value) / seconds(elapsed))

    started = clock.now
    try await persistence.save()
    report("service_save_seconds", seconds(started.duration(to: clock.now)))
    report("peak_rss_replicator_phase", Double(ProcessMemory.peakResident) / megabyte)
}

final class SyncCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

// MARK: The table

/// Runs this executable again for one phase; returns its figures.
func runPhase(_ phase: String, options: Options, directory: String) throws -> [String: Double] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    }
    process.arguments = ["--phase", phase, "--users", "\(options.users)", "--directory", directory]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchmarkFailure("phase \(phase) exited \(process.terminationStatus)") }
    var figures: [String: Double] = [:]
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(separator: "\t")
        if fields.count == 3, fields[0] == "figure", let value = Double(fields[2]) { figures[String(fields[1])] = value }
    }
    return figures
}

struct Row {
    var label: String
    var key: String
    var unit: String
    /// "<" or ">" and the bound; nil when the figure has no target.
    var target: (String, Double)?
}

let rows: [Row] = [
    Row(label: "RSS after adding the users to a UserQueue", key: "rss_after_add", unit: "MB", target: ("<", 300)),
    Row(label: "  of which the users", key: "rss_added", unit: "MB"),
    Row(label: "Time to add the users", key: "add_seconds", unit: "s"),
    Row(label: "Decisions/s, first (full) syncs, 2 at a time", key: "first_sync_decisions_per_second", unit: "/s", target: (">", 100_000)),
    Row(label: "Notifications/s (a low request each)", key: "notifications_per_second", unit: "/s"),
    Row(label: "Decisions/s, requested (fast) syncs, 10 at a time", key: "request_decisions_per_second", unit: "/s", target: (">", 100_000)),
    Row(label: "RSS after every user synced twice", key: "rss_after_syncs", unit: "MB", target: ("<", 300)),
    Row(label: "Time to save the state file", key: "save_seconds", unit: "s"),
    Row(label: "State file size", key: "file_megabytes", unit: "MB"),
    Row(label: "Peak RSS, queue phase (incl. saving)", key: "peak_rss_queue_phase", unit: "MB"),
    Row(label: "Time to read the state file", key: "read_seconds", unit: "s"),
    Row(label: "Time to restore the records into a UserQueue", key: "restore_seconds", unit: "s"),
    Row(label: "Time to load the state file (read + restore)", key: "load_seconds", unit: "s"),
    Row(label: "RSS after loading the state file", key: "rss_after_load", unit: "MB", target: ("<", 300)),
    Row(label: "Peak RSS while loading", key: "peak_rss_load_phase", unit: "MB"),
    Row(label: "Replicator actor: load through the service", key: "service_load_seconds", unit: "s"),
    Row(label: "Replicator actor: RSS after the load", key: "rss_after_service_load", unit: "MB", target: ("<", 300)),
    Row(label: "Replicator actor, no-op engine: syncs/s", key: "actor_decisions_per_second", unit: "/s", target: (">", 100_000)),
    Row(label: "Replicator actor: save through the service", key: "service_save_seconds", unit: "s"),
    Row(label: "Peak RSS, replicator phase (incl. saving)", key: "peak_rss_replicator_phase", unit: "MB"),
]

func format(_ value: Double, _ unit: String) -> String {
    switch unit {
    case "/s": return String(format: "%.0f%@", value, unit)
    case "s": return String(format: "%.2f s", value)
    default: return String(format: "%.1f %@", value, unit)
    }
}

func table(options: Options) throws -> Bool {
    let directory = options.directory ?? NSTemporaryDirectory() + "replicator-queue-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { if options.directory == nil { try? FileManager.default.removeItem(atPath: directory) } }
    var figures: [String: Double] = [:]
    for phase in ["queue", "load", "replicator"] {
        figures.merge(try runPhase(phase, options: options, directory: directory)) { $1 }
    }
    print("Replicator queue with \(options.users) users (release build, \(ProcessInfo.processInfo.activeProcessorCount) cores)")
    let header = ["Figure", "Value", "Target", "Result"]
    var lines: [[String]] = []
    var allPassed = true
    for row in rows {
        guard let value = figures[row.key], value > 0 || row.key == "rss_added" else {
            lines.append([row.label, "missing", "", "FAIL"])
            allPassed = false
            continue
        }
        var target = "", result = ""
        if let (relation, bound) = row.target {
            target = relation + " " + format(bound, row.unit)
            let passed = relation == "<" ? value < bound : value > bound
            result = passed ? "PASS" : "FAIL"
            allPassed = allPassed && passed
        }
        lines.append([row.label, format(value, row.unit), target, result])
    }
    let widths = (0..<4).map { column in ([header] + lines).map { $0[column].count }.max()! }
    func render(_ cells: [String]) -> String {
        zip(cells, widths).enumerated().map { index, pair in
            index == 1 ? String(repeating: " ", count: pair.1 - pair.0.count) + pair.0 : pair.0.padding(toLength: pair.1, withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(render(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    for line in lines { print(render(line)) }
    return allPassed
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
do {
    if let phase = options.phase, let directory = options.directory {
        let file = directory + "/replicator.state"
        switch phase {
        case "queue": try queuePhase(users: options.users, file: file)
        case "load": try loadPhase(file: file)
        case "replicator": try await replicatorPhase(users: options.users, file: file)
        default: throw BenchmarkFailure("unknown phase \(phase)")
        }
    } else {
        exit(try table(options: options) ? 0 : 1)
    }
} catch {
    FileHandle.standardError.write(Data("replicator-queue-bench: \(error)\n".utf8))
    exit(1)
}
