import Foundation
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// `coordinator.purge_identities` must name allowed peers: a coordinator's purge order comes
/// over the dsync port, whose TLS handshake admits only `tls.allowed_peers`.
@Suite struct AgentPurgeIdentityConfigurationTests {
    /// The minimal configuration with a coordinator link, allowing `peers`.
    static func yaml(allowedPeers peers: String, purgeIdentities: String?) -> String {
        AgentConfigurationTests.minimalYAML(setting: "tls.allowed_peers", to: peers) + CoordinatorPurgeAuthorityTests.section
            + (purgeIdentities.map { "  purge_identities: \($0)\n" } ?? "")
    }

    @Test func purgeIdentityNotAmongAllowedPeers_isRefusedNamingTheFileLineAndKey() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-agent-purge-peers") { directory in
            let fixture = try AgentConfigurationTests.Fixture(directory)
            try fixture.write("t0ken-value\n", to: "agent.token", mode: 0o600)
            let text = Self.yaml(allowedPeers: "[hostb.example.com]", purgeIdentities: "[coordinator.example.com]")
            let error = try await fixture.error(text)
            #expect(error.file == directory.appending("agent.yaml"))
            #expect(error.key == "coordinator.purge_identities")
            let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("purge_identities") }
            #expect(error.line == line.map { $0 + 1 }, "\(error)")
            #expect(
                error.message == "\"coordinator.example.com\" is not among tls.allowed_peers (hostb.example.com): "
                    + "a coordinator's purge order comes over the dsync port, which accepts only those peers", "\(error)")
            #expect(error.description.hasPrefix(directory.appending("agent.yaml") + ":"), "\(error)")
        }
    }

    @Test func purgeIdentityFromTheEnvironment_isRefusedNamingTheVariable() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-agent-purge-peers") { directory in
            let fixture = try AgentConfigurationTests.Fixture(directory)
            try fixture.write("t0ken-value\n", to: "agent.token", mode: 0o600)
            let error = try await fixture.error(
                Self.yaml(allowedPeers: "[hostb.example.com, coordinator.example.com]", purgeIdentities: "[coordinator.example.com]"),
                environment: ["DUPLEX_COORDINATOR_PURGE_IDENTITIES": "coordinator.example.com, other.example.com"])
            #expect(error.key == "coordinator.purge_identities" && error.environmentVariable == "DUPLEX_COORDINATOR_PURGE_IDENTITIES")
            #expect(error.message.hasPrefix("\"other.example.com\" is not among tls.allowed_peers"), "\(error)")
        }
    }

    @Test func purgeIdentitiesAmongAllowedPeers_areAcceptedWhateverTheirCase() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-agent-purge-peers") { directory in
            let fixture = try AgentConfigurationTests.Fixture(directory)
            try fixture.write("t0ken-value\n", to: "agent.token", mode: 0o600)
            let loaded = try await fixture.load(
                Self.yaml(allowedPeers: "[hostb.example.com, coordinator.example.com]", purgeIdentities: "[Coordinator.Example.COM]"))
            #expect(loaded.configuration.coordinator?.purgeIdentities == ["Coordinator.Example.COM"])
            // No purge identity at all needs no allowed peer for it.
            let none = try await fixture.load(Self.yaml(allowedPeers: "[hostb.example.com]", purgeIdentities: nil))
            #expect(none.configuration.coordinator?.purgeIdentities == [])
        }
    }

    @Test func agentBinary_withAPurgeIdentityNotAllowed_exits78BeforeListening() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-agent-purge-peers") { directory in
            let fixture = try AgentConfigurationTests.Fixture(directory)
            try fixture.write("t0ken-value\n", to: "agent.token", mode: 0o600)
            let path = try fixture.write(
                Self.yaml(allowedPeers: "[hostb.example.com]", purgeIdentities: "[coordinator.example.com]")
                    .replacingOccurrences(of: "dsync:\n", with: "dsync:\n  listen: 127.0.0.1:0\n"),
                to: "agent.yaml")
            let result = try await ExternalCommand.runOffPool(
                ExternalCommand.duplexExecutable, ["agent", "--config", path], timeout: 300)
            #expect(result.status == 78, "\(result.status): \(result.stdout)\(result.stderr)")
            #expect(result.stdout.isEmpty, "nothing listens: \(result.stdout)")
            #expect(result.stderr.contains(path + ":"), "\(result.stderr)")
            #expect(
                result.stderr.contains(
                    "coordinator.purge_identities: \"coordinator.example.com\" is not among tls.allowed_peers (hostb.example.com)"),
                "\(result.stderr)")
        }
    }
}
