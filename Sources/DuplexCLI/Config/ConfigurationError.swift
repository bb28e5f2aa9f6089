/// A configuration that cannot be used, with a stable code and what is wrong where.
///
/// The `description` names the configuration file (and line, where the parser knows it),
/// the key, the environment variable when the value came from one, and what is wrong.
/// It never contains the content of the files a setting points to.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; stable across releases.
    public enum Code: String, Sendable {
        /// The configuration file, or a file a setting names, cannot be read.
        case unreadableFile
        /// The file's name does not end in `.yaml`, `.yml` or `.json`.
        case unsupportedFormat
        /// The file is not valid YAML or JSON, or not a mapping of sections.
        case badSyntax
        /// The file sets a key the agent does not know (a misspelling, most often).
        case unknownKey
        /// A required setting is set nowhere.
        case missingKey
        /// A setting has the wrong type or a value out of range.
        case invalidValue

        /// The exit code of a command that cannot start because of this (EX_CONFIG).
        public var exitCode: Int32 { 78 }
    }

    /// The stable failure code.
    public var code: Code
    /// What is wrong, without the file and key (see ``file`` and ``key``).
    public var message: String
    /// The configuration file.
    public var file: String
    /// The dotted key concerned (`tls.ca`), when there is one.
    public var key: String?
    /// The 1-based line of ``key`` in ``file``, when the parser knows it (YAML).
    public var line: Int?
    /// The environment variable the bad value came from, when it did not come from the file.
    public var environmentVariable: String?

    public init(
        _ code: Code, _ message: String, file: String, key: String? = nil, line: Int? = nil,
        environmentVariable: String? = nil
    ) {
        self.code = code
        self.message = message
        self.file = file
        self.key = key
        self.line = line
        self.environmentVariable = environmentVariable
    }

    /// `FILE[:LINE]: KEY[ (from VARIABLE)]: MESSAGE`.
    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if let key { text += ": \(key)" }
        if let environmentVariable { text += " (from \(environmentVariable))" }
        return text + ": " + message
    }
}

/// Why a value cannot be used, before the loader knows which key and source it came from
/// (it then becomes a ``ConfigurationError``).
struct InvalidSetting: Error {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}
