import Foundation
import MailStoreTestSupport
import Testing

/// Who a running `duplex agent` refuses, and what each side says: a `duplex sync` with a
/// certificate from another CA or with a name not allowed, one that does not accept the
/// agent's certificate, a TLS client without a certificate and a plaintext client. Every
/// refusal is exit 77 on a `duplex sync`, is logged by the agent, gives the client no dsync
/// frame and changes neither mail root.
@Suite struct AgentTLSAuthenticationTests {
    /// Runs `body` against an agent while both sides hold mail a sync would exchange, and
    /// checks afterwards that neither mail root changed.
    func withRefusal(_ body: (AgentFixture, RunningAgent) async throws -> Void) async throws {
        try await AgentFixture.with { fixture in
            try fixture.save(fixture.rootA, count: 3, prefix: "a")
            try fixture.save(fixture.rootB, count: 2, prefix: "b")
            let before = try fixture.snapshot()
            try await fixture.withAgent { agent in try await body(fixture, agent) }
            #expect(try fixture.snapshot() == before, "a refused connection changed a mail root")
        }
    }

    /// Expects a sync refused with exit 77 whose message contains `clientText`, and the
    /// agent to log `agentText` (when given).
    func expectRefusal(
        _ result: ExternalCommand.Result, says clientText: String, agent: RunningAgent, logs agentText: String?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        #expect(result.status == 77, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(clientText), "\(result.stderr)", sourceLocation: sourceLocation)
        if let agentText { try await agent.waitForLog(agentText, sourceLocation: sourceLocation) }
    }

    @Test func clientCertificateFromAnotherCA_exits77_andBothSidesNameTheTrustProblem() async throws {
        try await withRefusal { fixture, agent in
            try await expectRefusal(
                try await fixture.sync(agent, as: try fixture.strangerIdentity()),
                says: "the peer does not trust this host's certificate (not issued by the CA the peer trusts) (TLSV1_ALERT_UNKNOWN_CA)", agent: agent,
                logs: "the peer's certificate does not chain to the trusted CA (or has expired) (CERTIFICATE_VERIFY_FAILED)")
        }
    }

    @Test func agentCertificateFromAnotherCA_exits77_andBothSidesNameTheTrustProblem() async throws {
        try await withRefusal { fixture, agent in
            try fixture.makeCertificates("other")
            var identity = fixture.identity("host-a.test")
            identity.ca = fixture.identity("host-a.test", in: "other").ca
            try await expectRefusal(
                try await fixture.sync(agent, as: identity),
                says: "the peer's certificate does not chain to the trusted CA (or has expired) (CERTIFICATE_VERIFY_FAILED)", agent: agent,
                logs: "the peer does not trust this host's certificate (not issued by the CA the peer trusts) (TLSV1_ALERT_UNKNOWN_CA)")
        }
    }

    @Test func clientNameNotAllowed_exits77_andBothSidesNameTheCertificatesName() async throws {
        try await withRefusal { fixture, agent in
            try await expectRefusal(
                try await fixture.sync(agent, as: fixture.identity("intruder.test")),
                says: "refused this host: the peer's certificate names intruder.test", agent: agent,
                logs: "refused peer: the peer's certificate names intruder.test, none of which is an allowed peer (host-a.test)")
        }
    }

    @Test func agentNameNotTheExpectedPeer_exits77_namingBothNames() async throws {
        try await withRefusal { fixture, agent in
            try await expectRefusal(
                try await fixture.sync(agent, peer: "host-c.test"),
                says: "the peer's certificate names host-b.test, none of which is an allowed peer (host-c.test)", agent: agent,
                logs: nil)
        }
    }

    @Test(.enabled(if: ExternalCommand.executable(named: "python3") != nil, "needs python3 for a TLS client without a certificate"))
    func tlsClientWithoutCertificate_getsNoFrame_andTheAgentLogsIt() async throws {
        try await withRefusal { fixture, agent in
            let python = try #require(ExternalCommand.executable(named: "python3"))
            let hello = RawDsyncClient.helloFrame(user: AgentFixture.user).map { String(format: "%02x", $0) }.joined()
            let result = try ExternalCommand.run(
                python, ["-c", RawDsyncClient.pythonClientWithoutCertificate, String(agent.port), fixture.identity("host-a.test").ca, hello],
                timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            let outcome = try #require(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
            #expect(outcome["received"] as? String == "", "the agent sent application data: \(outcome)")
            let log = try await agent.waitForLog("TLS handshake failed")
            #expect(log.contains("a certificate is required and none was presented"), "\(log)")
        }
    }

    @Test func plaintextClient_getsNoDsyncFrame_andTheAgentLogsIt() async throws {
        try await withRefusal { _, agent in
            let exchange = try RawDsyncClient.exchangePlaintext(port: agent.port, sending: RawDsyncClient.helloFrame(user: AgentFixture.user))
            #expect(exchange.closedByPeer, "the agent kept a plaintext connection open")
            // At most a TLS alert record (content type 21, version 3.x), never a dsync frame.
            let received = exchange.received
            #expect(received.isEmpty || (received.count >= 5 && received[0] == 0x15 && received[1] == 0x03), "received \(received)")
            let log = try await agent.waitForLog("TLS handshake failed")
            let refusal = log.split(separator: "\n").first { $0.contains("TLS handshake failed") } ?? ""
            #expect(refusal.contains("the peer does not speak TLS"), "\(log)")
            #expect(refusal.contains("peer=[IPv4]127.0.0.1"), "the refusal does not name the client's address: \(log)")
        }
    }
}
