import Foundation

/// Decides which hosts to mark down or up from their agents' heartbeats: a host whose agent
/// has registered is `down` when its last heartbeat is older than ``heartbeatTimeout`` and
/// `up` otherwise. Hosts without a registered agent keep the health an operator gave them.
///
/// Pure: the coordinator's leader applies the changes (``CoordinatorService``).
public struct HostHealthCheck: Sendable, Equatable {
    /// How old a heartbeat may be before its host counts as down.
    public var heartbeatTimeout: Duration

    public init(heartbeatTimeout: Duration) {
        self.heartbeatTimeout = heartbeatTimeout
    }

    /// One host's health to set.
    public struct Change: Hashable, Sendable {
        public var pair: CoordinatorName
        public var side: HostSide
        public var host: CoordinatorName
        public var health: HostHealth
    }

    /// The changes that bring every host with an agent to the health its heartbeat says, at
    /// `now`; none for hosts already there.
    public func changes(pairs: [PairRecord], agents: [AgentRecord], now: Date) -> [Change] {
        let timeout = Double(heartbeatTimeout.components.seconds) + Double(heartbeatTimeout.components.attoseconds) / 1e18
        let pairsByID = Dictionary(pairs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var changes: [Change] = []
        for agent in agents {
            guard let pair = pairsByID[agent.pairID] else { continue }
            let host = pair.host(agent.side)
            // An agent left from a host that was renamed or replaced does not speak for it.
            guard host.name == agent.host else { continue }
            let health: HostHealth = now.timeIntervalSince(agent.lastHeartbeat) > timeout ? .down : .up
            if host.health != health {
                changes.append(Change(pair: pair.name, side: agent.side, host: host.name, health: health))
            }
        }
        return changes.sorted { ($0.pair, $0.side.rawValue) < ($1.pair, $1.side.rawValue) }
    }
}
