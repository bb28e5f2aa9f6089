/// The replicator's state file: every user's queue record, so that a restart keeps each
/// user's priority and sync history (above all the time of its last full sync, which keeps
/// full syncs spread over the day instead of all due at once).
///
/// A line-based text file, version 1:
///
/// ```
/// duplex-replicator-state<TAB>1<TAB>user<TAB>priority<TAB>…<TAB>hold_reason
/// <user><TAB><priority><TAB><last_update><TAB><last_fast_sync><TAB><last_full_sync><TAB><last_successful_sync><TAB><failed><TAB><failure_count><TAB><last_failure><TAB><force_full_sync><TAB><changed_retries><TAB><held><TAB><last_error><TAB><hold_reason>
/// ```
///
/// - The first line is the header: the format name, the version, then the field names
///   (for people: readers go by the version).
/// - One user per line, 14 fields separated by one TAB, each line ended by LF.
/// - `priority` is `none`, `low`, `high` or `sync`; times are decimal Unix seconds (0 =
///   never); `failed`, `force_full_sync` and `held` are `0` or `1`; counts are decimal.
/// - `user`, `last_error` and `hold_reason` escape backslash, TAB, LF and CR as `\\`,
///   `\t`, `\n`, `\r`; an empty `last_error` or `hold_reason` means none.
/// - Fields after the 14th are ignored, so that a later version can add fields at the end
///   and older readers still read its files; a version that changes the meaning of an
///   existing field gets a new number, and its readers accept version 1.
///
/// The file is replaced atomically (``write(_:to:)``), so a crash leaves the previous
/// complete file. The reader (``read(at:)``) skips and reports any bad line (path and line)
/// and keeps the rest.
public enum ReplicatorStateFile {
    /// The first field of the header line.
    public static let formatName = "duplex-replicator-state"
    /// The version this code writes.
    public static let currentVersion = 1
    /// The fields of a user line, in order.
    public static let fieldNames = [
        "user", "priority", "last_update", "last_fast_sync", "last_full_sync", "last_successful_sync", "failed",
        "failure_count", "last_failure", "force_full_sync", "changed_retries", "held", "last_error", "hold_reason",
    ]

    // MARK: Writing

    /// Replaces the file at `path` with `users`: written to `path.tmp` (mode 0600),
    /// fsynced, renamed over `path`, the directory fsynced.
    ///
    /// - Throws: ``ReplicatorStateError`` (`unwritable`); the previous file is then intact.
    public static func write(_ users: some Sequence<ReplicationUser>, to path: String) throws {
        try StateFileIO.replaceAtomically(path: path) { writer in
            writer.append(formatName)
            writer.append(0x09)
            writer.append(number: Int64(currentVersion))
            for name in fieldNames {
                writer.append(0x09)
                writer.append(name)
            }
            try writer.endLine()
            for user in users {
                append(user, to: &writer)
                try writer.endLine()
            }
        }
    }

    static func append(_ user: ReplicationUser, to writer: inout StateFileWriter) {
        appendEscaped(user.name, to: &writer)
        writer.append(0x09)
        writer.append(user.priority.description)
        // In the order of `fieldNames`; flags as 0 or 1.
        let numbers: [Int64] = [
            user.lastUpdate, user.lastFastSync, user.lastFullSync, user.lastSuccessfulSync, user.lastSyncFailed ? 1 : 0,
            Int64(user.failureCount), user.lastFailure, user.forceFullSync ? 1 : 0, Int64(user.changedRetries), user.held ? 1 : 0,
        ]
        for number in numbers {
            writer.append(0x09)
            writer.append(number: number)
        }
        writer.append(0x09)
        appendEscaped(user.lastError ?? "", to: &writer)
        writer.append(0x09)
        appendEscaped(user.holdReason ?? "", to: &writer)
    }

    static func appendEscaped(_ text: String, to writer: inout StateFileWriter) {
        for byte in text.utf8 {
            switch byte {
            case 0x5c: writer.append(0x5c); writer.append(0x5c)
            case 0x09: writer.append(0x5c); writer.append(UInt8(ascii: "t"))
            case 0x0a: writer.append(0x5c); writer.append(UInt8(ascii: "n"))
            case 0x0d: writer.append(0x5c); writer.append(UInt8(ascii: "r"))
            default: writer.append(byte)
            }
        }
    }

    // MARK: Reading

    /// Reads the state file at `path`: the good records and a problem (path, line, what)
    /// for each line skipped. A file that is not a state file, or whose header is bad,
    /// gives no users and one problem.
    ///
    /// - Returns: nil when the file does not exist.
    /// - Throws: ``ReplicatorStateError`` (`unreadable`) only when the file cannot be
    ///   opened or read; never for its content.
    public static func read(at path: String) throws -> ReplicatorStateContents? {
        let contents = try StateFileReading.read(path: path) { fields, line, contents throws(StateLineRejection) in
            guard line > 1 else {
                contents.version = try header(fields, contents: &contents)
                return nil
            }
            return try user(fields)
        }
        guard var contents else { return nil }
        if contents.version == nil && contents.problemCount == 0 {
            contents.report(line: 1, "empty file: no header, no users")
        }
        return contents
    }

    private static func header(_ fields: StateLineFields, contents: inout ReplicatorStateContents) throws(StateLineRejection) -> Int {
        guard fields[0].elementsEqual(formatName.utf8), fields.count >= 2 else {
            throw StateLineRejection(
                "not a Duplex replicator state file (no '\(formatName)<TAB>\(currentVersion)' header)", stopsReading: true)
        }
        guard let version = try? fields.number(1, "version"), version >= 1, version <= Int64(Int32.max) else {
            var rejection = fields.rejection(1, "version", "not a format version")
            rejection.stopsReading = true
            throw rejection
        }
        if version > Int64(currentVersion) {
            contents.report(line: 1, "format version \(version) is newer than \(currentVersion): reading the fields version \(currentVersion) knows")
        }
        return Int(version)
    }

    private static func user(_ fields: StateLineFields) throws(StateLineRejection) -> ReplicationUser {
        guard fields.count >= fieldNames.count else {
            throw StateLineRejection("expected \(fieldNames.count) tab-separated fields, found \(fields.count)")
        }
        let name = try text(fields, 0)
        guard !name.isEmpty else { throw StateLineRejection("field 1 (user): empty") }
        guard let priority = ReplicationPriority(name: String(decoding: fields[1], as: UTF8.self)) else {
            throw fields.rejection(1, fieldNames[1], "not none, low, high or sync")
        }
        var user = ReplicationUser(name: name)
        user.priority = priority
        user.lastUpdate = try fields.number(2, fieldNames[2])
        user.lastFastSync = try fields.number(3, fieldNames[3])
        user.lastFullSync = try fields.number(4, fieldNames[4])
        user.lastSuccessfulSync = try fields.number(5, fieldNames[5])
        user.lastSyncFailed = try fields.flag(6, fieldNames[6])
        user.failureCount = try fields.count(7, fieldNames[7])
        user.lastFailure = try fields.number(8, fieldNames[8])
        user.forceFullSync = try fields.flag(9, fieldNames[9])
        user.changedRetries = try fields.count(10, fieldNames[10])
        user.held = try fields.flag(11, fieldNames[11])
        user.lastError = fields.isEmpty(12) ? nil : try text(fields, 12)
        user.holdReason = fields.isEmpty(13) ? nil : try text(fields, 13)
        return user
    }

    private static func text(_ fields: StateLineFields, _ index: Int) throws(StateLineRejection) -> String {
        try fields.text(index, fieldNames[index], escape: 0x5c) { byte in
            switch byte {
            case 0x5c: 0x5c
            case UInt8(ascii: "t"): 0x09
            case UInt8(ascii: "n"): 0x0a
            case UInt8(ascii: "r"): 0x0d
            default: nil
            }
        }
    }
}
