/// One line of Dovecot 2.3's replication plugin: a user whose mail changed, and how
/// urgently it should reach the peer.
///
/// The plugin writes `USER<TAB>low` or `USER<TAB>high` to the notify fifo, and
/// `USER<TAB>sync` to the notify socket when it waits for the answer
/// (`replication_sync_timeout`). The user name is tab-escaped as all of Dovecot's
/// tab-separated protocols are: `0x01` is written `0x01 '1'`, TAB `0x01 't'`, CR
/// `0x01 'r'`, LF `0x01 'n'` (and `0x01 '0'` stands for NUL, which no name may hold).
public struct NotifyRequest: Sendable, Equatable, CustomStringConvertible {
    /// The user, unescaped.
    public var user: String
    /// `low`, `high` or `sync` (`none` is parsed; the inputs refuse it).
    public var priority: ReplicationPriority

    public init(user: String, priority: ReplicationPriority) {
        self.user = user
        self.priority = priority
    }

    /// Parses one line without its LF.
    ///
    /// - Parameter line: the bytes between two LFs.
    /// - Throws: ``NotifyLineError`` saying what is wrong: not two fields, an empty or
    ///   badly escaped user name, a name that is not UTF-8 or holds a NUL, an unknown
    ///   priority.
    public init(parsing line: some Collection<UInt8>) throws(NotifyLineError) {
        let fields = line.split(separator: Self.tab, maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 2 else {
            let found = fields.count == 1 ? "no TAB" : "more than one TAB"
            throw NotifyLineError(.fieldCount, "expected USER<TAB>PRIORITY, found \(found)", line: line)
        }
        guard !fields[0].isEmpty else { throw NotifyLineError(.emptyUser, "the user name is empty", line: line) }
        let name = try Self.unescaped(fields[0], line: line)
        guard let user = String(validating: name, as: UTF8.self), !name.contains(0) else {
            throw NotifyLineError(.badUserName, "the user name is not UTF-8 text without NUL", line: line)
        }
        guard let priority = ReplicationPriority(name: String(decoding: fields[1], as: UTF8.self)) else {
            throw NotifyLineError(.unknownPriority, "the priority must be low, high or sync", line: line)
        }
        self.init(user: user, priority: priority)
    }

    public var description: String { "\(user) \(priority)" }

    static let tab: UInt8 = 0x09
    static let escape: UInt8 = 0x01

    /// Undoes Dovecot's tab-escaping (`str_tabunescape`).
    private static func unescaped(_ field: some Collection<UInt8>, line: some Collection<UInt8>) throws(NotifyLineError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.count)
        var iterator = field.makeIterator()
        while let byte = iterator.next() {
            guard byte == escape else {
                bytes.append(byte)
                continue
            }
            switch iterator.next() {
            case UInt8(ascii: "1"): bytes.append(0x01)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "0"): bytes.append(0x00)
            case let other:
                let what = other.map { "0x01 followed by \(String(reflecting: String(decoding: [$0], as: UTF8.self)))" } ?? "0x01 at the end of the name"
                throw NotifyLineError(.badEscape, "bad escape in the user name: \(what)", line: line)
            }
        }
        return bytes
    }
}
