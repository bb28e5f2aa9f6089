import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Replicator

/// A Prometheus text exposition (format 0.0.4), parsed strictly: every line is a `# HELP`,
/// a `# TYPE` with a known type, or a sample `name{label="value",…} number` of a family
/// typed before it; histograms have cumulative buckets ending in `+Inf` = `_count`.
struct PrometheusText {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    private(set) var types: [String: String] = [:]
    private(set) var samples: [String: Double] = [:]

    init(_ text: String) throws {
        let sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                    throw Problem(description: "bad TYPE line: \(line)")
                }
                guard types.updateValue(String(parts[3]), forKey: String(parts[2])) == nil else {
                    throw Problem(description: "second TYPE line for \(parts[2])")
                }
            } else if line.hasPrefix("#") {
                guard line.hasPrefix("# HELP "), line.split(separator: " ").count >= 3 else {
                    throw Problem(description: "bad comment line: \(line)")
                }
            } else {
                guard let match = try sampleLine.wholeMatch(in: line) else {
                    throw Problem(description: "bad sample line: \(line)")
                }
                let name = String(match.1)
                guard types[Self.family(of: name, types: types)] != nil else {
                    throw Problem(description: "sample before its TYPE line: \(line)")
                }
                guard let value = Double(match.3) else { throw Problem(description: "bad value: \(line)") }
                let key = Self.key(name, try Self.labels(match.2.map(String.init) ?? ""))
                guard samples.updateValue(value, forKey: key) == nil else {
                    throw Problem(description: "duplicate sample: \(key)")
                }
            }
        }
        try checkHistograms()
    }

    /// The value of the sample `name` with exactly `labels`.
    subscript(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples[Self.key(name, labels)]
    }

    private static func family(of name: String, types: [String: String]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "summary" { return base }
        }
        return name
    }

    private static func labels(_ text: String) throws -> [String: String] {
        let pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/
        let matches = text.matches(of: pair)
        guard matches.map({ String(text[$0.range]) }).joined(separator: ",") == text else {
            throw Problem(description: "bad labels: {\(text)}")
        }
        return Dictionary(matches.map { (String($0.1), String($0.2)) }, uniquingKeysWith: { first, _ in first })
    }

    private static func key(_ name: String, _ labels: [String: String]) -> String {
        name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
    }

    /// Buckets never decrease and `+Inf` equals `_count`, per label set.
    private func checkHistograms() throws {
        for (family, type) in types where type == "histogram" {
            var series: [String: [(le: Double, count: Double)]] = [:]
            for (key, value) in samples where key.hasPrefix(family + "_bucket{") {
                let labels = key.dropFirst(family.count + 8).dropLast().split(separator: ",")
                guard let le = labels.first(where: { $0.hasPrefix("le=") }).flatMap({ Double($0.dropFirst(3)) }) else {
                    throw Problem(description: "bucket without le: \(key)")
                }
                series[labels.filter { !$0.hasPrefix("le=") }.joined(separator: ","), default: []].append((le, value))
            }
            for (labels, buckets) in series {
                let counts = buckets.sorted { $0.le < $1.le }.map(\.count)
                guard counts == counts.sorted(), let total = samples[family + "_count{" + labels + "}"], counts.last == total else {
                    throw Problem(description: "\(family){\(labels)}: buckets \(counts) do not add up")
                }
            }
        }
    }
}

/// Wraps a ``ScriptedEngine``: each successful sync sent 3 messages (3000 bytes) and
/// received 1 (500 bytes).
final class TransferEngine: SyncEngine, Sendable {
    let scripted = ScriptedEngine()
    var name: String { "transfer" }

    func sync(user: String, full: Bool) async -> SyncResult {
        var result = await scripted.sync(user: user, full: full)
        if case .success = result.outcome {
            result.messagesSent = 3
            result.bytesSent = 3000
            result.messagesReceived = 1
            result.bytesReceived = 500
        }
        return result
    }
}

extension ReplicatorHTTPService {
    /// `GET /metrics` through the router, parsed.
    func scrape() async throws -> PrometheusText {
        try await makeApplication().test(.router) { client in
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            return try PrometheusText(String(buffer: response.body))
        }
    }
}

@Suite struct MetricsTests {
    @Test func afterAFewSyncs_metricsShowOutcomesDurationsTransfersQueueAndLag() async throws {
        let clock = ManualClock()
        let engine = TransferEngine()
        let replicator = Replicator(queue: UserQueue(), engine: engine, clock: clock, logger: silent)
        let metrics = ReplicatorMetrics(lagRefreshInterval: 0)
        await metrics.attach(to: replicator)
        let service = ReplicatorHTTPService(port: 0, replicator: replicator, metrics: metrics, logger: silent)

        let before = try await service.scrape()
        #expect(before["duplex_replicator_syncs_total", ["kind": "full", "outcome": "success"]] == 0, "every series exists from the start")

        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await replicator.run() }
            await replicator.notify("alice", priority: .high)
            await replicator.notify("bob", priority: .low)
            await eventually("both syncs started") { engine.scripted.started.count == 2 }
            let running = try await service.scrape()
            #expect(running["duplex_replicator_running_syncs", ["kind": "full"]] == 2, "first syncs are full")
            clock.advance(by: 7)
            await eventually("alice's sync ended") { engine.scripted.end("alice") }
            await eventually("bob's sync ended") { engine.scripted.end("bob", .failure("peer unreachable")) }
            await eventually("both recorded") { await replicator.syncStatus().isEmpty }

            let after = try await service.scrape()
            #expect(after.types["duplex_replicator_syncs_total"] == "counter")
            #expect(after["duplex_replicator_syncs_total", ["kind": "full", "outcome": "success"]] == 1)
            #expect(after["duplex_replicator_syncs_total", ["kind": "full", "outcome": "failure"]] == 1)
            #expect(after["duplex_replicator_syncs_total", ["kind": "incremental", "outcome": "success"]] == 0)
            #expect(after.types["duplex_replicator_sync_duration_seconds"] == "histogram")
            #expect(after["duplex_replicator_sync_duration_seconds_count", ["kind": "full"]] == 2)
            #expect(after["duplex_replicator_sync_duration_seconds_sum", ["kind": "full"]] == 14)
            #expect(after["duplex_replicator_transferred_bytes_total", ["direction": "sent"]] == 3000)
            #expect(after["duplex_replicator_transferred_bytes_total", ["direction": "received"]] == 500)
            #expect(after["duplex_replicator_transferred_messages_total", ["direction": "sent"]] == 3)
            #expect(after["duplex_replicator_transferred_messages_total", ["direction": "received"]] == 1)
            #expect(after["duplex_replicator_running_syncs", ["kind": "full"]] == 0)
            #expect(after["duplex_replicator_known_users"] == 2)
            #expect(after["duplex_replicator_waiting_failed_users"] == 1, "bob waits for his retry")
            #expect(after["duplex_replicator_queued_users", ["queue": "high"]] == 0)
            // Alice's successful sync began 7 s ago; bob has none yet.
            #expect(after["duplex_replicator_replication_lag_seconds_count"] == 1)
            #expect(after["duplex_replicator_replication_lag_seconds_sum"] == 7)
            #expect(after["duplex_replicator_replication_lag_seconds_bucket", ["le": "60.0"]] == 1)
            #expect(after["duplex_replicator_never_synced_users"] == 1)
            await replicator.stop()
        }
    }

    @Test func syncsStartedAndPeaks_countEveryStartByKind_andTheMostRunningAtOnce() async throws {
        var settings = ReplicatorSettings()
        settings.maxConnections = 4
        settings.maxFullSyncsSetting = 1
        let engine = ScriptedEngine()
        let clock = ManualClock()
        let replicator = Replicator(queue: UserQueue(settings: settings), engine: engine, clock: clock, logger: silent)
        // Bob and carol had their full sync; alice never synced. Queued before the metrics
        // attach, as in the agent: the tally misses no start.
        let synced = ["bob", "carol"].map { name in
            var user = ReplicationUser(name: name)
            (user.lastFastSync, user.lastFullSync, user.lastSuccessfulSync) = (clock.now, clock.now, clock.now)
            return user
        }
        await replicator.restore(synced)
        for user in ["alice", "bob", "carol"] { await replicator.notify(user, priority: .high) }
        let service = ReplicatorHTTPService(port: 0, replicator: replicator, metrics: ReplicatorMetrics(), logger: silent)

        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await replicator.run() }
            await eventually("three syncs started") { engine.started.count == 3 }
            // Alice's first sync is a full one; bob's and carol's changes need incremental ones.
            let first = try await service.scrape()
            #expect(first.types["duplex_replicator_syncs_started_total"] == "counter")
            #expect(first["duplex_replicator_syncs_started_total", ["kind": "full"]] == 1)
            #expect(first["duplex_replicator_syncs_started_total", ["kind": "incremental"]] == 2)
            #expect(first.types["duplex_replicator_peak_running_syncs"] == "gauge")
            #expect(first["duplex_replicator_peak_running_syncs", ["kind": "full"]] == 1)
            #expect(first["duplex_replicator_peak_running_syncs", ["kind": "incremental"]] == 2)
            #expect(engine.started.sorted() == ["alice full", "bob", "carol"])

            for user in ["alice", "bob", "carol"] { await eventually("\(user)'s sync ended") { engine.end(user) } }
            await eventually("all recorded") { await replicator.syncStatus().isEmpty }
            await replicator.notify("dave", priority: .low)
            await eventually("dave's sync started") { engine.started.count == 4 }
            let second = try await service.scrape()
            #expect(second["duplex_replicator_syncs_started_total", ["kind": "full"]] == 2, "counted once each, across scrapes")
            #expect(second["duplex_replicator_syncs_started_total", ["kind": "incremental"]] == 2)
            #expect(second["duplex_replicator_peak_running_syncs", ["kind": "full"]] == 1, "a peak stays")
            #expect(second["duplex_replicator_peak_running_syncs", ["kind": "incremental"]] == 2)
            await eventually("dave's sync ended") { engine.end("dave") }
            await replicator.stop()
        }
    }

    @Test func queueGauges_followTheReplicatorsStatistics() async throws {
        let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: ManualClock(), logger: silent)
        await replicator.notify("alice", priority: .high)
        await replicator.notify("bob", priority: .low)
        await replicator.notify("carol", priority: .low)
        await replicator.replicate(UserMask("dave"), priority: .sync, forceFull: false)
        var held = ReplicationUser(name: "erin")
        held.held = true
        await replicator.restore([held])
        let text = try await ReplicatorHTTPService(port: 0, replicator: replicator, metrics: ReplicatorMetrics(), logger: silent).scrape()
        #expect(text.types["duplex_replicator_queued_users"] == "gauge")
        #expect(text["duplex_replicator_queued_users", ["queue": "sync"]] == 1)
        #expect(text["duplex_replicator_queued_users", ["queue": "high"]] == 1)
        #expect(text["duplex_replicator_queued_users", ["queue": "low"]] == 2)
        #expect(text["duplex_replicator_held_users"] == 1)
        #expect(text["duplex_replicator_known_users"] == 5)
    }

    @Test func replicationLag_isAHistogramOfTheTimeSinceEachLastSuccessfulSync() throws {
        let now: Int64 = 1_800_000_000
        let users = [(name: "a", age: 30), ("b", 200), ("c", 4000), ("d", 90_000), ("e", -1)].map { name, age in
            var user = ReplicationUser(name: name)
            user.lastSuccessfulSync = age < 0 ? 0 : now - Int64(age)
            return user
        }
        let text = try PrometheusText(String(decoding: ReplicatorMetrics.lagExposition(of: users, now: now), as: UTF8.self))
        #expect(text.types["duplex_replicator_replication_lag_seconds"] == "histogram")
        #expect(text["duplex_replicator_replication_lag_seconds_bucket", ["le": "60.0"]] == 1)
        #expect(text["duplex_replicator_replication_lag_seconds_bucket", ["le": "300.0"]] == 2)
        #expect(text["duplex_replicator_replication_lag_seconds_bucket", ["le": "7200.0"]] == 3)
        #expect(text["duplex_replicator_replication_lag_seconds_bucket", ["le": "86400.0"]] == 3)
        #expect(text["duplex_replicator_replication_lag_seconds_bucket", ["le": "+Inf"]] == 4)
        #expect(text["duplex_replicator_replication_lag_seconds_sum"] == 94_230)
        #expect(text["duplex_replicator_never_synced_users"] == 1)
    }

    @Test func replicationLag_isReusedWithinTheRefreshInterval() async throws {
        let clock = ManualClock()
        let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: clock, logger: silent)
        var alice = ReplicationUser(name: "alice")
        alice.lastSuccessfulSync = clock.now - 100
        await replicator.restore([alice])
        let service = ReplicatorHTTPService(
            port: 0, replicator: replicator, metrics: ReplicatorMetrics(lagRefreshInterval: 60), logger: silent)

        #expect(try await service.scrape()["duplex_replicator_replication_lag_seconds_sum"] == 100)
        clock.advance(by: 59)
        #expect(try await service.scrape()["duplex_replicator_replication_lag_seconds_sum"] == 100, "read less than 60 s ago")
        clock.advance(by: 1)
        #expect(try await service.scrape()["duplex_replicator_replication_lag_seconds_sum"] == 160)
    }
}
