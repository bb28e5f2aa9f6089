import Foundation
import Yams

/// A configuration file and the keys it sets, each with its line (YAML) and text.
///
/// swift-configuration can only look keys up, not list them, so the file is parsed here as
/// well (with the same parsers its snapshots use: Yams, `JSONSerialization`) to check that
/// every key in it is one the reader knows: a misspelt key is reported, never ignored.
struct ConfigurationFile {
    enum Format: String {
        case yaml = "YAML"
        case json = "JSON"
    }

    /// One value the file sets.
    struct Setting {
        /// 1-based, when known (YAML).
        var line: Int?
        /// The value as written, for error messages (a list as `[a, b]`).
        var text: String
        /// The value is YAML's null (`key:` with nothing after it) or JSON's `null`.
        var isNull = false
    }

    /// The absolute path.
    let path: String
    let format: Format
    /// The settings by dotted key (`tls.allowed_peers`); mappings are walked, not listed.
    let settings: [String: Setting]

    /// The directory relative paths in the file are resolved against.
    var directory: String { (path as NSString).deletingLastPathComponent }

    /// Reads and parses the file at `path`.
    ///
    /// - Parameters:
    ///   - path: the file; a relative path is taken from `currentDirectory`.
    ///   - currentDirectory: the directory of a relative `path`.
    /// - Throws: ``ConfigurationError`` when the name does not end in `.yaml`, `.yml` or
    ///   `.json`, the file cannot be read, or it is not a YAML or JSON mapping.
    init(path: String, currentDirectory: String) throws {
        let path = path.hasPrefix("/") ? path : currentDirectory + "/" + path
        self.path = path
        func fail(
            _ code: ConfigurationError.Code, _ message: String, key: String? = nil, line: Int? = nil
        ) -> ConfigurationError {
            ConfigurationError(code, message, file: path, key: key, line: line)
        }
        switch (path as NSString).pathExtension.lowercased() {
        case "yaml", "yml": format = .yaml
        case "json": format = .json
        default: throw fail(.unsupportedFormat, "the file name must end in .yaml, .yml or .json")
        }
        do throws(InvalidSetting) {
            _ = try ReadableFile(checking: path)
        } catch {
            throw fail(.unreadableFile, "the configuration file \(error.reason)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw fail(.unreadableFile, "cannot be read")
        }
        switch format {
        case .yaml: settings = try Self.yamlSettings(data, fail: fail)
        case .json: settings = try Self.jsonSettings(data, fail: fail)
        }
    }

    /// Refuses a key that is not in `known`, naming the nearest known one when there is one.
    ///
    /// A section (`dsync`, `tls`) left empty is fine; a section with a plain value is not.
    func checkKeys(known: [String]) throws {
        let sections = Set(known.compactMap { $0.split(separator: ".").first.map(String.init) })
        let unknown = settings.filter { key, setting in
            !known.contains(key) && !(sections.contains(key) && setting.isNull)
        }
        .sorted { ($0.value.line ?? 0, $0.key) < ($1.value.line ?? 0, $1.key) }
        guard let (key, setting) = unknown.first else { return }
        if sections.contains(key) {
            throw ConfigurationError(
                .badSyntax, "must be a mapping of settings, not \(setting.text)", file: path, key: key, line: setting.line)
        }
        var message = "unknown key"
        if let suggestion = Self.nearest(to: key, in: known) { message += " (did you mean \(suggestion)?)" }
        if unknown.count > 1 {
            message += "; also unknown: " + unknown.dropFirst().map(\.key).joined(separator: ", ")
        }
        message += "; known keys: " + known.joined(separator: ", ")
        throw ConfigurationError(.unknownKey, message, file: path, key: key, line: setting.line)
    }

    /// The known key a misspelt `key` most likely meant: at most two edits away, or the
    /// same name in another section.
    static func nearest(to key: String, in known: [String]) -> String? {
        let name = key.split(separator: ".").last
        return known.map { (key: $0, distance: editDistance(key, $0)) }
            .filter { $0.distance <= 2 || $0.key.split(separator: ".").last == name }
            .min { $0.distance < $1.distance }?.key
    }

    /// The Levenshtein distance between `a` and `b`, in characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in a.indices {
            var current = [i + 1]
            for j in b.indices {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (a[i] == b[j] ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}

// MARK: - Listing the keys

extension ConfigurationFile {
    private typealias Fail = (_ code: ConfigurationError.Code, _ message: String, _ key: String?, _ line: Int?) -> ConfigurationError

    private static func yamlSettings(_ data: Data, fail: Fail) throws -> [String: Setting] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch let error as YamlError {
            let (problem, line) = describe(error)
            throw fail(.badSyntax, "not valid YAML: \(problem)", nil, line)
        } catch {
            throw fail(.badSyntax, "not valid YAML: \(error)", nil, nil)
        }
        guard let root else { throw fail(.badSyntax, "the file is empty", nil, nil) }
        guard let mapping = root.mapping else {
            throw fail(.badSyntax, "the top level must be a mapping of sections (dsync:, tls:)", nil, root.mark?.line)
        }
        var settings: [String: Setting] = [:]
        var pending: [(prefix: String, mapping: Node.Mapping)] = [("", mapping)]
        while let (prefix, mapping) = pending.popLast() {
            for (keyNode, value) in mapping {
                let line = keyNode.mark?.line
                guard let name = keyNode.scalar?.string else {
                    throw fail(.badSyntax, "a key must be plain text", prefix.isEmpty ? nil : String(prefix.dropLast()), line)
                }
                let key = prefix + name
                switch value {
                case .mapping(let nested) where nested.isEmpty:
                    // `replicator: {}`: a section that is there but sets nothing.
                    settings[key] = Setting(line: line, text: "{}", isNull: true)
                case .mapping(let nested):
                    pending.append((key + ".", nested))
                case .scalar(let scalar):
                    settings[key] = Setting(line: line, text: scalar.string, isNull: value.null != nil)
                case .sequence(let sequence):
                    let items = sequence.compactMap(\.scalar)
                    guard items.count == sequence.count else {
                        throw fail(.badSyntax, "a list may hold only plain values", key, line)
                    }
                    settings[key] = Setting(line: line, text: "[" + items.map(\.string).joined(separator: ", ") + "]")
                default:
                    throw fail(.badSyntax, "unsupported value (an alias?)", key, line)
                }
            }
        }
        return settings
    }

    /// A Yams error on one line (its own description spans several, with a snippet of the
    /// file), and the line it is about.
    private static func describe(_ error: YamlError) -> (problem: String, line: Int?) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let during = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return ("\(problem) at column \(mark.column)\(during)", mark.line)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ("duplicate key " + duplicates.sorted().joined(separator: ", "), context.mark.line)
        default:
            return (error.description.split(separator: "\n").first.map(String.init) ?? "", nil)
        }
    }

    private static func jsonSettings(_ data: Data, fail: Fail) throws -> [String: Setting] {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey].map { "\($0)" }
            throw fail(.badSyntax, "not valid JSON" + (detail.map { ": \($0)" } ?? ""), nil, nil)
        }
        guard let object = root as? [String: Any] else {
            throw fail(.badSyntax, "the top level must be an object of sections (\"dsync\", \"tls\")", nil, nil)
        }
        var settings: [String: Setting] = [:]
        var pending: [(prefix: String, object: [String: Any])] = [("", object)]
        while let (prefix, object) = pending.popLast() {
            for (name, value) in object {
                let key = prefix + name
                switch value {
                case let nested as [String: Any] where nested.isEmpty:
                    settings[key] = Setting(text: "{}", isNull: true)
                case let nested as [String: Any]:
                    pending.append((key + ".", nested))
                case let array as [Any]:
                    guard !array.contains(where: { $0 is [Any] || $0 is [String: Any] }) else {
                        throw fail(.badSyntax, "a list may hold only plain values", key, nil)
                    }
                    settings[key] = Setting(text: "[" + array.map { "\($0)" }.joined(separator: ", ") + "]")
                case is NSNull:
                    settings[key] = Setting(text: "null", isNull: true)
                default:
                    settings[key] = Setting(text: "\(value)")
                }
            }
        }
        return settings
    }
}
