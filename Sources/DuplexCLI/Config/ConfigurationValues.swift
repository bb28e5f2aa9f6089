import Configuration
import Dsync
import SystemPackage

/// The settings of one configuration file and the environment, read through
/// swift-configuration (a `DUPLEX_*` variable wins over the file), with errors that name
/// the key, the file, its line and the variable a bad value came from.
///
/// A key's environment variable is `DUPLEX_` followed by the dotted key in capitals with
/// `_` for `.`: `tls.ca` is `DUPLEX_TLS_CA`. A list in a variable is comma-separated.
struct ConfigurationValues {
    let file: ConfigurationFile
    let environment: [String: String]
    private let reader: ConfigReader

    /// Where a key's value comes from.
    enum Origin {
        case environment(variable: String, text: String)
        case file(ConfigurationFile.Setting)

        /// The value as written, quoted and escaped for a message.
        var quotedText: String {
            switch self {
            case .environment(_, let text): String(reflecting: text)
            case .file(let setting): String(reflecting: setting.text)
            }
        }
    }

    init(file: ConfigurationFile, environment: [String: String]) async throws {
        self.file = file
        self.environment = environment
        let fileProvider: any ConfigProvider
        do {
            switch file.format {
            case .yaml: fileProvider = try await FileProvider<YAMLSnapshot>(filePath: FilePath(file.path))
            case .json: fileProvider = try await FileProvider<JSONSnapshot>(filePath: FilePath(file.path))
            }
        } catch {
            throw ConfigurationError(.badSyntax, "cannot be read as \(file.format.rawValue): \(error)", file: file.path)
        }
        let environmentProvider = EnvironmentVariablesProvider(environmentVariables: environment)
            .prefixKeys(with: ["duplex"])
        reader = ConfigReader(providers: [environmentProvider, fileProvider])
    }

    /// The environment variable that overrides `key` (`tls.allowed_peers` →
    /// `DUPLEX_TLS_ALLOWED_PEERS`), as swift-configuration's environment provider spells it.
    static func environmentVariable(for key: String) -> String {
        "DUPLEX_" + String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// Where `key` is set, or `nil` when it is set nowhere.
    func origin(of key: String) -> Origin? {
        let variable = Self.environmentVariable(for: key)
        if let text = environment[variable] { return .environment(variable: variable, text: text) }
        return file.settings[key].map(Origin.file)
    }

    // MARK: Typed values

    /// The text of `key`, or `nil` when it is set nowhere.
    ///
    /// - Throws: ``ConfigurationError`` when the value is not text, or empty.
    func string(_ key: String) throws -> String? {
        let value = try read(key, expecting: "text") { try reader.requiredString(forKey: $0) }
        if value?.isEmpty == true { throw invalid(key, "is empty") }
        return value
    }

    /// The number of `key`, or `nil` when it is set nowhere.
    func number(_ key: String) throws -> Double? {
        try read(key, expecting: "a number") { try reader.requiredDouble(forKey: $0) }
    }

    /// The list of `key`, or `nil` when it is set nowhere.
    func stringList(_ key: String) throws -> [String]? {
        try read(key, expecting: "a list") { try reader.requiredStringArray(forKey: $0) }
    }

    /// A path from `key`, relative ones taken from the configuration file's directory.
    func path(_ key: String) throws -> String? {
        guard let path = try string(key) else { return nil }
        guard !path.contains("\0") else { throw invalid(key, "contains a NUL character") }
        return path.hasPrefix("/") ? path : file.directory + "/" + path
    }

    /// `value` when it is set, else an error saying `key` is required.
    func required<Value>(_ key: String, _ value: Value?) throws -> Value {
        guard let value else {
            throw ConfigurationError(
                .missingKey, "is required; set it in the file or with \(Self.environmentVariable(for: key))",
                file: file.path, key: key)
        }
        return value
    }

    /// Runs `check` on the value of `key`, turning the ``InvalidSetting`` or ``DsyncError``
    /// it throws into a ``ConfigurationError`` naming the key.
    func checking<Value>(_ key: String, _ check: () throws -> Value) throws -> Value {
        do {
            return try check()
        } catch let error as InvalidSetting {
            throw invalid(key, error.reason)
        } catch let error as DsyncError {
            throw invalid(key, error.message)
        }
    }

    // MARK: Errors

    /// An `invalidValue` error for `key`, naming where its value came from.
    func invalid(_ key: String, _ message: String) -> ConfigurationError {
        var error = ConfigurationError(.invalidValue, message, file: file.path, key: key)
        switch origin(of: key) {
        case .environment(let variable, _): error.environmentVariable = variable
        case .file(let setting): error.line = setting.line
        case nil: break
        }
        return error
    }

    /// Reads `key` with `get`, or `nil` when it is set nowhere.
    private func read<Value>(_ key: String, expecting expected: String, _ get: (ConfigKey) throws -> Value) throws -> Value? {
        guard let origin = origin(of: key) else { return nil }
        if case .file(let setting) = origin, setting.isNull { throw invalid(key, "has no value") }
        do {
            return try get(ConfigKey(key))
        } catch {
            throw invalid(key, "expected \(expected), got \(origin.quotedText)")
        }
    }
}
