/// What a state file held: the records that were good, and what was wrong with the others.
///
/// Reading never fails because of a bad line: the line is skipped and reported (path and
/// line), and everything else is kept. When a user appears twice, the later line wins.
public struct ReplicatorStateContents: Sendable {
    /// The file read.
    public let path: String
    /// The format version of the file's header; nil for a file without one (Dovecot's
    /// `replicator.db`) or a file that is not a state file.
    public internal(set) var version: Int?
    /// The good records, one per user, in file order (a repeated user at the place of its
    /// last line).
    public internal(set) var users: [ReplicationUser] = []
    /// The first ``problemLimit`` problems.
    public internal(set) var problems: [ReplicatorStateProblem] = []
    /// All problems found, also those beyond ``problemLimit``.
    public internal(set) var problemCount = 0

    /// How many problems are kept (a file of garbage must not fill the memory with them).
    public static let problemLimit = 100

    init(path: String) {
        self.path = path
    }

    mutating func report(line: Int, _ message: String) {
        problemCount += 1
        if problems.count < Self.problemLimit {
            problems.append(ReplicatorStateProblem(path: path, line: line, message: message))
        }
    }
}

/// Why one line was not taken.
struct StateLineRejection: Error {
    var message: String
    /// The rest of the file cannot be understood either (a bad header).
    var stopsReading = false

    init(_ message: String, stopsReading: Bool = false) {
        self.message = message
        self.stopsReading = stopsReading
    }
}

/// The reading loop both formats share: lines split into fields, one record per line,
/// rejections and cut-off lines reported, repeated users resolved (the later line wins).
enum StateFileReading {
    /// The longest line kept: far beyond any user name and error text, short enough that a
    /// file of garbage cannot exhaust the memory.
    static let maxLineLength = 1 << 20

    /// Reads `path`; `parse` turns one line into a user, or nil for a line that holds none
    /// (a header).
    ///
    /// - Returns: nil when the file does not exist.
    /// - Throws: ``ReplicatorStateError`` when it cannot be opened or read.
    static func read(
        path: String,
        parse: (_ fields: borrowing StateLineFields, _ line: Int, _ contents: inout ReplicatorStateContents) throws(StateLineRejection) -> ReplicationUser?
    ) throws -> ReplicatorStateContents? {
        var contents = ReplicatorStateContents(path: path)
        var seen: [String: (index: Int, line: Int)] = [:]
        var fields = StateLineFields()
        var stopped = false
        let exists = try StateFileIO.forEachLine(path: path, maxLineLength: maxLineLength) { line, number in
            guard !stopped else { return }
            switch line {
            case .tooLong:
                contents.report(line: number, "line longer than \(maxLineLength) bytes; ignored")
            case .unterminated:
                contents.report(line: number, "no line end: the file was cut short; line ignored")
            case .complete(let bytes):
                if bytes.isEmpty && number > 1 { return }
                fields.split(bytes)
                do throws(StateLineRejection) {
                    guard let user = try parse(fields, number, &contents) else { return }
                    if let earlier = seen[user.name] {
                        contents.report(line: number, "user \(user.name) also on line \(earlier.line): this line wins")
                        contents.users[earlier.index] = user
                        seen[user.name] = (earlier.index, number)
                    } else {
                        seen[user.name] = (contents.users.count, number)
                        contents.users.append(user)
                    }
                } catch {
                    contents.report(line: number, error.message + (error.stopsReading ? "; nothing read" : "; line ignored"))
                    stopped = error.stopsReading
                }
            }
        }
        return exists ? contents : nil
    }
}
