import Coordinator
import Dsync
import DuplexTLS
import Foundation
import Logging
import MailStore
import Replicator
import ServiceLifecycle

/// One host of the demo's fleet: its name (its certificate's DNS name and its name in the
/// coordinator), its pair, its directory and its ports on 127.0.0.1.
struct DemoHost: Sendable {
    var name: String
    var pair: String
    var directory: String
    var dsyncPort: Int
    var httpPort: Int

    /// Where this host keeps a user's mail (Dovecot's `mail_location` variables).
    var mailRootTemplate: String { directory + "/mail/%d/%n/Maildir" }
    var adminSocket: String { directory + "/replicator.sock" }
    var endpoint: String { "tls://127.0.0.1:\(dsyncPort)" }

    /// `user`'s mail root on this host.
    func mailRoot(for user: String) throws -> String {
        try MailRootTemplate(mailRootTemplate).mailRoot(for: user)
    }
}

/// One pair of the demo: two hosts and the users the coordinator put on it.
struct DemoPair: Sendable {
    var name: String
    var a: DemoHost
    var b: DemoHost
    var users: [String] = []
    /// The file holding the pair's agent token (`agent:PAIR`).
    var agentTokenFile: String
    var hosts: [DemoHost] { [a, b] }
}

/// The demo's fleet on loopback: a coordinator and two pairs of two agents, each part built
/// by the same code that builds it for `duplex coordinator` and `duplex agent`.
///
/// ``prepare(directory:users:databaseURL:databasePassword:logger:)`` makes the certificates,
/// chooses the ports and sets up the coordinator's store (tenant, pairs, tokens, and the
/// users, placed by the coordinator); ``makeServices(store:recorder:logger:)`` builds the
/// services of one `ServiceGroup`.
struct DemoFleet: Sendable {
    var directory: String
    var tenant: String
    var pairs: [DemoPair]
    var coordinatorPort: Int
    var database: CoordinatorDatabase
    var tlsDirectory: String { directory + "/tls" }
    var caPath: String { tlsDirectory + "/ca.pem" }
    var adminTokenPath: String { directory + "/admin.token" }
    var coordinatorURL: String { "https://127.0.0.1:\(coordinatorPort)" }

    /// The users in pair order, with their pair.
    var users: [(user: String, pair: DemoPair)] {
        pairs.flatMap { pair in pair.users.map { (user: $0, pair: pair) } }
    }

    /// How many pairs and hosts per pair the demo runs.
    static let pairCount = 2

    /// How long a sync waits for a user's lock on each host (the agent's default is 30 s).
    ///
    /// When both hosts of a pair start a sync of one user at once, each holds its own lock
    /// and waits for the other's until this timeout; both fail and are retried. The demo
    /// changes mail on both hosts at once all the time, so it keeps that wait short.
    static let lockTimeout = Duration.seconds(3)

    /// Makes everything the fleet needs before it runs.
    ///
    /// - Parameters:
    ///   - directory: the demo's directory (made by the caller).
    ///   - users: the users to assign, in order.
    ///   - tag: added to the tenant's, pairs' and hosts' names so that runs on one shared
    ///     PostgreSQL do not meet; empty on the embedded store.
    /// - Returns: the fleet and the reserved ports, to release just before it runs.
    /// - Throws: ``DemoError`` naming the step that failed.
    static func prepare(
        directory: String, users: [String], tag: String, database: CoordinatorDatabase, logger: Logger
    ) async throws -> (DemoFleet, DemoPorts) {
        let ports = try DemoPorts(count: 1 + pairCount * 4)
        var next = 1
        var pairs: [DemoPair] = []
        for number in 1...pairCount {
            func host(_ side: String) -> DemoHost {
                defer { next += 2 }
                let name = "mail-\(number)\(side)\(tag).demo.test"
                return DemoHost(
                    name: name, pair: "pair-\(number)\(tag)", directory: directory + "/hosts/" + name,
                    dsyncPort: ports.ports[next], httpPort: ports.ports[next + 1])
            }
            let a = host("a")
            let b = host("b")
            pairs.append(DemoPair(name: a.pair, a: a, b: b, agentTokenFile: directory + "/\(a.pair).token"))
        }
        var fleet = DemoFleet(
            directory: directory, tenant: "demo\(tag)", pairs: pairs, coordinatorPort: ports.ports[0], database: database)
        for host in pairs.flatMap(\.hosts) {
            try FileManager.default.createDirectory(atPath: host.directory + "/sync", withIntermediateDirectories: true)
        }
        do {
            _ = try TLSCredentialFiles(directory: fleet.tlsDirectory).issue(
                hosts: pairs.flatMap(\.hosts).map(\.name) + ["127.0.0.1"], authorityName: "Duplex Demo CA")
        } catch {
            throw DemoError("cannot make the demo's certificates in \(fleet.tlsDirectory): \(error)")
        }
        let placed = try await fleet.setUpCoordinator(users: users, logger: logger)
        for index in fleet.pairs.indices {
            fleet.pairs[index].users = placed.filter { $0.pair == fleet.pairs[index].name }.map(\.user)
        }
        return (fleet, ports)
    }

    /// Migrates the store, adds the tenant and the pairs, writes the pairs' agent tokens and
    /// an admin token, and assigns the users.
    ///
    /// - Returns: each user and the pair the coordinator chose for it.
    private func setUpCoordinator(users: [String], logger: Logger) async throws -> [(user: String, pair: String)] {
        let fleet = self
        do {
            return try await database.withStore(logger: logger) { store in
                _ = try await store.migrate()
                let tenant = try CoordinatorName(fleet.tenant, kind: .tenant)
                for pair in fleet.pairs {
                    func host(_ host: DemoHost) throws -> PairHost {
                        PairHost(
                            name: try CoordinatorName(host.name, kind: .host),
                            dsyncEndpoint: try ServiceEndpoint(host.endpoint, allowed: [.tls]),
                            adminEndpoint: try ServiceEndpoint("http://127.0.0.1:\(host.httpPort)", allowed: [.http]))
                    }
                    let name = try CoordinatorName(pair.name, kind: .pair)
                    // Room for every user on each pair: placement then alternates between
                    // the pairs, as their loads relative to capacity differ after each user.
                    _ = try await store.addPair(PairSpecification(name: name, hostA: try host(pair.a), hostB: try host(pair.b), capacity: max(users.count, 1)))
                    let token = try await store.createToken(label: "duplex demo agents of \(pair.name)", role: .agent(pair: name))
                    try Self.writeSecret(token.secret, to: pair.agentTokenFile)
                }
                _ = try await store.addTenant(tenant, allowedPairs: nil, userQuota: nil)
                let admin = try await store.createToken(label: "duplex demo operator", role: .admin)
                try Self.writeSecret(admin.secret, to: fleet.adminTokenPath)
                var placed: [(user: String, pair: String)] = []
                for user in users {
                    let assignment = try await store.assign(user: try CoordinatorName(user, kind: .user), tenant: tenant)
                    placed.append((user, assignment.user.pair?.value ?? ""))
                }
                return placed
            }
        } catch let error as DemoError {
            throw error
        } catch {
            throw DemoError("cannot set up the coordinator's store (\(database.url)): \(error)")
        }
    }

    /// Writes a token's secret, mode 0600, as `duplex coordinator token create` hands it out.
    private static func writeSecret(_ secret: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw DemoError("cannot write the token file \(path)") }
    }

    // MARK: Services

    /// The fleet's parts, built and ready to run.
    struct Services {
        /// In start order: the coordinator (with PostgreSQL's pool first), then each agent's
        /// dsync listener, replicator, admin socket, HTTP endpoint and coordinator link.
        var services: [any Service]
        /// Each host's replicator, by host name.
        var replicators: [String: Replicator]
    }

    /// Builds the coordinator and the four agents over `store`, each agent's syncs timed
    /// by `recorder`.
    ///
    /// - Parameter onListening: called with each part's name once it listens.
    /// - Throws: ``DemoError`` naming the part whose files cannot be used.
    func makeServices(
        store: CoordinatorDatabase.Opened, recorder: DemoRecorder, logger: Logger, onListening: @escaping @Sendable (String) -> Void
    ) throws -> Services {
        var services: [any Service] = []
        if let pool = store.poolService { services.append(pool) }
        let tls: CoordinatorTLS
        do {
            tls = try CoordinatorTLS(certificatePath: tlsDirectory + "/127.0.0.1.pem", keyPath: tlsDirectory + "/127.0.0.1.key")
        } catch {
            throw DemoError("the coordinator's certificate in \(tlsDirectory): \(error)")
        }
        var coordinatorLogger = logger
        coordinatorLogger[metadataKey: "part"] = "coordinator"
        services.append(
            CoordinatorService(
                configuration: CoordinatorService.Configuration(host: "127.0.0.1", port: coordinatorPort, checkInterval: .seconds(5)),
                store: store.store, tls: tls, logger: coordinatorLogger, onListening: { _ in onListening("coordinator") }))
        var replicators: [String: Replicator] = [:]
        for pair in pairs {
            for (host, peer) in [(pair.a, pair.b), (pair.b, pair.a)] {
                var hostLogger = logger
                hostLogger[metadataKey: "host"] = "\(host.name)"
                let agent = try agentConfiguration(host, peer: peer, pair: pair)
                let server: DsyncServer
                do {
                    server = try DsyncServer(configuration: agent.dsync, logger: hostLogger)
                } catch {
                    throw DemoError("\(host.name): \(error)")
                }
                services.append(DsyncListenerService(server: server, onListening: { _ in onListening(host.name) }))
                // Safe: the demo always gives its agents a replicator and a coordinator link.
                let replicatorServices = AgentCommand.replicatorServices(agent.replicator!, agent: agent, logger: hostLogger) { engine in
                    DemoTimedEngine(base: engine, pair: pair.name, recorder: recorder)
                }
                services += replicatorServices.services
                services.append(
                    try AgentCommand.coordinatorLinkService(agent.coordinator!, listedUsers: replicatorServices.listedUsers, logger: hostLogger))
                replicators[host.name] = replicatorServices.listedUsers.replicator
            }
        }
        return Services(services: services, replicators: replicators)
    }

    /// The configuration `duplex agent` would read for `host`: dsync on its port with its
    /// certificate (allowing only `peer`), a replicator syncing with `peer`, and the link to
    /// the coordinator with the pair's agent token.
    func agentConfiguration(_ host: DemoHost, peer: DemoHost, pair: DemoPair) throws -> AgentConfiguration {
        let files = DsyncTLSFiles(
            certificateChain: tlsDirectory + "/\(host.name).pem", privateKey: tlsDirectory + "/\(host.name).key", trustedCA: caPath,
            allowedPeers: [peer.name])
        let dsync = DsyncServerConfiguration(
            host: "127.0.0.1", port: host.dsyncPort, tls: files, mailRoot: try MailRootTemplate(host.mailRootTemplate),
            lockTimeout: Self.lockTimeout, store: MailStoreConfiguration(hostName: host.name))
        var settings = ReplicatorSettings()
        // A lock that was busy or a peer that was starting is tried again soon: the demo
        // is short, Dovecot's five minutes would outlast it.
        settings.failureRetryInterval = 2
        settings.failureRetryCap = 10
        var replicator = ReplicatorConfiguration(
            peer: peer.endpoint, settings: settings, adminSocket: host.adminSocket, stateFile: host.directory + "/replicator.state")
        replicator.httpHost = "127.0.0.1"
        replicator.httpPort = host.httpPort
        let secret: String
        do {
            secret = try String(contentsOfFile: pair.agentTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw DemoError("cannot read the agent token \(pair.agentTokenFile): \(error.localizedDescription)")
        }
        var link = CoordinatorLinkConfiguration(
            url: try CoordinatorURL(coordinatorURL), tokenFile: pair.agentTokenFile, token: CoordinatorSecret(secret), trustedCA: caPath,
            pair: pair.name, host: host.name)
        // Every second: the demo's users should reach the agents at once.
        link.pollInterval = 1
        link.heartbeatInterval = 5
        link.statusInterval = 2
        link.cacheFile = host.directory + "/coordinator-users"
        return AgentConfiguration(dsync: dsync, stateDirectory: host.directory + "/sync", replicator: replicator, coordinator: link)
    }
}
