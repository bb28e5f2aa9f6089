/// Answers of the coordinator's API as docs/coordinator-api.md shows them (its examples,
/// with the elided times filled in), for the parsing and table tests.
enum CoordinatorAPIExamples {
    /// The server's clock in the examples: 2026-11-29T23:40:20Z.
    static let now = 1_795_995_620.0

    static let host = #"{"name": "mail1a.example.com", "dsync": "tls://mail1a.example.com:7445", "admin": "http://mail1a.example.com:7446", "health": "up"}"#
    static let hostB = #"{"name": "mail1b.example.com", "dsync": "tls://mail1b.example.com:7445", "admin": "http://mail1b.example.com:7446", "health": "down"}"#

    static let tenant = #"{"id": 1, "name": "example", "allowed_pairs": ["eu-1"], "user_quota": 1000, "users": 20, "created_at": "2026-11-29T23:37:08Z"}"#
    static let tenantList = #"{"tenants": [\#(tenant), {"id": 2, "name": "other.org", "allowed_pairs": null, "user_quota": null, "users": 3, "created_at": "2026-11-30T08:00:00Z"}]}"#

    static let pair = #"{"id": 1, "name": "eu-1", "state": "active", "capacity": 50000, "weight": 1, "users": 20, "host_a": \#(host), "host_b": \#(hostB), "created_at": "2026-11-29T23:37:08Z"}"#
    static let pairList = #"{"pairs": [\#(pair)]}"#

    static let user = #"{"id": 7, "name": "alice@example.com", "tenant": "example", "pair": "eu-1", "preferred_host": "a", "state": "active", "noreplicate": false, "epoch": 1, "created_at": "2026-11-29T23:37:08Z", "updated_at": "2026-11-29T23:37:08Z"}"#
    static let report = #"{"host": "mail1a.example.com", "priority": "high", "last_fast_sync": "2026-11-29T23:39:00Z", "last_full_sync": "2026-11-29T20:40:20Z", "last_successful_sync": "2026-11-29T23:37:08Z", "failed": true, "held": false, "last_error": "peer unreachable", "reported_at": "2026-11-29T23:40:00Z"}"#
    static let userWithStatus = #"{"id": 7, "name": "alice@example.com", "tenant": "example", "pair": "eu-1", "preferred_host": "a", "state": "active", "noreplicate": false, "epoch": 1, "created_at": "2026-11-29T23:37:08Z", "updated_at": "2026-11-29T23:37:08Z", "status": [\#(report)]}"#
    static let userPage = #"{"users": [\#(user)], "next": null}"#

    static let route = #"{"user": "alice@example.com", "tenant": "example", "pair": "eu-1", "epoch": 1, "host": \#(hostB), "preferred_host": \#(host), "other_host": \#(hostB)}"#
    static let move = #"{"id": 3, "user": "alice@example.com", "from": "eu-1", "to": "eu-2", "phase": "copying", "started_at": "2026-11-29T23:37:08Z", "updated_at": "2026-11-29T23:38:00Z", "error": null}"#

    static let summary = #"{"pair": "eu-1", "state": "active", "host_a": \#(host), "host_b": \#(hostB), "capacity": 50000, "users": 20, "queued": {"sync": 0, "high": 1, "low": 3}, "failed": 1, "held": 0, "full_resyncs_due": 4, "oldest_successful_sync": "2026-11-29T23:37:08Z"}"#
    static let emptySummary = #"{"pair": "eu-2", "state": "draining", "host_a": \#(host), "host_b": \#(hostB), "capacity": 100, "users": 0, "queued": {"sync": 0, "high": 0, "low": 0}, "failed": 0, "held": 2, "oldest_successful_sync": null}"#
    static let status = #"{"pairs": [\#(summary), \#(emptySummary)], "totals": {"pairs": 2, "capacity": 50100, "users": 20, "queued": {"sync": 0, "high": 1, "low": 3}, "failed": 1, "held": 2, "oldest_successful_sync": "2026-11-29T23:37:08Z"}, "failed_users": [{"user": "bob@example.com", "pair": "eu-1", "host": "mail1b.example.com", "error": "peer unreachable", "since": "2026-11-29T22:40:20Z"}]}"#
}
