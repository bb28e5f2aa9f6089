import Coordinator
import Foundation
import Testing

/// ``HostHealthCheck``: one set of heartbeats in, the health changes out.
@Suite struct APIHostHealthCheckTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func pair(health a: HostHealth, _ b: HostHealth) throws -> PairRecord {
        let specification = try pairSpecification("eu-1", capacity: 1)
        var hostA = specification.hostA
        hostA.health = a
        var hostB = specification.hostB
        hostB.health = b
        return PairRecord(
            id: PairID(1), name: specification.name, state: .active, hostA: hostA, hostB: hostB, capacity: 1, weight: 1,
            userCount: 0, changeVersion: 0, createdAt: start)
    }

    static func agent(_ side: HostSide, heartbeat: Date, host: String? = nil) -> AgentRecord {
        AgentRecord(
            host: name(host ?? "eu-1-\(side.rawValue)", .host), pairID: PairID(1), pair: name("eu-1", .pair), side: side,
            version: "0.1.0", registeredAt: start, lastHeartbeat: heartbeat)
    }

    let check = HostHealthCheck(heartbeatTimeout: .seconds(60))

    @Test func freshHeartbeat_marksUnknownUp_staleMarksDown() throws {
        let changes = check.changes(
            pairs: [try Self.pair(health: .unknown, .up)],
            agents: [Self.agent(.a, heartbeat: Self.start), Self.agent(.b, heartbeat: Self.start.addingTimeInterval(-61))],
            now: Self.start)
        #expect(changes.map { "\($0.side.rawValue)=\($0.health.rawValue)" } == ["a=up", "b=down"])
    }

    @Test func exactlyAtTheTimeout_isStillUp() throws {
        let changes = check.changes(
            pairs: [try Self.pair(health: .up, .up)], agents: [Self.agent(.a, heartbeat: Self.start.addingTimeInterval(-60))],
            now: Self.start)
        #expect(changes.isEmpty)
    }

    @Test func hostWithoutAgent_keepsItsHealth_andAStaleAgentNameIsIgnored() throws {
        let changes = check.changes(
            pairs: [try Self.pair(health: .down, .unknown)],
            agents: [Self.agent(.b, heartbeat: Self.start, host: "old-host")], now: Self.start)
        #expect(changes.isEmpty)
    }
}
