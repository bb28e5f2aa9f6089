#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Who holds a user's sync lock, as its holder writes it into the lock file right after
/// taking the lock: process id, host name, the process's start and when the lock was taken.
///
/// The file is text, one `key value` per line after a first line naming the format:
///
/// ```
/// duplex-sync-lock 1
/// pid 4711
/// host mail-a.example.com
/// process_start 1283745
/// since 1800000000
/// ```
///
/// `process_start` is the holder's start in clock ticks since boot (field 22 of
/// `/proc/PID/stat`): a process with the same pid but another start is not the holder,
/// its pid was reused. `since` is Unix seconds. Unknown keys are ignored, so later
/// versions may add some.
public struct UserLockHolder: Sendable, Equatable, CustomStringConvertible {
    /// The holder's process id.
    public var pid: Int32
    /// The host name of the holder's machine (`gethostname`).
    public var host: String
    /// The holder's start in clock ticks since boot; nil when it was not known.
    public var processStart: UInt64?
    /// When the lock was taken, Unix seconds.
    public var since: Int64

    public init(pid: Int32, host: String, processStart: UInt64?, since: Int64) {
        self.pid = pid
        self.host = host
        self.processStart = processStart
        self.since = since
    }

    /// This process, now.
    static func current() -> UserLockHolder {
        let pid = getpid()
        return UserLockHolder(pid: pid, host: hostName, processStart: processStart(of: pid), since: Int64(time(nil)))
    }

    /// "pid 4711 on mail-a.example.com since 2027-01-15 08:00:00 UTC".
    public var description: String {
        "pid \(pid) on \(host) since \(Self.utc(since))"
    }

    /// The file's text.
    var encoded: String {
        var text = "duplex-sync-lock 1\npid \(pid)\nhost \(host)\n"
        if let processStart { text += "process_start \(processStart)\n" }
        return text + "since \(since)\n"
    }

    /// Reads a lock file's text; nil when it holds no complete record (empty: the holder
    /// has not written it yet; or not ours).
    init?(parsing text: String) {
        var lines = text.split(separator: "\n").makeIterator()
        guard lines.next() == "duplex-sync-lock 1" else { return nil }
        var values: [Substring: Substring] = [:]
        for line in IteratorSequence(lines) {
            guard let space = line.firstIndex(of: " ") else { continue }
            values[line[..<space]] = line[line.index(after: space)...]
        }
        guard let pid = values["pid"].flatMap({ Int32($0) }), pid > 0, let host = values["host"], !host.isEmpty,
            let since = values["since"].flatMap({ Int64($0) })
        else { return nil }
        self.init(pid: pid, host: String(host), processStart: values["process_start"].flatMap { UInt64($0) }, since: since)
    }

    /// Whether the holder is certainly gone: it ran on this host and no process has its
    /// pid, or the process with its pid started at another time (the pid was reused).
    /// A holder on another host, or one whose liveness cannot be told, is never gone.
    var isGone: Bool {
        guard host == Self.hostName else { return false }
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let recorded = processStart, let running = Self.processStart(of: pid) else { return false }
        return recorded != running
    }

    // MARK: The system

    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Field 22 of `/proc/PID/stat` (after the command name, which may hold spaces and
    /// parentheses, hence read from the last `)`); nil without /proc or the process.
    static func processStart(of pid: Int32) -> UInt64? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0, let close = buffer[..<count].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // After ") " come fields 3, 4, …: the start time is field 22, the 20th of them.
        let fields = buffer[(close + 1)..<count].split(separator: UInt8(ascii: " "))
        guard fields.count >= 20 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
    static func utc(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "\(seconds)" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }
}
