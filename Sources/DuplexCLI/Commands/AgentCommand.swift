import ArgumentParser
import Dsync
import Foundation
import Logging
import NIOCore
import Replicator
import ServiceLifecycle
import UnixSignals

/// `duplex agent --config FILE [--check]`: serves dsync to the peer host of this host's pair
/// over mutual TLS until SIGTERM or SIGINT; SIGHUP reloads the TLS files. With a
/// `replicator:` section it also keeps this host's users in sync with the peer.
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

            With a replicator: section the agent also runs a replicator: it syncs each \
            user with the peer agent (replicator.peer, dialled with the same TLS files) when \
            Dovecot's replication plugin reports a change (replicator.notify_fifo, \
            replicator.notify_socket), on retries and on the periodic full sync; \
            `duplex replicator` talks to it on replicator.admin_socket, and its queue is \
            saved in replicator.state_file.

            Signals: SIGHUP reloads the TLS certificate, key, CA and allowed peers (running \
            syncs go on; a bad new file keeps the old ones and is logged); SIGTERM and SIGINT \
            stop accepting connections and notifications, let running syncs finish and save \
            the replicator's queue (at most 60 s).

            Exit codes: 0 stopped; 78 bad configuration or unusable TLS files; 64 usage; \
            69 the address, a notify fifo or socket, or the admin socket cannot be made or \
            bound; 74 the replicator's state file cannot be read.
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
            server = try DsyncServer(configuration: loaded.dsync, logger: logger, purge: try Self.purgeService(loaded.coordinator))
        } catch let error as DsyncError {
            Output.error("\(config): \(error.message)")
            throw ExitCode(78)
        }
        if check {
            // The sockets the agent creates: a start would fail on a directory not there.
            let sockets = [("dsync.sync_socket", loaded.syncSocket), ("replicator.admin_socket", loaded.replicator?.adminSocket)]
            for case let (key, path?) in sockets {
                if let problem = Self.socketPathProblem(path) {
                    Output.error("\(config): \(key): \(path): \(problem)")
                    throw ExitCode(78)
                }
            }
            Output.write("\(config): configuration and TLS files are usable\n")
            return
        }
        // Trapped before anything listens: a SIGHUP right after "listening on" must reload,
        // not end the agent (the default action of SIGHUP).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        // Started in this order, stopped in the reverse one: the inputs stop taking
        // notifications first, then the replicator lets its running syncs end and its
        // queue is saved, and the dsync listener (which the peer's syncs need) goes last.
        var services: [any Service] = [
            DsyncListenerService(server: server),
        ]
        if let path = loaded.syncSocket { services.append(AgentSyncSocket(path: path, logger: logger)) }
        var listedUsers: ListedUsers?
        if let replicator = loaded.replicator {
            let replicatorServices = Self.replicatorServices(replicator, agent: loaded, logger: logger)
            listedUsers = replicatorServices.listedUsers
            services += replicatorServices.services
            if let coordinator = loaded.coordinator {
                // Last, so stopped first: no pull changes the queue while the replicator stops.
                services.append(try Self.coordinatorLinkService(coordinator, listedUsers: replicatorServices.listedUsers, logger: logger))
            }
        }
        services.insert(TLSReloadService(path: config, server: server, listedUsers: listedUsers, hangups: hangups, logger: logger), at: 1)
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(60)
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch let error as DsyncError {
            Output.error(error.message)
            throw ExitCode(error.code == .usage ? 69 : error.code.exitCode)
        } catch let error as NotifyInputError {
            Output.error("\(config): \(error)")
            throw ExitCode(69)
        } catch let error as ReplicatorAdminError {
            Output.error("\(config): \(error)")
            throw ExitCode(69)
        } catch let error as ReplicatorStateError {
            Output.error("\(config): \(error)")
            throw ExitCode(74)
        }
    }

    /// Why the agent could not create a unix socket at `path`, or nil: its directory is not
    /// there or no directory, or something other than a socket (which the agent would not
    /// replace) is at the path.
    static func socketPathProblem(_ path: String) -> String? {
        let directory = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            return "the directory \(directory) does not exist (the agent creates the socket, not its directory)"
        }
        guard isDirectory.boolValue else { return "\(directory) is not a directory" }
        var status = stat()
        if lstat(path, &status) == 0, status.st_mode & S_IFMT != S_IFSOCK {
            return "something other than a socket is there; the agent would not replace it"
        }
        return nil
    }

    /// The replicator and what feeds it, in start order: the replicator with its saved
    /// queue, the admin socket, then the notification inputs.
    ///
    /// - Parameter wrap: wraps the native engine (`duplex demo` times each sync); the
    ///   agent uses it as it is.
    static func replicatorServices(
        _ configuration: ReplicatorConfiguration, agent: AgentConfiguration, logger: Logger,
        wrappingEngine wrap: (any SyncEngine) -> any SyncEngine = { $0 }
    ) -> (services: [any Service], listedUsers: ListedUsers) {
        let engine = NoReplicateSyncEngine(wrap(NativeSyncEngine(
            mailRoot: agent.dsync.mailRoot, store: agent.dsync.store, peer: configuration.peer, tls: agent.dsync.tls,
            stateDirectory: agent.stateDirectory, lockTimeout: agent.dsync.lockTimeout, readTimeout: agent.dsync.idleTimeout)))
        var logger = logger
        logger[metadataKey: "peer"] = "\(configuration.peer)"
        let replicator = Replicator(queue: UserQueue(settings: configuration.settings), engine: engine, logger: logger)
        let persistence = ReplicatorStatePersistence(
            path: configuration.stateFile, replicator: replicator, importingDovecotDatabase: configuration.importDovecotDatabase,
            logger: logger)
        let listedUsers = ListedUsers(replicator: replicator, engine: engine, from: configuration, logger: logger)
        var services: [any Service] = [
            ReplicatorService(
                replicator: replicator, listedUsers: listedUsers, persistence: persistence,
                saveInterval: configuration.stateSaveInterval, logger: logger),
            ReplicatorAdminServer(socketPath: configuration.adminSocket, replicator: replicator, logger: logger),
            ReplicatorHTTPService(
                host: configuration.httpHost, port: configuration.httpPort, replicator: replicator, metrics: ReplicatorMetrics(),
                logger: logger),
        ]
        if let path = configuration.notifySocket {
            services.append(
                NotifySocketInput(
                    path: path, access: configuration.notifyAccess, replicator: replicator, syncTimeout: configuration.syncTimeout,
                    logger: logger))
        }
        if let path = configuration.notifyFifo {
            services.append(NotifyFifoInput(path: path, access: configuration.notifyAccess, replicator: replicator, logger: logger))
        }
        return (services, listedUsers)
    }

    /// The link to the coordinator (`coordinator:`); exits 78 when its CA file is unusable.
    static func coordinatorLinkService(
        _ configuration: CoordinatorLinkConfiguration, listedUsers: ListedUsers, logger: Logger
    ) throws -> any Service {
        do {
            return CoordinatorLinkService(link: try CoordinatorLink(configuration), listedUsers: listedUsers, logger: logger)
        } catch {
            Output.error("coordinator.ca: \(error)")
            throw ExitCode(78)
        }
    }

    /// How purge orders are served: by the coordinators `coordinator.purge_identities` names,
    /// each confirmed against the pair's user list at the coordinator; nil serves none. Exits
    /// 78 when the coordinator's CA file is unusable.
    static func purgeService(_ configuration: CoordinatorLinkConfiguration?) throws -> DsyncPurgeService? {
        guard let configuration, !configuration.purgeIdentities.isEmpty else { return nil }
        do {
            return DsyncPurgeService(
                pair: configuration.pair, identities: configuration.purgeIdentities,
                authority: CoordinatorPurgeAuthority(link: try CoordinatorLink(configuration)))
        } catch {
            Output.error("coordinator.ca: \(error)")
            throw ExitCode(78)
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
    /// Called with the bound address; the agent prints it (`duplex demo` keeps its own output).
    var onListening: @Sendable (SocketAddress) -> Void = { address in
        Output.write("listening on \(address)\n")  // unbuffered: scripts wait for it
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run(onListening: onListening)
        } onGracefulShutdown: {
            server.stopListening()
        }
    }
}

/// Reloads the TLS files and the replicator's users file on SIGHUP; a configuration that
/// does not load (a bad users file among it) changes nothing.
struct TLSReloadService: Service {
    let path: String
    let server: DsyncServer
    /// The replicator's users from the users file; nil without a replicator.
    let listedUsers: ListedUsers?
    /// SIGHUPs, trapped since the agent started.
    let hangups: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        for await _ in hangups.cancelOnGracefulShutdown() {
            do {
                let (configuration, warnings) = try await AgentConfiguration.load(path: path, environment: ProcessInfo.processInfo.environment)
                for warning in warnings { logger.warning("\(warning)") }
                do {
                    try server.reload(tls: configuration.dsync.tls)
                } catch {
                    logger.error("reload failed, the previous certificates stay in use: \(error)")
                }
                if let listedUsers, let replicator = configuration.replicator {
                    await listedUsers.reload(replicator)
                }
            } catch {
                logger.error("reload failed, the previous certificates stay in use, and the previous users: \(error)")
            }
        }
    }
}

/// The replicator as a service: loads its saved queue and the configured users, runs it,
/// saves the queue every `saveInterval` seconds; on graceful shutdown it starts no more syncs, waits for
/// the running ones, and saves the queue once more.
struct ReplicatorService: Service {
    let replicator: Replicator
    /// The users file's names (known users keep their state) and its `noreplicate` users,
    /// applied once the saved queue is loaded.
    let listedUsers: ListedUsers
    let persistence: ReplicatorStatePersistence
    /// Seconds between two saves (`replicator.state_save_interval`).
    let saveInterval: Int64
    let logger: Logger

    func run() async throws {
        try await persistence.load()
        await listedUsers.start()
        await withTaskGroup(of: Void.self) { group in
            // Cancelled once the replicator has stopped, it saves one last time.
            group.addTask { await persistence.run(every: saveInterval, clock: replicator.clock) }
            group.addTask {
                // Returns on graceful shutdown, throws when cancelled: stopping is right either way.
                try? await gracefulShutdown()
                await replicator.stop()
            }
            await replicator.run()
            group.cancelAll()
        }
    }
}
