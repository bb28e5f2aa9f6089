import ArgumentParser
import Dsync
import Foundation

/// The TLS identity a command presents to a peer agent, and whom it accepts.
struct TLSClientOptions: ParsableArguments {
    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("This host's certificate (PEM, chain after it).", valueName: "FILE"))
    var certificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("This host's private key (PEM).", valueName: "FILE"))
    var key: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("The CA certificates a peer must chain to (PEM).", valueName: "FILE"))
    var ca: String?

    @Option(name: .customLong("peer"), help: ArgumentHelp("A name the peer's certificate must carry (repeat or separate with commas).", valueName: "NAME"))
    var peers: [String] = []

    /// Checks that a tls:// peer can be dialled (not `validate()`: the options are parsed
    /// for local syncs too).
    func check() throws {
        let missing = [("--tls-cert", certificate), ("--tls-key", key), ("--tls-ca", ca)].filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else {
            throw ValidationError("a tls:// peer needs \(missing.joined(separator: ", "))")
        }
        guard !allowedPeers.isEmpty else {
            throw ValidationError("a tls:// peer needs --peer NAME: the name its certificate must carry")
        }
    }

    var allowedPeers: [String] {
        peers.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func files() throws -> DsyncTLSFiles {
        try check()
        return DsyncTLSFiles(certificateChain: certificate ?? "", privateKey: key ?? "", trustedCA: ca ?? "", allowedPeers: allowedPeers)
    }
}
