import DuplexTLS
import Foundation
import Logging
import MailStore
import MailStoreTestSupport
import NIOCore
import Testing

@testable import Dsync

/// Certificates made at test time: one CA with hosts `host-a.test` and `host-b.test` and an
/// `intruder.test` that is not an allowed peer, and a `host-a.test` from another CA.
struct TestCertificates: Sendable {
    let directory: String

    init(in directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let authority = try DevelopmentCertificateAuthority(name: "Duplex Test CA")
        try write(authority.credential.certificatePEM, "ca.pem")
        for host in ["host-a.test", "host-b.test", "intruder.test"] {
            let credential = try authority.makeLeafCredential(for: host)
            try write(credential.certificatePEM, "\(host).pem")
            try write(credential.privateKeyPEM, "\(host).key")
        }
        let stranger = try DevelopmentCertificateAuthority.makeUntrustedLeafCredential(for: "host-a.test")
        try write(stranger.certificatePEM, "stranger.pem")
        try write(stranger.privateKeyPEM, "stranger.key")
    }

    private func write(_ text: String, _ name: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name))
    }

    /// The files of `host` (`stranger` for the other CA's certificate), accepting `peers`.
    func files(_ host: String, accepting peers: [String]) -> DsyncTLSFiles {
        DsyncTLSFiles(
            certificateChain: "\(directory)/\(host).pem", privateKey: "\(directory)/\(host).key",
            trustedCA: "\(directory)/ca.pem", allowedPeers: peers)
    }

    var hostA: DsyncTLSFiles { files("host-a.test", accepting: ["host-b.test"]) }
    var hostB: DsyncTLSFiles { files("host-b.test", accepting: ["host-a.test"]) }
}

/// A logger that drops everything (the server's log lines would clutter test output).
let quietLogger = Logger(label: "dsync-test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs `body` while a ``DsyncServer`` listens on a free loopback port, then stops it.
func withDsyncServer<T: Sendable>(
    _ configuration: DsyncServerConfiguration, logger: Logger = quietLogger, _ body: (_ port: Int, _ server: DsyncServer) async throws -> T
) async throws -> T {
    var configuration = configuration
    configuration.host = "127.0.0.1"
    configuration.port = 0
    let server = try DsyncServer(configuration: configuration, logger: logger)
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            do {
                try await server.run { address in
                    continuation.yield(address.port ?? 0)
                    continuation.finish()
                }
            } catch {
                continuation.finish()
                throw error
            }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            try await group.next()
            throw DsyncError(.io, "the test server did not start")
        }
        defer { group.cancelAll() }
        return try await body(port, server)
    }
}

extension SyncFixture {
    /// A fixture whose B is served over TLS: B's directory is the user's `%n`.
    static func overTLS(inboxes: Bool = true) throws -> SyncFixture {
        try SyncFixture(inboxes: inboxes, bName: "alice")
    }

    /// The certificates of this fixture (made on first use).
    func certificates() throws -> TestCertificates {
        try TestCertificates(in: directory.appending("tls"))
    }

    /// The agent configuration serving B.
    func serverConfiguration(_ certificates: TestCertificates) throws -> DsyncServerConfiguration {
        DsyncServerConfiguration(
            tls: certificates.hostB, mailRoot: try MailRootTemplate(directory.path + "/%n"), lockTimeout: .seconds(10),
            store: Self.configuration)
    }

    /// Runs `body` while an agent serves B over TLS on loopback.
    func withTLSPeer<T: Sendable>(_ body: (TLSPeer) async throws -> T) async throws -> T {
        let certificates = try certificates()
        return try await withDsyncServer(try serverConfiguration(certificates)) { port, server in
            try await body(TLSPeer(fixture: self, port: port, certificates: certificates, server: server))
        }
    }
}

/// B served by an agent on loopback, for one fixture.
struct TLSPeer: Sendable {
    let fixture: SyncFixture
    let port: Int
    let certificates: TestCertificates
    let server: DsyncServer

    var endpoint: String { "tls://127.0.0.1:\(port)" }

    /// Syncs A with B over TLS, presenting `client` (host A's files by default).
    @discardableResult
    func sync(
        full: Bool = false, acceptMassExpunge: Bool = false, client: DsyncTLSFiles? = nil, capabilities: [String]? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> SyncReport {
        let remote = try RemoteReplica(endpoint: endpoint, user: fixture.user, tls: client ?? certificates.hostA, full: full)
        if let capabilities { remote.offeredCapabilities.withLock { $0 = capabilities } }
        let session = SyncSession(
            a: LocalReplica(store: fixture.a), b: remote, options: fixture.options(full: full, acceptMassExpunge: acceptMassExpunge))
        let report = try await session.run()
        #expect(!report.changedDuringSync, "changed during sync: \(report)", sourceLocation: sourceLocation)
        return report
    }
}
