import Testing

/// How a sync test reaches side B: its mail root in this process, or an agent serving it
/// over mutual TLS on loopback (Dovecot's dsync tests its two brains the same way, over a
/// pipe and over a socket).
enum SyncTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// B is a ``LocalReplica`` of its mail root.
    case local
    /// B is a ``RemoteReplica`` talking to a ``DsyncServer`` on 127.0.0.1 that serves B's
    /// mail root from its mail root template. Needs the ``TLSAgentsTrait``.
    case tls

    var testDescription: String { self == .tls ? "over TLS" : "local" }
}
