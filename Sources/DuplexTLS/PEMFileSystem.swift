#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file operations credentials need, with the modes and atomicity keys require
/// and errors that name the path.
enum PEMFileSystem {
    /// The largest PEM file read, in bytes; credentials are a few kilobytes.
    static let maximumFileSize = 1 << 20

    /// Whether anything (a file, a directory, a dangling symbolic link) is at `path`.
    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// Whether `path` is a directory (following symbolic links).
    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` with `mode` (exactly, whatever the umask) and any missing parents
    /// with 0755, unless it is already a directory.
    ///
    /// - Returns: Whether `path` was created.
    static func makeDirectory(_ path: String, mode: mode_t) throws -> Bool {
        if isDirectory(path) { return false }
        if exists(path) { throw DuplexTLSError(.alreadyExists, "exists and is not a directory", path: path) }
        let parent = parentDirectory(of: path)
        if parent != path, !isDirectory(parent) { _ = try makeDirectory(parent, mode: 0o755) }
        guard mkdir(path, mode) == 0 || errno == EEXIST else {
            throw DuplexTLSError.system("mkdir", path: path, errno: errno)
        }
        guard chmod(path, mode) == 0 else { throw DuplexTLSError.system("chmod", path: path, errno: errno) }
        return true
    }

    /// Reads a text file of at most ``maximumFileSize`` bytes.
    static func readFile(_ path: String) throws -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DuplexTLSError.system("open", path: path, errno: errno) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw DuplexTLSError.system("read", path: path, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > maximumFileSize {
                throw DuplexTLSError(.badData, "larger than \(maximumFileSize) bytes; not a PEM credential", path: path)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` to `path` with `mode`, atomically: the content goes to a temporary file
    /// created with `mode` in the same directory, which is then renamed (`replacing`) or
    /// hard-linked (not `replacing`, so an existing file is never overwritten) into place.
    /// A reader never sees a partial file, and a key is never readable by others, not even
    /// for a moment.
    ///
    /// - Throws: ``DuplexTLSError`` naming `path`; ``DuplexTLSError/Code/alreadyExists``
    ///   when `path` exists and `replacing` is false.
    static func writeFile(_ text: String, to path: String, mode: mode_t, replacing: Bool) throws {
        let temporary = parentDirectory(of: path) + "/.\(baseName(of: path)).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw DuplexTLSError.system("create", path: temporary, errno: errno) }
        var temporaryExists = true
        defer { if temporaryExists { unlink(temporary) } }
        do {
            defer { close(descriptor) }
            // The umask may have removed bits; set exactly the mode asked for.
            guard fchmod(descriptor, mode) == 0 else { throw DuplexTLSError.system("chmod", path: temporary, errno: errno) }
            try writeAll(Array(text.utf8), to: descriptor, path: temporary)
            guard fsync(descriptor) == 0 else { throw DuplexTLSError.system("fsync", path: temporary, errno: errno) }
        }
        if replacing {
            guard rename(temporary, path) == 0 else { throw DuplexTLSError.system("rename", path: path, errno: errno) }
            temporaryExists = false
        } else {
            guard link(temporary, path) == 0 else {
                if errno == EEXIST {
                    throw DuplexTLSError(.alreadyExists, "exists; not overwritten (use --force to replace it)", path: path)
                }
                throw DuplexTLSError.system("link", path: path, errno: errno)
            }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw DuplexTLSError.system("write", path: path, errno: errno)
            }
            offset += written
        }
    }

    /// `path` without its last component (`.` for a bare name, `/` for a top-level entry).
    static func parentDirectory(of path: String) -> String {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    private static func baseName(of path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
