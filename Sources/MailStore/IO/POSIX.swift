#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, throwing wrappers over the POSIX calls the store needs.
///
/// Everything here works on byte paths as `String`s and reports failures as
/// ``MailStoreError`` naming the path. No Foundation: these run on hot paths
/// (listing 100 000 messages).
enum POSIX {
    /// Size, modification time and ownership of a file.
    struct FileStatus: Sendable {
        var size: Int64
        var modificationSeconds: Int64
        var modificationNanoseconds: Int64
        var mode: UInt32
        var userID: UInt32
        var groupID: UInt32
        var inode: UInt64
        var device: UInt64
        var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
        var isRegularFile: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
    }

    static func status(_ path: String) throws -> FileStatus {
        var st = stat()
        guard stat(path, &st) == 0 else { throw MailStoreError.system("stat", path: path, errno: errno) }
        return FileStatus(st)
    }

    /// Like ``status(_:)`` but returns nil when the path does not exist.
    static func statusIfExists(_ path: String) throws -> FileStatus? {
        var st = stat()
        if stat(path, &st) == 0 { return FileStatus(st) }
        let code = errno
        if code == ENOENT || code == ENOTDIR { return nil }
        throw MailStoreError.system("stat", path: path, errno: code)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Reads a whole file; nil when it does not exist.
    static func readFileIfExists(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw MailStoreError.system("open", path: path, errno: code)
        }
        defer { close(fd) }
        return try readAll(fd: fd, path: path)
    }

    /// Reads a whole file and the status of the file that was read; nil when it does not exist.
    static func readFileWithStatus(_ path: String) throws -> (bytes: [UInt8], status: FileStatus)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw MailStoreError.system("open", path: path, errno: code)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw MailStoreError.system("stat", path: path, errno: errno) }
        let bytes = try readAll(fd: fd, path: path)
        return (bytes, FileStatus(st))
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let bytes = try readFileIfExists(path) else {
            throw MailStoreError(.notFound, "file does not exist", path: path, errno: ENOENT)
        }
        return bytes
    }

    static func readAll(fd: Int32, path: String) throws -> [UInt8] {
        var st = stat()
        var capacity = 4096
        if fstat(fd, &st) == 0, st.st_size > 0 { capacity = Int(st.st_size) + 1 }
        var buffer = [UInt8]()
        buffer.reserveCapacity(capacity)
        try readChunks(fd: fd, path: path, chunkSize: max(65536, min(capacity, 1 << 22))) { buffer.append(contentsOf: $0) }
        return buffer
    }

    /// Reads `fd` to its end in chunks of at most `chunkSize` bytes, retrying on `EINTR`.
    static func readChunks(fd: Int32, path: String, chunkSize: Int = 65536, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MailStoreError.system("read", path: path, errno: errno)
            }
            if n == 0 { return }
            try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw MailStoreError.system("write", path: path, errno: errno)
            }
            offset += n
        }
    }

    static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd: fd, $0, path: path) }
    }

    static func fsync(fd: Int32, path: String) throws {
        #if canImport(Darwin)
        let rc = Darwin.fsync(fd)
        #else
        let rc = fdatasync(fd)
        #endif
        if rc != 0 { throw MailStoreError.system("fsync", path: path, errno: errno) }
    }

    /// fsyncs a directory so that a rename or create inside it is durable.
    static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw MailStoreError.system("open directory", path: path, errno: errno) }
        defer { close(fd) }
        #if canImport(Darwin)
        let rc = Darwin.fsync(fd)
        #else
        let rc = Glibc.fsync(fd)
        #endif
        if rc != 0 && errno != EINVAL { throw MailStoreError.system("fsync directory", path: path, errno: errno) }
    }

    static func rename(_ from: String, _ to: String) throws {
        #if canImport(Darwin)
        let rc = Darwin.rename(from, to)
        #else
        let rc = Glibc.rename(from, to)
        #endif
        if rc != 0 { throw MailStoreError.system("rename to \(to)", path: from, errno: errno) }
    }

    /// Renames only when `to` does not exist (hard link then unlink), so nothing is overwritten.
    static func renameNoReplace(_ from: String, _ to: String) throws {
        if link(from, to) != 0 {
            throw MailStoreError.system("link to \(to)", path: from, errno: errno)
        }
        if unlink(from) != 0 {
            throw MailStoreError.system("unlink", path: from, errno: errno)
        }
    }

    static func unlinkIfExists(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT {
            throw MailStoreError.system("unlink", path: path, errno: errno)
        }
    }

    static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws {
        if mkdir(path, mode) != 0 { throw MailStoreError.system("mkdir", path: path, errno: errno) }
    }

    static func makeDirectoryIfMissing(_ path: String, mode: mode_t = 0o700) throws {
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw MailStoreError.system("mkdir", path: path, errno: errno)
        }
    }

    /// Removes a directory tree (files and subdirectories). Missing is fine.
    static func removeTree(_ path: String) throws {
        guard let st = try statusIfExists(path) else { return }
        if st.isDirectory {
            for entry in try directoryEntries(path) {
                try removeTree(path + "/" + entry.name)
            }
            if rmdir(path) != 0 && errno != ENOENT { throw MailStoreError.system("rmdir", path: path, errno: errno) }
        } else {
            try unlinkIfExists(path)
        }
    }

    /// A directory entry: its name and, when the file system reports it, whether it is a directory.
    struct DirectoryEntry: Sendable {
        var name: String
        /// `DT_*` type, `DT_UNKNOWN` when the file system does not say.
        var type: UInt8
    }

    /// Lists a directory without "." and "..". Throws `notFound` when it does not exist.
    static func directoryEntries(_ path: String) throws -> [DirectoryEntry] {
        var result: [DirectoryEntry] = []
        try forEachDirectoryEntry(path) { name, type in
            result.append(DirectoryEntry(name: String(decoding: name, as: UTF8.self), type: type))
        }
        return result
    }

    /// Calls `body` with each entry's name bytes (without NUL) and `d_type`, skipping "." and "..".
    static func forEachDirectoryEntry(
        _ path: String,
        _ body: (UnsafeBufferPointer<UInt8>, UInt8) throws -> Void
    ) throws {
        guard let dir = opendir(path) else { throw MailStoreError.system("opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw MailStoreError.system("readdir", path: path, errno: errno) }
                break
            }
            let type = entry.pointee.d_type
            try withUnsafePointer(to: &entry.pointee.d_name) { tuplePointer in
                try tuplePointer.withMemoryRebound(to: UInt8.self, capacity: 256) { namePointer in
                    let length = strlen(UnsafeRawPointer(namePointer).assumingMemoryBound(to: CChar.self))
                    if length == 1 && namePointer[0] == UInt8(ascii: ".") { return }
                    if length == 2 && namePointer[0] == UInt8(ascii: ".") && namePointer[1] == UInt8(ascii: ".") { return }
                    try body(UnsafeBufferPointer(start: namePointer, count: length), type)
                }
            }
        }
    }

    /// Writes `bytes` to `path` atomically: a temporary file next to it, fsync, rename.
    ///
    /// - Parameter temporary: the temporary file's path; by default `path` with
    ///   `.tmp.<pid>.<random>` added, created exclusively. A given one is truncated when it
    ///   exists (a caller names it so only because it alone writes there, e.g. under a lock).
    static func writeFileAtomically(
        _ path: String, _ bytes: [UInt8], mode: mode_t = 0o600, owner: FileOwner?, durable: Bool = true, temporary given: String? = nil
    ) throws {
        let temporary = given ?? path + ".tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_CLOEXEC | (given == nil ? O_EXCL : O_TRUNC), mode)
        if fd < 0 { throw MailStoreError.system("create", path: temporary, errno: errno) }
        var open = true
        do {
            try owner?.apply(fd: fd, path: temporary)
            try writeAll(fd: fd, bytes, path: temporary)
            if durable { try fsync(fd: fd, path: temporary) }
            open = false
            if close(fd) != 0 { throw MailStoreError.system("close", path: temporary, errno: errno) }
            try rename(temporary, path)
        } catch {
            if open { close(fd) }
            _ = unlink(temporary)
            throw error
        }
    }

    static var hostName: String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let rc = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count - 1) }
        }
        guard rc == 0 else { return "localhost" }
        let length = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<length], as: UTF8.self)
    }

    /// Seconds and nanoseconds of the wall clock.
    static func wallClock() -> (seconds: Int64, nanoseconds: Int64) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int64(ts.tv_nsec))
    }
}

/// The owner new files and directories get: the mail root's owner when running as root,
/// so that Dovecot (running as the mail user) can read and write what Duplex creates.
struct FileOwner: Sendable {
    var userID: uid_t
    var groupID: gid_t

    func apply(fd: Int32, path: String) throws {
        if fchown(fd, userID, groupID) != 0 { throw MailStoreError.system("chown", path: path, errno: errno) }
    }

    func apply(path: String) throws {
        if lchown(path, userID, groupID) != 0 { throw MailStoreError.system("chown", path: path, errno: errno) }
    }
}

extension POSIX.FileStatus {
    init(_ st: stat) {
        #if canImport(Darwin)
        self.init(
            size: Int64(st.st_size), modificationSeconds: Int64(st.st_mtimespec.tv_sec),
            modificationNanoseconds: Int64(st.st_mtimespec.tv_nsec), mode: UInt32(st.st_mode),
            userID: st.st_uid, groupID: st.st_gid, inode: UInt64(st.st_ino), device: UInt64(st.st_dev))
        #else
        self.init(
            size: Int64(st.st_size), modificationSeconds: Int64(st.st_mtim.tv_sec),
            modificationNanoseconds: Int64(st.st_mtim.tv_nsec), mode: UInt32(st.st_mode),
            userID: st.st_uid, groupID: st.st_gid, inode: UInt64(st.st_ino), device: UInt64(st.st_dev))
        #endif
    }
}

extension POSIX {
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32

    private static let renameat2Function: RenameAt2? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
        #else
        return nil
        #endif
    }()

    private typealias SyncFS = @convention(c) (Int32) -> Int32

    private static let syncfsFunction: SyncFS? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: SyncFS.self)
        #else
        return nil
        #endif
    }()

    /// Flushes every written file of the file system that holds `path` to stable storage
    /// (Linux `syncfs`; elsewhere `sync`). One call makes a whole batch of new files durable.
    static func syncFileSystem(containing path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw MailStoreError.system("open", path: path, errno: errno) }
        defer { close(fd) }
        if let syncfs = syncfsFunction {
            if syncfs(fd) != 0 { throw MailStoreError.system("syncfs", path: path, errno: errno) }
        } else {
            sync()
        }
    }

    /// Renames a directory only when the target does not exist (Linux `RENAME_NOREPLACE`;
    /// elsewhere an existence check first). Throws `alreadyExists` when it does.
    static func renameDirectoryNoReplace(_ from: String, _ to: String) throws {
        if let renameat2 = renameat2Function {
            let rc = from.withCString { f in to.withCString { t in renameat2(AT_FDCWD, f, AT_FDCWD, t, 1) } }
            if rc == 0 { return }
            let code = errno
            if code != EINVAL && code != ENOSYS {
                throw MailStoreError.system("rename to \(to)", path: from, errno: code)
            }
        }
        if exists(to) { throw MailStoreError.system("rename to \(to)", path: from, errno: EEXIST) }
        try rename(from, to)
    }
}
