/// Where a host's TLS identity and trust live, and whom it accepts as a peer.
///
/// Dsync between hosts is mutual TLS only (TLS 1.3, 1.2 at least): each side presents
/// `certificateChain`, the peer's chain must lead to a certificate in `trustedCA`, and the
/// peer's certificate must name one of `allowedPeers` among its subject alternative DNS
/// names. The files are read when a server starts, on every reload (SIGHUP) and for each
/// client connection.
public struct DsyncTLSFiles: Sendable, Equatable {
    /// PEM file with this host's certificate first, then any intermediates.
    public var certificateChain: String
    /// PEM file with this host's private key (should be mode 0600).
    public var privateKey: String
    /// PEM file with the CA certificates a peer's chain must lead to.
    public var trustedCA: String
    /// DNS names a peer's certificate may carry (subject alternative names); at least one.
    public var allowedPeers: [String]

    public init(certificateChain: String, privateKey: String, trustedCA: String, allowedPeers: [String]) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustedCA = trustedCA
        self.allowedPeers = allowedPeers
    }
}
