#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import ArgumentParser
import Foundation
import Replicator

/// `duplex replicator …`: this host's replicator through its admin socket, as
/// `doveadm replicator …` does it for Dovecot 2.3.
struct ReplicatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicator",
        abstract: "Show and steer this host's replicator (as doveadm replicator does).",
        discussion: """
            Talks to the replicator of the running agent through its admin socket: \
            --socket PATH, else $DUPLEX_REPLICATOR_SOCKET, else /run/duplex/replicator.sock \
            (mode 0600: run as the agent's user or root). Tables are printed as doveadm \
            prints them (80 columns unless standard output is a terminal); --json prints \
            the same data for scripts.

            Exit codes: 0 done; 64 usage, or the replicator refused the request \
            ("Error: Replicator failed: <reason>"); 75 the socket cannot be reached, the \
            replicator disconnected or did not answer in time (retry); 76 the socket is not \
            a replicator admin socket.
            """,
        subcommands: [
            ReplicatorStatusCommand.self, ReplicatorDsyncStatusCommand.self, ReplicatorReplicateCommand.self,
            ReplicatorAddCommand.self, ReplicatorRemoveCommand.self, ReplicatorReleaseCommand.self,
        ]
    )
}

/// The options every `duplex replicator` subcommand takes: where the socket is, and
/// whether to print JSON.
struct ReplicatorSocketOptions: ParsableArguments {
    /// The socket when neither `--socket` nor the environment names one.
    static let defaultSocketPath = "/run/duplex/replicator.sock"
    /// The environment variable naming the socket.
    static let environmentVariable = "DUPLEX_REPLICATOR_SOCKET"

    @Option(name: .long, help: ArgumentHelp(
        "The replicator's admin socket (default: $DUPLEX_REPLICATOR_SOCKET, else /run/duplex/replicator.sock).",
        valueName: "PATH"))
    var socket: String?

    @Flag(help: "Print the answer as JSON.")
    var json = false

    /// The socket to use: `--socket`, else the environment's, else the default.
    func socketPath(environment: [String: String]) -> String {
        if let socket { return socket }
        if let path = environment[Self.environmentVariable], !path.isEmpty { return path }
        return Self.defaultSocketPath
    }

    /// Sends `request` to the replicator; on failure writes doveadm's kind of message to
    /// standard error and throws the exit code.
    func send(_ request: ReplicatorAdminRequest) async throws -> ReplicatorAdminResponse {
        let path = socketPath(environment: ProcessInfo.processInfo.environment)
        do {
            return try await ReplicatorAdminClient(socketPath: path).send(request)
        } catch let error as ReplicatorAdminError {
            let (message, code) = Self.report(error, socketPath: path)
            Self.writeError(message)
            throw ExitCode(code)
        }
    }

    /// What to print for `error`, and the exit code (doveadm's where it has one).
    static func report(_ error: ReplicatorAdminError, socketPath: String) -> (message: String, exitCode: Int32) {
        switch error.code {
        case .refused, .badRequest:
            ("Replicator failed: \(error.message)", 64)
        case .cannotConnect:
            ("\(socketPath): \(error.message) (is the duplex agent running?)", 75)
        case .disconnected:
            ("Replicator disconnected unexpectedly (\(socketPath))", 75)
        case .timedOut, .cannotListen:
            ("\(socketPath): \(error.message)", 75)
        case .badResponse:
            ("\(socketPath): \(error.message)", 76)
        }
    }

    /// A response without the fields its command promises: the socket speaks something else.
    func missingField(_ field: String) -> ExitCode {
        let path = socketPath(environment: ProcessInfo.processInfo.environment)
        Self.writeError("\(path): not a replicator admin socket: the answer has no \"\(field)\"")
        return ExitCode(76)
    }

    /// Writes `Error: <message>` to standard error, as doveadm does.
    static func writeError(_ message: String) {
        let line = "Error: \(message)\n"
        _ = line.withCString { fputs($0, stderr) }
    }

    /// The table width doveadm uses: the terminal's columns (at least 30), else 80.
    static var tableWidth: Int {
        var size = winsize()
        #if canImport(Glibc) || canImport(Musl)
        let result = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size)
        #else
        let result = ioctl(STDOUT_FILENO, TIOCGWINSZ, &size)
        #endif
        guard result == 0 else { return DoveadmTable.defaultWidth }
        return max(Int(size.ws_col), DoveadmTable.minimumWidth)
    }
}
