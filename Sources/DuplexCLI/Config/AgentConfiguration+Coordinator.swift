import Coordinator
import Foundation

extension AgentConfiguration.Key {
    /// The `coordinator:` section (see ``AgentConfiguration/coordinatorConfiguration(_:hasReplicator:)``).
    enum Coordinator {
        static let section = "coordinator"
        static let url = "coordinator.url"
        static let tokenFile = "coordinator.token_file"
        static let ca = "coordinator.ca"
        static let pair = "coordinator.pair"
        static let host = "coordinator.host"
        static let pollInterval = "coordinator.poll_interval"
        static let heartbeatInterval = "coordinator.heartbeat_interval"
        static let statusInterval = "coordinator.status_interval"
        static let fullStatusEvery = "coordinator.full_status_every"
        static let cacheFile = "coordinator.cache_file"
        static let purgeIdentities = "coordinator.purge_identities"

        static let all = [
            url, tokenFile, ca, pair, host, pollInterval, heartbeatInterval, statusInterval, fullStatusEvery, cacheFile,
            purgeIdentities,
        ]
    }
}

/// The keys of the `coordinator:` section.
private typealias CoordinatorKey = AgentConfiguration.Key.Coordinator

extension AgentConfiguration {
    /// The largest token file read, in bytes: anything larger is not a token.
    static let maximumTokenFileSize = 4096

    /// The `coordinator:` section, or nil when it is nowhere: not in the file (not even
    /// empty) and no `DUPLEX_COORDINATOR_*` variable.
    ///
    /// The token file is read here, and the CA file checked to be readable (the agent
    /// parses it at start, exiting 78 when it holds no certificate).
    ///
    /// - Throws: ``ConfigurationError`` naming the key: the section without a
    ///   `replicator:` one, `url`, `token_file`, `pair` or `host` missing, a URL that is not
    ///   `https://HOST:PORT` (or `http://` on loopback), an unreadable or empty token file,
    ///   an unreadable CA file, a name the coordinator would refuse, an
    ///   interval that is not a whole number of seconds from 1 to 86400.
    static func coordinatorConfiguration(_ values: ConfigurationValues, hasReplicator: Bool) throws -> CoordinatorLinkConfiguration? {
        let section = CoordinatorKey.section
        let inFile = values.file.settings.keys.contains { $0 == section || $0.hasPrefix(section + ".") }
        let inEnvironment = values.environment.keys.contains { $0.hasPrefix(ConfigurationValues.environmentVariable(for: section) + "_") }
        guard inFile || inEnvironment else { return nil }

        let urlText = try values.required(CoordinatorKey.url, values.string(CoordinatorKey.url))
        let url = try values.checking(CoordinatorKey.url) {
            do throws(CoordinatorURLError) {
                return try CoordinatorURL(urlText)
            } catch {
                throw InvalidSetting("\(String(reflecting: urlText)) \(error.reason)")
            }
        }
        guard hasReplicator else {
            throw values.invalid(CoordinatorKey.url, "the coordinator's user list needs a replicator: section to replicate its users")
        }
        let tokenFile = try readableFile(CoordinatorKey.tokenFile, values).path
        let token = try values.checking(CoordinatorKey.tokenFile) { try readToken(tokenFile) }
        // Checked to be readable here, parsed when the agent starts (as the TLS files are).
        let trustedCA = try values.path(CoordinatorKey.ca) == nil ? nil : try readableFile(CoordinatorKey.ca, values).path
        let pair = try coordinatorName(CoordinatorKey.pair, .pair, values)
        let host = try coordinatorName(CoordinatorKey.host, .host, values)
        var configuration = CoordinatorLinkConfiguration(
            url: url, tokenFile: tokenFile, token: token, trustedCA: trustedCA, pair: pair, host: host)
        if let seconds = try wholeSeconds(CoordinatorKey.pollInterval, values) { configuration.pollInterval = seconds }
        if let seconds = try wholeSeconds(CoordinatorKey.heartbeatInterval, values) { configuration.heartbeatInterval = seconds }
        if let seconds = try wholeSeconds(CoordinatorKey.statusInterval, values) { configuration.statusInterval = seconds }
        if let count = try wholeSeconds(CoordinatorKey.fullStatusEvery, values, what: "a whole number of pushes") {
            configuration.fullStatusEvery = count
        }
        if let path = try values.path(CoordinatorKey.cacheFile) { configuration.cacheFile = path }
        if let names = try values.stringList(CoordinatorKey.purgeIdentities) {
            if let bad = names.first(where: { $0.isEmpty || $0.contains(where: { $0.isWhitespace }) }) {
                throw values.invalid(CoordinatorKey.purgeIdentities, "\(String(reflecting: bad)) is not a certificate's DNS name")
            }
            configuration.purgeIdentities = names
        }
        return configuration
    }

    /// The token in `path`: one line, the secret, at most ``maximumTokenFileSize`` bytes.
    private static func readToken(_ path: String) throws(InvalidSetting) -> CoordinatorSecret {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw InvalidSetting("\(path) cannot be opened for reading") }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maximumTokenFileSize + 1)) ?? Data()
        guard data.count <= maximumTokenFileSize else {
            throw InvalidSetting("\(path) is larger than \(maximumTokenFileSize) bytes: not a token file")
        }
        let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, secret.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7f }) else {
            throw InvalidSetting("\(path) holds no token (one line: the secret of an agent:PAIR token)")
        }
        return CoordinatorSecret(secret)
    }

    /// A required name the coordinator accepts as a `kind` (a pair's, a host's).
    private static func coordinatorName(_ key: String, _ kind: CoordinatorName.Kind, _ values: ConfigurationValues) throws -> String {
        let text = try values.required(key, values.string(key))
        return try values.checking(key) {
            do {
                return try CoordinatorName(text, kind: kind).value
            } catch {
                throw InvalidSetting("\(String(reflecting: text)): \(error)")
            }
        }
    }

    /// A whole number from 1 to 86400, or nil when `key` is set nowhere.
    private static func wholeSeconds(_ key: String, _ values: ConfigurationValues, what: String = "a whole number of seconds") throws -> Int64? {
        guard let number = try values.number(key) else { return nil }
        guard number.isFinite, number.rounded() == number, number >= 1, number <= 86_400 else {
            throw values.invalid(key, "must be \(what) from 1 to 86400, got \(values.origin(of: key)?.quotedText ?? "")")
        }
        return Int64(number)
    }
}
