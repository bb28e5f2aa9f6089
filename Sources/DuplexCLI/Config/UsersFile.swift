import Foundation

/// A list of users to replicate: one user name per line, optionally followed by
/// `noreplicate` (or `noreplicate=VALUE`, a Dovecot userdb boolean: a value starting with
/// `n`, `N`, `0`, `f` or `F` is false, anything else, even empty, true). Blank lines and
/// lines whose first non-blank character is `#` are skipped; spaces around a name are
/// dropped. A `noreplicate` user is never synced (Dovecot's replicator drops such a user
/// after its sync answers NOREPLICATE).
enum UsersFile {
    /// The users of a file, in file order (repeats kept; adding a known user changes nothing).
    struct Contents: Equatable {
        /// The users to replicate.
        var users: [String] = []
        /// The users listed with `noreplicate`.
        var noReplicate: [String] = []
    }

    /// Reads and checks the users file at `path`.
    ///
    /// - Throws: ``InvalidSetting`` naming the path and line: unreadable, not UTF-8, a name
    ///   with spaces or control characters inside.
    static func read(path: String) throws(InvalidSetting) -> Contents {
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

    /// The users in `text` (see ``read(path:)``); `path` is for messages.
    static func parse(_ text: String, path: String) throws(InvalidSetting) -> Contents {
        var contents = Contents()
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let entry = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
            let words = entry.split(whereSeparator: \.isWhitespace)
            let fields = words.dropFirst()
            // Anything after the name other than noreplicate is a name with a space in it.
            let name = !fields.isEmpty && fields.allSatisfy(isNoReplicateField) ? String(words[0]) : entry
            if let bad = name.unicodeScalars.first(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
                let what = bad.properties.generalCategory == .control ? "a control character" : "a space"
                throw InvalidSetting("\(path):\(index + 1): a user name cannot contain \(what): \(String(reflecting: name))")
            }
            let noReplicate = name != entry && fields.contains { isTrue(noReplicate: $0) }
            if noReplicate { contents.noReplicate.append(name) } else { contents.users.append(name) }
        }
        return contents
    }

    private static func isNoReplicateField(_ field: Substring) -> Bool {
        field == "noreplicate" || field.hasPrefix("noreplicate=")
    }

    /// Dovecot's userdb boolean: false only for a value starting with n, N, 0, f or F.
    private static func isTrue(noReplicate field: Substring) -> Bool {
        guard let value = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first,
            let first = value.first
        else { return true }
        return !"nN0fF".contains(first)
    }
}
