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
    /// The unique base name of the temporary file (set by a save batch).
    var base = ""
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

    /// Closes and removes the temporary file of a message that will not be saved.
    consuming func abandon() {
        close(fd)
        _ = unlink(path)
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
        let batch = try makeSaveBatch(in: name)
        try batch.add(options: options, body: body)
        return try batch.commit()[0]
    }

    /// Starts a batch of saves into one mailbox: bodies are written to `tmp/` as they are
    /// added; ``SaveBatch/commit()`` makes them durable with one file-system sync, then
    /// links them and records their UIDs under one uidlist lock. Much faster than one
    /// ``saveMessage(in:options:body:)`` per message, with the same guarantees.
    ///
    /// - Throws: `notFound` for a missing mailbox; `badData` for a corrupt uidlist.
    public func makeSaveBatch(in name: MailboxName) throws -> SaveBatch {
        var directory = try openDirectory(name)
        if try !uidlistIsReady(directory) { directory = try snapshot(name).directory }
        removeStaleTemporaryFiles(directory)
        return SaveBatch(store: self, name: name, directory: directory, owner: try owner(for: directory.path))
    }

    /// Removes files left in `tmp/` by an interrupted save: files this host's Duplex wrote
    /// for a process that no longer exists, and (as Dovecot does) any file untouched for
    /// 36 hours. Best effort.
    func removeStaleTemporaryFiles(_ directory: MailboxDirectory) {
        let suffix = "." + Self.escapedHostName(configuration.hostName)
        let now = POSIX.wallClock().seconds
        guard let entries = try? POSIX.directoryEntries(directory.tmp) else { return }
        for entry in entries where !entry.name.hasPrefix(".") {
            let path = directory.tmp + "/" + entry.name
            var stale = false
            if entry.name.hasSuffix(suffix), let p = entry.name.firstIndex(of: "P"),
               let pid = Int32(entry.name[entry.name.index(after: p)...].prefix { $0.isNumber }),
               pid > 0, pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                stale = true
            } else if let status = try? POSIX.statusIfExists(path), status.isRegularFile, now - status.modificationSeconds > 36 * 3600 {
                stale = true
            }
            if stale { _ = unlink(path) }
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
        let host = Self.escapedHostName(configuration.hostName)
        var madeDirectory = false
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
            let base = "\(stamp.seconds).M\(stamp.microseconds)P\(Self.processID).\(host)"
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
            if errno == ENOENT && !madeDirectory {
                // tmp/ is made when missing (Dovecot makes it on demand too), once.
                try POSIX.makeDirectoryIfMissing(directory.tmp)
                madeDirectory = true
                continue
            }
            if errno != EEXIST { throw MailStoreError.system("create", path: path, errno: errno) }
        }
        throw MailStoreError(.cannotCreate, "could not find a free file name in tmp/", path: directory.tmp)
    }

    /// This process's ID, for temporary file names (`getpid` is a system call each time).
    static let processID = getpid()

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

/// Messages written to a mailbox's `tmp/`, waiting to be committed together. See
/// ``MailStore/makeSaveBatch(in:)``. Uncommitted files are removed when the batch is released.
public final class SaveBatch {
    private struct Pending {
        var tmpPath: String
        var sizedBase: String
        var size: Int64
        var virtualSize: Int64
        var options: SaveOptions
    }

    let store: MailStore
    let name: MailboxName
    let directory: MailboxDirectory
    let owner: FileOwner?
    private var pending: [Pending] = []
    /// Bytes added so far.
    public private(set) var byteCount: Int64 = 0
    /// Messages added so far.
    public var count: Int { pending.count }
    /// What ``commit()`` does when the new keywords of the batch do not all fit in the
    /// mailbox's 26 keyword letters: refuse (the default), or save the messages without the
    /// keywords left over (those first given get the letters).
    public var keywordOverflow: KeywordOverflow = .refuse
    /// Whether every body added so far is durable (see ``makeDurable(_:)``): ``commit()``
    /// then links them without a file-system sync of its own.
    public private(set) var bodiesDurable = false

    init(store: MailStore, name: MailboxName, directory: MailboxDirectory, owner: FileOwner?) {
        self.store = store
        self.name = name
        self.directory = directory
        self.owner = owner
    }

    deinit {
        for item in pending { _ = unlink(item.tmpPath) }
    }

    /// Makes the bodies added to all of `batches` durable with one file-system sync per file
    /// system they are on, instead of one per batch in ``commit()``: a sync that copies into
    /// several mailboxes waits for the disk once. (Without fsync in the store's
    /// configuration, nothing is synced.)
    ///
    /// - Throws: I/O errors of `stat` or `syncfs`; the batches are then unchanged.
    public static func makeDurable(_ batches: [SaveBatch]) throws {
        var synced: Set<UInt64> = []
        for batch in batches where !batch.pending.isEmpty && !batch.bodiesDurable && batch.store.configuration.fsync {
            let device = try POSIX.status(batch.directory.tmp).device
            if synced.insert(device).inserted { try POSIX.syncFileSystem(containing: batch.directory.tmp) }
        }
        for batch in batches { batch.bodiesDurable = true }
    }

    /// Writes one message to `tmp/`.
    ///
    /// - Throws: `invalidArgument` for a bad GUID, UID or keyword; I/O errors. Nothing of
    ///   this message is left behind on error.
    public func add(options: SaveOptions, body: (inout MessageBodyWriter) throws -> Void) throws {
        var writer = try begin(options)
        do {
            try body(&writer)
        } catch {
            writer.abandon()
            throw error
        }
        try finish(writer, options: options)
    }

    /// Writes one message to `tmp/` from a body that arrives piece by piece (a peer's stream):
    /// only the piece at hand is in memory.
    ///
    /// - Throws: as ``add(options:body:)``, and whatever `body` throws. Nothing of this
    ///   message is left behind on error.
    public func add(options: SaveOptions, body: (inout MessageBodyWriter) async throws -> Void) async throws {
        var writer = try begin(options)
        do {
            try await body(&writer)
        } catch {
            writer.abandon()
            throw error
        }
        try finish(writer, options: options)
    }

    private func begin(_ options: SaveOptions) throws -> MessageBodyWriter {
        if let guid = options.guid {
            guard !guid.isEmpty, guid.utf8.count <= 255, guid.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7f }) else {
                throw MailStoreError(.invalidArgument, "message GUID \"\(guid)\" is empty, too long or has spaces or control characters")
            }
        }
        if let uid = options.uid, uid == 0 || uid == UInt32.max {
            throw MailStoreError(.invalidArgument, "UID \(uid) is not valid")
        }
        for keyword in options.flags.keywords { try MessageFlags.validateKeyword(keyword) }
        let (base, tmpPath, fd) = try store.createTemporaryFile(directory, owner: owner)
        var writer = MessageBodyWriter(fd: fd, path: tmpPath)
        writer.base = base
        return writer
    }

    private func finish(_ writer: consuming MessageBodyWriter, options: SaveOptions) throws {
        let fd = writer.fd, tmpPath = writer.path
        do {
            if let date = options.receivedDate {
                var times = [timespec(tv_sec: Int(date), tv_nsec: 0), timespec(tv_sec: Int(date), tv_nsec: 0)]
                if futimens(fd, &times) != 0 { throw MailStoreError.system("set received date", path: tmpPath, errno: errno) }
            }
            close(fd)
        } catch {
            close(fd)
            _ = unlink(tmpPath)
            throw error
        }
        bodiesDurable = false
        pending.append(Pending(
            tmpPath: tmpPath, sizedBase: writer.base + ",S=\(writer.size),W=\(writer.virtualSize)",
            size: writer.size, virtualSize: writer.virtualSize, options: options))
        byteCount += writer.size
    }

    /// Makes the bodies durable, then under the uidlist lock checks every UID, links each
    /// file into `new/` (no flags) or `cur/` and appends the records in one write.
    ///
    /// - Returns: one result per added message, in order.
    /// - Throws: `uidNotAvailable` when a requested UID is below the next UID or UIDs are
    ///   not increasing (nothing is saved then); `lockTimeout`; I/O errors (nothing of the
    ///   batch stays visible).
    public func commit() throws -> [SavedMessage] {
        guard !pending.isEmpty else { return [] }
        if store.configuration.fsync && !bodiesDurable { try POSIX.syncFileSystem(containing: directory.tmp) }
        let items = pending
        let results: [SavedMessage] = try store.withUidlistLock(directory) { _ in
            guard let (bytes, uidlistStatus) = try POSIX.readFileWithStatus(directory.uidlist) else {
                throw MailStoreError(.notFound, "uidlist disappeared during the save", path: directory.uidlist)
            }
            let uidlist = try Uidlist(parsing: bytes, path: directory.uidlist)
            // The files there before, from a scan cache of exactly these stamps (not checked
            // against the names: the cache written after this save is, when next loaded).
            let filesBefore = (try? ScanCache.Stamps(cur: POSIX.status(directory.cur), new: POSIX.status(directory.new), uidlist: uidlistStatus))
                .flatMap { ScanCache.load(directory, stamps: $0, records: uidlist.records, confirmingNames: false) }
            var filesAdded: [ScannedFile?] = []
            guard uidlist.version == 3, uidlist.mailboxGUID != nil else {
                throw MailStoreError(.badData, "uidlist changed format during the save", path: directory.uidlist)
            }
            // Every UID first, so that a refusal changes nothing.
            var next = uidlist.nextUID
            var uids: [UInt32] = []
            for item in items {
                let uid = item.options.uid ?? next
                guard uid >= next else {
                    throw MailStoreError(
                        .uidNotAvailable,
                        "UID \(uid) is below the next UID \(next) of mailbox \"\(store.displayName(name))\" (UIDs are never reused)",
                        path: directory.uidlist)
                }
                guard uid < UInt32.max else {
                    throw MailStoreError(.badData, "UIDs are exhausted (next UID \(next))", path: directory.uidlist)
                }
                uids.append(uid)
                next = uid + 1
            }
            // New keywords get indexes in the order they are first given (as in Dovecot);
            // deduplicating through a Set would number them in hash order, differently on
            // every run.
            var keywords: [String] = []
            for keyword in items.lazy.flatMap(\.options.flags.keywords) where !keywords.contains(keyword) {
                keywords.append(keyword)
            }
            var table = try store.readKeywords(directory)
            if keywords.contains(where: { table.index(of: $0) == nil }) {
                table = try store.addKeywordsHoldingUidlistLock(keywords, to: directory, overflow: keywordOverflow)
            }
            var usedBases = Set<String>()
            if items.contains(where: { $0.options.guid != nil }) {
                usedBases = Set(uidlist.records.map(\.baseName))
            }
            var linked: [String] = []
            var records: [Uidlist.Record] = []
            var results: [SavedMessage] = []
            var touchedNew = false, touchedCur = false
            do {
                for (item, uid) in zip(items, uids) {
                    let keywordIndexes = item.options.flags.keywords.compactMap { table.index(of: $0) }
                    var candidates: [(base: String, fields: [Uidlist.Field])] = []
                    if let guid = item.options.guid, guid != item.sizedBase,
                       MailStore.canUseAsBaseName(guid, size: item.size, virtualSize: item.virtualSize), !usedBases.contains(guid) {
                        candidates.append((guid, []))
                    }
                    let guid = item.options.guid ?? item.sizedBase
                    candidates.append((item.sizedBase, guid == item.sizedBase ? [] : [Uidlist.Field(key: "G", value: guid)]))
                    let inNew = item.options.flags.system.isEmpty && keywordIndexes.isEmpty
                    var saved: SavedMessage?
                    for candidate in candidates {
                        let fileName = MaildirFileName(base: candidate.base, systemFlags: item.options.flags.system, keywordIndexes: keywordIndexes).fileName
                        let finalPath = directory.file(fileName, inNew: inNew)
                        if link(item.tmpPath, finalPath) != 0 {
                            if errno == EEXIST { continue }
                            throw MailStoreError.system("link to \(finalPath)", path: item.tmpPath, errno: errno)
                        }
                        linked.append(finalPath)
                        usedBases.insert(candidate.base)
                        records.append(Uidlist.Record(uid: uid, fields: candidate.fields, baseName: candidate.base))
                        saved = SavedMessage(uid: uid, guid: guid, fileName: fileName, size: item.size)
                        if filesBefore != nil, let file = try? ScannedFile(parsing: fileName, inNew: inNew) { filesAdded.append(file) }
                        if inNew { touchedNew = true } else { touchedCur = true }
                        break
                    }
                    guard let saved else {
                        throw MailStoreError(.alreadyExists, "a message file named \(item.sizedBase) already exists", path: directory.path)
                    }
                    results.append(saved)
                }
                if store.configuration.fsync {
                    if touchedNew { try POSIX.fsyncDirectory(directory.new) }
                    if touchedCur { try POSIX.fsyncDirectory(directory.cur) }
                }
                try store.appendToUidlist(directory, records)
            } catch {
                for path in linked { _ = unlink(path) }
                throw error
            }
            if let filesBefore, filesAdded.count == records.count {
                ScanCache.storeAfterChange(directory, records: uidlist.records + records, files: filesBefore + filesAdded, owner: owner)
            }
            return results
        }
        for item in items { _ = unlink(item.tmpPath) }
        pending = []
        byteCount = 0
        bodiesDurable = false
        return results
    }
}
