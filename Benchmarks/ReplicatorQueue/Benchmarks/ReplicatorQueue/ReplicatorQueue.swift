// The same workloads as `replicator-queue-bench`, for ordo-one/benchmark
// (`swift package benchmark`, baselines and comparisons between commits).
import Benchmark
import Foundation
import Replicator
import ReplicatorQueueBenchmarkKit

let users = 1_000_000
let stateFile = NSTemporaryDirectory() + "replicator-queue-benchmark-\(getpid()).state"

/// A queue of `users` users that every user has synced once, made once for the benchmarks
/// that need one.
nonisolated(unsafe) var syncedQueue = UserQueue()

nonisolated(unsafe) var nextUser = 0
nonisolated(unsafe) var decisionTime = QueueWorkload.start

func makeSyncedQueue() {
    guard syncedQueue.count == 0 else { return }
    syncedQueue = QueueWorkload.makeQueue(users: users)
    QueueWorkload.decide(&syncedQueue, decisions: users, now: QueueWorkload.start)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, maxDuration: .seconds(60), maxIterations: 5)

    Benchmark("UserQueue: add 1M users") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(QueueWorkload.makeQueue(users: users))
        }
    }

    // One iteration is one scheduling decision (a started and finished sync). The queue is
    // changed in place (a copy would be copied again inside the measurement): each run
    // notifies the next users a minute later, then measures their syncs.
    Benchmark(
        "UserQueue: decisions with 1M users",
        configuration: .init(metrics: [.throughput, .wallClock], scalingFactor: .kilo, maxIterations: 50)
    ) { benchmark in
        let count = benchmark.scaledIterations.count
        decisionTime += 60
        for _ in 0..<count {
            syncedQueue.notify(QueueWorkload.userName(nextUser), priority: .low, now: decisionTime)
            nextUser = (nextUser + 1) % users
        }
        benchmark.startMeasurement()
        blackHole(QueueWorkload.decide(&syncedQueue, decisions: count, now: decisionTime))
        benchmark.stopMeasurement()
    } setup: {
        makeSyncedQueue()
    }

    Benchmark("State file: save 1M users") { benchmark in
        for _ in benchmark.scaledIterations {
            try syncedQueue.save(to: stateFile)
        }
    } setup: {
        makeSyncedQueue()
    }

    Benchmark("State file: load 1M users") { benchmark in
        for _ in benchmark.scaledIterations {
            var queue = UserQueue()
            queue.restore(try ReplicatorStateFile.read(at: stateFile)?.users ?? [], now: QueueWorkload.start + 3600)
            blackHole(queue)
        }
    } setup: {
        makeSyncedQueue()
        try syncedQueue.save(to: stateFile)
    } teardown: {
        try? FileManager.default.removeItem(atPath: stateFile)
    }
}
