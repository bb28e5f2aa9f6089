import Dsync
import Foundation

extension AgentConfiguration {
    /// The keys the agent reads, dotted as in the file (`tls.ca` is `ca:` under `tls:`).
    enum Key {
        static let listen = "dsync.listen"
        static let mailRoot = "dsync.mail_root"
        static let lockTimeout = "dsync.lock_timeout"
        static let idleTimeout = "dsync.idle_timeout"
        static let stateDirectory = "dsync.state_dir"
        static let syncSocket = "dsync.sync_socket"
        static let certificate = "tls.certificate"
        static let privateKey = "tls.key"
        static let trustedCA = "tls.ca"
        static let allowedPeers = "tls.allowed_peers"

        /// The `replicator:` section (see ``AgentConfiguration/replicatorConfiguration(_:)``).
        enum Replicator {
            static let section = "replicator"
            static let peer = "replicator.peer"
            static let usersFile = "replicator.users_file"
            static let importDovecotDatabase = "replicator.import_dovecot_db"
            static let maxConnections = "replicator.max_conns"
            static let maxFullSyncs = "replicator.max_full_syncs"
            static let fullSyncInterval = "replicator.full_sync_interval"
            static let failureRetryInterval = "replicator.failure_retry_interval"
            static let failureRetryCap = "replicator.failure_retry_cap"
            static let notifyFifo = "replicator.notify_fifo"
            static let notifySocket = "replicator.notify_socket"
            static let notifyUser = "replicator.notify_user"
            static let notifyGroup = "replicator.notify_group"
            static let notifyMode = "replicator.notify_mode"
            static let syncTimeout = "replicator.sync_timeout"
            static let adminSocket = "replicator.admin_socket"
            static let stateFile = "replicator.state_file"
            static let stateSaveInterval = "replicator.state_save_interval"
            static let httpListen = "replicator.http_listen"
            static let sharedNamespacePrefix = "replicator.shared_namespace_prefix"

            static let all = [
                peer, usersFile, importDovecotDatabase, maxConnections, maxFullSyncs, fullSyncInterval, failureRetryInterval, failureRetryCap,
                notifyFifo, notifySocket, notifyUser, notifyGroup, notifyMode, syncTimeout, adminSocket, stateFile, stateSaveInterval,
                httpListen, sharedNamespacePrefix,
            ]
        }

        /// Every key, in the order of the example file.
        static let all = [
            listen, mailRoot, lockTimeout, idleTimeout, stateDirectory, syncSocket, certificate, privateKey, trustedCA,
            allowedPeers,
        ] + Replicator.all + Coordinator.all
    }

    /// The longest timeout accepted, in seconds (a day).
    static let maximumTimeout: Double = 86_400

    /// Reads the agent's configuration from the file at `path` and the `DUPLEX_*` variables
    /// of `environment` (which win over the file).
    ///
    /// Nothing is printed; problems that do not stop the agent come back as `warnings`.
    /// The TLS files must exist and be readable, but are not parsed here.
    ///
    /// - Parameters:
    ///   - path: a `.yaml`, `.yml` or `.json` file; a relative path is taken from the
    ///     current directory.
    ///   - environment: the process environment (tests pass their own).
    /// - Returns: the configuration, and one line per warning (such as a private key that
    ///   others may read), each naming the file and key.
    /// - Throws: ``ConfigurationError`` (exit code 78) naming the file, the key and what is
    ///   wrong: an unreadable or malformed file, an unknown key, a required key set nowhere,
    ///   a value of the wrong type or out of range, a TLS file that cannot be read.
    public static func load(
        path: String, environment: [String: String]
    ) async throws -> (configuration: AgentConfiguration, warnings: [String]) {
        let file = try ConfigurationFile(path: path, currentDirectory: FileManager.default.currentDirectoryPath)
        try file.checkKeys(known: Key.all)
        let values = try await ConfigurationValues(file: file, environment: environment)
        var warnings: [String] = []

        let mailRoot = try values.checking(Key.mailRoot) {
            try MailRootTemplate(values.required(Key.mailRoot, values.string(Key.mailRoot)))
        }
        let certificate = try readableFile(Key.certificate, values)
        let privateKey = try readableFile(Key.privateKey, values)
        if privateKey.isAccessibleByOthers {
            let mode = "0" + String(privateKey.permissions, radix: 8)
            let warning = values.invalid(
                Key.privateKey, "\(privateKey.path) is accessible by group or others (mode \(mode)); it should be 0600")
            warnings.append(warning.description)
        }
        let tls = DsyncTLSFiles(
            certificateChain: certificate.path,
            privateKey: privateKey.path,
            trustedCA: try readableFile(Key.trustedCA, values).path,
            allowedPeers: try allowedPeers(values)
        )

        var dsync = DsyncServerConfiguration(tls: tls, mailRoot: mailRoot)
        if let listen = try values.string(Key.listen) {
            let address = try values.checking(Key.listen) { try ListenAddress(parsing: listen) }
            dsync.host = address.host
            dsync.port = address.port
        }
        if let timeout = try seconds(Key.lockTimeout, values, allowsZero: true) { dsync.lockTimeout = timeout }
        if let timeout = try seconds(Key.idleTimeout, values, allowsZero: false) { dsync.idleTimeout = timeout }

        let stateDirectory = try values.path(Key.stateDirectory) ?? defaultStateDirectory
        let syncSocket = try socketPath(Key.syncSocket, values)
        let replicator = try replicatorConfiguration(values)
        let coordinator = try coordinatorConfiguration(values, hasReplicator: replicator != nil)
        if let coordinator { try checkPurgeIdentities(coordinator.purgeIdentities, allowedPeers: tls.allowedPeers, values) }
        if let syncSocket, syncSocket == replicator?.adminSocket {
            throw values.invalid(Key.syncSocket, "\(syncSocket) is \(Key.Replicator.adminSocket) too; give each socket a path of its own")
        }
        var configuration = AgentConfiguration(dsync: dsync, stateDirectory: stateDirectory, replicator: replicator, coordinator: coordinator)
        configuration.syncSocket = syncSocket
        return (configuration, warnings)
    }

    /// The required file `key` names, checked to be a readable regular file.
    static func readableFile(_ key: String, _ values: ConfigurationValues) throws -> ReadableFile {
        let path = try values.required(key, values.path(key))
        return try values.checking(key) {
            do throws(InvalidSetting) {
                return try ReadableFile(checking: path)
            } catch {
                throw InvalidSetting("\(path) \(error.reason)")
            }
        }
    }

    /// The peers' DNS names: at least one, each a host name.
    private static func allowedPeers(_ values: ConfigurationValues) throws -> [String] {
        let key = Key.allowedPeers
        let peers = try values.required(key, values.stringList(key))
        guard !peers.isEmpty else { throw values.invalid(key, "must name at least one peer") }
        for peer in peers where !ListenAddress.isHostName(peer[...]) {
            throw values.invalid(key, "\(String(reflecting: peer)) is not a DNS name")
        }
        return peers
    }

    /// Refuses a purge identity that is not an allowed peer: a coordinator's purge order
    /// comes over the dsync port, whose TLS handshake admits only `tls.allowed_peers`, so the
    /// order could never arrive and `duplex user purge-old` would fail on this host.
    ///
    /// DNS names are compared without regard to case, as the handshake compares them.
    ///
    /// - Throws: ``ConfigurationError`` naming `coordinator.purge_identities`, the file (or the
    ///   environment variable) and the name missing from `tls.allowed_peers`.
    private static func checkPurgeIdentities(_ identities: [String], allowedPeers: [String], _ values: ConfigurationValues) throws {
        let allowed = Set(allowedPeers.map { $0.lowercased() })
        guard let stranger = identities.first(where: { !allowed.contains($0.lowercased()) }) else { return }
        throw values.invalid(
            Key.Coordinator.purgeIdentities,
            "\(String(reflecting: stranger)) is not among \(Key.allowedPeers) (\(allowedPeers.joined(separator: ", "))): "
                + "a coordinator's purge order comes over the dsync port, which accepts only those peers")
    }

    /// A timeout in seconds, or `nil` when `key` is set nowhere.
    static func seconds(_ key: String, _ values: ConfigurationValues, allowsZero: Bool) throws -> Duration? {
        guard let seconds = try values.number(key) else { return nil }
        guard seconds.isFinite, allowsZero ? seconds >= 0 : seconds > 0, seconds <= maximumTimeout else {
            let lowest = allowsZero ? "from 0" : "more than 0 and"
            let written = values.origin(of: key)?.quotedText ?? ""
            throw values.invalid(key, "must be a number of seconds \(lowest) up to \(Int(maximumTimeout)), got \(written)")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
