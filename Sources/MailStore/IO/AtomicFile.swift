#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file replacement for files that are not mail: a temporary file beside the target,
/// written, optionally fsynced, then renamed over it, so a reader sees the old file or the
/// new one, never a part.
public enum AtomicFile {
    /// Replaces `path` with `bytes`.
    ///
    /// - Parameters:
    ///   - temporary: the temporary file's path (in the same directory as `path`); truncated
    ///     when it exists, so the caller must be its only writer (e.g. under a lock).
    ///   - mode: permission bits of a newly created file.
    ///   - durable: fsync the data before the rename (the file then survives a power loss
    ///     once the rename is on disk).
    /// - Throws: ``MailStoreError`` for the step that failed (create, write, fsync, close,
    ///   rename), with the path; the target is then unchanged and the temporary file removed.
    public static func replace(_ path: String, with bytes: [UInt8], temporary: String, mode: UInt32 = 0o600, durable: Bool) throws {
        try POSIX.writeFileAtomically(path, bytes, mode: mode_t(mode), owner: nil, durable: durable, temporary: temporary)
    }
}
