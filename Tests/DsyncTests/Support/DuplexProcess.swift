import Foundation
import MailStoreTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The built `duplex` binary running in the background, for tests that kill it or change
/// the mail while it runs. Its output goes to files; it is killed if still running when
/// released.
final class DuplexProcess {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private var status: Int32?

    /// Starts `duplex arguments…`; output goes to files in `outputDirectory`.
    init(_ arguments: [String], outputDirectory: String) throws {
        let executable = ExternalCommand.duplexExecutable
        let token = UUID().uuidString
        stdoutPath = outputDirectory + "/duplex-\(token).out"
        stderrPath = outputDirectory + "/duplex-\(token).err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else {
            throw CocoaError(.executableNotLoadable, userInfo: [NSFilePathErrorKey: executable, "errno": result])
        }
        self.pid = pid
    }

    deinit {
        if status == nil {
            Glibc.kill(pid, SIGKILL)
            var raw: Int32 = 0
            _ = waitpid(pid, &raw, 0)
        }
    }

    /// Sends SIGKILL.
    func kill() { Glibc.kill(pid, SIGKILL) }

    /// Waits (without blocking a thread) for the exit; the exit code, or 128 + the signal.
    func exitStatus() async -> Int32 {
        while status == nil {
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            } else if result < 0 && errno != EINTR {
                status = -1
            } else {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        return status!
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}
