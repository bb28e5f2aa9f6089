import Foundation

/// An agent: the Duplex process on one host of a pair, as it registered.
public struct AgentRecord: Hashable, Sendable {
    /// The host it runs on (one of its pair's two hosts).
    public var host: CoordinatorName
    public var pairID: PairID
    public var pair: CoordinatorName
    public var side: HostSide
    /// The version the agent reports (free text, at most 64 bytes).
    public var version: String
    public var registeredAt: Date
    public var lastHeartbeat: Date

    public init(
        host: CoordinatorName, pairID: PairID, pair: CoordinatorName, side: HostSide, version: String,
        registeredAt: Date, lastHeartbeat: Date
    ) {
        self.host = host
        self.pairID = pairID
        self.pair = pair
        self.side = side
        self.version = version
        self.registeredAt = registeredAt
        self.lastHeartbeat = lastHeartbeat
    }
}
