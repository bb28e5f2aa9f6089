import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Outcome of one external command.
struct CommandOutput: Sendable {
    /// Exit status, or 128 + signal number if the command was killed.
    var status: Int32
    var stdout: Data
    var stderr: Data
}

/// Runs external programs for the test helpers.
///
/// This deliberately uses `posix_spawn` instead of `Foundation.Process`:
/// `dovecot` daemonizes, and its long-lived processes inherit whatever the
/// spawning code leaves open or blocked. `Process` on Linux hands the child
/// an internal socket (so the parent would never see it exit) and the
/// calling thread's blocked-signal mask (so the daemon's children would
/// ignore SIGTERM). Here every child gets:
///   * stdin/stdout/stderr redirected to regular files (no pipes a daemon
///     could hold open, no pipe-buffer deadlocks on large outputs),
///   * every other descriptor closed,
///   * an empty signal mask and default signal dispositions.
enum CommandRunner {
    /// Finds an executable by name in `PATH`, falling back to the usual
    /// system directories (`/usr/sbin` is often missing from a non-login PATH).
    static func findExecutable(_ name: String) -> String? {
        if name.contains("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? name : nil
        }
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "")
            .split(separator: ":", omittingEmptySubsequences: true)
            .map(String.init)
        for extra in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        where !dirs.contains(extra) {
            dirs.append(extra)
        }
        for dir in dirs {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }

    /// Runs `executable` with `arguments`, waiting at most `timeout` seconds.
    ///
    /// - Parameter scratchDirectory: where the temporary stdin/stdout/stderr
    ///   files are created (they are removed before returning).
    static func run(
        _ executable: String,
        _ arguments: [String],
        stdin: Data? = nil,
        scratchDirectory: String,
        workingDirectory: String? = nil,
        timeout: TimeInterval = 120
    ) throws -> CommandOutput {
        let command = [executable] + arguments
        let fm = FileManager.default
        let token = UUID().uuidString
        let outPath = scratchDirectory + "/cmd-\(token).out"
        let errPath = scratchDirectory + "/cmd-\(token).err"
        let inPath = scratchDirectory + "/cmd-\(token).in"
        defer {
            unlink(outPath)
            unlink(errPath)
            unlink(inPath)
        }

        if let stdin {
            guard fm.createFile(atPath: inPath, contents: stdin, attributes: [.posixPermissions: 0o600]) else {
                throw DovecotTestError.io("cannot create \(inPath)")
            }
        }
        let pid = try spawn(
            executable, arguments: arguments, stdinPath: stdin == nil ? "/dev/null" : inPath, stdoutPath: outPath,
            stderrPath: errPath, workingDirectory: workingDirectory)
        guard let status = waitForExit(pid, timeout: timeout) else {
            // Only our own direct child is signalled.
            kill(pid, SIGTERM)
            if waitForExit(pid, timeout: 5) == nil {
                kill(pid, SIGKILL)
                _ = waitForExit(pid, timeout: 5)
            }
            throw DovecotTestError.timedOut(command: command, seconds: timeout)
        }
        let stdout = fm.contents(atPath: outPath) ?? Data()
        let stderr = fm.contents(atPath: errPath) ?? Data()
        return CommandOutput(status: status, stdout: stdout, stderr: stderr)
    }

    /// A copy-pasteable rendering of a command line.
    static func renderCommand(_ command: [String]) -> String {
        command.map(shellQuote).joined(separator: " ")
    }

    static func shellQuote(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) {
            return word
        }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    // MARK: - posix_spawn plumbing

    static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    #if canImport(Darwin)
    private typealias FileActions = posix_spawn_file_actions_t?
    private typealias SpawnAttributes = posix_spawnattr_t?
    #else
    private typealias FileActions = posix_spawn_file_actions_t
    private typealias SpawnAttributes = posix_spawnattr_t
    #endif

    #if !canImport(Darwin)
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// glibc 2.34+ has `posix_spawn_file_actions_addclosefrom_np` and 2.29+
    /// `..._addchdir_np`, but the Swift Glibc module does not export them.
    private static func lookup<F>(_ name: String, as type: F.Type) -> F? {
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }
    #endif

    /// Spawns the child with its standard input read from `stdinPath` and its output
    /// written to `stdoutPath` and `stderrPath` (created or truncated, mode 0600); returns
    /// its pid.
    static func spawn(
        _ executable: String, arguments: [String], stdinPath: String, stdoutPath: String, stderrPath: String,
        workingDirectory: String?
    ) throws -> pid_t {
        let inFD = open(stdinPath, O_RDONLY | O_CLOEXEC)
        let outFD = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let errFD = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            for fd in [inFD, outFD, errFD] where fd >= 0 { close(fd) }
        }
        guard inFD >= 0, outFD >= 0, errFD >= 0 else {
            throw DovecotTestError.io("cannot open redirection files for \(stdoutPath): \(errnoText())")
        }
        return try spawn(
            executable, arguments: arguments, stdin: inFD, stdout: outFD, stderr: errFD, workingDirectory: workingDirectory)
    }

    /// Spawns the child and returns its pid.
    private static func spawn(
        _ executable: String, arguments: [String],
        stdin: Int32, stdout: Int32, stderr: Int32,
        workingDirectory: String?
    ) throws -> pid_t {
        var actions = FileActions()
        var attributes = SpawnAttributes()
        guard posix_spawn_file_actions_init(&actions) == 0 else {
            throw DovecotTestError.io("posix_spawn_file_actions_init failed")
        }
        defer { posix_spawn_file_actions_destroy(&actions) }
        guard posix_spawnattr_init(&attributes) == 0 else {
            throw DovecotTestError.io("posix_spawnattr_init failed")
        }
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)

        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        _ = workingDirectory  // not needed for the helpers' commands on macOS
        #else
        if let addCloseFrom = lookup("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self) {
            _ = addCloseFrom(&actions, 3)
        } else {
            // Older libc: close what is open right now and not close-on-exec.
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            for fd in fds.compactMap({ Int32($0) }) where fd > 2 {
                let fdFlags = fcntl(fd, F_GETFD)
                if fdFlags >= 0 && fdFlags & FD_CLOEXEC == 0 {
                    posix_spawn_file_actions_addclose(&actions, fd)
                }
            }
        }
        if let workingDirectory, let addChdir = lookup("posix_spawn_file_actions_addchdir_np", as: AddChdir.self) {
            _ = workingDirectory.withCString { addChdir(&actions, $0) }
        }
        #endif

        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(truncatingIfNeeded: flags))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { environment.forEach { free($0) } }

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        guard rc == 0 else {
            throw DovecotTestError.io("cannot run \(renderCommand([executable] + arguments)): \(errnoText(rc))")
        }
        return pid
    }

    /// Reaps `pid`, polling until it exits or `timeout` passes. Returns the
    /// exit status (128 + signal for a killed child), or nil on timeout.
    private static func waitForExit(_ pid: pid_t, timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var delay: useconds_t = 500
        while true {
            var status: Int32 = 0
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid {
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : 128 + signal
            }
            if rc < 0 && errno != EINTR {
                // Reaped elsewhere (or not our child): the status is unknown.
                return -1
            }
            if Date() >= deadline { return nil }
            usleep(delay)
            delay = min(delay * 2, 20_000)
        }
    }
}
