import Coordinator
import Foundation

extension CoordinatorConfiguration {
    /// The keys of the `moves:` section.
    enum MoveKey {
        static let certificate = "moves.tls.certificate"
        static let privateKey = "moves.tls.key"
        static let trustedCA = "moves.tls.ca"
        static let stateDirectory = "moves.state_dir"
        static let maxConcurrent = "moves.max_concurrent"
        static let catchUpDelay = "moves.catch_up_delay"
        static let copyRounds = "moves.copy_rounds"
        static let retryInterval = "moves.retry_interval"

        static let all = [certificate, privateKey, trustedCA, stateDirectory, maxConcurrent, catchUpDelay, copyRounds, retryInterval]
    }

    /// Where the moves' sync states go unless `moves.state_dir` says otherwise.
    static let defaultMoveStateDirectory = "/var/lib/duplex/moves"
    /// The most moves `moves.max_concurrent` may allow.
    static let maximumConcurrentMoves = 100
    /// The most copy rounds `moves.copy_rounds` may allow.
    static let maximumCopyRounds = 50

    /// Reads the `moves:` section: `nil` when `moves.tls.certificate` is set nowhere (the
    /// coordinator then runs no moves; `moves.tls.key` or `moves.tls.ca` alone is an error),
    /// otherwise all three TLS files are required.
    ///
    /// - Returns: the settings and the secret files to check the modes of.
    /// - Throws: ``ConfigurationError`` naming the key: a TLS file missing or unreadable, a
    ///   number out of range.
    static func moves(_ values: ConfigurationValues) throws -> (MoveConfiguration, secret: ReadableFile)? {
        guard try values.path(MoveKey.certificate) != nil else {
            // The other settings may stay at their documented values; a key or CA alone is a mistake.
            if let first = [MoveKey.privateKey, MoveKey.trustedCA].first(where: { values.origin(of: $0) != nil }) {
                throw values.invalid(first, "is set but \(MoveKey.certificate) is not: moves need the coordinator's dsync client certificate")
            }
            return nil
        }
        let certificate = try AgentConfiguration.readableFile(MoveKey.certificate, values)
        let privateKey = try AgentConfiguration.readableFile(MoveKey.privateKey, values)
        let trustedCA = try AgentConfiguration.readableFile(MoveKey.trustedCA, values)
        var configuration = MoveConfiguration(
            certificateChain: certificate.path, privateKey: privateKey.path, trustedCA: trustedCA.path,
            stateDirectory: try values.path(MoveKey.stateDirectory) ?? defaultMoveStateDirectory)
        if let count = try wholeNumber(MoveKey.maxConcurrent, in: 1...maximumConcurrentMoves, values) {
            configuration.maxConcurrentMoves = count
        }
        if let rounds = try wholeNumber(MoveKey.copyRounds, in: 1...maximumCopyRounds, values) {
            configuration.maxCopyRounds = rounds
        }
        if let delay = try AgentConfiguration.seconds(MoveKey.catchUpDelay, values, allowsZero: true) {
            configuration.catchUpDelay = delay
        }
        if let interval = try AgentConfiguration.seconds(MoveKey.retryInterval, values, allowsZero: false) {
            configuration.retryInterval = interval
        }
        return (configuration, privateKey)
    }

    /// A whole number in `range`, or `nil` when `key` is set nowhere.
    private static func wholeNumber(_ key: String, in range: ClosedRange<Int>, _ values: ConfigurationValues) throws -> Int? {
        guard let number = try values.number(key) else { return nil }
        guard number.rounded() == number, number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
            throw values.invalid(
                key, "must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(values.origin(of: key)?.quotedText ?? "")")
        }
        return Int(number)
    }
}
