import Foundation
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// The coordinator's HTTP client: URLs, request targets, and what it does with a refused
/// connection, an untrusted certificate, a silent server, an oversized answer and a server
/// that does not speak HTTP.
@Suite struct CoordinatorClientTests {
    @Test(arguments: [
        ("https://127.0.0.1:7447", "https://127.0.0.1:7447"),
        ("HTTPS://Coordinator.Example.com/", "https://coordinator.example.com:443"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("http://localhost:7447", "http://localhost:7447"),
    ])
    func urls_areParsedToTheirCanonicalForm(text: String, canonical: String) throws {
        #expect(try CoordinatorURL(text).description == canonical)
    }

    @Test(arguments: [
        ("127.0.0.1:7447", "must start with https://"),
        ("https://h:0", "port that is not a number"),
        ("https://user:pw@h:1", "must not carry a user"),
        ("https://h:1/api", "must have no path"),
        ("http://coordinator.example.com:80", "not a loopback address"),
        ("https://:1", "empty or malformed host"),
    ])
    func badURLs_sayWhatIsWrong(text: String, message: String) {
        #expect { try CoordinatorURL(text) } throws: { String(describing: $0).contains(message) }
    }

    @Test func theConfiguration_neverShowsTheBearerSecret() throws {
        let secret = "dpx_s3cr3t-value-that-must-not-leak"
        let configuration = CoordinatorClient.Configuration(
            url: try CoordinatorURL("https://127.0.0.1:7447"), token: secret, trustedCAPath: "/etc/duplex/ca.pem")
        var dumped = ""
        dump(configuration, to: &dumped)
        for shown in [String(describing: configuration), String(reflecting: configuration), "\(configuration)", dumped] {
            #expect(!shown.contains(secret))
            #expect(shown.contains("https://127.0.0.1:7447"))
        }
        #expect(String(describing: configuration).contains("<redacted>"))
    }

    @Test func requestTargets_encodeEveryNameAndQueryValue() {
        let request = CoordinatorRequest(
            .get, ["v1", "users", "alice@example.com/../x"], query: [("mask", "a*"), ("tenant", "ex ample")])
        #expect(request.target == "/v1/users/alice%40example.com%2F..%2Fx?mask=a%2A&tenant=ex%20ample")
    }

    @Test func aRefusedConnection_exits69NamingTheURL() throws {
        let result = try OfflineCoordinator.run(["tenant", "list", "--token-file", "/dev/null"])
        // /dev/null holds no token: that is found before connecting.
        #expect(result.status == 65, "\(result.stderr)")
        let refused = try ExternalCommand.run(
            "/usr/bin/env", ["DUPLEX_TOKEN=secret-never-shown", ExternalCommand.duplexExecutable, "pair", "list", "--coordinator", OfflineCoordinator.url])
        #expect(refused.status == 69)
        #expect(refused.stderr == "duplex: cannot connect to the coordinator at https://127.0.0.1:1: connection refused\n")
    }

    @Test func aCoordinatorWhoseCertificateIsNotTrusted_isRefusedWith77() async throws {
        let server = try await CoordinatorServer()
        let otherCA = server.directory.appending("other-ca")
        let made = try ExternalCommand.run(ExternalCommand.duplexExecutable, ["tls", "init", "--out", otherCA, "--hosts", "127.0.0.1"])
        try #require(made.status == 0, "\(made.stderr)")
        for trust in [["--ca", otherCA + "/ca.pem"], []] {
            let result = try ExternalCommand.run(
                ExternalCommand.duplexExecutable,
                ["tenant", "list", "--coordinator", server.url, "--token-file", server.adminTokenPath] + trust)
            #expect(result.status == 77, "\(trust): \(result.stderr)")
            #expect(result.stderr.hasPrefix("duplex: TLS with the coordinator at \(server.url) failed"), "\(result.stderr)")
            #expect(result.stderr.contains("not trusted"), "\(result.stderr)")
        }
        let unreadable = try ExternalCommand.run(
            ExternalCommand.duplexExecutable,
            ["tenant", "list", "--coordinator", server.url, "--token-file", server.adminTokenPath, "--ca", server.directory.appending("missing.pem")])
        #expect(unreadable.status == 66, "\(unreadable.stderr)")
        #expect(unreadable.stderr.contains("missing.pem"))
    }

    /// A loopback TCP server that misbehaves in one way for every connection.
    static let faultyServer = """
        import socket, sys, time
        mode = sys.argv[1]
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        print(listener.getsockname()[1], flush=True)
        while True:
            connection, _ = listener.accept()
            connection.recv(65536)
            try:
                if mode == "silent":
                    time.sleep(300)
                elif mode == "huge":
                    connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3000000\\r\\n\\r\\n")
                    for _ in range(3000):
                        connection.sendall(b"x" * 1000)
                elif mode == "garbage":
                    connection.sendall(b"SSH-2.0-OpenSSH_9.2\\r\\n\\r\\n")
                elif mode == "cut":
                    connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\n{\\"tenants\\"")
            except OSError:
                pass
            connection.close()
        """

    /// Runs `body` with a client of a ``faultyServer`` in `mode`. The client's read timeout is
    /// 1 s against the silent server, which never answers, and otherwise two minutes: a
    /// loaded machine may leave the server's answer for seconds, and it must not be taken
    /// for silence.
    func withFaultyServer(_ mode: String, _ body: (CoordinatorClient) async throws -> Void) async throws {
        let python = try #require(ExternalCommand.executable(named: "python3"))
        let directory = try TemporaryDirectory(prefix: "duplex-faulty", mode: 0o700)
        defer { directory.cleanup() }
        let process = try BackgroundCommand(python, ["-c", Self.faultyServer, mode], outputDirectory: directory.path)
        defer {
            process.send(SIGKILL)
            _ = process.exitStatus()
        }
        let started = await process.waitForOutput(within: .seconds(180)) { stdout, _ in stdout.hasSuffix("\n") }
        try #require(started, "the faulty server did not start: \(process.stderr)")
        let port = try #require(Int(process.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        var configuration = CoordinatorClient.Configuration(url: try CoordinatorURL("http://127.0.0.1:\(port)"), token: "t")
        configuration.readTimeout = mode == "silent" ? .seconds(1) : .seconds(120)
        configuration.maximumResponseSize = 1 << 20
        try await body(try CoordinatorClient(configuration))
    }

    func expectFailure(_ client: CoordinatorClient, _ code: CoordinatorClientError.Code) async {
        await #expect {
            _ = try await client.send(CoordinatorRequest(.get, ["v1", "tenants"]))
        } throws: { error in
            (error as? CoordinatorClientError)?.code == code
        }
    }

    @Test func aSilentServer_timesOut() async throws {
        try await withFaultyServer("silent") { await expectFailure($0, .timedOut) }
    }

    @Test func anAnswerOverTheLimit_isRefused() async throws {
        try await withFaultyServer("huge") { await expectFailure($0, .responseTooLarge) }
    }

    @Test func aServerThatDoesNotSpeakHTTP_isABadResponse() async throws {
        try await withFaultyServer("garbage") { await expectFailure($0, .badResponse) }
    }

    @Test func anAnswerCutShort_isADisconnection() async throws {
        try await withFaultyServer("cut") { await expectFailure($0, .disconnected) }
    }
}
