#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How ``MailStore/updateFlags(in:uids:_:_:)`` changes flags.
public enum FlagUpdateAction: String, Sendable, CaseIterable {
    /// Set the given flags, keep the others.
    case add
    /// Clear the given flags, keep the others.
    case remove
    /// Make the flags exactly the given ones.
    case replace
}

extension MailStore {
    /// Lists a mailbox's messages in UID order, as `doveadm fetch 'uid guid flags'` does.
    ///
    /// - Parameters:
    ///   - name: the mailbox.
    ///   - options: what else to read (the received date costs one `stat` per message).
    /// - Throws: `notFound` when the mailbox does not exist; `badData` for a corrupt
    ///   uidlist, keywords file or message file name.
    public func listMessages(in name: MailboxName, options: MessageListOptions = MessageListOptions()) throws -> [MessageInfo] {
        try messages(of: try snapshot(name), options: options)
    }

    /// A mailbox's status and messages from one read (what a sync needs).
    ///
    /// - Throws: as ``listMessages(in:options:)``.
    /// - Parameter subscriptions: the subscribed names when the caller already read them
    ///   (reading many mailboxes); read from disk when nil.
    public func contents(
        of name: MailboxName, options: MessageListOptions = MessageListOptions(), subscriptions: [MailboxName]? = nil
    ) throws -> (status: MailboxStatus, messages: [MessageInfo]) {
        let contents = try mailboxContents(of: name, options: options, subscriptions: subscriptions)
        return (contents.status, contents.messages)
    }

    /// A mailbox's status, messages and keyword letters from one read.
    ///
    /// - Throws: as ``listMessages(in:options:)``.
    /// - Parameter subscriptions: the subscribed names when the caller already read them.
    public func mailboxContents(
        of name: MailboxName, options: MessageListOptions = MessageListOptions(), subscriptions: [MailboxName]? = nil
    ) throws -> MailboxContents {
        let snapshot = try snapshot(name)
        let status = MailboxStatus(
            name: name, guid: snapshot.mailboxGUID, uidValidity: snapshot.uidlist.uidValidity,
            uidNext: snapshot.uidlist.nextUID, messages: snapshot.messages.count,
            isSubscribed: try subscriptions.map { $0.contains(name) } ?? readSubscriptions().contains(name))
        var carried: UInt32 = 0
        for (_, file) in snapshot.messages { carried |= file.summary.keywordMask }
        for file in snapshot.unassignedFiles { carried |= file.summary.keywordMask }
        return MailboxContents(
            status: status, messages: try messages(of: snapshot, options: options), keywords: snapshot.keywords,
            freeKeywordLetters: snapshot.keywords.freeLetters(carried: carried))
    }

    private func messages(of snapshot: MailboxSnapshot, options: MessageListOptions) throws -> [MessageInfo] {
        var result: [MessageInfo] = []
        result.reserveCapacity(snapshot.files.count)
        for (record, file) in snapshot.messages {
            var info = MessageInfo(
                uid: record.uid, guid: record.guid, flags: flags(of: file.summary, keywords: snapshot.keywords),
                size: file.summary.size ?? record.field("S").flatMap { Int64($0) } ?? -1,
                receivedDate: nil, fileName: file.fileName, isInNew: file.inNew)
            if options.receivedDate || info.size < 0 {
                let path = snapshot.directory.file(file.fileName, inNew: file.inNew)
                if let status = try POSIX.statusIfExists(path) {
                    if options.receivedDate { info.receivedDate = status.modificationSeconds }
                    if info.size < 0 { info.size = status.size }
                }
            }
            result.append(info)
        }
        return result
    }

    func flags(of name: MaildirFileName.Summary, keywords: KeywordTable) -> MessageFlags {
        guard name.keywordMask != 0 else { return MessageFlags(system: name.systemFlags) }
        var names: [String] = []
        for index in name.keywordIndexes {
            if let keyword = keywords.name(at: index) { names.append(keyword) }
        }
        return MessageFlags(system: name.systemFlags, keywords: names)
    }

    /// Opens a message's body for reading.
    ///
    /// - Throws: `notFound` when the mailbox or UID does not exist (or was expunged).
    public func openMessage(in name: MailboxName, uid: UInt32) throws -> MessageBodyReader {
        for attempt in 0..<3 {
            let snapshot = try snapshot(name)
            guard let (_, file) = snapshot.messages.first(where: { $0.record.uid == uid }) else { break }
            let path = snapshot.directory.file(file.fileName, inNew: file.inNew)
            var st = stat()
            let fd = openMessageFile(path, status: &st)
            if fd >= 0 { return MessageBodyReader(fd: fd, path: path, status: st) }
            // Renamed by a concurrent flag change or moved to cur/: look again.
            if errno != ENOENT || attempt == 2 { throw MailStoreError.system("open", path: path, errno: errno) }
        }
        throw MailStoreError(.notFound, "no message with UID \(uid) in mailbox \"\(displayName(name))\"", path: directory(name).path)
    }

    /// Changes the flags and keywords of messages by renaming their files, as Dovecot does.
    /// New keywords are added to `dovecot-keywords` under the uidlist lock.
    ///
    /// - Returns: the UIDs that were found (missing UIDs are ignored, as in doveadm).
    /// - Throws: `invalidArgument` when a 27th keyword would be needed; `notFound` for a
    ///   missing mailbox.
    @discardableResult
    public func updateFlags(in name: MailboxName, uids: [UInt32], _ action: FlagUpdateAction, _ flags: MessageFlags) throws -> [UInt32] {
        var snapshot = try snapshot(name)
        let wanted = Set(uids)
        var keywordIndexes: [Int] = []
        if !flags.keywords.isEmpty {
            if action == .remove {
                keywordIndexes = flags.keywords.compactMap { snapshot.keywords.index(of: $0) }
            } else {
                let missing = flags.keywords.filter { snapshot.keywords.index(of: $0) == nil }
                if !missing.isEmpty {
                    snapshot.keywords = try addKeywords(missing, to: snapshot.directory)
                }
                keywordIndexes = try flags.keywords.map { keyword in
                    guard let index = snapshot.keywords.index(of: keyword) else {
                        throw MailStoreError(.io, "keyword \"\(keyword)\" was not recorded", path: snapshot.directory.keywords)
                    }
                    return index
                }
            }
        }
        var done: [UInt32] = []
        let keywords = snapshot.keywords
        let transform = { (name: MaildirFileName) -> MaildirFileName in
            var newName = name
            switch action {
            case .add:
                newName.systemFlags.formUnion(flags.system)
                newName.keywordIndexes = Array(Set(newName.keywordIndexes).union(keywordIndexes)).sorted()
            case .remove:
                newName.systemFlags.subtract(flags.system)
                newName.keywordIndexes.removeAll { keywordIndexes.contains($0) }
            case .replace:
                newName.systemFlags = flags.system
                // Letters without a name in dovecot-keywords are not ours to drop.
                let unnamed = newName.keywordIndexes.filter { keywords.name(at: $0) == nil }
                newName.keywordIndexes = Array(Set(unnamed).union(keywordIndexes)).sorted()
            }
            newName.foreignInfo = nil
            newName.hasInfo = true
            return newName
        }
        for (record, file) in snapshot.messages where wanted.contains(record.uid) {
            if try renameMessageFile(snapshot.directory, record: record, from: file, transform) != nil {
                done.append(record.uid)
            }
        }
        return done
    }

    /// Sets the flags of many messages at once (each to exactly the given flags), reading
    /// the mailbox once. Keyword letters without a name in `dovecot-keywords` are kept.
    ///
    /// - Parameters:
    ///   - expecting: for a UID listed here, the flags the caller last read: the message is
    ///     changed only while it still has exactly those (system flags, and keywords without
    ///     regard to case). A message whose flags someone else changed meanwhile (Dovecot
    ///     serving a client) is left as it is and not in the result, so that a sync does not
    ///     overwrite a change it never saw.
    ///   - keywordOverflow: what to do when the new keywords do not all fit in the
    ///     mailbox's 26 letters (with ``KeywordOverflow/drop``, those left over, in code-point
    ///     order, are not set).
    /// - Returns: the UIDs that were set (missing UIDs, and those whose flags were not the
    ///   expected ones, are left out).
    /// - Throws: `invalidArgument` when a 27th keyword would be needed and `keywordOverflow`
    ///   is ``KeywordOverflow/refuse``.
    @discardableResult
    public func replaceFlags(
        in name: MailboxName, _ flags: [UInt32: MessageFlags], expecting: [UInt32: MessageFlags] = [:],
        keywordOverflow: KeywordOverflow = .refuse
    ) throws -> [UInt32] {
        guard !flags.isEmpty else { return [] }
        var snapshot = try snapshot(name)
        var renamed: [UInt32: ScannedFile] = [:]
        return try replaceFlags(&snapshot, flags, expecting: expecting, keywordOverflow: keywordOverflow, renamed: &renamed)
    }

    /// ``replaceFlags(in:_:expecting:keywordOverflow:)``, then ``expunge(in:uids:)``, on one
    /// reading of the mailbox: a sync that changes flags and expunges in one mailbox lists
    /// it once instead of twice. The same rules hold as for the two calls: a message renamed
    /// meanwhile is looked up again, one whose flags changed is left alone.
    ///
    /// - Returns: the UIDs whose flags were set, and those expunged.
    /// - Throws: as the two calls; when the flag changes throw, nothing was expunged.
    public func replaceFlagsThenExpunge(
        in name: MailboxName, _ flags: [UInt32: MessageFlags], expecting: [UInt32: MessageFlags] = [:],
        keywordOverflow: KeywordOverflow = .refuse, expunging uids: [UInt32]
    ) throws -> (flagged: [UInt32], expunged: [UInt32]) {
        var snapshot = try snapshot(name)
        var renamed: [UInt32: ScannedFile] = [:]
        let flagged = flags.isEmpty ? [] : try replaceFlags(&snapshot, flags, expecting: expecting, keywordOverflow: keywordOverflow, renamed: &renamed)
        let (expunged, compacted) = uids.isEmpty ? ([], false) : try expunge(snapshot, uids: uids)
        if !compacted {
            // What is there now, as far as these changes know: the next listing (a sync's
            // check right after) compares the names instead of parsing them all again.
            let gone = Set(expunged)
            let files = zip(snapshot.uidlist.records, snapshot.filesInRecordOrder).map { record, file in
                gone.contains(record.uid) ? nil : renamed[record.uid] ?? file
            }
            ScanCache.storeAfterChange(snapshot.directory, records: snapshot.uidlist.records, files: files, owner: try? owner(for: snapshot.directory.path))
        }
        return (flagged, expunged)
    }

    /// - Parameter renamed: receives the files as renamed, by UID.
    private func replaceFlags(
        _ snapshot: inout MailboxSnapshot, _ flags: [UInt32: MessageFlags], expecting: [UInt32: MessageFlags], keywordOverflow: KeywordOverflow,
        renamed: inout [UInt32: ScannedFile]
    ) throws -> [UInt32] {
        let keywords = Set(flags.values.flatMap(\.keywords))
        if keywords.contains(where: { snapshot.keywords.index(of: $0) == nil }) {
            // Sorted: which keywords get a letter (and which are left over) must not depend on hash order.
            snapshot.keywords = try addKeywords(keywords.sorted(), to: snapshot.directory, overflow: keywordOverflow)
        }
        let table = snapshot.keywords
        var done: [UInt32] = []
        for (record, file) in snapshot.messages {
            guard let wanted = flags[record.uid] else { continue }
            let indexes = wanted.keywords.compactMap { table.index(of: $0) }
            let expected = expecting[record.uid]
            let now = try renameMessageFile(snapshot.directory, record: record, from: file) { name -> MaildirFileName? in
                if let expected, !Self.sameFlags(name, expected, table: table) { return nil }
                var newName = name
                newName.systemFlags = wanted.system
                let unnamed = newName.keywordIndexes.filter { table.name(at: $0) == nil }
                newName.keywordIndexes = Array(Set(unnamed).union(indexes)).sorted()
                newName.foreignInfo = nil
                newName.hasInfo = true
                return newName
            }
            if let now {
                done.append(record.uid)
                renamed[record.uid] = now
            }
        }
        return done
    }

    /// Opens a message listed by ``listMessages(in:options:)`` directly by its file, falling
    /// back to a lookup by UID when it was renamed since (a flag change).
    ///
    /// - Throws: `notFound` when it was expunged.
    public func openMessage(in name: MailboxName, _ message: MessageInfo) throws -> MessageBodyReader {
        let path = directory(name).file(message.fileName, inNew: message.isInNew)
        var st = stat()
        let fd = openMessageFile(path, status: &st)
        if fd >= 0 { return MessageBodyReader(fd: fd, path: path, status: st) }
        guard errno == ENOENT else { throw MailStoreError.system("open", path: path, errno: errno) }
        return try openMessage(in: name, uid: message.uid)
    }

    /// Whether the flags in a message's file name are `expected` (keywords without case;
    /// letters without a name in the table are not flags of ours).
    static func sameFlags(_ name: MaildirFileName, _ expected: MessageFlags, table: KeywordTable) -> Bool {
        guard name.systemFlags == expected.system else { return false }
        let current = Set(name.keywordIndexes.compactMap { table.name(at: $0)?.lowercased() })
        return current == Set(expected.keywords.map { $0.lowercased() })
    }

    /// Renames one message file to the name `transform` gives, following it when a
    /// concurrent writer renamed it first. Returns false when it was expunged meanwhile or
    /// `transform` gave no name (the file is left as it is).
    private func renameMessageFile(
        _ directory: MailboxDirectory, record: Uidlist.Record, from file: ScannedFile,
        _ transform: (MaildirFileName) -> MaildirFileName?
    ) throws -> ScannedFile? {
        var current = file
        for _ in 0..<5 {
            guard let newName = transform(try current.parsedName())?.fileName else { return nil }
            if current.fileName == newName { return current }
            let from = directory.file(current.fileName, inNew: current.inNew)
            let to = directory.file(newName, inNew: current.inNew)
            if Glibc.rename(from, to) == 0 { return try ScannedFile(parsing: newName, inNew: current.inNew) }
            let code = errno
            guard code == ENOENT else { throw MailStoreError.system("rename to \(to)", path: from, errno: code) }
            guard let found = try scanFiles(directory).files[record.baseName] else { return nil }
            current = found
        }
        throw MailStoreError(.io, "message file kept changing while its flags were updated", path: directory.file(file.fileName, inNew: file.inNew))
    }

    /// Adds keywords to the mailbox's `dovecot-keywords` (under the uidlist lock, then the
    /// keywords dotlock, replaced by rename). With ``KeywordOverflow/drop``, keywords that
    /// find no free letter are left out of the table (callers then give them no letter).
    func addKeywords(_ keywords: [String], to directory: MailboxDirectory, overflow: KeywordOverflow = .refuse) throws -> KeywordTable {
        try withUidlistLock(directory) { _ in try addKeywordsHoldingUidlistLock(keywords, to: directory, overflow: overflow) }
    }

    /// ``addKeywords(_:to:overflow:)`` for a caller that already holds the uidlist lock.
    func addKeywordsHoldingUidlistLock(
        _ keywords: [String], to directory: MailboxDirectory, overflow: KeywordOverflow = .refuse
    ) throws -> KeywordTable {
        var table = try readKeywords(directory)
        var changed = false
        var reserved: UInt32 = 0
        if keywords.contains(where: { table.index(of: $0) == nil }) {
            // Letters already on files but without a name must not get one now.
            for file in try scanFiles(directory).files.files { reserved |= file.summary.keywordMask }
            for index in 0..<KeywordTable.capacity where table.name(at: index) != nil { reserved &= ~(1 << UInt32(index)) }
        }
        for keyword in keywords where table.index(of: keyword) == nil {
            do {
                _ = try table.indexAdding(keyword, avoiding: reserved)
            } catch var error as MailStoreError {
                if overflow == .drop { continue }
                error.path = directory.keywords
                throw error
            }
            changed = true
        }
        if changed {
            // Dovecot re-reads dovecot-keywords only when its modification time (whole
            // seconds) changed, so a rewrite within the second of the last one must still
            // move it forward; otherwise Dovecot gives the new keyword's letter to another.
            let previous = try POSIX.statusIfExists(directory.keywords)?.modificationSeconds
            try Dotlock.withLock(for: directory.keywords, configuration: configuration.lock, owner: configuration.owner) { lock in
                try lock.replaceTarget(with: table.serialized(), fsync: configuration.fsync, modifiedAfter: previous)
            }
        }
        return table
    }

    /// Expunges messages: their files are removed. Their UIDs are never used again. When a
    /// quarter of the uidlist's records are gone, the uidlist is compacted, as Dovecot does.
    ///
    /// - Returns: the UIDs that were expunged (missing UIDs are ignored, as in doveadm).
    @discardableResult
    public func expunge(in name: MailboxName, uids: [UInt32]) throws -> [UInt32] {
        try expunge(try snapshot(name), uids: uids).expunged
    }

    /// - Returns: the UIDs expunged, and whether the uidlist was compacted after them.
    private func expunge(_ snapshot: MailboxSnapshot, uids: [UInt32]) throws -> (expunged: [UInt32], compacted: Bool) {
        let wanted = Set(uids)
        let targets = snapshot.messages.filter { wanted.contains($0.record.uid) }
        // All at once first (see unlinkConcurrently: each removal may wait for the disk);
        // a file renamed meanwhile (a flag change) is looked up again and removed alone.
        let paths = targets.map { snapshot.directory.file($0.file.fileName, inNew: $0.file.inNew) }
        let results = POSIX.unlinkConcurrently(paths)
        var done: [UInt32] = []
        var compacted = false
        var failure: MailStoreError?
        for (index, (record, _)) in targets.enumerated() {
            if results[index] == 0 { done.append(record.uid); continue }
            guard results[index] == ENOENT else {
                failure = failure ?? MailStoreError.system("unlink", path: paths[index], errno: results[index])
                continue
            }
            for _ in 0..<5 {
                guard let found = try scanFiles(snapshot.directory).files[record.baseName] else { break }
                let path = snapshot.directory.file(found.fileName, inNew: found.inNew)
                if unlink(path) == 0 { done.append(record.uid); break }
                guard errno == ENOENT else { throw MailStoreError.system("unlink", path: path, errno: errno) }
            }
        }
        if !done.isEmpty {
            if configuration.fsync {
                try POSIX.fsyncDirectory(snapshot.directory.cur)
                try POSIX.fsyncDirectory(snapshot.directory.new)
            }
            // Read again under the lock only when these removals may have made it due (the
            // snapshot before them says so); compaction is housekeeping, and a later expunge
            // or Dovecot does it when other changes made it due meanwhile.
            if Self.shouldCompact(records: snapshot.uidlist.records.count, live: snapshot.files.count - done.count, isStable: snapshot.isStable) {
                try compactIfNeeded(snapshot.directory)
                compacted = true
            }
        }
        // The files removed are made durable first: a failure on one never leaves the others
        // half-done.
        if let failure { throw failure }
        return (done.sorted(), compacted)
    }

    func compactIfNeeded(_ directory: MailboxDirectory) throws {
        try withUidlistLock(directory) { lock in
            var snapshot = try readSnapshot(directory, uidlistRequired: true)
            guard snapshot.unassignedFiles.isEmpty, Self.shouldCompact(snapshot) else { return }
            try rewriteUidlist(&snapshot, lock: lock)
        }
    }
}

/// Opens a message file for reading: never through a symbolic link, never blocking on a
/// FIFO, and only a regular file. Returns -1 with `errno` set otherwise (`ELOOP`, `EINVAL`).
/// `status` receives the open file's `fstat`.
func openMessageFile(_ path: String, status st: inout stat) -> Int32 {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
    guard fd >= 0 else { return fd }
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
        close(fd)
        errno = EINVAL
        return -1
    }
    return fd
}

/// A message file opened for reading; closed when released.
public final class MessageBodyReader {
    private var fd: Int32
    /// The file's path.
    public let path: String

    /// Size and modification time, from the `fstat` made when the file was opened (a
    /// message file's body and received date never change once it is in `new/` or `cur/`).
    private let openedSize: Int64
    private let openedModificationSeconds: Int64

    init(fd: Int32, path: String, status: stat) {
        self.fd = fd
        self.path = path
        openedSize = Int64(status.st_size)
        openedModificationSeconds = Int64(status.st_mtim.tv_sec)
    }

    deinit { close() }

    /// Reads up to `maxLength` bytes; an empty array at the end of the message.
    public func read(maxLength: Int = 65536) throws -> [UInt8] {
        guard fd >= 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: maxLength)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MailStoreError.system("read", path: path, errno: errno)
            }
            buffer.removeSubrange(n...)
            return buffer
        }
    }

    /// Reads up to `buffer.count` bytes into `buffer`; 0 at the end of the message.
    ///
    /// - Returns: the number of bytes read.
    /// - Throws: `io` on a read error.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard fd >= 0, buffer.count > 0 else { return 0 }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw MailStoreError.system("read", path: path, errno: errno)
            }
            return n
        }
    }

    /// The file's size in bytes.
    ///
    /// - Throws: `io` when the file cannot be examined.
    public func size() throws -> Int64 {
        guard fd >= 0 else { throw MailStoreError(.io, "the message file is closed", path: path) }
        return openedSize
    }

    /// The received date (the file's modification time), Unix seconds; nil once closed.
    public var receivedDate: Int64? { fd >= 0 ? openedModificationSeconds : nil }

    /// Reads the rest of the message.
    public func readAll() throws -> [UInt8] {
        guard fd >= 0 else { return [] }
        return try POSIX.readAll(fd: fd, path: path)
    }

    /// Closes the file (also done on release).
    public func close() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
    }
}
