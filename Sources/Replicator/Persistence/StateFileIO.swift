#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The POSIX side of state files: reading lines through a bounded buffer and replacing a
/// file atomically. No Foundation: a state file of a million users is read and written
/// here every minute.
enum StateFileIO {
    /// One line as the reader sees it.
    enum Line {
        /// A line without its `\n`.
        case complete(UnsafeBufferPointer<UInt8>)
        /// The file's last line, which has no `\n`: the file was cut short.
        case unterminated(UnsafeBufferPointer<UInt8>)
        /// A line longer than the limit; its bytes were skipped.
        case tooLong
    }

    /// Calls `body` with every line of `path` and its 1-based number, reading at most
    /// `chunkSize` bytes at a time and keeping at most `maxLineLength` bytes of a line.
    ///
    /// - Returns: false when the file does not exist.
    /// - Throws: ``ReplicatorStateError`` (`unreadable`) when it cannot be opened or read.
    static func forEachLine(
        path: String, maxLineLength: Int, chunkSize: Int = 1 << 20,
        _ body: (_ line: Line, _ number: Int) throws -> Void
    ) throws -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return false }
            throw ReplicatorStateError(.unreadable, "open", path: path, errno: errno)
        }
        defer { close(fd) }
        let capacity = chunkSize + maxLineLength + 1
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var filled = 0
        var number = 0
        var skippingLongLine = false
        while true {
            let n = read(fd, buffer.baseAddress! + filled, min(chunkSize, capacity - filled))
            if n < 0 {
                if errno == EINTR { continue }
                throw ReplicatorStateError(.unreadable, "read", path: path, errno: errno)
            }
            if n == 0 { break }
            let end = filled + n
            var start = 0
            var scan = filled
            while let newline = memchr(buffer.baseAddress! + scan, 0x0a, end - scan) {
                let index = buffer.baseAddress!.distance(to: newline.assumingMemoryBound(to: UInt8.self))
                number += 1
                if skippingLongLine || index - start > maxLineLength {
                    skippingLongLine = false
                    try body(.tooLong, number)
                } else {
                    try body(.complete(UnsafeBufferPointer(rebasing: buffer[start..<index])), number)
                }
                start = index + 1
                scan = start
            }
            // Keep the partial line at the front; give up on it once it is too long.
            let rest = end - start
            if skippingLongLine || rest > maxLineLength {
                skippingLongLine = true
                filled = 0
            } else {
                if start > 0 && rest > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, rest) }
                filled = rest
            }
        }
        if skippingLongLine {
            try body(.tooLong, number + 1)
        } else if filled > 0 {
            try body(.unterminated(UnsafeBufferPointer(rebasing: buffer[0..<filled])), number + 1)
        }
        return true
    }

    /// Replaces `path` with what `produce` writes: into `path.tmp` (mode 0600, truncated
    /// first), fsynced, renamed over `path`, and the directory fsynced, so that a crash
    /// leaves the old file or the new one, never a mix.
    static func replaceAtomically(path: String, _ produce: (inout StateFileWriter) throws -> Void) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { throw ReplicatorStateError(.unwritable, "create", path: temporary, errno: errno) }
        do {
            // An older temporary file may have had other permissions.
            if fchmod(fd, 0o600) != 0 { throw ReplicatorStateError(.unwritable, "chmod", path: temporary, errno: errno) }
            var writer = StateFileWriter(fd: fd, path: temporary)
            try produce(&writer)
            try writer.flush()
            if fsync(fd) != 0 { throw ReplicatorStateError(.unwritable, "fsync", path: temporary, errno: errno) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw ReplicatorStateError(.unwritable, "rename", path: path, errno: code)
        }
        let directory = parentDirectory(of: path)
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD < 0 { throw ReplicatorStateError(.unwritable, "open directory", path: directory, errno: errno) }
        defer { close(directoryFD) }
        if fsync(directoryFD) != 0 && errno != EINVAL {
            throw ReplicatorStateError(.unwritable, "fsync directory", path: directory, errno: errno)
        }
    }

    /// Makes `copyPath` a second name of `path` (replacing an older one), so that a file
    /// about to be overwritten stays available to look at.
    static func keepCopy(of path: String, as copyPath: String) throws {
        if unlink(copyPath) != 0 && errno != ENOENT {
            throw ReplicatorStateError(.unwritable, "unlink", path: copyPath, errno: errno)
        }
        if link(path, copyPath) != 0 { throw ReplicatorStateError(.unwritable, "link", path: copyPath, errno: errno) }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        if slash == path.utf8.startIndex { return "/" }
        return String(path[..<slash])
    }
}

/// Writes a file through a bounded buffer: bytes and decimal numbers without making
/// strings.
struct StateFileWriter {
    let fd: Int32
    let path: String
    private var buffer: [UInt8] = []
    private let limit = 1 << 20

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        buffer.reserveCapacity(limit + 4096)
    }

    mutating func append(_ byte: UInt8) {
        buffer.append(byte)
    }

    mutating func append(_ text: String) {
        buffer.append(contentsOf: text.utf8)
    }

    /// Appends `value` in decimal.
    mutating func append(number value: Int64) {
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits, filled from the end
        withUnsafeMutableBytes(of: &digits) { raw in
            var index = raw.count
            repeat {
                index -= 1
                raw[index] = UInt8(truncatingIfNeeded: magnitude % 10) + UInt8(ascii: "0")
                magnitude /= 10
            } while magnitude > 0
            buffer.append(contentsOf: raw[index...])
        }
    }

    /// Ends a line; writes the buffer out once it is full.
    mutating func endLine() throws {
        buffer.append(0x0a)
        if buffer.count >= limit { try flush() }
    }

    mutating func flush() throws {
        var offset = 0
        try buffer.withUnsafeBytes { bytes in
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ReplicatorStateError(.unwritable, "write", path: path, errno: errno)
                }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
