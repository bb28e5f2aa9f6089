import Coordinator
import DuplexTLS
import Foundation
import Logging
import MailStoreTestSupport
import Testing

/// ``CoordinatorService`` for real: HTTPS on 127.0.0.1 port 0 with certificates made at test
/// time (checked by `curl` against the test CA), a certificate reload, and the leader's
/// health checks from agent heartbeats on an injected clock.
@Suite struct APIServiceTests {
    /// A CA, a certificate for 127.0.0.1 written as PEM files, and the store to serve.
    struct Served {
        let directory: TemporaryDirectory
        let authority: DevelopmentCertificateAuthority
        var caPath: String { directory.appending("ca.pem") }
        var certificatePath: String { directory.appending("server.pem") }
        var keyPath: String { directory.appending("server.key") }

        init() throws {
            directory = try TemporaryDirectory(prefix: "duplex-coordinator-tls", mode: 0o700)
            authority = try DevelopmentCertificateAuthority(name: "Coordinator Test CA")
            try Data(authority.credential.certificatePEM.utf8).write(to: URL(fileURLWithPath: caPath))
            try writeLeaf(from: authority)
        }

        func writeLeaf(from authority: DevelopmentCertificateAuthority) throws {
            let leaf = try authority.makeLeafCredential(for: "127.0.0.1")
            try Data(leaf.certificatePEM.utf8).write(to: URL(fileURLWithPath: certificatePath))
            try Data(leaf.privateKeyPEM.utf8).write(to: URL(fileURLWithPath: keyPath))
        }
    }

    /// `curl` over HTTPS, verifying the server against `caPath`; the status (0 when the
    /// connection or TLS failed) and body.
    ///
    /// Run on a dispatch thread: the in-process server answers on the concurrency pool's few
    /// threads, which a waiting `curl` must not hold.
    static func curl(_ url: String, caPath: String, token: String? = nil) async throws -> (status: Int, body: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try blockingCurl(url, caPath: caPath, token: token) })
            }
        }
    }

    private static func blockingCurl(_ url: String, caPath: String, token: String?) throws -> (status: Int, body: String) {
        let curl = try #require(ExternalCommand.executable(named: "curl"), "curl is needed for the HTTPS tests")
        var arguments = ["-sS", "--max-time", "60", "--cacert", caPath, "-w", "\n%{http_code}", url]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        let result = try ExternalCommand.run(curl, arguments)
        guard result.status == 0 else { return (0, result.stderr) }
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// Runs the service on port 0 until `body` returns, then stops it (by cancellation).
    static func withService(
        store: any CoordinatorStore, tls: CoordinatorTLS, _ body: @Sendable (_ port: Int) async throws -> Void
    ) async throws {
        let (addresses, continuation) = AsyncStream<String>.makeStream()
        let service = CoordinatorService(
            configuration: .init(host: "127.0.0.1", port: 0), store: store, tls: tls, logger: Logger(label: "test"),
            onListening: { continuation.yield($0) })
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await service.run() }
            defer { tasks.cancelAll() }
            var iterator = addresses.makeAsyncIterator()
            let address = try #require(await iterator.next())
            let port = try #require(address.split(separator: ":").last.flatMap { Int($0) })
            try await body(port)
        }
    }

    @Test func https_servesTheAPI_verifiedAgainstTheTestCA() async throws {
        let served = try Served()
        defer { served.directory.cleanup() }
        try await StoreDriver.sqlite.withStore { store in
            let admin = try await store.createToken(label: "admin", role: .admin).secret
            let tls = try CoordinatorTLS(certificatePath: served.certificatePath, keyPath: served.keyPath)
            try await Self.withService(store: store, tls: tls) { port in
                let health = try await Self.curl("https://127.0.0.1:\(port)/healthz", caPath: served.caPath)
                #expect(health.status == 200, "\(health)")
                #expect(health.body.trimmingCharacters(in: .newlines) == "ok")
                let tenants = try await Self.curl("https://127.0.0.1:\(port)/v1/tenants", caPath: served.caPath, token: admin)
                #expect(tenants.status == 200, "\(tenants)")
                #expect(tenants.body == #"{"tenants":[]}"#)
                let refused = try await Self.curl("https://127.0.0.1:\(port)/v1/tenants", caPath: served.caPath)
                #expect(refused.status == 401, "\(refused)")
            }
        }
    }

    @Test func reload_newConnectionsGetTheNewCertificate_aBadFileKeepsTheOld() async throws {
        let served = try Served()
        defer { served.directory.cleanup() }
        try await StoreDriver.sqlite.withStore { store in
            let tls = try CoordinatorTLS(certificatePath: served.certificatePath, keyPath: served.keyPath)
            try await Self.withService(store: store, tls: tls) { port in
                let url = "https://127.0.0.1:\(port)/healthz"
                let newAuthority = try DevelopmentCertificateAuthority(name: "Second Test CA")
                let newCA = served.directory.appending("new-ca.pem")
                try Data(newAuthority.credential.certificatePEM.utf8).write(to: URL(fileURLWithPath: newCA))
                #expect(try await Self.curl(url, caPath: newCA).status == 0)
                try served.writeLeaf(from: newAuthority)
                try tls.reload(certificatePath: served.certificatePath, keyPath: served.keyPath)
                #expect(try await Self.curl(url, caPath: newCA).status == 200)
                #expect(try await Self.curl(url, caPath: served.caPath).status == 0)
                // A broken key file is refused and the running certificate stays.
                try Data("not a key".utf8).write(to: URL(fileURLWithPath: served.keyPath))
                #expect(throws: CoordinatorTLSError.self) {
                    try tls.reload(certificatePath: served.certificatePath, keyPath: served.keyPath)
                }
                #expect(try await Self.curl(url, caPath: newCA).status == 200)
            }
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func healthCheck_marksAHostDownWhenItsHeartbeatIsOld_andUpWhenItReturns(driver: StoreDriver) async throws {
        let served = try Served()
        defer { served.directory.cleanup() }
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("eu-1", capacity: 10))
            _ = try await store.addTenant(name("acme", .tenant), allowedPairs: nil, userQuota: nil)
            let user = try await store.assign(user: name("alice@acme.example", .user), tenant: name("acme", .tenant)).user
            let side = user.preferredHost
            let agent = try await store.registerAgent(host: name("eu-1-\(side.rawValue)", .host), pair: name("eu-1", .pair), version: "0.1.0")
            // The service's clock, moved by hand.
            let clock = ManualDate(agent.lastHeartbeat)
            let service = CoordinatorService(
                configuration: .init(port: 0, heartbeatTimeout: .seconds(60)), store: store,
                tls: try CoordinatorTLS(certificatePath: served.certificatePath, keyPath: served.keyPath),
                logger: Logger(label: "test"), now: { clock.now })

            clock.advance(by: 30)
            #expect(try await service.checkHealthOnce()?.map(\.health) == [.up])
            #expect(try await store.route(user: user.name).currentSide == side)

            clock.advance(by: 31)
            let down = try #require(try await service.checkHealthOnce())
            #expect(down.map(\.health) == [.down])
            #expect(down.map(\.host.value) == ["eu-1-\(side.rawValue)"])
            #expect(try await store.route(user: user.name).currentSide == side.other)
            #expect(try await service.checkHealthOnce() == [], "nothing changes while it stays down")

            let back = try await store.heartbeat(host: name("eu-1-\(side.rawValue)", .host))
            clock.set(back.lastHeartbeat.addingTimeInterval(1))
            #expect(try await service.checkHealthOnce()?.map(\.health) == [.up])
            #expect(try await store.route(user: user.name).currentSide == side)
        }
    }

    @Test func healthCheck_runsOnlyOnTheLeader() async throws {
        let served = try Served()
        defer { served.directory.cleanup() }
        try await StoreDriver.sqlite.withStore { store in
            let service = CoordinatorService(
                configuration: .init(port: 0), store: store,
                tls: try CoordinatorTLS(certificatePath: served.certificatePath, keyPath: served.keyPath),
                logger: Logger(label: "test"))
            let skipped = try await store.withLeaderLock(CoordinatorService.healthLeaderLock) {
                try await service.checkHealthOnce()
            }
            #expect(skipped == .some(nil), "another holder of the lock makes the check a no-op")
            #expect(try await service.checkHealthOnce() == [])
        }
    }
}

/// A wall clock the test moves.
final class ManualDate: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date) {
        current = start
    }

    var now: Date { lock.withLock { current } }

    func advance(by seconds: TimeInterval) {
        lock.withLock { current = current.addingTimeInterval(seconds) }
    }

    func set(_ date: Date) {
        lock.withLock { current = date }
    }
}
