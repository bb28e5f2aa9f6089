import Foundation

/// A fresh directory under the system temporary directory for one test, removed afterwards.
enum ScratchDirectory {
    /// Runs `body` with the path of a new, empty directory (mode 0700) and removes it after.
    static func with<T>(_ body: (String) throws -> T) throws -> T {
        let path = try create()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// Async variant of ``with(_:)``.
    static func with<T>(isolation: isolated (any Actor)? = #isolation, _ body: (String) async throws -> T) async throws -> T {
        let path = try create()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(path)
    }

    private static func create() throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/duplex-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        return path
    }

    /// The permission bits of the file at `path` (e.g. `0o600`).
    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// The names in `directory`, sorted.
    static func contents(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }
}
