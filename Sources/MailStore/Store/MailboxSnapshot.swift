#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A message file found in `new/` or `cur/`.
struct ScannedFile: Sendable {
    var fileName: String
    var inNew: Bool
    var summary: MaildirFileName.Summary

    /// The base name (everything before `:`), sharing the file name's storage.
    var base: Substring {
        let utf8 = fileName.utf8
        return Substring(utf8[utf8.startIndex..<utf8.index(utf8.startIndex, offsetBy: summary.baseLength)])
    }

    /// The fully parsed name (for renames); the scan already validated it.
    func parsedName() throws -> MaildirFileName { try MaildirFileName(parsing: fileName) }
}

extension ScannedFile {
    /// A file by its name, the summary parsed from it (a name this process just gave a file).
    init(parsing fileName: String, inNew: Bool) throws {
        var name = fileName
        let summary = try name.withUTF8 { try MaildirFileName.Summary(parsing: $0, original: fileName) }
        self.init(fileName: fileName, inNew: inNew, summary: summary)
    }
}

/// The files of a mailbox, found by base name.
struct FileIndex: Sendable {
    private(set) var files: [ScannedFile] = []
    private var byBase: [Substring: Int] = [:]
    /// False for files loaded from the scan cache, which are already matched to records.
    private(set) var isIndexed = true

    init(capacity: Int) {
        files.reserveCapacity(capacity)
        byBase.reserveCapacity(capacity)
    }

    /// Files from the scan cache, in record order, without a lookup table.
    init(cached files: [ScannedFile]) {
        self.files = files
        isIndexed = false
    }

    var count: Int { files.count }

    /// Builds the lookup table for files that came from the scan cache.
    mutating func ensureIndexed() {
        guard !isIndexed else { return }
        byBase.reserveCapacity(files.count)
        for (position, file) in files.enumerated() { byBase[file.base] = position }
        isIndexed = true
    }

    /// Adds a file; returns the file already there under the same base name, if any.
    mutating func insert(_ file: ScannedFile) -> ScannedFile? {
        if let existing = byBase[file.base] { return files[existing] }
        byBase[file.base] = files.count
        files.append(file)
        return nil
    }

    /// Puts `file` in place of the file with the same base name (seen under an older name).
    mutating func replace(_ file: ScannedFile) {
        guard let position = byBase[file.base] else { return }
        files[position] = file
    }

    func position(of base: String) -> Int? {
        precondition(isIndexed, "files from the scan cache have no lookup table")
        return byBase[Substring(base)]
    }

    subscript(base: String) -> ScannedFile? { position(of: base).map { files[$0] } }
}

/// One consistent read of a mailbox: its uidlist, keywords and files, matched by base name.
struct MailboxSnapshot: Sendable {
    let directory: MailboxDirectory
    var uidlist: Uidlist
    var keywords: KeywordTable
    /// Files by base name.
    var files: FileIndex
    /// Whether `new/` and `cur/` did not change while they were listed.
    var isStable: Bool = true
    /// Messages in UID order: records whose file exists.
    private(set) var messages: [(record: Uidlist.Record, file: ScannedFile)] = []
    /// Files with no uidlist record.
    private(set) var unassignedFiles: [ScannedFile] = []

    init(directory: MailboxDirectory, uidlist: Uidlist, keywords: KeywordTable, files: FileIndex, isStable: Bool) throws {
        self.directory = directory
        self.uidlist = uidlist
        self.keywords = keywords
        self.files = files
        self.isStable = isStable
        try match()
    }

    /// A snapshot whose files come from the scan cache: `cached[i]` is record `i`'s file.
    init(directory: MailboxDirectory, uidlist: Uidlist, keywords: KeywordTable, cached: [ScannedFile?]) {
        self.directory = directory
        self.uidlist = uidlist
        self.keywords = keywords
        var messages: [(record: Uidlist.Record, file: ScannedFile)] = []
        messages.reserveCapacity(cached.count)
        for (record, file) in zip(uidlist.records, cached) {
            if let file { messages.append((record: record, file: file)) }
        }
        self.messages = messages
        self.files = FileIndex(cached: messages.map(\.file))
        self.isStable = true
    }

    /// Pairs records with files. Two records naming the same file make the uidlist corrupt.
    mutating func match() throws {
        files.ensureIndexed()
        var matched = [Bool](repeating: false, count: files.count)
        var result: [(record: Uidlist.Record, file: ScannedFile)] = []
        result.reserveCapacity(files.count)
        for record in uidlist.records {
            guard let position = files.position(of: record.baseName) else { continue }
            if matched[position] {
                throw MailStoreError(.badData, "two records (the second is UID \(record.uid)) name the same file \(record.baseName)", path: directory.uidlist)
            }
            matched[position] = true
            result.append((record: record, file: files.files[position]))
        }
        messages = result
        unassignedFiles = []
        if result.count < files.count {
            for (position, file) in files.files.enumerated() where !matched[position] { unassignedFiles.append(file) }
        }
    }

    var mailboxGUID: MailboxGUID { uidlist.mailboxGUID! }

    /// Each uidlist record's file (nil: none), in record order.
    var filesInRecordOrder: [ScannedFile?] {
        var files: [ScannedFile?] = []
        files.reserveCapacity(uidlist.records.count)
        var next = messages.startIndex
        for record in uidlist.records {
            if next < messages.endIndex, messages[next].record.uid == record.uid {
                files.append(messages[next].file)
                next += 1
            } else {
                files.append(nil)
            }
        }
        return files
    }
}

extension MailStore {
    /// Reads a mailbox, assigning UIDs to new files and creating a missing uidlist or
    /// mailbox GUID under the uidlist lock, as Dovecot's maildir sync does.
    ///
    /// - Throws: `notFound` when the mailbox does not exist, `badData` for a missing `cur/`,
    ///   a corrupt uidlist or keywords file, or bad file names.
    func snapshot(_ name: MailboxName) throws -> MailboxSnapshot {
        let directory = try openDirectory(name)
        var snapshot: MailboxSnapshot
        do {
            snapshot = try readSnapshot(directory, uidlistRequired: false)
        } catch let error as MailStoreError where error.code == .badData && error.path == directory.uidlist {
            // A reader without the lock may catch an append half-written; read again under it.
            return try withUidlistLock(directory) { lock in try synchronize(directory, lock: lock) }
        }
        if snapshot.uidlist.version == 3, snapshot.uidlist.mailboxGUID != nil, snapshot.uidlist.uidValidity != 0,
           snapshot.unassignedFiles.isEmpty {
            return snapshot
        }
        return try withUidlistLock(directory) { lock in try synchronize(directory, lock: lock) }
    }

    /// Returns the mailbox's directory after checking that it exists and has `cur/` and
    /// `new/`. Reading never creates anything, so a wrong path is reported, not turned
    /// into a Maildir.
    func openDirectory(_ name: MailboxName) throws -> MailboxDirectory {
        try requireRoot()
        let directory = directory(name)
        guard let status = try POSIX.statusIfExists(directory.path), status.isDirectory else {
            throw MailStoreError(.notFound, "mailbox \"\(displayName(name))\" does not exist", path: directory.path)
        }
        for sub in [directory.cur, directory.new] {
            guard let status = try POSIX.statusIfExists(sub), status.isDirectory else {
                throw MailStoreError(.badData, "mailbox \"\(displayName(name))\" has no \(sub.hasSuffix("cur") ? "cur" : "new")/ directory", path: sub)
            }
        }
        return directory
    }

    func createMaildirDirectories(_ path: String, owner: FileOwner?) throws {
        for sub in ["cur", "new", "tmp"] {
            let full = path + "/" + sub
            try POSIX.makeDirectoryIfMissing(full)
            try owner?.apply(path: full)
        }
    }

    /// Reads uidlist, keywords and a stable scan of the files, without locking. When
    /// nothing changed since the last scan, the files come from the scan cache instead.
    func readSnapshot(_ directory: MailboxDirectory, uidlistRequired: Bool) throws -> MailboxSnapshot {
        let uidlist: Uidlist
        let uidlistStatus: POSIX.FileStatus?
        if let (bytes, status) = try POSIX.readFileWithStatus(directory.uidlist) {
            uidlist = try Uidlist(parsing: bytes, path: directory.uidlist)
            uidlistStatus = status
        } else {
            if uidlistRequired { throw MailStoreError(.notFound, "uidlist does not exist", path: directory.uidlist) }
            uidlist = Uidlist(uidValidity: 0, nextUID: 1, mailboxGUID: nil)
            uidlistStatus = nil
        }
        let keywords = try readKeywords(directory)
        let scanStart = POSIX.wallClock()
        let stamps = try uidlistStatus.map {
            ScanCache.Stamps(cur: try POSIX.status(directory.cur), new: try POSIX.status(directory.new), uidlist: $0)
        }
        if let stamps, let cached = ScanCache.load(directory, stamps: stamps, records: uidlist.records, owner: try? owner(for: directory.path)) {
            return MailboxSnapshot(directory: directory, uidlist: uidlist, keywords: keywords, cached: cached)
        }
        let (files, stable) = try scanFiles(directory, expected: uidlist.records.count)
        let snapshot = try MailboxSnapshot(directory: directory, uidlist: uidlist, keywords: keywords, files: files, isStable: stable)
        // (An empty mailbox is listed at once; it gets no cache.)
        if let stamps, stable, snapshot.unassignedFiles.isEmpty, !uidlist.records.isEmpty,
           let now = try? ScanCache.Stamps(cur: POSIX.status(directory.cur), new: POSIX.status(directory.new), uidlist: stamps.uidlist),
           now == stamps {
            ScanCache.store(
                directory, stamps: stamps, records: uidlist.records, files: snapshot.filesInRecordOrder,
                confirmed: stamps.settled(before: scanStart.seconds), owner: try? owner(for: directory.path))
        }
        return snapshot
    }

    func readKeywords(_ directory: MailboxDirectory) throws -> KeywordTable {
        guard let bytes = try POSIX.readFileIfExists(directory.keywords) else { return KeywordTable() }
        return try KeywordTable(parsing: bytes, path: directory.keywords)
    }

    /// Lists `new/` and `cur/`; scans again when either changed during the scan (a
    /// concurrent rename could otherwise hide a file), like Dovecot's maildir sync.
    func scanFiles(_ directory: MailboxDirectory, expected: Int = 64) throws -> (files: FileIndex, stable: Bool) {
        var attempt = 0
        while true {
            attempt += 1
            let before = (try POSIX.status(directory.new), try POSIX.status(directory.cur))
            var files = FileIndex(capacity: expected + expected / 8 + 16)
            let racedInNew = try scan(directory.new, inNew: true, directory: directory, into: &files)
            let racedInCur = try scan(directory.cur, inNew: false, directory: directory, into: &files)
            let after = (try POSIX.status(directory.new), try POSIX.status(directory.cur))
            let stable = !racedInNew && !racedInCur && Self.sameStamp(before.0, after.0) && Self.sameStamp(before.1, after.1)
            if stable || attempt >= 5 {
                return (files, stable)
            }
        }
    }

    static func sameStamp(_ a: POSIX.FileStatus, _ b: POSIX.FileStatus) -> Bool {
        a.modificationSeconds == b.modificationSeconds && a.modificationNanoseconds == b.modificationNanoseconds && a.inode == b.inode
    }

    /// Lists `new/` or `cur/` into `files`. Returns whether a file was seen under two names
    /// because it was renamed during the listing.
    private func scan(_ path: String, inNew: Bool, directory: MailboxDirectory, into files: inout FileIndex) throws -> Bool {
        var raced = false
        try POSIX.forEachDirectoryEntry(path) { nameBytes, type in
            if nameBytes.first == UInt8(ascii: ".") { return }
            guard let fileName = String(validating: nameBytes, as: UTF8.self) else {
                throw MailStoreError(
                    .badData, "a message file name is not valid UTF-8 (\(nameBytes.count) bytes)",
                    path: path + "/" + String(decoding: nameBytes, as: UTF8.self))
            }
            var kind = type
            if kind == UInt8(DT_UNKNOWN) {
                var st = stat()
                guard lstat(path + "/" + fileName, &st) == 0 else { raced = true; return }
                switch st.st_mode & S_IFMT {
                case S_IFREG: kind = UInt8(DT_REG)
                case S_IFDIR: kind = UInt8(DT_DIR)
                default: kind = UInt8(DT_LNK)
                }
            }
            if kind == UInt8(DT_DIR) { return }
            guard kind == UInt8(DT_REG) else {
                // A link could expose any file the process may read; a FIFO or device would
                // block or never end. Dovecot, running as the mail user, could not read them either.
                throw MailStoreError(
                    .badData, "not a regular file (a symbolic link, FIFO, socket or device): Duplex reads only regular message files",
                    path: path + "/" + fileName)
            }
            let summary: MaildirFileName.Summary
            do {
                summary = try MaildirFileName.Summary(parsing: nameBytes, original: fileName)
            } catch let error as MailStoreError {
                throw MailStoreError(.badData, error.message, path: path + "/" + fileName)
            }
            let file = ScannedFile(fileName: fileName, inNew: inNew, summary: summary)
            if let other = files.insert(file) {
                // A rename while listing (Dovecot moving new/ to cur/, a flag change) can show
                // one file under its old and its new name; only two names that both still
                // exist are two files.
                if !POSIX.exists(directory.file(other.fileName, inNew: other.inNew)) {
                    files.replace(file)
                    raced = true
                } else if !POSIX.exists(path + "/" + fileName) {
                    raced = true
                } else {
                    throw MailStoreError(
                        .badData,
                        "two message files have the same base name (the other is \((other.inNew ? "new/" : "cur/") + other.fileName))",
                        path: path + "/" + fileName)
                }
            }
        }
        return raced
    }

    /// Runs `body` holding the mailbox's `dovecot-uidlist.lock`.
    func withUidlistLock<T>(_ directory: MailboxDirectory, _ body: (Dotlock) throws -> T) throws -> T {
        try Dotlock.withLock(for: directory.uidlist, configuration: configuration.lock, owner: configuration.owner, body)
    }

    /// Under the uidlist lock: re-reads everything, creates a missing uidlist (new
    /// UIDVALIDITY and GUID), assigns UIDs to files without a record (in delivery order,
    /// see ``deliveryOrderPrecedes(_:_:)``), and rewrites or appends the uidlist as Dovecot
    /// would.
    func synchronize(_ directory: MailboxDirectory, lock: Dotlock) throws -> MailboxSnapshot {
        var snapshot = try readSnapshot(directory, uidlistRequired: false)
        let existed = snapshot.uidlist.uidValidity != 0
        var needsRewrite = !existed || snapshot.uidlist.version != 3 || snapshot.uidlist.mailboxGUID == nil
        if !existed {
            snapshot.uidlist.uidValidity = try UIDValidityAllocator(root: root, owner: try owner(for: root)).next()
        }
        if snapshot.uidlist.mailboxGUID == nil { snapshot.uidlist.mailboxGUID = MailboxGUID.generate() }
        let newFiles = snapshot.unassignedFiles.sorted { Self.deliveryOrderPrecedes($0.base, $1.base) }
        var appended: [Uidlist.Record] = []
        var next = snapshot.uidlist.nextUID
        for file in newFiles {
            guard next < UInt32.max else {
                throw MailStoreError(.badData, "UIDs are exhausted (next UID \(next))", path: directory.uidlist)
            }
            appended.append(Uidlist.Record(uid: next, baseName: String(file.base)))
            next += 1
        }
        if !appended.isEmpty {
            snapshot.uidlist.records.append(contentsOf: appended)
            try snapshot.match()
        }
        if Self.shouldCompact(snapshot) { needsRewrite = true }
        if needsRewrite {
            try rewriteUidlist(&snapshot, lock: lock)
        } else if !appended.isEmpty {
            try appendToUidlist(directory, appended)
        }
        return snapshot
    }

    /// Whether the file `a` is numbered before `b` when both get new UIDs: by the Unix
    /// seconds the name starts with, then by the microseconds after the first `M` of the
    /// name's second part (when both have one), then by the rest of the name, byte by byte.
    /// This is Dovecot's order; plain string order would put `M100000` before `M99999`.
    static func deliveryOrderPrecedes(_ a: Substring, _ b: Substring) -> Bool {
        let (secondsA, restA) = leadingNumber(a.utf8[...])
        let (secondsB, restB) = leadingNumber(b.utf8[...])
        if secondsA != secondsB { return secondsA < secondsB }
        if let microsA = microseconds(restA), let microsB = microseconds(restB), microsA != microsB {
            return microsA < microsB
        }
        return restA.lexicographicallyPrecedes(restB)
    }

    /// The decimal number at the start of `bytes` (0 when there is none) and what follows it.
    private static func leadingNumber(_ bytes: Substring.UTF8View.SubSequence) -> (UInt64, Substring.UTF8View.SubSequence) {
        var value: UInt64 = 0
        var index = bytes.startIndex
        while index < bytes.endIndex, let digit = decimalDigit(bytes[index]) {
            value = value &* 10 &+ UInt64(digit)
            index = bytes.index(after: index)
        }
        return (value, bytes[index...])
    }

    /// In `.<unique part>…`, the number after the unique part's first `M`; nil without one.
    private static func microseconds(_ rest: Substring.UTF8View.SubSequence) -> UInt64? {
        guard rest.first == UInt8(ascii: ".") else { return nil }
        var index = rest.index(after: rest.startIndex)
        while index < rest.endIndex, rest[index] != UInt8(ascii: "."), rest[index] != UInt8(ascii: ":") {
            let byte = rest[index]
            index = rest.index(after: index)
            if byte == UInt8(ascii: "M") { return leadingNumber(rest[index...]).0 }
        }
        return nil
    }

    private static func decimalDigit(_ byte: UInt8) -> UInt8? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : nil
    }

    /// Whether a quarter or more of the records have no file (Dovecot compacts then).
    static func shouldCompact(_ snapshot: MailboxSnapshot) -> Bool {
        shouldCompact(records: snapshot.uidlist.records.count, live: snapshot.files.count, isStable: snapshot.isStable)
    }

    /// Whether a uidlist of `records` records, of which `live` still have a file, is due
    /// for compaction (see ``shouldCompact(_:)``).
    static func shouldCompact(records total: Int, live: Int, isStable: Bool) -> Bool {
        guard total >= 8, isStable else { return false }
        return total - min(max(live, 0), total) >= total / 4
    }

    /// Writes the whole uidlist into the lock file and renames it into place (this releases
    /// the lock). Records whose file is gone are dropped; the header's N keeps every used UID.
    func rewriteUidlist(_ snapshot: inout MailboxSnapshot, lock: Dotlock) throws {
        let next = snapshot.uidlist.nextUID
        if snapshot.isStable {
            let live = Set(snapshot.messages.map(\.record.uid))
            snapshot.uidlist.records.removeAll { !live.contains($0.uid) }
        }
        snapshot.uidlist.headerNextUID = next
        snapshot.uidlist.version = 3
        try lock.replaceTarget(with: snapshot.uidlist.serialized(), fsync: configuration.fsync)
    }

    /// Appends records with one write and fsyncs, as Dovecot appends new UIDs.
    func appendToUidlist(_ directory: MailboxDirectory, _ records: [Uidlist.Record]) throws {
        var text = ""
        for record in records { text += Uidlist.recordLine(record) }
        let fd = open(directory.uidlist, O_WRONLY | O_APPEND | O_CLOEXEC)
        if fd < 0 { throw MailStoreError.system("open for append", path: directory.uidlist, errno: errno) }
        defer { close(fd) }
        try POSIX.writeAll(fd: fd, Array(text.utf8), path: directory.uidlist)
        if configuration.fsync { try POSIX.fsync(fd: fd, path: directory.uidlist) }
    }
}
