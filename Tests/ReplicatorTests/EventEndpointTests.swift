import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Replicator

/// A replicator that is not running (nothing syncs, queued priorities stay as they are)
/// behind the HTTP service.
struct EventEndpointFixture {
    let replicator = Replicator(queue: UserQueue(), engine: ScriptedEngine(), clock: ManualClock(), logger: silent)
    let metrics = ReplicatorMetrics()
    let service: ReplicatorHTTPService

    init(mapping: EventMapping = .dovecot, maximumEventBodySize: Int = ReplicatorHTTPService.defaultMaximumEventBodySize) {
        service = ReplicatorHTTPService(
            port: 0, replicator: replicator, eventMapping: mapping, metrics: metrics, maximumEventBodySize: maximumEventBodySize,
            logger: silent)
    }

    /// POSTs `body` to the event endpoint through the router.
    func post(_ body: String) async throws -> TestResponse {
        try await service.makeApplication().test(.router) { client in
            try await client.post(body)
        }
    }

    /// The priority of `user` in the queue; nil when not queued.
    func priority(_ user: String) async -> ReplicationPriority? {
        await replicator.queue.user(user)?.priority
    }

    var queuedUsers: Int {
        get async { await replicator.queue.count }
    }
}

extension TestClientProtocol {
    func post(_ body: String) async throws -> TestResponse {
        try await execute(
            uri: "/v1/events/dovecot", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
    }
}

extension TestResponse {
    func decoded<Value: Decodable>(as type: Value.Type) throws -> Value {
        try JSONDecoder().decode(type, from: Data(String(buffer: body).utf8))
    }
}

@Suite struct EventEndpointTests {
    typealias Accepted = DovecotEventEndpoint.Accepted
    typealias Refusal = DovecotEventEndpoint.Refusal

    // MARK: Mail changes

    @Test(arguments: [
        (DovecotEventFixtures.delivery, "alice@example.com", ReplicationPriority.high),
        (DovecotEventFixtures.deliveryUnixTime, "erin@example.com", .high),
        (DovecotEventFixtures.append, "bob@example.com", .high),
        (DovecotEventFixtures.flagChange, "alice@example.com", .low),
        (DovecotEventFixtures.move, "carol@example.com", .low),
        (DovecotEventFixtures.expunged, "dave@example.com", .low),
    ])
    func aMailChange_queuesItsUser_atItsPriority(body: String, user: String, priority: ReplicationPriority) async throws {
        let fixture = EventEndpointFixture()
        let response = try await fixture.post(body)
        #expect(response.status == .ok)
        #expect(try response.decoded(as: Accepted.self) == Accepted(events: 1, queued: 1, ignored: 0))
        #expect(await fixture.priority(user) == priority)
        #expect(await fixture.queuedUsers == 1)
    }

    @Test func aFlagChangeAfterADelivery_keepsTheHigherPriority() async throws {
        let fixture = EventEndpointFixture()
        _ = try await fixture.post(DovecotEventFixtures.delivery)
        _ = try await fixture.post(DovecotEventFixtures.flagChange)
        #expect(await fixture.priority("alice@example.com") == .high)
    }

    // MARK: Other events

    @Test func unknownEventsAndUnlistedCommands_areIgnoredAndCounted() async throws {
        let fixture = EventEndpointFixture()
        for body in [DovecotEventFixtures.login, DovecotEventFixtures.fetch] {
            let response = try await fixture.post(body)
            #expect(response.status == .ok)
            #expect(try response.decoded(as: Accepted.self) == Accepted(events: 1, queued: 0, ignored: 1))
        }
        #expect(await fixture.queuedUsers == 0)
        let metrics = try await fixture.service.scrape()
        #expect(metrics["duplex_replicator_events_received_total"] == 2)
        #expect(metrics["duplex_replicator_events_ignored_total", ["reason": "unknown_event"]] == 1)
        #expect(metrics["duplex_replicator_events_ignored_total", ["reason": "unlisted_command"]] == 1)
        #expect(metrics["duplex_replicator_events_queued_total", ["priority": "high"]] == 0)
    }

    // MARK: Bad bodies

    @Test(arguments: [
        ("", DovecotEventError.Code.notJSON, nil as String?),
        (DovecotEventFixtures.truncated, .notJSON, nil),
        (DovecotEventFixtures.tabText, .notJSON, nil),
        (DovecotEventFixtures.bareString, .notAnObject, nil),
        ("[1]", .notAnObject, nil),
        (DovecotEventFixtures.withoutName, .missingField, "event"),
        (DovecotEventFixtures.numericName, .wrongType, "event"),
        (DovecotEventFixtures.fieldsArray, .wrongType, "fields"),
        (DovecotEventFixtures.deliveryWithoutUser, .missingField, "fields.user"),
        (DovecotEventFixtures.numericUser, .wrongType, "fields.user"),
        (DovecotEventFixtures.emptyUser, .invalidUser, "fields.user"),
        (DovecotEventFixtures.userWithNewline, .invalidUser, "fields.user"),
        (DovecotEventFixtures.storeWithoutCommand, .missingField, "fields.cmd_name"),
        ("[\(DovecotEventFixtures.delivery),\(DovecotEventFixtures.numericUser)]", .wrongType, "fields.user"),
    ])
    func aBadBody_gets400NamingTheProblem_andQueuesNothing(body: String, code: DovecotEventError.Code, field: String?) async throws {
        let fixture = EventEndpointFixture()
        let response = try await fixture.post(body)
        #expect(response.status == .badRequest)
        #expect(response.headers[.contentType] == "application/json")
        let problem = try response.decoded(as: Refusal.self).error
        #expect(problem.code == code.rawValue)
        #expect(problem.field == field)
        #expect(!problem.message.isEmpty)
        #expect(await fixture.queuedUsers == 0, "nothing of a refused body is queued")
        let metrics = try await fixture.service.scrape()
        #expect(metrics["duplex_replicator_events_rejected_total", ["reason": code.rawValue]] == 1)
        #expect(metrics["duplex_replicator_events_received_total"] == 0)
    }

    @Test func aRefusedBatch_namesTheEvent() async throws {
        let fixture = EventEndpointFixture()
        let response = try await fixture.post("[\(DovecotEventFixtures.delivery),\(DovecotEventFixtures.emptyUser)]")
        let problem = try response.decoded(as: Refusal.self).error
        #expect(problem.event == 2)
        #expect(problem.message.hasPrefix("event 2: "))
        #expect(await fixture.priority("alice@example.com") == nil, "the valid first event is not queued either")
    }

    @Test func aBodyOverTheLimit_isRefused() async throws {
        let fixture = EventEndpointFixture(maximumEventBodySize: 512)
        #expect(DovecotEventFixtures.delivery.utf8.count > 512)
        let response = try await fixture.post(DovecotEventFixtures.delivery)
        #expect(response.status == .badRequest)
        #expect(try response.decoded(as: Refusal.self).error.code == "bodyTooLarge")
        #expect(await fixture.queuedUsers == 0)
        #expect(try await fixture.post(#"{"event":"x"}"#).status == .ok, "short bodies still pass")
    }

    @Test func aDeeplyNestedBody_isRefused_notCrashed() async throws {
        let depth = ReplicatorHTTPService.defaultMaximumEventBodySize / 2 - 1
        let response = try await EventEndpointFixture().post(String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
        #expect(response.status == .badRequest)
    }

    // MARK: Batches

    @Test(arguments: [
        "[\(DovecotEventFixtures.delivery),\(DovecotEventFixtures.flagChange),\(DovecotEventFixtures.login)]",
        "\(DovecotEventFixtures.delivery)\n\(DovecotEventFixtures.flagChange)\r\n\n\(DovecotEventFixtures.login)\n",
    ])
    func batches_asAnArrayOrAsLines_queueEveryEvent(body: String) async throws {
        let fixture = EventEndpointFixture()
        let response = try await fixture.post(body)
        #expect(try response.decoded(as: Accepted.self) == Accepted(events: 3, queued: 2, ignored: 1))
        #expect(await fixture.priority("alice@example.com") == .high)
    }

    @Test func linesThatDoNotParse_areNamedByLine() throws {
        let body = "\(DovecotEventFixtures.delivery)\n\n\(DovecotEventFixtures.truncated)\n"
        #expect(throws: DovecotEventError(.notJSON, "not JSON (newline-delimited bodies carry one object per line)", line: 3)) {
            try DovecotEventBody.events(in: Array(body.utf8))
        }
    }

    @Test func aPrettyPrintedEvent_isOneEvent() throws {
        let body = """
            {
                "event" : "mail_delivery_finished",
                "fields" : {
                    "user" : "alice@example.com"
                }
            }
            """
        let events = try DovecotEventBody.events(in: Array(body.utf8))
        #expect(events == [DovecotEvent(name: "mail_delivery_finished", fields: ["user": .string("alice@example.com")])])
    }

    // MARK: Mapping

    @Test func theMapping_isConfigurable() async throws {
        let mapping = EventMapping(
            rules: [
                "mail_delivery_finished": .always(.queue(.low)),
                "imap_command_finished": .byCommand(["uid fetch": .queue(.low), "UID STORE": .ignore]),
                "mail_expunged": .always(.ignore),
            ], userField: "user")
        let fixture = EventEndpointFixture(mapping: mapping)
        _ = try await fixture.post(DovecotEventFixtures.delivery)
        #expect(await fixture.priority("alice@example.com") == .low, "deliveries at low")
        _ = try await fixture.post(DovecotEventFixtures.flagChange)
        _ = try await fixture.post(DovecotEventFixtures.expunged)
        _ = try await fixture.post(DovecotEventFixtures.append)
        #expect(await fixture.queuedUsers == 1, "store and expunge ignored, APPEND unlisted")
        _ = try await fixture.post(DovecotEventFixtures.fetch)
        #expect(await fixture.queuedUsers == 1)
        #expect(await fixture.priority("alice@example.com") == .low, "commands match in any case")
        let metrics = try await fixture.service.scrape()
        #expect(metrics["duplex_replicator_events_ignored_total", ["reason": "ignored_by_rule"]] == 2)
        #expect(metrics["duplex_replicator_events_ignored_total", ["reason": "unlisted_command"]] == 1)
        #expect(metrics["duplex_replicator_events_queued_total", ["priority": "low"]] == 2)
    }

    @Test func theUserField_isConfigurable() async throws {
        let mapping = EventMapping(rules: ["mail_delivery_finished": .always(.queue(.high))], userField: "rcpt_to")
        let fixture = EventEndpointFixture(mapping: mapping)
        let response = try await fixture.post(DovecotEventFixtures.deliveryWithoutUser)
        #expect(response.status == .ok)
        #expect(await fixture.priority("alice@example.com") == .high)
    }

    @Test func actions_parseFromConfigurationWords() {
        #expect(EventMapping.Action(name: "high") == .queue(.high))
        #expect(EventMapping.Action(name: "low") == .queue(.low))
        #expect(EventMapping.Action(name: "sync") == .queue(.sync))
        #expect(EventMapping.Action(name: "ignore") == .ignore)
        #expect(EventMapping.Action(name: "none") == nil)
        #expect(EventMapping.Action(name: "High") == nil)
        #expect(EventMapping.Action.queue(.high).description == "high")
    }

    // MARK: Status

    @Test func status_andHealth() async throws {
        let fixture = EventEndpointFixture()
        _ = try await fixture.post(DovecotEventFixtures.delivery)
        _ = try await fixture.post(DovecotEventFixtures.move)
        try await fixture.service.makeApplication().test(.router) { client in
            let status = try await client.execute(uri: "/v1/status", method: .get)
            #expect(status.status == .ok)
            let statistics = try status.decoded(as: ReplicatorStatistics.self)
            #expect(statistics.queuedHigh == 1 && statistics.queuedLow == 1 && statistics.totalUsers == 2)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            #expect(String(buffer: health.body) == #"{"status":"ok"}"#)
        }
    }

    // MARK: Over a socket

    @Test func overALiveSocket_eventsAreQueued_andLongBodiesRefused() async throws {
        let fixture = EventEndpointFixture(maximumEventBodySize: 4096)
        try await fixture.service.makeApplication().test(.live) { client in
            #expect(try await client.post(DovecotEventFixtures.delivery).status == .ok)
            let long = "[" + Array(repeating: DovecotEventFixtures.flagChange, count: 8).joined(separator: ",") + "]"
            let refused = try await client.post(long)
            #expect(refused.status == .badRequest)
            #expect(try refused.decoded(as: Refusal.self).error.code == "bodyTooLarge")
        }
        #expect(await fixture.priority("alice@example.com") == .high)
        #expect(await fixture.queuedUsers == 1)
    }
}
