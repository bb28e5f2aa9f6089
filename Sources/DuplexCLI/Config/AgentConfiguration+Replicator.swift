import Foundation
import Replicator

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The keys of the `replicator:` section.
private typealias ReplicatorKey = AgentConfiguration.Key.Replicator

extension AgentConfiguration {
    /// The longest interval accepted, in seconds (a year).
    static let maximumInterval: Int64 = 366 * 86_400
    /// The longest path a unix socket address holds (`sun_path` less its NUL).
    static let maximumSocketPathLength = 107

    /// The `replicator:` section, or nil when it is nowhere: not in the file (not even
    /// empty) and no `DUPLEX_REPLICATOR_*` variable.
    ///
    /// - Throws: ``ConfigurationError`` naming the key: `peer` missing or not
    ///   `tls://HOST:PORT`, a number out of range or not whole, an unreadable or bad users
    ///   file, a shared namespace prefix that names no owner, an unknown notify user or group, a bad mode, a socket path too long.
    static func replicatorConfiguration(_ values: ConfigurationValues) throws -> ReplicatorConfiguration? {
        let section = ReplicatorKey.section
        let inFile = values.file.settings.keys.contains { $0 == section || $0.hasPrefix(section + ".") }
        let inEnvironment = values.environment.keys.contains { $0.hasPrefix(ConfigurationValues.environmentVariable(for: section) + "_") }
        guard inFile || inEnvironment else { return nil }

        let peer = try values.required(ReplicatorKey.peer, values.string(ReplicatorKey.peer))
        try values.checking(ReplicatorKey.peer) { try checkPeer(peer) }
        var configuration = ReplicatorConfiguration(peer: peer)

        if let usersFile = try values.path(ReplicatorKey.usersFile) {
            configuration.usersFile = usersFile
            let listed = try values.checking(ReplicatorKey.usersFile) { try UsersFile.read(path: usersFile) }
            configuration.users = listed.users
            configuration.noReplicateUsers = listed.noReplicate
        }
        configuration.importDovecotDatabase = try values.path(ReplicatorKey.importDovecotDatabase)

        var settings = ReplicatorSettings()
        if let count = try wholeNumber(ReplicatorKey.maxConnections, values, in: 1...10_000) { settings.maxConnections = Int(count) }
        if let count = try wholeNumber(ReplicatorKey.maxFullSyncs, values, in: 1...Int64(settings.maxConnections), upperName: "max_conns") {
            settings.maxFullSyncsSetting = Int(count)
        }
        if let interval = try wholeNumber(ReplicatorKey.fullSyncInterval, values, in: 1...maximumInterval) { settings.fullSyncInterval = interval }
        if let interval = try wholeNumber(ReplicatorKey.failureRetryInterval, values, in: 1...maximumInterval) {
            settings.failureRetryInterval = interval
        }
        let lowestCap = settings.failureRetryInterval
        if let cap = try wholeNumber(ReplicatorKey.failureRetryCap, values, in: lowestCap...max(lowestCap, maximumInterval), lowerName: "failure_retry_interval") {
            settings.failureRetryCap = cap
        } else if settings.failureRetryCap < lowestCap {
            settings.failureRetryCap = lowestCap
        }
        if let prefix = try values.string(ReplicatorKey.sharedNamespacePrefix) {
            do {
                // `none` cannot be a prefix (it names no owner): the mail system has no shared namespace.
                settings.sharedNamespace = prefix == "none" ? nil : try SharedNamespace(prefix: prefix)
            } catch {
                throw values.invalid(ReplicatorKey.sharedNamespacePrefix, error.description)
            }
        }
        configuration.settings = settings

        configuration.notifyFifo = try values.path(ReplicatorKey.notifyFifo)
        configuration.notifySocket = try socketPath(ReplicatorKey.notifySocket, values)
        configuration.notifyAccess = try notifyAccess(values)
        if let timeout = try wholeNumber(ReplicatorKey.syncTimeout, values, in: 1...3600) { configuration.syncTimeout = timeout }
        if let path = try socketPath(ReplicatorKey.adminSocket, values) { configuration.adminSocket = path }
        if let path = try values.path(ReplicatorKey.stateFile) { configuration.stateFile = path }
        if let interval = try wholeNumber(ReplicatorKey.stateSaveInterval, values, in: 1...86_400) {
            configuration.stateSaveInterval = interval
        }
        if let listen = try values.string(ReplicatorKey.httpListen) {
            let address = try values.checking(ReplicatorKey.httpListen) { try ListenAddress(parsing: listen) }
            configuration.httpHost = address.host
            configuration.httpPort = address.port
        }
        return configuration
    }

    /// Refuses anything but `tls://HOST:PORT` with a port from 1.
    private static func checkPeer(_ peer: String) throws(InvalidSetting) {
        let usage = "must be tls://HOST:PORT (the other host's agent), got \(String(reflecting: peer))"
        guard peer.hasPrefix("tls://") else { throw InvalidSetting(usage) }
        let address: ListenAddress
        do {
            address = try ListenAddress(parsing: String(peer.dropFirst("tls://".count)))
        } catch {
            throw InvalidSetting("\(usage): \(error.reason)")
        }
        guard address.port > 0, !peer.dropFirst("tls://".count).hasPrefix(":") else { throw InvalidSetting(usage) }
    }

    /// A whole number within `range`, or nil when `key` is set nowhere. The bounds that
    /// come from other keys are named by them in the message.
    private static func wholeNumber(
        _ key: String, _ values: ConfigurationValues, in range: ClosedRange<Int64>, lowerName: String? = nil,
        upperName: String? = nil
    ) throws -> Int64? {
        guard let number = try values.number(key) else { return nil }
        guard number.isFinite, number.rounded() == number, number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
            let lower = lowerName.map { "\($0) (\(range.lowerBound))" } ?? "\(range.lowerBound)"
            let upper = upperName.map { "\($0) (\(range.upperBound))" } ?? "\(range.upperBound)"
            let written = values.origin(of: key)?.quotedText ?? ""
            throw values.invalid(key, "must be a whole number from \(lower) to \(upper), got \(written)")
        }
        return Int64(number)
    }

    /// A path that must fit in a unix socket address.
    static func socketPath(_ key: String, _ values: ConfigurationValues) throws -> String? {
        guard let path = try values.path(key) else { return nil }
        guard path.utf8.count <= maximumSocketPathLength else {
            throw values.invalid(key, "\(path) is longer than the \(maximumSocketPathLength) bytes a unix socket path may have")
        }
        return path
    }

    /// `notify_user`, `notify_group` and `notify_mode`.
    private static func notifyAccess(_ values: ConfigurationValues) throws -> NotifyPathAccess {
        var access = NotifyPathAccess()
        if let text = try values.string(ReplicatorKey.notifyMode) {
            guard (3...4).contains(text.count), text.allSatisfy({ ("0"..."7").contains($0) }), let mode = mode_t(text, radix: 8),
                mode <= 0o777
            else {
                throw values.invalid(ReplicatorKey.notifyMode, "must be an octal mode from 0000 to 0777 such as 0600 or 0660, got \(String(reflecting: text))")
            }
            access.mode = mode
        }
        if let name = try values.string(ReplicatorKey.notifyUser) {
            guard let entry = getpwnam(name) else { throw values.invalid(ReplicatorKey.notifyUser, "no user \(String(reflecting: name)) on this host") }
            access.owner = entry.pointee.pw_uid
        }
        if let name = try values.string(ReplicatorKey.notifyGroup) {
            guard let entry = getgrnam(name) else { throw values.invalid(ReplicatorKey.notifyGroup, "no group \(String(reflecting: name)) on this host") }
            access.group = entry.pointee.gr_gid
        }
        return access
    }
}
