import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The agent's local copy of its pair's user list (``CoordinatorUserList``) on disk, read at
/// start and written atomically after each applied batch of changes and at shutdown.
///
/// A text file of lines, version 1:
///
/// ```
/// duplex-coordinator-users 1
/// pair eu-1
/// version 42
/// user 7 alice@example.com
/// user 8 bob@example.com noreplicate
/// ```
///
/// The first line names the format and its version, then the pair and the change version,
/// then one line per user: its id, its name, and `noreplicate` when it is never synced.
enum CoordinatorUserCache {
    /// The first word of the file, and the format version written.
    static let magic = "duplex-coordinator-users"
    static let formatVersion = 1

    /// Reads the copy at `path`; nil when there is none.
    ///
    /// - Throws: ``CoordinatorLinkError`` (`badCache`) naming the path, and the line where it
    ///   is corrupt: unreadable, not UTF-8, no header, a format version this agent does not
    ///   know, a bad `pair`, `version` or `user` line, a user id or name twice.
    static func read(path: String) throws(CoordinatorLinkError) -> CoordinatorUserList? {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch CocoaError.fileReadNoSuchFile {
            return nil
        } catch {
            throw CoordinatorLinkError(.badCache, "\(path): cannot be read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CoordinatorLinkError(.badCache, "\(path): is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    /// The list in `text` (see ``read(path:)``); `path` is for messages.
    static func parse(_ text: String, path: String) throws(CoordinatorLinkError) -> CoordinatorUserList {
        func corrupt(_ line: Int, _ reason: String) -> CoordinatorLinkError {
            CoordinatorLinkError(.badCache, "\(path):\(line): \(reason)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // Written with a final newline; without one the file was cut short.
        guard lines.last == "" else { throw corrupt(lines.count, "the last line has no newline: the file is cut short") }
        lines.removeLast()
        guard lines.count >= 3 else { throw corrupt(lines.count + 1, "the pair and version lines are missing") }
        let header = lines[0].split(separator: " ", omittingEmptySubsequences: false)
        guard header.count == 2, header[0] == magic, let format = Int(header[1]) else {
            throw corrupt(1, "not a coordinator user list (the first line must be \"\(magic) \(formatVersion)\")")
        }
        guard format == formatVersion else { throw corrupt(1, "format version \(format) is not one this agent reads (\(formatVersion))") }
        let pairLine = lines[1].split(separator: " ", omittingEmptySubsequences: false)
        guard pairLine.count == 2, pairLine[0] == "pair", isName(pairLine[1]) else { throw corrupt(2, "expected \"pair NAME\"") }
        let versionLine = lines[2].split(separator: " ", omittingEmptySubsequences: false)
        guard versionLine.count == 2, versionLine[0] == "version", let version = Int64(versionLine[1]), version >= 0 else {
            throw corrupt(3, "expected \"version N\" with N from 0")
        }
        var users: [Int64: CoordinatorUserList.Entry] = [:]
        var names: Set<Substring> = []
        for (index, line) in lines.enumerated().dropFirst(3) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard (3...4).contains(fields.count), fields[0] == "user", let id = Int64(fields[1]), id > 0, isName(fields[2]),
                fields.count == 3 || fields[3] == "noreplicate"
            else {
                throw corrupt(index + 1, "expected \"user ID NAME\" or \"user ID NAME noreplicate\", got \(String(reflecting: String(line.prefix(200))))")
            }
            guard users[id] == nil else { throw corrupt(index + 1, "user id \(id) is listed twice") }
            guard names.insert(fields[2]).inserted else { throw corrupt(index + 1, "user \(fields[2]) is listed twice") }
            users[id] = .init(name: String(fields[2]), noReplicate: fields.count == 4)
        }
        return CoordinatorUserList(pair: String(pairLine[1]), version: version, users: users)
    }

    /// The file's text for `list`, users by id.
    static func format(_ list: CoordinatorUserList) -> String {
        var text = "\(magic) \(formatVersion)\npair \(list.pair)\nversion \(list.version)\n"
        for (id, entry) in list.users.sorted(by: { $0.key < $1.key }) {
            text += "user \(id) \(entry.name)\(entry.noReplicate ? " noreplicate" : "")\n"
        }
        return text
    }

    /// Replaces the file at `path` with `list`: written to a temporary file beside it,
    /// flushed, renamed over it, and the directory flushed, so a crash leaves the old copy
    /// or the new one, never a mix.
    ///
    /// - Throws: ``CoordinatorLinkError`` (`badCache`) naming the path and the system's reason.
    static func save(_ list: CoordinatorUserList, to path: String) throws(CoordinatorLinkError) {
        let bytes = Array(format(list).utf8)
        let temporary = path + ".tmp"
        func failure(_ operation: String, _ file: String) -> CoordinatorLinkError {
            CoordinatorLinkError(.badCache, "\(file): cannot \(operation): \(String(cString: strerror(errno)).lowercased())")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("be created", temporary) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let error = failure("be written", temporary)
                close(fd)
                unlink(temporary)
                throw error
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let error = failure("be flushed", temporary)
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = failure("replace it", path)
            unlink(temporary)
            throw error
        }
        let directory = (path as NSString).deletingLastPathComponent
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// A name as the coordinator makes them: not empty, no spaces or control characters.
    static func isName(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.count <= 512
            && !text.unicodeScalars.contains { $0.properties.isWhitespace || $0.properties.generalCategory == .control }
    }
}
