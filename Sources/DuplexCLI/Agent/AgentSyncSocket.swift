import Foundation
import Logging
import NIOCore
import Replicator
import ServiceLifecycle

/// The agent's sync socket (`dsync.sync_socket`): runs `duplex sync --agent SOCKET …` for
/// the command, which only prints the answer (see ``SyncArguments/runThroughAgent(_:)``).
///
/// A unix socket of mode 0600, as the replicator's admin socket: whoever may connect may
/// sync any mail root the agent's user can write, so only that user (and root) may. Each
/// request is one JSON line (``SyncArguments/requestLine()``) with every path absolute and
/// the state directory given (or an agent configuration to take it from). A request taken
/// is acknowledged at once with ``runningLine``, repeated every ``keepaliveInterval`` while
/// the sync runs; then comes one ``AgentSyncAnswer`` line with what the command prints and
/// its exit status. A request that is not JSON, too long, has an unknown or missing field, a
/// NUL in a string, a relative path or arguments the command would refuse is answered at
/// once with exit status 64 and the reason, and runs nothing. A client that goes away (it
/// must keep its connection open, both ways, until the answer) cancels its sync, which
/// leaves both sides as any cut-off sync does.
struct AgentSyncSocket: Service {
    /// The longest request line, in bytes.
    static let maximumRequestLength = 64 * 1024

    let path: String
    let logger: Logger

    /// Seconds between the lines that tell the command its sync still runs.
    static let keepaliveInterval = Duration.seconds(5)

    /// The line sent when a request is taken and then every ``keepaliveInterval`` while its
    /// sync runs, before the answer.
    static let runningLine = "{\"running\":true}"

    func run() async throws {
        let logger = logger
        let server = AdminLineServer(
            socketPath: path, maximumLineLength: Self.maximumRequestLength, cancelsWhenClosed: true, name: "sync socket", logger: logger
        ) { frame, interim in
            let answer = await Self.answer(to: frame, interim: interim, logger: logger)
            let line = (try? answer.line()) ?? Array("{\"errors\":\"\",\"output\":\"\",\"status\":70}\n".utf8)
            return ByteBuffer(bytes: line)
        }
        try await server.run()
    }

    /// What the command prints and its status, for one request line. A request taken is
    /// acknowledged at once through `interim` and then every ``keepaliveInterval`` while its
    /// sync runs, so that the command can tell a slow sync from a stuck agent.
    static func answer(to frame: AdminFrame, interim: AdminLineServer.Interim, logger: Logger) async -> AgentSyncAnswer {
        let arguments: SyncArguments
        do {
            arguments = try request(frame)
        } catch {
            logger.notice("sync socket: bad request: \(error)")
            return AgentSyncAnswer(SyncOutcome(status: 64, errors: Output.errorLine("the agent's sync socket: \(error)")))
        }
        let started = ContinuousClock.now
        let outcome = await withTaskGroup(of: SyncOutcome?.self) { group in
            group.addTask {
                do {
                    // No variables of the agent's own: the request says where the state is.
                    return try await arguments.perform(environment: [:])
                } catch {
                    return SyncOutcome(status: 70, errors: Output.errorLine("the agent: \(error)"))
                }
            }
            group.addTask {
                let running = ByteBuffer(string: runningLine + "\n")
                await interim.send(running)
                while (try? await Task.sleep(for: keepaliveInterval)) != nil {
                    await interim.send(running)
                }
                return nil
            }
            let outcome = await group.first { $0 != nil } ?? nil
            group.cancelAll()
            return outcome ?? SyncOutcome(status: 70, errors: Output.errorLine("the agent: the sync ended without an answer"))
        }
        var metadata: Logger.Metadata = [
            "user": "\(arguments.user)", "a": "\(arguments.mailRootA)", "b": "\(arguments.mailRootB)", "status": "\(outcome.status)",
            "seconds": "\(String(format: "%.3f", Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000))",
        ]
        if Task.isCancelled {
            metadata["cancelled"] = "the command went away"
        }
        logger.info("sync socket: sync done", metadata: metadata)
        return AgentSyncAnswer(outcome)
    }

    /// The arguments of a request line, checked as the command checks its own.
    ///
    /// - Throws: ``AgentSyncRequestError`` naming what is wrong.
    static func request(_ frame: AdminFrame) throws -> SyncArguments {
        guard case .line(let line) = frame else {
            throw AgentSyncRequestError("request line longer than \(maximumRequestLength) bytes")
        }
        let arguments: SyncArguments
        do {
            arguments = try JSONDecoder().decode(SyncArguments.self, from: Data(line.readableBytesView))
        } catch let error as AgentSyncRequestError {
            throw error
        } catch DecodingError.typeMismatch {
            throw AgentSyncRequestError("a request must be a JSON object")
        } catch {
            throw AgentSyncRequestError("not valid JSON")
        }
        var paths = [("mail_root_a", arguments.mailRootA)]
        if !arguments.remote { paths.append(("mail_root_b", arguments.mailRootB)) }
        for (field, path) in [("state_dir", arguments.stateDir), ("tls_config", arguments.tls.config), ("tls_cert", arguments.tls.certificate),
                              ("tls_key", arguments.tls.key), ("tls_ca", arguments.tls.ca)] {
            if let path { paths.append((field, path)) }
        }
        for (field, path) in paths where !path.hasPrefix("/") {
            throw AgentSyncRequestError("the field \"\(field)\" must be an absolute path, got \(String(reflecting: path))")
        }
        guard arguments.stateDir != nil || arguments.tls.config != nil else {
            throw AgentSyncRequestError("missing field \"state_dir\" (or \"tls_config\", an agent configuration to take it from)")
        }
        do {
            try arguments.validate()
        } catch {
            throw AgentSyncRequestError("\(error)")
        }
        return arguments
    }
}
