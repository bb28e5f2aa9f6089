// swift-tools-version: 6.1
// The replicator queue at a million users: memory, state file load and save, scheduling
// decisions per second. See README.md; run with
// `swift run -c release replicator-queue-bench` (the table of figures and targets) or
// `swift package benchmark` (ordo-one/benchmark, formerly package-benchmark, for
// baselines and comparisons between commits).
import PackageDescription

let package = Package(
    name: "replicator-queue-benchmark",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // duplex does not export Replicator as a library product, and the whole target would
        // bring Dsync, NIO and TLS into a release build: Sources/Replicator links to the
        // folders of ../../Sources/Replicator that the queue, its state file and the
        // Replicator actor are made of (Queue, Persistence, Service, Status and
        // Engine/SyncEngine.swift), built with the dependencies those need.
        .target(
            name: "Replicator",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ReplicatorQueueBenchmarkKit",
            dependencies: ["Replicator", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "replicator-queue-bench",
            dependencies: ["ReplicatorQueueBenchmarkKit"]
        ),
        .executableTarget(
            name: "ReplicatorQueue",
            dependencies: [
                "ReplicatorQueueBenchmarkKit",
                "Replicator",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ReplicatorQueue",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
