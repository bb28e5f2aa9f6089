import Foundation

/// A list of users to replicate: one user name per line. Blank lines and lines whose
/// first non-blank character is `#` are skipped; spaces around a name are dropped.
enum UsersFile {
    /// Reads and checks the users file at `path`.
    ///
    /// - Returns: the names in file order (repeats kept; adding a known user changes nothing).
    /// - Throws: ``InvalidSetting`` naming the path and line: unreadable, not UTF-8, a name
    ///   with spaces or control characters inside.
    static func read(path: String) throws(InvalidSetting) -> [String] {
        do {
            _ = try ReadableFile(checking: path)
        } catch {
            throw InvalidSetting("\(path) \(error.reason)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InvalidSetting("\(path) cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw InvalidSetting("\(path) is not UTF-8 text") }
        return try parse(text, path: path)
    }

    /// The names in `text` (see ``read(path:)``); `path` is for messages.
    static func parse(_ text: String, path: String) throws(InvalidSetting) -> [String] {
        var users: [String] = []
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let name = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, !name.hasPrefix("#") else { continue }
            if let bad = name.unicodeScalars.first(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
                let what = bad.properties.generalCategory == .control ? "a control character" : "a space"
                throw InvalidSetting("\(path):\(index + 1): a user name cannot contain \(what): \(String(reflecting: name))")
            }
            users.append(name)
        }
        return users
    }
}
