#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A state file that could not be read or written at all (a bad line is no error: see
/// ``ReplicatorStateProblem``).
public struct ReplicatorStateError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; stable across releases.
    public enum Code: String, Sendable {
        /// The file exists but cannot be opened or read.
        case unreadable
        /// The file (or its temporary file or directory) cannot be written, synced or renamed.
        case unwritable
    }

    /// The stable failure code.
    public var code: Code
    /// The operation that failed (`open`, `write`, `rename`, …).
    public var operation: String
    /// The file or directory concerned.
    public var path: String
    /// The `errno` value behind it.
    public var errno: Int32

    public init(_ code: Code, _ operation: String, path: String, errno: Int32) {
        self.code = code
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        "\(ReplicatorStateProblem.printable(path)): \(operation) failed (\(String(cString: strerror(errno))))"
    }
}
