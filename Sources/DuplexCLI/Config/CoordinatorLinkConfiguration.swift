/// How the agent follows the coordinator (the `coordinator:` section of the agent's
/// configuration): where it is, the agent token of this host's pair, this host's pair and
/// name as registered there, how often it heartbeats, pulls the pair's user changes and
/// pushes status, and where the local copy of the user list is kept.
///
/// Without this section the agent replicates the users of its users file only.
public struct CoordinatorLinkConfiguration: Sendable, Equatable {
    /// The coordinator's API, `https://HOST:PORT`.
    public var url: CoordinatorURL
    /// The file the agent token (`agent:PAIR`) was read from.
    public var tokenFile: String
    /// The agent token's secret, read from ``tokenFile`` at load.
    public var token: CoordinatorSecret
    /// A PEM file of CAs the coordinator's certificate must chain to; nil uses the system's.
    public var trustedCA: String?
    /// This host's pair, as registered in the coordinator.
    public var pair: String
    /// This host's name, one of the pair's two hosts.
    public var host: String
    /// Seconds between two pulls of the pair's user changes.
    public var pollInterval: Int64 = 30
    /// Seconds between two heartbeats.
    public var heartbeatInterval: Int64 = 15
    /// Seconds between two status pushes (users whose status changed).
    public var statusInterval: Int64 = 60
    /// Every this many status pushes, every user's status is pushed (not only the changed ones).
    public var fullStatusEvery: Int64 = 10
    /// The local copy of the pair's user list and its change version.
    public var cacheFile = CoordinatorLinkConfiguration.defaultCacheFile
    /// The certificate names (DNS subject alternative names) of the coordinators that may
    /// order this host to delete a moved user's copy (`duplex user purge-old`); they must
    /// also be among `tls.allowed_peers`. Empty (the default): no purge order is served.
    public var purgeIdentities: [String] = []

    public static let defaultCacheFile = "/var/lib/duplex/coordinator-users"

    public init(url: CoordinatorURL, tokenFile: String, token: CoordinatorSecret, trustedCA: String? = nil, pair: String, host: String) {
        self.url = url
        self.tokenFile = tokenFile
        self.token = token
        self.trustedCA = trustedCA
        self.pair = pair
        self.host = host
    }
}

/// A bearer secret that never shows in a description, a log line or a test failure.
public struct CoordinatorSecret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself, for the `Authorization` header only.
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
}
