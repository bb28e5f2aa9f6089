import Foundation

/// Errors thrown by the Dovecot test helpers.
public enum DovecotTestError: Error, CustomStringConvertible, Sendable {
    /// Dovecot cannot be used on this machine (binary missing, not root, ...).
    case unavailable(String)
    /// A command exited with a non-zero status.
    case commandFailed(command: [String], status: Int32, stdout: String, stderr: String)
    /// A command did not finish in time and was terminated.
    case timedOut(command: [String], seconds: Double)
    /// The private Dovecot instance could not be started or stopped.
    case instanceFailed(String)
    /// doveadm printed something the parser does not understand.
    case unexpectedOutput(command: [String], output: String, reason: String)
    /// A local file-system or process-spawning problem.
    case io(String)

    public var description: String {
        switch self {
        case .unavailable(let reason):
            return "Dovecot is not available: \(reason)"
        case let .commandFailed(command, status, stdout, stderr):
            var text = "command failed with exit status \(status): \(CommandRunner.renderCommand(command))"
            let err = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            let out = stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            text += "\nstderr: " + (err.isEmpty ? "(empty)" : err)
            if !out.isEmpty {
                text += "\nstdout: " + out
            }
            return text
        case let .timedOut(command, seconds):
            return "command did not finish within \(seconds)s: \(CommandRunner.renderCommand(command))"
        case .instanceFailed(let reason):
            return "Dovecot instance error: \(reason)"
        case let .unexpectedOutput(command, output, reason):
            return "unexpected output (\(reason)) from \(CommandRunner.renderCommand(command)):\n\(output)"
        case .io(let reason):
            return reason
        }
    }
}
