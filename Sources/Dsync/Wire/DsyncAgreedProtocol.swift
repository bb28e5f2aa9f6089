/// What a finished handshake settled: the version and capabilities both sides use, and the
/// user and sync kind the client asked for.
public struct DsyncAgreedProtocol: Sendable, Hashable {
    /// The common major and the lower minor.
    public var version: DsyncProtocolVersion
    /// The capabilities both sides offered, in the client's order.
    public var capabilities: [String]
    /// The user being synced.
    public var user: String
    /// Full or incremental.
    public var syncKind: DsyncSyncKind

    /// Makes an agreement.
    public init(version: DsyncProtocolVersion, capabilities: [String], user: String, syncKind: DsyncSyncKind) {
        self.version = version
        self.capabilities = capabilities
        self.user = user
        self.syncKind = syncKind
    }

    /// Whether both sides offered `capability`.
    public func has(_ capability: String) -> Bool {
        capabilities.contains(capability)
    }
}
