import Logging

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A user's sync lock: an exclusive `flock` on a file, which says who holds it and is
/// broken when that holder is certainly gone.
///
/// The kernel drops a `flock` when the last descriptor of its open file goes, so a holder
/// that dies releases it, unless a child inherited the descriptor (Duplex opens it
/// `O_CLOEXEC`; a hook or a wrapper such as `flock(1)` may not). Hence:
///
/// - The holder writes a ``UserLockHolder`` record into the file right after taking it.
/// - A waiter that finds the lock taken reads the record: a holder on this host that no
///   longer runs (no such pid, or a pid reused by a later process) is gone, and the file
///   is unlinked (logged as a warning) so that the next attempt locks a fresh one; the
///   orphaned inode keeps whatever holds it, harmlessly.
/// - Whoever takes the flock checks that the path still names the inode it locked (an
///   unlinked or replaced file locks nothing), else starts over; so does a waiter whose
///   file was unlinked under it.
/// - The holder blanks its record before it unlocks, so a record left in the file is one
///   whose holder never released it. The file itself stays: records are written in place
///   at a fixed size, so a sync frees no disk blocks for its lock (on a disk with online
///   discard, removing a file with data waits for the device, a few milliseconds).
///   A file found to hold a longer record is cut to the record first.
/// - The check-and-write of a new holder and the check-and-unlink of a breaker take a
///   short `flock` on the directory first, so a breaker never unlinks a file whose new
///   holder has written its record: between them, one sees the other's work.
///
/// When the lock stays taken past the timeout, the error names the holder.
struct UserLockFile {
    /// The lock file.
    let path: String
    /// Where broken locks are reported.
    let logger: Logger
    /// Opens the file, creating it (mode 0600, `O_CLOEXEC`), and sets its owner; throws a
    /// ``DsyncError`` naming the path.
    let openFile: () throws -> Int32

    /// Bytes of a record as written: the holder's lines, then newlines (which the parser
    /// skips) up to this size; a blank record is newlines only.
    static let recordSize = 512

    /// How often a taken lock is looked at again.
    static let pollInterval = Duration.milliseconds(20)

    /// Takes the lock, waiting at most `timeout`.
    ///
    /// - Returns: The locked descriptor; give it back with ``release(_:)``.
    /// - Throws: ``DsyncError`` `lockTimeout` naming the holder when it is still taken at
    ///   the deadline; `io` when `flock` fails otherwise; what ``openFile`` throws;
    ///   `CancellationError`.
    func acquire(timeout: Duration) async throws -> Int32 {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            try Task.checkCancellation()
            let fd = try openFile()
            var locked = false
            do {
                locked = try await lockThisFile(fd, until: deadline, clock: clock, timeout: timeout)
                if locked {
                    // The path may have been unlinked or replaced between the open and the
                    // flock: only a lock on the file the path names counts.
                    let claimed = try await guarded(until: deadline, clock: clock) { () -> Bool in
                        guard namesSameFile(fd) else { return false }
                        record(UserLockHolder.current(), in: fd)
                        return true
                    }
                    if claimed { return fd }
                }
            } catch {
                close(fd)
                throw error
            }
            close(fd)
        }
    }

    /// Blanks the holder's record (when the path still names the file) and unlocks.
    func release(_ fd: Int32) {
        if namesSameFile(fd) { write(record: [], to: fd) }
        close(fd)
    }

    // MARK: Waiting

    /// Waits for the flock on `fd`: true when taken, false when the file was broken or
    /// left the path meanwhile (start over with a fresh open).
    private func lockThisFile(_ fd: Int32, until deadline: ContinuousClock.Instant, clock: ContinuousClock, timeout: Duration) async throws -> Bool {
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                throw DsyncError(.io, "\(path): flock failed (errno \(code))")
            }
            let holder = recordedHolder(in: fd)
            if let holder, holder.isGone, try await breakLock(fd, of: holder, until: deadline, clock: clock) { return false }
            guard namesSameFile(fd) else { return false }
            if clock.now >= deadline {
                let who = holder.map { "held by \($0)" } ?? "its holder has not said who it is"
                throw DsyncError(.lockTimeout, "\(path): another sync of this user holds the lock (waited \(timeout); \(who))")
            }
            try await Task.sleep(for: Self.pollInterval)
        }
        return true
    }

    /// Unlinks the file whose recorded holder is gone, unless the record changed or the
    /// path names another file by now; returns whether it did.
    private func breakLock(_ fd: Int32, of holder: UserLockHolder, until deadline: ContinuousClock.Instant, clock: ContinuousClock) async throws -> Bool {
        try await guarded(until: deadline, clock: clock) {
            guard recordedHolder(in: fd) == holder, namesSameFile(fd), unlink(path) == 0 else { return false }
            logger.warning(
                "broke a stale sync lock: its holder is gone, yet the lock was still taken (a process that inherited its descriptor?)",
                metadata: ["lock": "\(path)", "holder": "\(holder)"])
            return true
        }
    }

    // MARK: The directory guard

    /// Runs `body` holding an exclusive `flock` on the lock's directory (held for a few
    /// system calls only). A directory that cannot be opened for reading runs `body`
    /// unguarded: the lock still works, only the breaking race is open.
    private func guarded<T>(until deadline: ContinuousClock.Instant, clock: ContinuousClock, _ body: () throws -> T) async throws -> T {
        let directory = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { return try body() }
        defer { close(dirfd) }
        while flock(dirfd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { return try body() }
            if clock.now >= deadline {
                throw DsyncError(.lockTimeout, "\(directory): another process keeps the directory of the sync lock \(path) locked")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        defer { flock(dirfd, LOCK_UN) }
        return try body()
    }

    // MARK: The file

    /// Whether the path names the file open at `fd` (same device and inode).
    private func namesSameFile(_ fd: Int32) -> Bool {
        var open = stat(), named = stat()
        guard fstat(fd, &open) == 0, stat(path, &named) == 0 else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// The holder recorded in the file; nil when none is (yet).
    private func recordedHolder(in fd: Int32) -> UserLockHolder? {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return UserLockHolder(parsing: String(decoding: buffer[..<count], as: UTF8.self))
    }

    /// Writes `holder` as the file's whole content. A failed write leaves a lock that
    /// works but cannot say who holds it: not worth failing the sync for.
    private func record(_ holder: UserLockHolder, in fd: Int32) {
        write(record: Array(holder.encoded.utf8), to: fd)
    }

    /// Writes `text` padded with newlines to ``recordSize`` over the start of the file, in
    /// place (see the type's notes).
    private func write(record text: [UInt8], to fd: Int32) {
        var bytes = text
        if bytes.count < Self.recordSize { bytes += repeatElement(UInt8(ascii: "\n"), count: Self.recordSize - bytes.count) }
        var st = stat()
        if fstat(fd, &st) == 0, st.st_size > bytes.count {
            guard ftruncate(fd, off_t(bytes.count)) == 0 else { return }
        }
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }
}
