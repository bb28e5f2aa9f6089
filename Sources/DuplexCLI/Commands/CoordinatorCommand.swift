import ArgumentParser
import Coordinator
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `duplex coordinator`: serves the coordinator's HTTP API (the default subcommand,
/// `serve`), applies the store's migrations (`migrate`) and manages API tokens (`token`).
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: tenants, pairs, user placement and the fleet's HTTP API.",
        discussion: """
            Exit codes: 0 ok (stopped by SIGTERM or SIGINT); 64 usage; 65 the database holds a \
            newer schema or data this version cannot read; 68 no such tenant, pair or token; \
            69 the address cannot be bound or the database cannot be reached; 78 bad configuration \
            or unusable TLS files.
            """,
        subcommands: [CoordinatorServeCommand.self, CoordinatorMigrateCommand.self, CoordinatorTokenCommand.self],
        defaultSubcommand: CoordinatorServeCommand.self
    )
}

/// The `--config FILE` every coordinator subcommand takes, and what it loads.
struct CoordinatorConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The coordinator's configuration file (.yaml, .yml or .json).", valueName: "FILE"))
    var config: String

    /// The configuration, warnings printed; a bad one ends the command with 78.
    func load() async throws -> CoordinatorConfiguration {
        do {
            let (configuration, warnings) = try await CoordinatorConfiguration.load(
                path: config, environment: ProcessInfo.processInfo.environment)
            for warning in warnings { Output.error("warning: \(warning)") }
            return configuration
        } catch let error as ConfigurationError {
            Output.error(error.description)
            throw ExitCode(error.code.exitCode)
        }
    }

    /// Runs `body` with the configured store open, turning store errors into their exit codes.
    func withStore<Result: Sendable>(
        _ configuration: CoordinatorConfiguration, _ body: @Sendable (any CoordinatorStore) async throws -> Result
    ) async throws -> Result {
        let database = try configuration.databaseAccess(configurationFile: config)
        do {
            return try await database.withStore(logger: CoordinatorConfigOptions.makeLogger(), body)
        } catch let error as CoordinatorStoreError {
            Output.error(error.description)
            throw ExitCode(Self.exitCode(error.code))
        }
    }

    /// The exit code of a store error (sysexits.h).
    static func exitCode(_ code: CoordinatorStoreError.Code) -> Int32 {
        switch code {
        case .notFound: 68
        case .conflict: 73
        case .invalid, .capacityExhausted, .quotaExceeded: 64
        case .unavailable: 69
        case .corrupt: 65
        }
    }

    /// Log lines on standard error, `info` and above unless `DUPLEX_LOG_LEVEL` says otherwise.
    static func makeLogger() -> Logger {
        var logger = Logger(label: "duplex.coordinator") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = .info
        if let text = ProcessInfo.processInfo.environment["DUPLEX_LOG_LEVEL"], let level = Logger.Level(rawValue: text) {
            logger.logLevel = level
        }
        return logger
    }
}

/// `duplex coordinator [serve] --config FILE [--check]`.
struct CoordinatorServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the coordinator's HTTP API over TLS (the default).",
        discussion: """
            Reads the configuration (see ops/config/coordinator.yaml; DUPLEX_* variables \
            override it), opens the store (applying its migrations first with \
            database.migrate_on_start), listens on coordinator.listen and prints \
            "listening on ADDRESS" when ready; logs go to standard error. Whichever \
            coordinator holds the database's health lock marks hosts down when their agent's \
            heartbeat is older than health.heartbeat_timeout, and up when it returns.

            Signals: SIGHUP reloads the TLS certificate and key (a bad new file keeps the old \
            ones and is logged); SIGTERM and SIGINT stop accepting connections and answer the \
            requests in progress.
            """
    )

    @OptionGroup var options: CoordinatorConfigOptions

    @Flag(help: "Check the configuration and TLS files, then exit.")
    var check = false

    func run() async throws {
        let configuration = try await options.load()
        let tls: CoordinatorTLS
        do {
            tls = try CoordinatorTLS(certificatePath: configuration.certificatePath, keyPath: configuration.keyPath)
        } catch {
            Output.error("\(options.config): \(error)")
            throw ExitCode(78)
        }
        let database = try configuration.databaseAccess(configurationFile: options.config)
        if check {
            Output.write("\(options.config): configuration and TLS files are usable\n")
            return
        }
        let logger = CoordinatorConfigOptions.makeLogger()
        let opened: CoordinatorDatabase.Opened
        do {
            opened = try await database.open(logger: logger)
        } catch {
            Output.error(error.description)
            throw ExitCode(CoordinatorConfigOptions.exitCode(error.code))
        }
        // Trapped before anything listens: a SIGHUP right after "listening on" must reload,
        // not end the coordinator (the default action of SIGHUP).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        if configuration.moves == nil {
            logger.warning("moves are not run: the configuration has no moves.tls.certificate")
        }
        let moves = configuration.moves.map { settings in
            MoveScheduler(executor: MoveExecutor(store: opened.store, configuration: settings, logger: logger))
        }
        let coordinator = CoordinatorService(
            configuration: configuration.service, store: opened.store, tls: tls, logger: logger,
            onListening: { address in Output.write("listening on \(address)\n") }, moves: moves)
        var services: [any Service] = []
        // The pool first: it is stopped last, after the API has answered its last request.
        if let pool = opened.poolService { services.append(pool) }
        if configuration.database.migrateOnStart {
            services.append(MigrationService(store: opened.store, logger: logger))
        }
        services.append(coordinator)
        services.append(CoordinatorTLSReloadService(path: options.config, tls: tls, hangups: hangups, logger: logger))
        var group = ServiceGroupConfiguration(services: services, logger: logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = .seconds(30)
        do {
            try await ServiceGroup(configuration: group).run()
            await opened.close()
        } catch let error as CoordinatorStoreError {
            await opened.close()
            Output.error(error.description)
            throw ExitCode(CoordinatorConfigOptions.exitCode(error.code))
        } catch {
            await opened.close()
            Output.error("\(options.config): \(error)")
            throw ExitCode(69)
        }
    }
}

/// Applies the store's migrations before the API serves, then waits for shutdown (a
/// service that returned would end the group).
struct MigrationService: Service {
    let store: any CoordinatorStore
    let logger: Logger

    func run() async throws {
        let version = try await store.migrate()
        logger.info("schema ready", metadata: ["version": "\(version)"])
        try? await gracefulShutdown()
    }
}

/// Reloads the TLS certificate and key on SIGHUP; a configuration or file that does not
/// load changes nothing.
struct CoordinatorTLSReloadService: Service {
    let path: String
    let tls: CoordinatorTLS
    let hangups: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        for await _ in hangups.cancelOnGracefulShutdown() {
            do {
                let (configuration, warnings) = try await CoordinatorConfiguration.load(
                    path: path, environment: ProcessInfo.processInfo.environment)
                for warning in warnings { logger.warning("\(warning)") }
                try tls.reload(certificatePath: configuration.certificatePath, keyPath: configuration.keyPath)
                logger.info("TLS certificate and key reloaded")
            } catch {
                logger.error("reload failed, the previous certificate and key stay in use: \(error)")
            }
        }
    }
}
