/// A notification line that cannot be used, with a stable code, what is wrong, and the line.
///
/// The inputs log it and skip the line (the fifo) or close the connection (the socket);
/// nothing is queued.
public struct NotifyLineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem this is; stable across releases.
    public enum Code: String, Sendable {
        /// Not `user<TAB>priority`: too few or too many fields.
        case fieldCount
        /// The user name is empty.
        case emptyUser
        /// A `0x01` escape that Dovecot does not write (only `0x01` followed by `1`, `t`,
        /// `r`, `n` or `0`).
        case badEscape
        /// The user name is not UTF-8 or contains a NUL character.
        case badUserName
        /// The priority is not `none`, `low`, `high` or `sync`.
        case unknownPriority
        /// A known priority this input does not take (`sync` on the fifo, `none` anywhere).
        case priorityNotAccepted
        /// The line is longer than the input's maximum.
        case tooLong
        /// The input ended in the middle of a line.
        case unterminated
    }

    /// The stable code.
    public var code: Code
    /// What is wrong, in words.
    public var message: String
    /// The line as received, quoted and escaped, cut to ``shownLength`` bytes.
    public var line: String

    /// How much of a bad line a message shows.
    public static let shownLength = 100

    public init(_ code: Code, _ message: String, line: some Collection<UInt8>) {
        self.code = code
        self.message = message
        let shown = String(decoding: line.prefix(Self.shownLength), as: UTF8.self)
        self.line = String(reflecting: shown) + (line.count > Self.shownLength ? "…" : "")
    }

    /// `MESSAGE: "LINE"`.
    public var description: String { "\(message): \(line)" }
}
