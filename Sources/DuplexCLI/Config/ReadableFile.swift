import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file that could be opened for reading when it was checked, and its permissions.
struct ReadableFile {
    let path: String
    /// The permission bits, e.g. `0o600`.
    let permissions: mode_t

    /// Whether the group or others may read, write or execute the file (a private key should
    /// be `0600`).
    var isAccessibleByOthers: Bool { permissions & 0o077 != 0 }

    /// Checks that `path` is a regular file this process can open for reading.
    ///
    /// - Throws: ``InvalidSetting`` saying why not, without the path: it does not exist, is
    ///   a directory, or cannot be opened (with the system's reason).
    init(checking path: String) throws(InvalidSetting) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw InvalidSetting(errno == ENOENT ? "does not exist" : "cannot be examined (\(Self.systemReason()))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw InvalidSetting(status.st_mode & S_IFMT == S_IFDIR ? "is a directory" : "is not a regular file")
        }
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw InvalidSetting("cannot be opened for reading (\(Self.systemReason()))") }
        close(descriptor)
        self.path = path
        self.permissions = status.st_mode & 0o7777
    }

    private static func systemReason() -> String {
        String(cString: strerror(errno))
    }
}
