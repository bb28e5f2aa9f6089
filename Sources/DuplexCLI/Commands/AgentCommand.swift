import ArgumentParser
import Dsync
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `duplex agent --config FILE [--check]`: serves dsync to the peer host of this host's pair
/// over mutual TLS until SIGTERM or SIGINT; SIGHUP reloads the TLS files.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Serve dsync to the peer host over mutual TLS.",
        discussion: """
            Reads the configuration (YAML or JSON, see ops/config/agent.yaml; DUPLEX_* \
            environment variables override it), listens, and serves each peer connection: \
            the peer's certificate must chain to the configured CA and name an allowed peer; \
            the user's mail root comes from the mail_root template; the user's sync lock is \
            taken before anything is read. Prints "listening on ADDRESS" when ready; logs go to \
            standard error.

            Signals: SIGHUP reloads the TLS certificate, key, CA and allowed peers (running \
            syncs go on; a bad new file keeps the old ones and is logged); SIGTERM and SIGINT \
            stop accepting connections and let running syncs finish (at most 60 s).

            Exit codes: 0 stopped; 78 bad configuration or unusable TLS files; 64 usage; \
            69 the address cannot be bound.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The agent's configuration file (.yaml, .yml or .json).", valueName: "FILE"))
    var config: String

    @Flag(help: "Check the configuration and TLS files, then exit.")
    var check = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let loaded: AgentConfiguration
        do {
            let (configuration, warnings) = try await AgentConfiguration.load(path: config, environment: environment)
            for warning in warnings { Output.error("warning: \(warning)") }
            loaded = configuration
        } catch let error as ConfigurationError {
            Output.error(error.description)
            throw ExitCode(error.code.exitCode)
        }
        let logger = Self.makeLogger()
        let server: DsyncServer
        do {
            server = try DsyncServer(configuration: loaded.dsync, logger: logger)
        } catch let error as DsyncError {
            Output.error("\(config): \(error.message)")
            throw ExitCode(78)
        }
        if check {
            Output.write("\(config): configuration and TLS files are usable\n")
            return
        }
        // Trapped before anything listens: a SIGHUP right after "listening on" must reload,
        // not end the agent (the default action of SIGHUP).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let services: [any Service] = [
            DsyncListenerService(server: server),
            TLSReloadService(path: config, server: server, hangups: hangups, logger: logger),
        ]
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(60)
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch let error as DsyncError {
            Output.error(error.message)
            throw ExitCode(error.code == .usage ? 69 : error.code.exitCode)
        }
    }

    /// Log lines on standard error, `info` and above unless `DUPLEX_LOG_LEVEL` says otherwise.
    static func makeLogger() -> Logger {
        var logger = Logger(label: "duplex.agent") { label in StreamLogHandler.standardError(label: label) }
        if let text = ProcessInfo.processInfo.environment["DUPLEX_LOG_LEVEL"], let level = Logger.Level(rawValue: text) {
            logger.logLevel = level
        }
        return logger
    }
}

/// The dsync listener as a service: graceful shutdown stops accepting and lets running syncs end.
struct DsyncListenerService: Service {
    let server: DsyncServer

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run { address in
                Output.write("listening on \(address)\n")  // unbuffered: scripts wait for it
            }
        } onGracefulShutdown: {
            server.stopListening()
        }
    }
}

/// Reloads the TLS files on SIGHUP.
struct TLSReloadService: Service {
    let path: String
    let server: DsyncServer
    /// SIGHUPs, trapped since the agent started.
    let hangups: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        for await _ in hangups.cancelOnGracefulShutdown() {
            do {
                let (configuration, warnings) = try await AgentConfiguration.load(path: path, environment: ProcessInfo.processInfo.environment)
                for warning in warnings { logger.warning("\(warning)") }
                try server.reload(tls: configuration.dsync.tls)
            } catch {
                logger.error("reload failed, the previous certificates stay in use: \(error)")
            }
        }
    }
}
