import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A uniquely named directory under /tmp, removed by `cleanup()` or at the
/// end of a `with` scope.
///
/// The directory is created with mode 0755 so that unprivileged service
/// accounts (such as the test Dovecot's `vmail`) can traverse it.
public struct TemporaryDirectory: Sendable, CustomStringConvertible {
    /// Absolute path, without a trailing slash.
    public let path: String

    public var url: URL { URL(fileURLWithPath: path, isDirectory: true) }

    public var description: String { path }

    /// Creates `/tmp/<prefix>.XXXXXX`.
    public init(prefix: String = "duplex-test", mode: mode_t = 0o755) throws {
        let sanitized = prefix.isEmpty ? "duplex-test" : prefix.replacingOccurrences(of: "/", with: "_")
        var template = Array("/tmp/\(sanitized).XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let result = mkdtemp(buffer.baseAddress!) else { return nil }
            return String(cString: result)
        }
        guard let created else {
            throw DovecotTestError.io("mkdtemp for prefix \(prefix) failed: \(String(cString: strerror(errno)))")
        }
        guard chmod(created, mode) == 0 else {
            let reason = String(cString: strerror(errno))
            rmdir(created)
            throw DovecotTestError.io("chmod \(created) failed: \(reason)")
        }
        self.path = created
    }

    /// Path of `relative` inside the directory.
    public func appending(_ relative: String) -> String {
        relative.hasPrefix("/") ? path + relative : path + "/" + relative
    }

    /// Removes the directory and everything in it. Safe to call twice.
    public func cleanup() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Runs `body` with a fresh directory and removes it afterwards, also
    /// when `body` throws.
    public static func with<T>(
        prefix: String = "duplex-test",
        _ body: (TemporaryDirectory) throws -> T
    ) throws -> T {
        let dir = try TemporaryDirectory(prefix: prefix)
        defer { dir.cleanup() }
        return try body(dir)
    }

    /// Async variant of `with(prefix:_:)`.
    public static func with<T>(
        prefix: String = "duplex-test",
        isolation: isolated (any Actor)? = #isolation,
        _ body: (TemporaryDirectory) async throws -> T
    ) async throws -> T {
        let dir = try TemporaryDirectory(prefix: prefix)
        defer { dir.cleanup() }
        return try await body(dir)
    }
}
