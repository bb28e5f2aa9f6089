/// The server's answer to a ``DsyncHello`` it accepts: what both sides will use.
///
/// Wire payload (big-endian): major `UInt16`, agreed minor `UInt16`, then the agreed
/// capabilities as a `UInt16` count and that many strings (`UInt16` byte count, UTF-8).
/// Bytes after the last field are ignored, as in the hello.
public struct DsyncWelcome: Sendable, Hashable {
    /// The major of both sides and the lower of their minors.
    public var version: DsyncProtocolVersion
    /// The capabilities both sides offered, in the client's order.
    public var capabilities: [String]

    /// Makes a welcome.
    ///
    /// - Parameters:
    ///   - version: the agreed version.
    ///   - capabilities: the agreed capabilities.
    public init(version: DsyncProtocolVersion, capabilities: [String]) {
        self.version = version
        self.capabilities = capabilities
    }
}
