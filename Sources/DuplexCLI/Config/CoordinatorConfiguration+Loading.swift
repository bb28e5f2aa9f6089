import Coordinator
import Foundation

extension CoordinatorConfiguration {
    /// The keys the coordinator reads, dotted as in the file.
    enum Key {
        static let listen = "coordinator.listen"
        static let certificate = "coordinator.tls.certificate"
        static let privateKey = "coordinator.tls.key"
        static let databaseURL = "database.url"
        static let passwordFile = "database.password_file"
        static let poolSize = "database.pool_size"
        static let migrateOnStart = "database.migrate_on_start"
        static let heartbeatTimeout = "health.heartbeat_timeout"
        static let checkInterval = "health.check_interval"

        /// Every key, in the order of the example file.
        static let all = [
            listen, certificate, privateKey, databaseURL, passwordFile, poolSize, migrateOnStart, heartbeatTimeout, checkInterval,
        ]
    }

    /// Reads the coordinator's configuration from the file at `path` and the `DUPLEX_*`
    /// variables of `environment` (which win over the file).
    ///
    /// The TLS files and the password file must be readable regular files; they are not
    /// parsed here.
    ///
    /// - Returns: the configuration, and one line per warning (a private key or password
    ///   file that anyone may read), naming the file and key.
    /// - Throws: ``ConfigurationError`` (exit code 78) naming the file, line, key and what is
    ///   wrong: an unreadable or malformed file, an unknown key, a required key set nowhere,
    ///   a value of the wrong type or out of range.
    static func load(path: String, environment: [String: String]) async throws
        -> (configuration: CoordinatorConfiguration, warnings: [String])
    {
        let file = try ConfigurationFile(path: path, currentDirectory: FileManager.default.currentDirectoryPath)
        try file.checkKeys(known: Key.all + MoveKey.all)
        let values = try await ConfigurationValues(file: file, environment: environment)
        var warnings: [String] = []

        var service = CoordinatorService.Configuration()
        if let listen = try values.string(Key.listen) {
            let address = try values.checking(Key.listen) { try ListenAddress(parsing: listen) }
            service.host = address.host
            service.port = address.port
        }
        if let timeout = try AgentConfiguration.seconds(Key.heartbeatTimeout, values, allowsZero: false) {
            service.heartbeatTimeout = timeout
        }
        if let interval = try AgentConfiguration.seconds(Key.checkInterval, values, allowsZero: false) {
            service.checkInterval = interval
        }
        let certificate = try AgentConfiguration.readableFile(Key.certificate, values)
        let privateKey = try AgentConfiguration.readableFile(Key.privateKey, values)

        var database = Database()
        if let text = try values.string(Key.databaseURL) {
            database.url = try values.checking(Key.databaseURL) {
                do throws(CoordinatorDatabaseURLError) {
                    return try CoordinatorDatabaseURL(parsing: text)
                } catch {
                    throw InvalidSetting(error.description)
                }
            }
        }
        var secretFiles = [(Key.privateKey, privateKey)]
        if try values.path(Key.passwordFile) != nil {
            let passwordFile = try AgentConfiguration.readableFile(Key.passwordFile, values)
            database.passwordFile = passwordFile.path
            secretFiles.append((Key.passwordFile, passwordFile))
        }
        if let size = try values.number(Key.poolSize) {
            guard size.rounded() == size, size >= 1, size <= Double(Database.maximumPoolSize) else {
                throw values.invalid(
                    Key.poolSize, "must be a whole number from 1 to \(Database.maximumPoolSize), got \(values.origin(of: Key.poolSize)?.quotedText ?? "")")
            }
            database.poolSize = Int(size)
        }
        if let flag = try boolean(Key.migrateOnStart, values) { database.migrateOnStart = flag }

        let moves = try Self.moves(values)
        if let moves { secretFiles.append((MoveKey.privateKey, moves.secret)) }
        for (key, secret) in secretFiles where secret.permissions & 0o007 != 0 {
            let mode = "0" + String(secret.permissions, radix: 8)
            warnings.append(values.invalid(key, "\(secret.path) may be read by anyone (mode \(mode)); it should be 0600 or 0640").description)
        }
        let configuration = CoordinatorConfiguration(
            service: service, certificatePath: certificate.path, keyPath: privateKey.path, database: database,
            moves: moves?.0)
        return (configuration, warnings)
    }

    /// `true` or `false`, or `nil` when `key` is set nowhere.
    ///
    /// Read from the value as written (YAML, JSON and the environment spell it the same way).
    private static func boolean(_ key: String, _ values: ConfigurationValues) throws -> Bool? {
        guard let origin = values.origin(of: key) else { return nil }
        let text: String
        switch origin {
        case .environment(_, let value): text = value
        case .file(let setting): text = setting.text
        }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        // JSON's booleans come back from JSONSerialization as numbers.
        case "1" where values.file.format == .json: return true
        case "0" where values.file.format == .json: return false
        default: throw values.invalid(key, "must be true or false, got \(origin.quotedText)")
        }
    }
}
