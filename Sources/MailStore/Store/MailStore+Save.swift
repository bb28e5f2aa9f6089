#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// What to save a message with.
public struct SaveOptions: Sendable {
    /// The UID to give it; it must be at least the mailbox's next UID. The next UID when nil.
    public var uid: UInt32?
    /// Its flags and keywords.
    public var flags: MessageFlags
    /// Its message GUID (dsync passes the peer's); the new file's base name when nil.
    public var guid: String?
    /// The received date in Unix seconds (stored as the file's modification time); now when nil.
    public var receivedDate: Int64?

    public init(uid: UInt32? = nil, flags: MessageFlags = MessageFlags(), guid: String? = nil, receivedDate: Int64? = nil) {
        self.uid = uid
        self.flags = flags
        self.guid = guid
        self.receivedDate = receivedDate
    }
}

/// The result of a save.
public struct SavedMessage: Sendable, Equatable {
    public var uid: UInt32
    public var guid: String
    /// The file name in `new/` or `cur/`.
    public var fileName: String
    /// Physical size in bytes.
    public var size: Int64
}

/// Receives a message body during ``MailStore/saveMessage(in:options:body:)`` and counts its
/// physical and virtual (CRLF) sizes.
public struct MessageBodyWriter: ~Copyable {
    let fd: Int32
    let path: String
    /// Bytes written so far.
    public private(set) var size: Int64 = 0
    /// Bytes written so far, counting each bare LF as CRLF (Dovecot's `W=`).
    public private(set) var virtualSize: Int64 = 0
    private var lastWasCR = false

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Appends bytes to the message.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        try POSIX.writeAll(fd: fd, bytes, path: path)
        var bareLF = 0
        var previousCR = lastWasCR
        for byte in bytes {
            if byte == 0x0a && !previousCR { bareLF += 1 }
            previousCR = byte == 0x0d
        }
        lastWasCR = previousCR
        size += Int64(bytes.count)
        virtualSize += Int64(bytes.count + bareLF)
    }

    /// Appends bytes to the message.
    public mutating func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

extension MailStore {
    /// Saves a message from memory. See ``saveMessage(in:options:body:)``.
    @discardableResult
    public func saveMessage(in name: MailboxName, bytes: [UInt8], options: SaveOptions = SaveOptions()) throws -> SavedMessage {
        try saveMessage(in: name, options: options) { writer in try writer.write(bytes) }
    }

    /// Saves a message from a file. See ``saveMessage(in:options:body:)``.
    @discardableResult
    public func saveMessage(in name: MailboxName, contentsOf path: String, options: SaveOptions = SaveOptions()) throws -> SavedMessage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw MailStoreError.system("open", path: path, errno: errno) }
        defer { close(fd) }
        return try saveMessage(in: name, options: options) { writer in
            try POSIX.readChunks(fd: fd, path: path) { try writer.write($0) }
        }
    }

    /// Saves a message: the body goes to `tmp/`, is fsynced, then linked into `new/` (no
    /// flags) or `cur/` (flags) and its UID appended to the uidlist, all under the uidlist
    /// lock, as Dovecot's maildir save does. When `options.guid` is a valid base name whose
    /// `,S=`/`,W=` (if any) match the body, it becomes the file name; otherwise it is stored
    /// as the record's `G` extension.
    ///
    /// - Parameters:
    ///   - name: the mailbox (it must exist).
    ///   - options: UID, flags, GUID and received date.
    ///   - body: writes the message through the writer.
    /// - Returns: the UID, GUID, file name and size.
    /// - Throws: `uidNotAvailable` when `options.uid` is below the next UID;
    ///   `invalidArgument` for a GUID with spaces or control characters, or a 27th keyword;
    ///   `notFound` for a missing mailbox; `lockTimeout`; I/O errors. On any error nothing
    ///   is left behind.
    @discardableResult
    public func saveMessage(
        in name: MailboxName, options: SaveOptions = SaveOptions(),
        body: (inout MessageBodyWriter) throws -> Void
    ) throws -> SavedMessage {
        if let guid = options.guid {
            guard !guid.isEmpty, guid.utf8.count <= 255, guid.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7f }) else {
                throw MailStoreError(.invalidArgument, "message GUID \"\(guid)\" is empty, too long or has spaces or control characters")
            }
        }
        if let uid = options.uid, uid == 0 || uid == UInt32.max {
            throw MailStoreError(.invalidArgument, "UID \(uid) is not valid")
        }
        for keyword in options.flags.keywords { try MessageFlags.validateKeyword(keyword) }
        // Make sure the uidlist exists with a GUID before taking the lock for the save.
        var directory = try openDirectory(name)
        if try !uidlistIsReady(directory) { directory = try snapshot(name).directory }
        let fileOwner = try owner(for: directory.path)

        // 1. The body into tmp/, fsynced.
        let (base, tmpPath, fd) = try createTemporaryFile(directory, owner: fileOwner)
        var writer = MessageBodyWriter(fd: fd, path: tmpPath)
        do {
            try body(&writer)
            if let date = options.receivedDate {
                var times = [timespec(tv_sec: Int(date), tv_nsec: 0), timespec(tv_sec: Int(date), tv_nsec: 0)]
                if futimens(fd, &times) != 0 { throw MailStoreError.system("set received date", path: tmpPath, errno: errno) }
            }
            if configuration.fsync { try POSIX.fsync(fd: fd, path: tmpPath) }
            close(fd)
        } catch {
            close(fd)
            _ = unlink(tmpPath)
            throw error
        }
        let size = writer.size
        let virtualSize = writer.virtualSize
        let sizedBase = base + ",S=\(size),W=\(virtualSize)"
        defer { _ = unlink(tmpPath) }

        // 2. Under the uidlist lock: pick the UID and name, link into place, record the UID.
        return try withUidlistLock(directory) { _ in
            guard let bytes = try POSIX.readFileIfExists(directory.uidlist) else {
                throw MailStoreError(.notFound, "uidlist disappeared during the save", path: directory.uidlist)
            }
            let uidlist = try Uidlist(parsing: bytes, path: directory.uidlist)
            guard uidlist.version == 3, uidlist.mailboxGUID != nil else {
                throw MailStoreError(.badData, "uidlist changed format during the save", path: directory.uidlist)
            }
            let next = uidlist.nextUID
            let uid = options.uid ?? next
            guard uid >= next else {
                throw MailStoreError(
                    .uidNotAvailable,
                    "UID \(uid) is below the next UID \(next) of mailbox \"\(displayName(name))\" (UIDs are never reused)",
                    path: directory.uidlist)
            }
            guard uid < UInt32.max else {
                throw MailStoreError(.badData, "UIDs are exhausted (next UID \(next))", path: directory.uidlist)
            }
            var keywordIndexes: [Int] = []
            if !options.flags.keywords.isEmpty {
                var table = try readKeywords(directory)
                if options.flags.keywords.contains(where: { table.index(of: $0) == nil }) {
                    table = try addKeywordsHoldingUidlistLock(options.flags.keywords, to: directory)
                }
                keywordIndexes = options.flags.keywords.compactMap { table.index(of: $0) }
            }
            var candidates: [(base: String, fields: [Uidlist.Field])] = []
            if let guid = options.guid, guid != sizedBase, Self.canUseAsBaseName(guid, size: size, virtualSize: virtualSize),
               !uidlist.records.contains(where: { $0.baseName == guid }) {
                candidates.append((guid, []))
            }
            let guid = options.guid ?? sizedBase
            candidates.append((sizedBase, guid == sizedBase ? [] : [Uidlist.Field(key: "G", value: guid)]))
            let inNew = options.flags.system.isEmpty && keywordIndexes.isEmpty
            for candidate in candidates {
                let fileName = MaildirFileName(base: candidate.base, systemFlags: options.flags.system, keywordIndexes: keywordIndexes).fileName
                let finalPath = directory.file(fileName, inNew: inNew)
                if link(tmpPath, finalPath) != 0 {
                    if errno == EEXIST { continue }
                    throw MailStoreError.system("link to \(finalPath)", path: tmpPath, errno: errno)
                }
                do {
                    let record = Uidlist.Record(uid: uid, fields: candidate.fields, baseName: candidate.base)
                    try appendToUidlist(directory, [record])
                    if configuration.fsync { try POSIX.fsyncDirectory(inNew ? directory.new : directory.cur) }
                } catch {
                    _ = unlink(finalPath)
                    throw error
                }
                return SavedMessage(uid: uid, guid: guid, fileName: fileName, size: size)
            }
            throw MailStoreError(.alreadyExists, "a message file named \(sizedBase) already exists", path: directory.path)
        }
    }

    func uidlistIsReady(_ directory: MailboxDirectory) throws -> Bool {
        guard let bytes = try POSIX.readFileIfExists(directory.uidlist) else { return false }
        // Only the header matters here.
        let header = bytes.prefix { $0 != UInt8(ascii: "\n") }
        return header.starts(with: Array("3 ".utf8)) && header.contains(UInt8(ascii: "G"))
    }

    /// Whether a GUID can be the file's base name: a valid base, and any `,S=`/`,W=` in it
    /// equal to the body's sizes (Dovecot's rule when dsync saves a message).
    static func canUseAsBaseName(_ guid: String, size: Int64, virtualSize: Int64) -> Bool {
        guard MaildirFileName.isValidBase(guid), let parsed = try? MaildirFileName(parsing: guid) else { return false }
        if let s = parsed.size, s != size { return false }
        if let w = parsed.virtualSize, w != virtualSize { return false }
        return true
    }

    private static let lastBaseStamp = Mutex<(seconds: Int64, microseconds: Int64)>((0, 0))

    /// A new unique base name, `<secs>.M<usecs>P<pid>.<host>` (Dovecot's form), with its
    /// file created exclusively in `tmp/`.
    func createTemporaryFile(_ directory: MailboxDirectory, owner: FileOwner?) throws -> (String, String, Int32) {
        try POSIX.makeDirectoryIfMissing(directory.tmp)
        let host = Self.escapedHostName(configuration.hostName)
        for _ in 0..<100 {
            let now = POSIX.wallClock()
            var stamp = (seconds: now.seconds, microseconds: now.nanoseconds / 1000)
            Self.lastBaseStamp.withLock { last in
                if stamp.seconds < last.seconds || (stamp.seconds == last.seconds && stamp.microseconds <= last.microseconds) {
                    stamp = (last.seconds, last.microseconds + 1)
                    if stamp.microseconds >= 1_000_000 { stamp = (stamp.seconds + 1, 0) }
                }
                last = stamp
            }
            let base = "\(stamp.seconds).M\(stamp.microseconds)P\(getpid()).\(host)"
            let path = directory.tmp + "/" + base
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 {
                do { try owner?.apply(fd: fd, path: path) } catch {
                    close(fd)
                    _ = unlink(path)
                    throw error
                }
                return (base, path, fd)
            }
            if errno != EEXIST { throw MailStoreError.system("create", path: path, errno: errno) }
        }
        throw MailStoreError(.cannotCreate, "could not find a free file name in tmp/", path: directory.tmp)
    }

    /// Dovecot's escaping of the host name in file names: `/` → `\057`, `:` → `\072`.
    static func escapedHostName(_ host: String) -> String {
        var out = ""
        for character in host {
            switch character {
            case "/": out += "\\057"
            case ":": out += "\\072"
            case ",": out += "\\054"
            default: out.append(character)
            }
        }
        return out
    }
}
