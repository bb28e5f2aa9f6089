import Prometheus
import Synchronization

/// The replicator's Prometheus metrics, in a registry of their own (no global metrics
/// bootstrap): what the syncs did, what the event endpoint received, and, read at scrape
/// time, the queue and the replication lag.
///
/// Fed as things happen (after ``attach(to:)`` and through the event endpoint):
///
/// | Metric | Type | Labels |
/// | --- | --- | --- |
/// | `duplex_replicator_syncs_total` | counter | `kind` (`full`, `incremental`), `outcome` (`success`, `changed_during_sync`, `failure`, `held`, `no_such_user`) |
/// | `duplex_replicator_sync_duration_seconds` | histogram | `kind` |
/// | `duplex_replicator_transferred_messages_total` | counter | `direction` (`sent`, `received`) |
/// | `duplex_replicator_transferred_bytes_total` | counter | `direction` |
/// | `duplex_replicator_events_received_total` | counter | |
/// | `duplex_replicator_events_queued_total` | counter | `priority` (`low`, `high`, `sync`) |
/// | `duplex_replicator_events_ignored_total` | counter | `reason` (``EventMapping/IgnoreReason``) |
/// | `duplex_replicator_events_rejected_total` | counter | `reason` (``DovecotEventError/Code``) |
///
/// Read at scrape time (``exposition(for:)``): `duplex_replicator_queued_users{queue}`
/// (`sync`, `high`, `low`, `failed`, `full_resync`: Dovecot's queue counters),
/// `duplex_replicator_waiting_failed_users`, `duplex_replicator_known_users`,
/// `duplex_replicator_held_users`, `duplex_replicator_stuck_users` (a sync running, or
/// failing without a success, longer than the failure retry interval),
/// `duplex_replicator_running_syncs{kind}`, from the
/// replicator's ``SyncStartTally`` `duplex_replicator_syncs_started_total{kind}` (a counter)
/// and `duplex_replicator_peak_running_syncs{kind}` (the most syncs of a kind that ran at
/// once since the agent started: at most `max_full_syncs` full ones), and the replication
/// lag (see ``lagRefreshInterval``).
///
/// `syncs_total` counts syncs when they end, `syncs_started_total` when they start: their
/// difference per kind is the syncs running.
public final class ReplicatorMetrics: Sendable {
    /// The registry holding the metrics fed as things happen.
    public let registry: PrometheusCollectorRegistry
    /// How long a computed replication lag is reused, in seconds of the replicator's clock
    /// (default 60; 0 recomputes on every scrape).
    ///
    /// The lag is now − last successful sync of every user, a histogram
    /// (`duplex_replicator_replication_lag_seconds`, plus
    /// `duplex_replicator_never_synced_users`). It reads a copy of the queue, which costs
    /// the replicator nothing at the time, but the replicator's next change then copies its
    /// queue (tens of milliseconds for a million users) and the scan runs over every user:
    /// hence at most once per interval, however often Prometheus scrapes.
    public let lagRefreshInterval: Int64

    private struct SyncKey: Hashable {
        var full: Bool
        var outcome: String
    }

    private let syncs: [SyncKey: Counter]
    private let durations: [Bool: ValueHistogram]
    private let messages: (sent: Counter, received: Counter)
    private let bytes: (sent: Counter, received: Counter)
    private let eventsReceived: Counter
    private let eventsQueued: [ReplicationPriority: Counter]
    private let eventsIgnored: [EventMapping.IgnoreReason: Counter]
    private let eventsRejected: [DovecotEventError.Code: Counter]
    let queued: [String: Gauge]
    let waitingFailed: Gauge
    let known: Gauge
    let held: Gauge
    let stuck: Gauge
    let running: [Bool: Gauge]
    let started: [Bool: Counter]
    let peakRunning: [Bool: Gauge]
    /// The tally ``started`` and ``peakRunning`` show: a counter only grows by what the
    /// replicator's tally gained since.
    let recordedStarts = Mutex(SyncStartTally())
    let lag = Mutex<(computedAt: Int64, exposition: [UInt8])?>(nil)

    static let outcomes = ["success", "changed_during_sync", "failure", "held", "no_such_user"]
    static let durationBuckets: [Double] = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]

    /// Metrics in a new registry, every series at zero.
    ///
    /// - Parameter lagRefreshInterval: Seconds a computed replication lag is reused.
    public init(lagRefreshInterval: Int64 = 60) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.lagRefreshInterval = max(0, lagRefreshInterval)

        let syncs = Self.descriptor("syncs", "total", "Syncs ended, by kind and outcome.")
        var syncCounters: [SyncKey: Counter] = [:]
        for full in [false, true] {
            for outcome in Self.outcomes {
                syncCounters[SyncKey(full: full, outcome: outcome)] = registry.makeCounter(
                    descriptor: syncs, labels: [("kind", Self.kind(full)), ("outcome", outcome)])
            }
        }
        self.syncs = syncCounters
        let duration = Self.descriptor("sync_duration", "seconds", "How long syncs took, by kind.")
        durations = Dictionary(uniqueKeysWithValues: [false, true].map { full in
            (full, registry.makeValueHistogram(descriptor: duration, labels: [("kind", Self.kind(full))], buckets: Self.durationBuckets))
        })
        let messages = Self.descriptor("transferred_messages", "total", "Messages copied by syncs, to the peer (sent) and from it (received).")
        self.messages = (
            registry.makeCounter(descriptor: messages, labels: [("direction", "sent")]),
            registry.makeCounter(descriptor: messages, labels: [("direction", "received")])
        )
        let bytes = Self.descriptor("transferred_bytes", "total", "Message bytes copied by syncs, to the peer (sent) and from it (received).")
        self.bytes = (
            registry.makeCounter(descriptor: bytes, labels: [("direction", "sent")]),
            registry.makeCounter(descriptor: bytes, labels: [("direction", "received")])
        )

        eventsReceived = registry.makeCounter(
            descriptor: Self.descriptor("events_received", "total", "Dovecot events read from accepted bodies."))
        let queuedEvents = Self.descriptor("events_queued", "total", "Dovecot events that queued their user, by priority.")
        eventsQueued = Dictionary(uniqueKeysWithValues: [ReplicationPriority.low, .high, .sync].map { priority in
            (priority, registry.makeCounter(descriptor: queuedEvents, labels: [("priority", priority.description)]))
        })
        let ignored = Self.descriptor("events_ignored", "total", "Dovecot events that queued nothing, by reason.")
        eventsIgnored = Dictionary(uniqueKeysWithValues: EventMapping.IgnoreReason.allCases.map { reason in
            (reason, registry.makeCounter(descriptor: ignored, labels: [("reason", reason.rawValue)]))
        })
        let rejected = Self.descriptor(
            "events_rejected", "total", "Event bodies refused with 400 (Dovecot sends one event per body), by reason; none of their events is queued.")
        eventsRejected = Dictionary(uniqueKeysWithValues: DovecotEventError.Code.allCases.map { code in
            (code, registry.makeCounter(descriptor: rejected, labels: [("reason", code.rawValue)]))
        })

        let queued = Self.descriptor("queued", "users", "Users waiting in each of the replicator's queues (Dovecot's status counters).")
        self.queued = Dictionary(uniqueKeysWithValues: ["sync", "high", "low", "failed", "full_resync"].map { queue in
            (queue, registry.makeGauge(descriptor: queued, labels: [("queue", queue)]))
        })
        waitingFailed = registry.makeGauge(
            descriptor: Self.descriptor("waiting_failed", "users", "Users whose last sync failed, waiting for their retry time."))
        known = registry.makeGauge(descriptor: Self.descriptor("known", "users", "Users the replicator knows."))
        held = registry.makeGauge(
            descriptor: Self.descriptor("held", "users", "Users held by the mass-loss guard until an operator releases them."))
        stuck = registry.makeGauge(
            descriptor: Self.descriptor(
                "stuck", "users", "Users whose sync has run, or who have failed without a success, longer than the failure retry interval."))
        let running = Self.descriptor("running", "syncs", "Syncs running now, by kind.")
        self.running = Dictionary(uniqueKeysWithValues: [false, true].map { full in
            (full, registry.makeGauge(descriptor: running, labels: [("kind", Self.kind(full))]))
        })
        let started = Self.descriptor("syncs_started", "total", "Syncs started, by kind.")
        self.started = Dictionary(uniqueKeysWithValues: [false, true].map { full in
            (full, registry.makeCounter(descriptor: started, labels: [("kind", Self.kind(full))]))
        })
        let peak = Self.descriptor("peak_running", "syncs", "The most syncs that ran at once since the agent started, by kind.")
        peakRunning = Dictionary(uniqueKeysWithValues: [false, true].map { full in
            (full, registry.makeGauge(descriptor: peak, labels: [("kind", Self.kind(full))]))
        })
    }

    /// Starts counting `replicator`'s syncs. Call it once per replicator (the HTTP service
    /// does, when it starts).
    public func attach(to replicator: Replicator) async {
        await replicator.observe { [self] _, full, result, seconds in
            syncEnded(full: full, result: result, seconds: seconds)
        }
    }

    // MARK: Recording

    /// Counts one ended sync: its outcome, duration (seconds) and what it moved.
    func syncEnded(full: Bool, result: SyncResult, seconds: Int64) {
        syncs[SyncKey(full: full, outcome: Self.label(result.outcome))]?.increment()
        durations[full]?.record(Double(max(0, seconds)))
        messages.sent.increment(by: Int64(result.messagesSent))
        messages.received.increment(by: Int64(result.messagesReceived))
        bytes.sent.increment(by: result.bytesSent)
        bytes.received.increment(by: result.bytesReceived)
    }

    /// Counts the events of one accepted body by what they did.
    func eventsAccepted(_ decisions: [EventMapping.Decision]) {
        eventsReceived.increment(by: Int64(decisions.count))
        for decision in decisions {
            switch decision {
            case .queue(_, let priority): eventsQueued[priority]?.increment()
            case .ignore(let reason): eventsIgnored[reason]?.increment()
            }
        }
    }

    /// Counts one refused body.
    func eventBodyRejected(_ code: DovecotEventError.Code) {
        eventsRejected[code]?.increment()
    }

    // MARK: Names

    static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "duplex", subsystem: "replicator", metricName: name, unitName: unit, helpText: help)
    }

    static func kind(_ full: Bool) -> String { full ? "full" : "incremental" }

    static func label(_ outcome: SyncOutcome) -> String {
        switch outcome {
        case .success: "success"
        case .changedDuringSync: "changed_during_sync"
        case .failure: "failure"
        case .held: "held"
        case .noSuchUser: "no_such_user"
        }
    }
}
