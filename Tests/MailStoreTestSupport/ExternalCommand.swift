import Foundation

/// Runs a program the way the tests need: arguments, optional stdin, captured output,
/// a timeout. For the CLI tests that run the built `duplex` binary.
public enum ExternalCommand {
    /// The result of one run.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments`; output is collected through temporary files.
    public static func run(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, timeout: TimeInterval = 120
    ) throws -> Result {
        let scratch = try TemporaryDirectory(prefix: "duplex-cmd", mode: 0o700)
        defer { scratch.cleanup() }
        let output = try CommandRunner.run(
            executable, arguments, stdin: stdin, scratchDirectory: scratch.path, timeout: timeout)
        return Result(
            status: output.status,
            stdout: String(decoding: output.stdout, as: UTF8.self),
            stderr: String(decoding: output.stderr, as: UTF8.self))
    }

    /// Runs like ``run(_:_:stdin:timeout:)``, waiting on a thread of its own.
    ///
    /// Every test's tasks share the cooperative pool, which has only as many threads as the
    /// machine has cores. A test that waits for a child process on one of them (a sync, a
    /// whole `duplex demo`) takes the thread for as long as the child runs, which a loaded
    /// machine stretches to minutes; two at once leave every other test without a turn.
    public static func runOffPool(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, timeout: TimeInterval = 120
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Swift.Result { try run(executable, arguments, stdin: stdin, timeout: timeout) })
            }
        }
    }

    /// The path of the program `name` in `PATH` or the usual system directories, nil when
    /// it is not installed (for tests that skip without it).
    public static func executable(named name: String) -> String? {
        CommandRunner.findExecutable(name)
    }

    /// The `duplex` executable built next to the running test bundle.
    public static var duplexExecutable: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = (executable as NSString).deletingLastPathComponent
        // macOS runs tests from inside a .xctest bundle.
        while directory.hasSuffix(".xctest") || directory.hasSuffix("Contents") || directory.hasSuffix("MacOS") {
            directory = (directory as NSString).deletingLastPathComponent
        }
        return directory + "/duplex"
    }
}
