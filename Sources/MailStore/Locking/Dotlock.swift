#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a dotlock is taken: Dovecot's `dovecot-uidlist.lock` style (reference: Dovecot 2.3
/// `file-dotlock.c` behaviour, `dotlock_use_excl = yes`).
public struct DotlockConfiguration: Sendable, Equatable {
    /// A lock whose file was not modified for this long is stale and is removed (Dovecot: 120 s
    /// for the uidlist and keywords, 30 s for subscriptions).
    public var staleAfter: Duration
    /// How long to wait for a held lock before failing with `lockTimeout`.
    public var timeout: Duration

    public init(staleAfter: Duration = .seconds(120), timeout: Duration = .seconds(30)) {
        self.staleAfter = staleAfter
        self.timeout = timeout
    }
}

/// A held dotlock: `<target>.lock`, created with `O_EXCL`, holding `<pid>:<host>`.
///
/// Use ``Dotlock/withLock(for:configuration:owner:_:)``; the lock is released when the
/// closure returns or throws. ``replaceTarget(with:fsync:modifiedAfter:)`` writes new
/// content to a temporary file, renames it over the target (publishing it atomically, as
/// Dovecot's `file_dotlock_replace` does) and releases the lock.
public final class Dotlock {
    /// The file the lock protects.
    public let targetPath: String
    /// `targetPath + ".lock"`.
    public let lockPath: String
    private var fd: Int32
    private let inode: UInt64
    /// Who new files get, resolved when the lock was taken.
    var fileOwner: FileOwner?
    private var released = false

    private init(targetPath: String, lockPath: String, fd: Int32, inode: UInt64) {
        self.targetPath = targetPath
        self.lockPath = lockPath
        self.fd = fd
        self.inode = inode
    }

    /// Runs `body` while holding the dotlock of `targetPath`.
    ///
    /// - Throws: `lockTimeout` when the lock stays held by a live holder for
    ///   `configuration.timeout`; `permissionDenied`/`io` when the lock file cannot be created.
    public static func withLock<T>(
        for targetPath: String,
        configuration: DotlockConfiguration = DotlockConfiguration(),
        owner: FileOwnerOption = .inherit,
        _ body: (Dotlock) throws -> T
    ) throws -> T {
        let lock = try acquire(targetPath, configuration: configuration, owner: owner)
        defer { lock.release() }
        return try body(lock)
    }

    /// Whether the lock file for `targetPath` exists right now (for tests and diagnostics).
    public static func isHeld(_ targetPath: String) -> Bool { POSIX.exists(targetPath + ".lock") }

    /// Writes `bytes` as the target's new content and renames the lock file over the target.
    /// After this the lock is released.
    ///
    /// - Parameter modifiedAfter: when set, the new content's modification time is made
    ///   later than these Unix seconds (one second ahead of the clock if need be), for
    ///   readers that cache a file while its whole-second modification time is unchanged.
    public func replaceTarget(with bytes: [UInt8], fsync: Bool = true, modifiedAfter: Int64? = nil) throws {
        precondition(!released, "dotlock already released")
        // The new content goes to its own file, so the lock keeps naming its holder: a
        // process killed at any point leaves a lock that is stale at once (dead holder).
        let temporary = targetPath + ".duplex-new.\(getpid())"
        let newFD = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if newFD < 0 { throw MailStoreError.system("create", path: temporary, errno: errno) }
        do {
            try fileOwner?.apply(fd: newFD, path: temporary)
            try POSIX.writeAll(fd: newFD, bytes, path: temporary)
            if let modifiedAfter {
                var st = stat()
                if fstat(newFD, &st) != 0 { throw MailStoreError.system("stat", path: temporary, errno: errno) }
                if POSIX.FileStatus(st).modificationSeconds <= modifiedAfter {
                    let later = timespec(tv_sec: Int(modifiedAfter + 1), tv_nsec: 0)
                    var times = [later, later]
                    if futimens(newFD, &times) != 0 { throw MailStoreError.system("set modification time", path: temporary, errno: errno) }
                }
            }
            if fsync { try POSIX.fsync(fd: newFD, path: temporary) }
            try POSIX.rename(temporary, targetPath)
        } catch {
            close(newFD)
            _ = unlink(temporary)
            throw error
        }
        close(newFD)
        release()
    }

    /// Refreshes the lock file's modification time so that others do not take it as stale.
    public func touch() {
        guard !released else { return }
        _ = futimens(fd, nil)
    }

    func release() {
        guard !released else { return }
        released = true
        // Remove the lock only if it is still ours (it may have been taken as stale).
        if let status = try? POSIX.statusIfExists(lockPath), status.inode == inode {
            _ = unlink(lockPath)
        }
        close(fd)
        fd = -1
    }

    deinit { release() }

    static func acquire(_ targetPath: String, configuration: DotlockConfiguration, owner: FileOwnerOption) throws -> Dotlock {
        let lockPath = targetPath + ".lock"
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: configuration.timeout)
        var pause = Duration.milliseconds(2)
        while true {
            // Readable by others, as Dovecot's own dotlocks are: a Dovecot process waiting
            // for the lock watches it with inotify, which needs read access, and as root the
            // file is root's until the fchown below.
            let fd = open(lockPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                var st = stat()
                fstat(fd, &st)
                let lock = Dotlock(targetPath: targetPath, lockPath: lockPath, fd: fd, inode: UInt64(st.st_ino))
                do {
                    lock.fileOwner = try owner.resolve(forDirectoryOf: targetPath)
                    try lock.fileOwner?.apply(fd: fd, path: lockPath)
                    try POSIX.writeAll(fd: fd, Array("\(getpid()):\(POSIX.hostName)".utf8), path: lockPath)
                } catch {
                    lock.release()
                    throw error
                }
                return lock
            }
            let code = errno
            guard code == EEXIST else {
                throw MailStoreError.system("create lock", path: lockPath, errno: code)
            }
            if try removeIfStale(lockPath, staleAfter: configuration.staleAfter) { continue }
            if clock.now >= deadline {
                throw MailStoreError(.lockTimeout, "timed out after \(configuration.timeout) waiting for the lock", path: lockPath)
            }
            let remaining = deadline - clock.now
            let wait = min(pause, max(remaining, .milliseconds(1)))
            var ts = timespec(tv_sec: Int(wait.components.seconds), tv_nsec: Int(wait.components.attoseconds / 1_000_000_000))
            _ = nanosleep(&ts, nil)
            pause = min(pause * 2, .milliseconds(100))
        }
    }

    /// Removes the lock file when it is stale: untouched for `staleAfter`, or naming a
    /// process on this host that no longer exists. Returns whether it was removed.
    static func removeIfStale(_ lockPath: String, staleAfter: Duration) throws -> Bool {
        guard let status = try POSIX.statusIfExists(lockPath) else { return true }
        let now = POSIX.wallClock()
        let age = Duration.seconds(now.seconds - status.modificationSeconds) + .nanoseconds(now.nanoseconds - status.modificationNanoseconds)
        var stale = age > staleAfter
        if !stale, let content = try? POSIX.readFileIfExists(lockPath), content.count < 300 {
            let text = String(decoding: content, as: UTF8.self)
            if let colon = text.firstIndex(of: ":"), let pid = Int32(text[..<colon]),
               text[text.index(after: colon)...] == POSIX.hostName, pid > 0,
               kill(pid, 0) != 0, errno == ESRCH {
                stale = true
            }
        }
        guard stale else { return false }
        // Re-check that it is the same file before removing it.
        guard let again = try POSIX.statusIfExists(lockPath) else { return true }
        guard again.inode == status.inode, again.modificationSeconds == status.modificationSeconds,
              again.modificationNanoseconds == status.modificationNanoseconds else { return false }
        try POSIX.unlinkIfExists(lockPath)
        return true
    }
}

/// Who owns the files the store creates.
public enum FileOwnerOption: Sendable {
    /// The directory's owner when running as root (so Dovecot's mail user can use them),
    /// otherwise the current user.
    case inherit
    /// Leave ownership to the operating system.
    case processUser

    func resolve(forDirectoryOf path: String) throws -> FileOwner? {
        guard case .inherit = self, geteuid() == 0 else { return nil }
        var directory = path
        if let slash = directory.lastIndex(of: "/") { directory = String(directory[..<slash]) }
        if directory.isEmpty { directory = "/" }
        guard let status = try POSIX.statusIfExists(directory) else { return nil }
        if status.userID == 0 && status.groupID == 0 { return nil }
        return FileOwner(userID: status.userID, groupID: status.groupID)
    }
}
