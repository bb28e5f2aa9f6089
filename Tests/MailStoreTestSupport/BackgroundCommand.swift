import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A program running in the background with its output going to files: a daemon a test
/// talks to (`duplex agent`), or a command a test pauses or signals while it runs.
///
/// It is spawned like ``ExternalCommand/run(_:_:stdin:timeout:)`` (empty signal mask,
/// default dispositions, no inherited descriptors). Signals go to its pid only, and only
/// until it has been reaped, so one never reaches a process that reused the pid.
/// ``stop(timeout:)`` ends it; so does releasing the last reference, so that no process
/// outlives the test that started it.
public final class BackgroundCommand: @unchecked Sendable {
    /// The process id.
    public let pid: pid_t
    /// The command line, for messages.
    public let command: [String]
    /// Where standard output goes.
    public let stdoutPath: String
    /// Where standard error goes.
    public let stderrPath: String

    private let lock = NSLock()
    /// The exit status once reaped: the exit code, or 128 + the signal number.
    private var status: Int32?

    /// Starts `executable` with `arguments`, standard input from `/dev/null`.
    ///
    /// - Parameter outputDirectory: where the output files are created; they stay there.
    /// - Throws: ``DovecotTestError/io(_:)`` when the files cannot be made or the program
    ///   cannot be started.
    public init(_ executable: String, _ arguments: [String], outputDirectory: String) throws {
        command = [executable] + arguments
        let name = "\((executable as NSString).lastPathComponent)-\(UUID().uuidString)"
        stdoutPath = outputDirectory + "/\(name).out"
        stderrPath = outputDirectory + "/\(name).err"
        pid = try CommandRunner.spawn(
            executable, arguments: arguments, stdinPath: "/dev/null", stdoutPath: stdoutPath, stderrPath: stderrPath,
            workingDirectory: nil)
    }

    deinit {
        stop(timeout: 5)
    }

    /// Everything written to standard output so far.
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }

    /// Everything written to standard error so far.
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` to the process unless it has exited and been reaped.
    ///
    /// - Returns: whether the signal was sent.
    @discardableResult
    public func send(_ signal: Int32) -> Bool {
        lock.withLock {
            // Until reaped, the pid is this child's (at worst a zombie): it cannot be reused.
            guard status == nil else { return false }
            return kill(pid, signal) == 0
        }
    }

    /// The exit status if the process has exited (reaping it), nil while it runs.
    public func exitStatus() -> Int32? {
        lock.withLock {
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                let signal = raw & 0x7f
                status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
            } else if result < 0 && errno != EINTR {
                status = -1  // not our child any more: nothing left to wait for
            }
            return status
        }
    }

    /// Waits for the exit, checking every 10 ms without blocking a thread.
    ///
    /// - Returns: the exit status, or nil if the process still runs after `timeout`.
    public func exitStatus(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let status = exitStatus() { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return exitStatus()
    }

    /// Calls `action` as soon as `reached` holds while the process runs, from a thread of
    /// its own that asks every millisecond.
    ///
    /// The test's tasks share the small cooperative pool with every other test of the run,
    /// which a loaded machine can leave without a turn for many seconds; a moment that lasts
    /// only so long (a lock waited for with a timeout, a copy in `tmp/`) is seen and acted on
    /// by a thread the kernel schedules on its own.
    ///
    /// - Returns: whether `reached` held before the process ended, or before `timeout`.
    public func whenRunning(
        _ reached: @escaping @Sendable () -> Bool, within timeout: Duration, _ action: @escaping @Sendable () -> Void
    ) async -> Bool {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let deadline = ContinuousClock.now.advanced(by: timeout)
                while !reached() {
                    guard self.exitStatus() == nil, ContinuousClock.now < deadline else {
                        continuation.resume(returning: false)
                        return
                    }
                    usleep(1000)
                }
                action()
                continuation.resume(returning: true)
            }
        }
    }

    /// Waits until the process is stopped (by SIGSTOP), as `/proc/PID/stat` shows its state.
    ///
    /// A signal is delivered after `kill` returns; a test that pauses a process to hold it in
    /// some step waits for this before it relies on the pause.
    ///
    /// - Returns: whether it was seen stopped before `timeout`; false when it exited.
    public func waitUntilStopped(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline, exitStatus() == nil {
            if isStopped { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return exitStatus() == nil && isStopped
    }

    /// Whether the process is stopped now: the state field of `/proc/PID/stat` (after the
    /// parenthesized command name) is `T`.
    private var isStopped: Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[close...].dropFirst().trimmingCharacters(in: .whitespaces).hasPrefix("T")
    }

    /// Waits until `condition` holds for the output so far, checking every `interval`.
    ///
    /// Output from another process can only be watched, not awaited; the deadline is generous
    /// because a loaded machine can be slow, and a passing test never waits for it.
    ///
    /// - Returns: whether `condition` held before `timeout`, or before the process exited
    ///   without it holding.
    public func waitForOutput(
        within timeout: Duration, checkingEvery interval: Duration = .milliseconds(10),
        _ condition: (_ stdout: String, _ stderr: String) -> Bool
    ) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let exited = exitStatus() != nil
            if condition(stdout, stderr) { return true }
            if exited || ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: interval)
        }
    }

    /// Waits for the exit, stopping the process if it runs longer than `timeout`.
    ///
    /// - Returns: its exit status and everything it wrote.
    public func result(within timeout: Duration) async -> ExternalCommand.Result {
        let status = await exitStatus(within: timeout) ?? stop()
        return ExternalCommand.Result(status: status, stdout: stdout, stderr: stderr)
    }

    /// Sends SIGTERM and waits up to `timeout` without blocking a thread, then stops it as
    /// ``stop(timeout:)`` does.
    ///
    /// - Returns: the exit status: the exit code, or 128 + the signal number.
    public func stop(within timeout: Duration) async -> Int32 {
        send(SIGTERM)
        return await exitStatus(within: timeout) ?? stop()
    }

    /// Sends SIGTERM (and SIGCONT, in case it is stopped), waits up to `timeout` seconds,
    /// then sends SIGKILL and reaps it. Safe to call again.
    ///
    /// - Returns: the exit status: the exit code, or 128 + the signal number.
    @discardableResult
    public func stop(timeout: TimeInterval = 10) -> Int32 {
        if send(SIGTERM) { send(SIGCONT) }
        if let status = waitBlocking(timeout) { return status }
        send(SIGKILL)
        return waitBlocking(timeout) ?? -1
    }

    private func waitBlocking(_ timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = exitStatus() { return status }
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
    }
}
