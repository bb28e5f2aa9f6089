#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Allocates UIDVALIDITY values for new mailboxes the way Dovecot 2.3 does
/// (reference: `mailbox-uidvalidity.c` behaviour).
///
/// The mail root holds `dovecot-uidvalidity` (the last value, 8 lowercase hex digits) and an
/// empty companion `dovecot-uidvalidity.<8 hex>`. Taking the next value renames the
/// companion from `.<v>` to `.<v+1>`: only one process can win that rename, so values are
/// unique even with Dovecot allocating at the same time. The first value is the current
/// Unix time.
struct UIDValidityAllocator {
    let root: String
    let owner: FileOwner?

    static let fileName = "dovecot-uidvalidity"
    private var path: String { root + "/" + Self.fileName }

    /// Returns a new UIDVALIDITY, never returned before for this mail root.
    func next() throws -> UInt32 {
        for _ in 0..<10 {
            var current = try currentCompanionValue()
            if current == nil {
                // No companion yet: start from the main file, else from the clock.
                let fromFile = try readMainFile()
                let start = fromFile ?? UInt32(truncatingIfNeeded: POSIX.wallClock().seconds)
                try createCompanion(start)
                if fromFile == nil {
                    try writeMainFile(start)
                    return start
                }
                current = start
            }
            guard let value = current else { continue }
            var next = value &+ 1
            if next == 0 { next = 1 }
            if Glibc.rename(companion(value), companion(next)) == 0 {
                try writeMainFile(next)
                return next
            }
            if errno != ENOENT { throw MailStoreError.system("rename", path: companion(value), errno: errno) }
            // Someone else took it; look again.
        }
        throw MailStoreError(.lockTimeout, "could not allocate a UIDVALIDITY after 10 attempts", path: path)
    }

    private func companion(_ value: UInt32) -> String { path + "." + hex8(value) }

    private func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    private func currentCompanionValue() throws -> UInt32? {
        var found: UInt32?
        let prefix = Array((Self.fileName + ".").utf8)
        try POSIX.forEachDirectoryEntry(root) { name, _ in
            guard name.count == prefix.count + 8, name.starts(with: prefix) else { return }
            if let value = UInt32(String(decoding: name[prefix.count...], as: UTF8.self), radix: 16) {
                found = max(found ?? 0, value)
            }
        }
        return found
    }

    private func readMainFile() throws -> UInt32? {
        guard let bytes = try POSIX.readFileIfExists(path) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingSpaces
        return UInt32(text, radix: 16)
    }

    private func writeMainFile(_ value: UInt32) throws {
        try POSIX.writeFileAtomically(path, Array(hex8(value).utf8), owner: owner)
    }

    private func createCompanion(_ value: UInt32) throws {
        let fd = open(companion(value), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        if fd < 0 {
            if errno == EEXIST { return }
            throw MailStoreError.system("create", path: companion(value), errno: errno)
        }
        try? owner?.apply(fd: fd, path: companion(value))
        close(fd)
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
