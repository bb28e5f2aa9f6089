import ArgumentParser
import Dsync
import Foundation

/// The TLS identity a command presents to a peer agent, and whom it accepts.
struct TLSClientOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("An agent configuration whose tls section (and state_dir) to use; the --tls-* options override it.", valueName: "FILE"))
    var config: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("This host's certificate (PEM, chain after it).", valueName: "FILE"))
    var certificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("This host's private key (PEM).", valueName: "FILE"))
    var key: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("The CA certificates a peer must chain to (PEM).", valueName: "FILE"))
    var ca: String?

    @Option(name: .customLong("peer"), help: ArgumentHelp("A name the peer's certificate must carry (repeat or separate with commas).", valueName: "NAME"))
    var peers: [String] = []

    /// The values given.
    var values: TLSClientValues {
        TLSClientValues(config: config, certificate: certificate, key: key, ca: ca, peers: peers)
    }
}

/// The values of ``TLSClientOptions``, and what a sync does with them.
struct TLSClientValues: Equatable, Sendable {
    var config: String?
    var certificate: String?
    var key: String?
    var ca: String?
    var peers: [String] = []

    /// Checks that a tls:// peer can be dialled (not `validate()`: the options are parsed
    /// for local syncs too). With `--config` the file is checked when it is loaded.
    func check() throws {
        guard config == nil else { return }
        let missing = [("--tls-cert", certificate), ("--tls-key", key), ("--tls-ca", ca)].filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else {
            throw ValidationError("a tls:// peer needs \(missing.joined(separator: ", "))")
        }
        guard !allowedPeers.isEmpty else {
            throw ValidationError("a tls:// peer needs --peer NAME: the name its certificate must carry")
        }
    }

    var allowedPeers: [String] {
        // Trimmed in place, without Foundation's character sets or reversed views: their
        // first use costs a sync's start a few tenths of a millisecond of run-time type lookups.
        var names: [String] = []
        for option in peers {
            for var name in option.split(separator: ",") {
                while name.first?.isWhitespace == true { name.removeFirst() }
                while name.last?.isWhitespace == true { name.removeLast() }
                if !name.isEmpty { names.append(String(name)) }
            }
        }
        return names
    }

    /// The TLS files: from the options, completed from the agent configuration when one is
    /// given (with its state directory, and its warnings, such as a key others may read).
    ///
    /// - Parameter environment: The `DUPLEX_*` variables the configuration is read with.
    /// - Throws: ``ConfigurationError`` for a bad configuration file; `ValidationError` when
    ///   something is missing.
    func load(environment: [String: String]) async throws -> (files: DsyncTLSFiles, stateDirectory: String?, warnings: [String]) {
        guard let config else {
            try check()
            let files = DsyncTLSFiles(certificateChain: certificate ?? "", privateKey: key ?? "", trustedCA: ca ?? "", allowedPeers: allowedPeers)
            return (files, nil, [])
        }
        let (configuration, warnings) = try await AgentConfiguration.load(path: config, environment: environment)
        var files = configuration.dsync.tls
        if let certificate { files.certificateChain = certificate }
        if let key { files.privateKey = key }
        if let ca { files.trustedCA = ca }
        if !allowedPeers.isEmpty { files.allowedPeers = allowedPeers }
        return (files, configuration.stateDirectory, warnings)
    }
}
